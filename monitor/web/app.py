"""The dashboard's routes: pages for a person, the same data as JSON for a program.

Read-only: every route reads the ``Board`` (the rules' judgement, as ``ordermon status``
shows it). With a token, every route but the static files and the sign-in form asks for it:
``Authorization: Bearer <token>``, the cookie the sign-in form sets, or for the calendar only
``?token=`` (compared in constant time); without one, only this machine's names are answered.
Every answer carries a content security policy without inline script or style.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from typing import Any
from urllib.parse import parse_qs, urlencode

from jinja2 import PackageLoader
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..html_report import environment
from ..store import StoreError
from .board import NEEDS, PAGE_SIZE, Board, needs, status_label

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
COOKIE = "ordermon_session"
MAX_FORM = 4096  # bytes of the sign-in form read at most
PART = "X-Ordermon-Part"  # the live part of a page only (the page's script asks for it after a poll)


class _JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, default=str).encode()


def _session(token: str) -> str:
    """The sign-in cookie's value: derived from the token (a cookie stolen from a page's storage is
    not the token), the same for every sign-in with it."""
    return hmac.new(token.encode(), b"ordermon serve session", hashlib.sha256).hexdigest()


def loopback(host: str) -> bool:
    """Whether ``host`` names this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


class _Guard(BaseHTTPMiddleware):
    def __init__(self, app, token: str | None, host: str):
        super().__init__(app)
        self.token = token
        self.host = host.strip("[]")

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        path = request.url.path
        named = request.url.hostname or ""
        if not self.token and not (loopback(named) or named == self.host):
            # Without a token, only this machine's names: a page elsewhere whose name was made to
            # point here (DNS rebinding) would otherwise read the orders as if it were this server.
            response: Response = _JSON({"error": "unknown host"}, 400)
        elif self.token and not (path.startswith("/static/") or path == "/signin" or self._allowed(request)):
            if path.startswith("/api/") or path.endswith(".ics"):
                response = _JSON({"error": "a token is needed"}, 401, {"WWW-Authenticate": "Bearer"})
            else:
                response = RedirectResponse("/signin?" + urlencode({"next": request.url.path}), 303)
        else:
            response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    def _allowed(self, request: Request) -> bool:
        assert self.token is not None
        given = request.headers.get("authorization", "")
        if given.lower().startswith("bearer ") and hmac.compare_digest(given[7:].strip().encode(), self.token.encode()):
            return True
        if request.url.path == "/calendar.ics":  # a calendar app subscribes by URL: it sends no header
            return hmac.compare_digest(request.query_params.get("token", "").encode(), self.token.encode())
        return hmac.compare_digest(request.cookies.get(COOKIE, "").encode(), _session(self.token).encode())


