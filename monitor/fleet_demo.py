"""`ordermon fleet-demo` (`make fleet-demo`): the fleet on this machine, from nothing.

A PostgreSQL cluster of its own (Debian's binaries, a temporary folder, a loopback port; removed at
the end), ordermon's schema and Procrastinate's, a storefront with a few hundred buyers (its admin
API makes them, and a session for each), the accounts sealed in the database, then three
`ordermon worker` processes polling them while the storefront's clock runs fast: polls per minute,
alerts and deliveries as they happen, then a summary. A few accounts start without a session, so
that the browser queue signs them in, as a fleet's first start does for every account.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import click

from fixtures.admin_client import AdminClient
from fixtures.receiver import AlertReceiver
from fixtures.storefront import Site, StorefrontServer

from . import accounts
from .store.postgres import PostgresStore
from .vault import Vault, new_key

SIGN_INS = 3  # accounts the browser queue signs in (the others start with the session a sign-in left)


def _kept_session(storefront_url: str, cookie: dict) -> dict:
    """The storage state a sign-in leaves, around the session cookie the storefront handed out."""
    from urllib.parse import urlsplit

    host = urlsplit(storefront_url).hostname or "127.0.0.1"
    return {
        "cookies": [{"name": cookie["name"], "value": cookie["value"], "domain": host, "path": "/", "expires": -1,
                     "httpOnly": True, "secure": False, "sameSite": "Lax"}],
        "origins": [],
    }  # fmt: skip


def fill_accounts(store: PostgresStore, vault: Vault, url: str, buyers: list[dict], sign_ins: int) -> list[str]:
    """The storefront's buyers as the fleet's accounts (named after their e-mails), each with the
    session the storefront handed out but the first ``sign_ins``; their names."""
    names = []
    for n, buyer in enumerate(buyers):
        name = buyer["email"].split("@")[0]
        accounts.add(store, vault, name, storefront_url=url, email=buyer["email"], password=buyer["password"],
                     windows={})  # fmt: skip
        if n >= sign_ins:
            accounts.DatabaseKeeper(store, vault, name).save(_kept_session(url, buyer["cookie"]))
        names.append(name)
    return names


def _progress(store: PostgresStore, names: list[str], signing: list[str]) -> dict:
    polls = store.polls()
    alerts = store.alerts()
    return {
        "polls": sum(1 for p in polls if not p["error"]),
        "failed_polls": sum(1 for p in polls if p["error"]),
        "accounts_polled": len({p["account"] for p in polls if not p["error"]} & set(names)),
        "signed_in": sum(1 for name in signing if store.session(name) is not None),
        "alerts": dict(Counter(a["rule"] for a in alerts)),
        "delivered": sum(1 for a in alerts if a["targets"] and a["states"] == "delivered"),
    }


def run_fleet_demo(
    *,
    seconds: float = 45,
    buyers: int = 200,
    workers: int = 3,
    concurrency: int = 4,
    time_scale: float = 3 * 3600,
    poll_every: int = 20,
    sign_ins: int = SIGN_INS,
    db: str | None = None,
    echo=click.echo,
) -> dict:
    """Run the fleet demo; ``db``: a PostgreSQL database to use (else a cluster of its own)."""
    with contextlib.ExitStack() as stack:
        if db is None:
            from fixtures.postgres import LocalPostgres

            echo("Starting PostgreSQL (a cluster of the demo's own, on loopback) ...")
            server = stack.enter_context(LocalPostgres())
            db = server.create_database("ordermon")
            echo(f"PostgreSQL {server.url('ordermon')} (in {server.root}, removed at the end)")
        site = Site(orders=0, seed=7)
        shop = stack.enter_context(StorefrontServer(site))
        receiver = stack.enter_context(AlertReceiver())
        admin = AdminClient(shop.url, site.admin_token or "")
        stack.callback(admin.close)
        admin.settings(auto_action_lag=4 * 86400)  # the platform acts four days late: overdue stays overdue
        made = admin.add_buyers(buyers, orders=5, signed_in=True)
        key = new_key()
        store = PostgresStore(db)  # ordermon's schema and Procrastinate's
        stack.callback(store.close)
        names = fill_accounts(store, Vault(key), shop.url, made, sign_ins)
        echo(f"Storefront {shop.url}: {len(names)} buyers with 5 orders each, as accounts of the fleet "
             f"({min(sign_ins, len(names))} not signed in yet)")  # fmt: skip

        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ordermon-fleet-demo-")))
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERMON_")} | {
            "ORDERMON_DB": db, "ORDERMON_SECRET_KEY": key, "ORDERMON_ALERT_URLS": receiver.url,
            "ORDERMON_DISPATCH_SECONDS": "1", "ORDERMON_POLL_INTERVAL": str(poll_every),
            "ORDERMON_POLL_JITTER": str(min(5, poll_every // 4)), "ORDERMON_STALLED_SECONDS": "10",
            "ORDERMON_DATA_DIR": str(folder / "data"),
            "ORDERMON_MAX_CLOCK_SKEW": "inf",  # the storefront's clock runs fast on purpose
        }  # fmt: skip
        log = stack.enter_context((folder / "workers.log").open("w"))
        started = time.monotonic()
        procs = [
            subprocess.Popen([sys.executable, "-m", "monitor.cli", "worker", "--concurrency", str(concurrency)],
                             env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            for _ in range(workers)
        ]  # fmt: skip
        stack.callback(_stop, procs)
        admin.clock(scale=time_scale)
        echo(f"{workers} workers ({concurrency} jobs each), each account polled every {poll_every} s, "
             f"time x{time_scale:g}; {seconds:g} s ...")  # fmt: skip
        signing = names[:sign_ins]
        while (elapsed := time.monotonic() - started) < seconds:
            time.sleep(min(5.0, seconds - elapsed))  # the workers are other processes: watched through the database
            now = _progress(store, names, signing)
            seen = time.monotonic() - started
            echo(f"  {seen:4.0f} s: {now['polls']} polls ({now['polls'] / seen * 60:,.0f}/min), "
                 f"{now['accounts_polled']}/{len(names)} "
                 f"accounts polled, {now['signed_in']}/{len(signing)} signed in by the browser queue, "
                 f"{sum(now['alerts'].values())} alerts, {now['delivered']} delivered")  # fmt: skip
        _stop(procs)
        summary = _progress(store, names, signing) | {
            "accounts": len(names),
            "workers": workers,
            "seconds": round(time.monotonic() - started, 1),
            "notifications": len(receiver.received),
            "workers_exit": [p.returncode for p in procs],
        }
        summary["polls_per_minute"] = round(summary["polls"] / summary["seconds"] * 60)
    by_rule = ", ".join(f"{k} {v}" for k, v in sorted(summary["alerts"].items()))
    echo("")
    echo(
        click.style("Summary", bold=True) + f": {summary['accounts']} accounts on {workers} workers for "
        f"{summary['seconds']:g} s: {summary['polls']} polls ({summary['polls_per_minute']:,}/min), "
        f"{summary['accounts_polled']} accounts polled, {summary['signed_in']} signed in by the browser queue, "
        f"{sum(summary['alerts'].values())} alerts ({by_rule}), "
        f"{summary['delivered']} delivered in {summary['notifications']} notifications."
    )
    return summary


def _stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM: the jobs under way finish; a worker that does not end in a minute is killed."""
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
