"""What ``ordermon cancel`` does with its ids: one order, or a batch in one browser, each
order's line (or JSON line), the batch's summary and its exit code."""

from __future__ import annotations

import json
from collections import Counter

import click

from flows.errors import FlowError, Outcome
from flows.text import printable

from . import exits
from .progress import Progress


def order_ids(arguments, from_file, checker: click.ParamType) -> list[str]:
    """The ids of the arguments then the file, each once; every one checked (by the CLI's
    ``checker``) before anything runs."""
    ids = list(arguments)
    if from_file is not None:
        for number, line in enumerate(from_file, 1):
            text = line.split("#", 1)[0].strip()
            if text:
                try:
                    ids.append(checker.convert(text, None, None))
                except click.BadParameter as exc:
                    raise click.UsageError(f"--from {from_file.name} line {number}: {exc.message}") from None
    if not ids:
        raise click.UsageError("give an ORDER_ID or --from FILE")
    return list(dict.fromkeys(ids))


def cancel_one(settings, order_id: str, reason: str, *, dry_run: bool, as_json: bool) -> None:
    """One order: its line (or JSON object); an error is raised for ``monitor.exits``."""
    from flows import FlowError
    from flows.api import cancel as run_cancel

    try:
        result = run_cancel(settings, order_id, reason, dry_run=dry_run)
    except FlowError as exc:
        if as_json:
            click.echo(json.dumps(_failed(order_id, reason, exc)))
        raise
    if as_json:
        click.echo(result.model_dump_json())
        return
    click.echo(_cancelled_line(result))


def _failed(order_id, reason, exc) -> dict:
    return {
        "order_id": order_id,
        "status_before": None,
        "status_after": None,
        "outcome": exc.outcome,
        "reason": reason,
        "artifacts": exc.artifacts,
        "error": str(exc),
    }


def _not_attempted(order_id: str, reason: str) -> dict:
    outcome: Outcome = "not_attempted"
    return {"order_id": order_id, "status_before": None, "status_after": None, "outcome": outcome, "reason": reason}


def _cancelled_line(result) -> str:
    before = result.status_before.value if result.status_before else "?"
    after = result.status_after.value if result.status_after else "?"
    line = f"{result.order_id}: {result.outcome} ({before} -> {after}) {result.reason or ''}".rstrip()
    return "\n".join([line, *(f"  artifact: {path}" for path in result.artifacts)])


def cancel_batch(settings, ids: list[str], reason: str, *, dry_run: bool, as_json: bool) -> int:
    """Each order in turn: its line (or JSON line), a summary on stderr; the most serious exit code."""
    from flows import cancel_many

    progress = Progress(enabled=not as_json)
    outcomes: Counter[str] = Counter()
    codes: list[int] = []
    lines: list[str] = []
    attempted: set[str] = set()
    try:
        for done, (order_id, found) in enumerate(cancel_many(settings, ids, reason, dry_run=dry_run), 1):
            attempted.add(order_id)
            codes.append(exits.code_for(found) if isinstance(found, FlowError) else exits.Exit.OK)
            outcomes[found.outcome] += 1
            line = _line(order_id, reason, found, as_json)
            if progress.enabled:  # the lines come after the bar, not through it
                lines.append(line)
            else:
                click.echo(line)
            progress("batch", done, len(ids), "cancel")
    finally:
        progress.close()
        for line in lines:
            click.echo(line)
    skipped = [order_id for order_id in ids if order_id not in attempted]
    for order_id in skipped:  # an account's error ended the batch before them
        click.echo(json.dumps(_not_attempted(order_id, reason)) if as_json else f"{order_id}: not_attempted")
    if skipped:
        outcomes["not_attempted"] = len(skipped)
    _summary(len(ids), outcomes, " (the batch stopped at an account error)" if skipped else "")
    return int(exits.most_serious(codes))


def _line(order_id: str, reason: str, found, as_json: bool) -> str:
    if isinstance(found, FlowError):
        if as_json:
            return json.dumps(_failed(order_id, reason, found))
        return f"{order_id}: {found.outcome}: {exits.message_for(found)}"
    return found.model_dump_json() if as_json else _cancelled_line(found)


def _summary(count: int, outcomes: Counter[str], why: str = "") -> None:
    summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
    click.echo(f"{count} orders: {summary}{why}", err=True)


# ---------------------------------------------------------------- a fleet's cancels
def kept(order_id: str, reason: str, found) -> dict:
    """A fleet worker's outcome (a CancelResult or a FlowError) as the database keeps it for the
    asker: its exit code, its JSON line, its error line."""
    error = exits.message_for(found) if isinstance(found, FlowError) else None
    code = exits.code_for(found) if isinstance(found, FlowError) else exits.Exit.OK
    return {"code": int(code), "result": _line(order_id, reason, found, as_json=True), "error": error}


def cancel_in_fleet(
    store, ids: list[str], reason: str, *, account: str, dry_run: bool, as_json: bool, wait: float
) -> int:
    """Each order's cancel queued for the fleet's browser workers (``account``'s lock: never beside
    its poll), then each outcome as they kept it, in order; the most serious exit code."""
    import time

    from flows.models import CancelResult

    requests = [store.request_cancel(account, order_id, reason, dry_run=dry_run) for order_id in ids]
    click.echo(f"{len(ids)} cancels of {account} queued for the fleet's browser workers", err=True)
    progress = Progress(enabled=not as_json)
    deadline = time.monotonic() + wait
    rows: dict[int, dict] = {}
    try:
        while True:
            rows |= {r: row for r in requests if r not in rows and (row := store.cancel_request(r)) and row["finished"]}
            progress(account, len(rows), len(ids), "cancel")
            if len(rows) == len(requests) or time.monotonic() > deadline:
                break
            time.sleep(0.2)  # the workers write to the database; this reads it
    finally:
        progress.close()
    outcomes: Counter[str] = Counter()
    codes: list[int] = []
    for order_id, request in zip(ids, requests, strict=True):
        row = rows.get(request)
        if row is None:
            codes.append(exits.Exit.LOCAL_STATE)
            outcomes["queued"] += 1
            queued = {"order_id": order_id, "outcome": "queued", "reason": reason, "request": request}
            click.echo(json.dumps(queued) if as_json else f"{order_id}: queued (cancel request {request}): "
                       f"no browser worker finished it within {wait:g} s")  # fmt: skip
            continue
        codes.append(exits.code_of(row["code"]))
        if row["code"] == exits.Exit.OK:
            result = CancelResult.model_validate_json(row["result"])
            outcomes[result.outcome] += 1
            click.echo(row["result"] if as_json else _cancelled_line(result))
        else:
            outcome = json.loads(row["result"])["outcome"]
            outcomes[outcome] += 1
            click.echo(row["result"] if as_json else printable(f"{order_id}: {outcome}: {row['error']}"))
    _summary(len(ids), outcomes)
    return int(exits.most_serious(codes))