def create_app(board: Board, *, token: str | None = None, host: str = "127.0.0.1") -> Starlette:
    """The dashboard on ``board``; ``token``: asked of every request (see the module's docstring);
    ``host``: where it listens (without a token, a request must name it or this machine)."""
    templates = environment(PackageLoader("monitor.web", "templates"))
    templates.globals.update(NEEDS=NEEDS, needs=needs, status_label=status_label, signed=bool(token))

    def page(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        template = templates.get_template(name)
        values |= {"request": request, "path": request.url.path}
        if request.headers.get(PART) == "live" and "live" in template.blocks:  # the part a poll changes
            context = template.new_context(values)
            return HTMLResponse(
                "".join(template.blocks["live"](context)), status, {"X-Ordermon-Stamp": values["stamp"]}
            )
        return HTMLResponse(template.render(values), status)

    def filters(request: Request) -> dict[str, str]:
        return {k: request.query_params.get(k, "")[:200] for k in ("need", "status", "account", "q")}

    def alert_filters(request: Request) -> dict[str, str]:
        keys = ("rule", "severity", "judged", "account", "delivery", "state")
        return {k: request.query_params.get(k, "")[:200] for k in keys}

    def offset(request: Request) -> int:
        try:
            return max(0, int(request.query_params.get("offset", "0")))
        except ValueError:
            return 0

    async def orders_page(request: Request) -> Response:
        snap = await board.run(board.snapshot)
        chosen = filters(request)
        found = snap.select(**chosen)
        start = offset(request)
        rows = await board.run(lambda: board.rows(found[start : start + PAGE_SIZE]))
        kept = {k: v for k, v in chosen.items() if v}
        return page(
            request, "orders.html", snap=snap, stamp=snap.stamp, chosen=chosen, total=len(found),
            rows=rows, start=start, page_size=PAGE_SIZE,
            previous=urlencode(kept | {"offset": max(0, start - PAGE_SIZE)}) if start else None,
            next=urlencode(kept | {"offset": start + PAGE_SIZE}) if start + PAGE_SIZE < len(found) else None,
        )  # fmt: skip

    async def order_page(request: Request) -> Response:
        order_id = request.path_params["order_id"]
        found = await board.run(lambda: board.order(order_id, request.query_params.get("account")))
        stamp = (await board.run(board.snapshot)).stamp
        status = 200 if found else 404
        return page(request, "order.html", status, order_id=order_id, found=found, stamp=stamp)

    async def alerts_page(request: Request) -> Response:
        snap = await board.run(board.snapshot)
        chosen = alert_filters(request)
        alerts = _alerts(snap.alerts, **chosen)
        rules = sorted({a["rule"] for a in snap.alerts})
        return page(request, "alerts.html", snap=snap, stamp=snap.stamp, chosen=chosen, alerts=alerts, rules=rules)

    async def health_page(request: Request) -> Response:
        found = await board.run(board.health)
        stamp = (await board.run(board.snapshot)).stamp
        return page(request, "health.html", 200 if found["healthy"] else 503, health=found, stamp=stamp)

    async def signin_page(request: Request) -> Response:
        target = request.query_params.get("next", "/")
        return page(request, "signin.html", next=_local(target), failed=False, stamp="")

    async def signin(request: Request) -> Response:
        if not token:
            return RedirectResponse("/", 303)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM:
                return _JSON({"error": "the form is too big"}, 413)
        form = parse_qs(body.decode("utf-8", "replace"))
        given, target = form.get("token", [""])[0], _local(form.get("next", ["/"])[0])
        if not hmac.compare_digest(given.encode(), token.encode()):
            return page(request, "signin.html", 401, next=target, failed=True, stamp="")
        response = RedirectResponse(target, 303)
        response.set_cookie(
            COOKIE, _session(token), httponly=True, samesite="strict", secure=request.url.scheme == "https"
        )
        return response

    # ------------------------------------------------------------------ the JSON API
    async def api_orders(request: Request) -> Response:
        snap = await board.run(board.snapshot)
        found = snap.select(**filters(request))
        start = offset(request)
        try:
            limit = min(max(1, int(request.query_params.get("limit", str(PAGE_SIZE)))), 10_000)
        except ValueError:
            limit = PAGE_SIZE
        rows = await board.run(lambda: board.rows(found[start : start + limit]))
        return _JSON({"total": len(found), "offset": start, "limit": limit, "orders": rows})

    async def api_order(request: Request) -> Response:
        order_id = request.path_params["order_id"]
        found = await board.run(lambda: board.order(order_id, request.query_params.get("account")))
        if not found:
            return _JSON({"error": f"no order {order_id}"}, 404)
        if len(found) > 1:
            accounts = [f["row"]["account"] for f in found]
            return _JSON({"error": "the order id is in several accounts: give ?account=", "accounts": accounts}, 409)
        (one,) = found
        view = one["view"]
        events = [{"event": what, "at": when.isoformat()} for what, when in view["events"]]
        return _JSON(
            one["row"] | {"events": events, "history": one["history"], "alerts": one["alerts"], "url": one["url"]}
        )

    async def api_alerts(request: Request) -> Response:
        snap = await board.run(board.snapshot)
        return _JSON(_alerts(snap.alerts, **alert_filters(request)))

    async def api_health(request: Request) -> Response:
        found = await board.run(board.health)
        return _JSON(found, 200 if found["healthy"] else 503)

    async def deadlines(request: Request) -> Response:
        made = await board.run(board.calendar)
        return Response(
            made, media_type="text/calendar; charset=utf-8",
            headers={"Content-Disposition": 'inline; filename="deadlines.ics"'},
        )  # fmt: skip

    async def api_stamp(request: Request) -> Response:
        return _JSON({"stamp": await board.run(board.stamp)})

    async def unavailable(request: Request, exc: Exception) -> Response:
        """The database out of reach (a PostgreSQL down): one line, 503, and the next request tries again."""
        return _JSON({"error": str(exc)}, 503)

    static = StaticFiles(packages=[("monitor.web", "static")])
    return Starlette(
        routes=[
            Route("/", orders_page),
            Route("/orders/{order_id}", order_page),
            Route("/alerts", alerts_page),
            Route("/health", health_page),
            Route("/signin", signin_page, methods=["GET"]),
            Route("/signin", signin, methods=["POST"]),
            Route("/api/orders", api_orders),
            Route("/api/orders/{order_id}", api_order),
            Route("/api/alerts", api_alerts),
            Route("/api/health", api_health),
            Route("/api/stamp", api_stamp),
            Route("/calendar.ics", deadlines),
            Mount("/static", static, name="static"),
        ],
        middleware=[Middleware(_Guard, token=token, host=host)],
        exception_handlers={StoreError: unavailable},
    )


def _local(target: str) -> str:
    """Where a sign-in may lead: a path of this server only (never another site's)."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


def _alerts(
    alerts: list[dict], *, rule: str, severity: str, judged: str, account: str, delivery: str, state: str
) -> list[dict]:
    """The alerts a filter keeps: by rule, severity, how the rule judges, account, a delivery state,
    open or settled; newest first."""
    return [
        a
        for a in reversed(alerts)
        if (not rule or a["rule"] == rule)
        and (not severity or a["severity"] == severity)
        and (not judged or a["judged"] == judged)
        and (not account or a["account"] == account)
        and (not delivery or delivery in a["delivery"].split(","))
        and (not state or (state == "open") == a["open"])
    ]
