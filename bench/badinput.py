"""`python -m bench.badinput [--examples N] [--json]`: bad input against ordermon and its storefront.

Beside the fault campaign (bench/faults.py), which breaks the site, this one
feeds it and the `ordermon` command what they should refuse, and counts:
- requests: generated bodies for every admin endpoint, bad query strings and forms
  for the pages (Hypothesis strategies, fixtures/fuzz.py);
- server_errors: answers of 500 or more (should be 0);
- refused_changed_state: refused requests (4xx) after which /__admin/state differed (0);
- cli_runs / cli_bad_exits: `ordermon` commands with bad input, and how many of them
  did not end with one line on stderr and a code of the README's table (0);
- secrets_found: the password, Apprise tokens or credentials of a URL found in any
  output, log, database, trace, screenshot or file ordermon wrote (0).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.fuzz import ENDPOINTS, bodies

from .env import Storefront, workdir

PASSWORD = "bad-input-s3cret-password"
SECRETS = [
    PASSWORD,
    "AAHbadinputtelegram0001",
    "jsonsecretpassword0002",
    "secretpath0003",
    "secret-topic-0004",
    "credentialsecret0005",
]
# Tokens in URLs' paths, at a closed port of this machine: refused at once and never sent to a
# service on the internet. (Not ntfy: Apprise waits 5.5 s between two messages to it.)
ALERT_URLS = "gotify://127.0.0.1:9/AAHbadinputtelegram0001,form://127.0.0.1:9/secret-topic-0004"
EXIT_CODES = {0, 1, 2, 3, 4, 5, 6, 7, 130}
PAGE_QUERIES = st.one_of(
    st.text(max_size=20), st.sampled_from(["\u00b2", "9" * 5000, "-1", "0", "1e9", "%00", "../../etc", "<script>"])
)


class Campaign:
    def __init__(self, examples: int, echo=lambda line: None):
        self.examples = examples
        self.echo = echo
        self.counts: Counter[str] = Counter()
        self.by_endpoint: Counter[str] = Counter()

    # ---------------------------------------------------------------- the storefront
    def _state(self, admin: httpx.Client) -> dict:
        state = admin.get("/__admin/state").json()
        state.pop("requests")  # the site counts what it serves, refused requests included
        return state

    def _post(self, admin: httpx.Client, endpoint: str, order_id: str, body: bytes) -> None:
        before = self._state(admin)
        response = admin.post("/__admin" + endpoint.replace("{id}", order_id), content=body)
        self.counts["requests"] += 1
        self.by_endpoint[endpoint] += 1
        if response.status_code >= 500:
            self.counts["server_errors"] += 1
        elif response.status_code >= 400 and self._state(admin) != before:
            self.counts["refused_changed_state"] += 1
        admin.post("/__admin/clock", json={"freeze": True})

    def admin_api(self, shop: Storefront) -> None:
        with httpx.Client(base_url=shop.url, headers={"X-Admin-Token": shop.token}, timeout=30) as admin:
            admin.post("/__admin/clock", json={"freeze": True})
            for endpoint in ENDPOINTS:

                @settings(
                    max_examples=self.examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
                )
                @given(body=bodies(endpoint), pick=st.integers(min_value=0))
                def send(body: bytes, pick: int) -> None:
                    orders = admin.get("/__admin/state").json()["orders"] or [{"id": "8100000000000000"}]
                    self._post(admin, endpoint, orders[pick % len(orders)]["id"], body)  # noqa: B023 (run at once)

                send()
                self.echo(f"admin {endpoint}: {self.counts['requests']} requests so far")

    def pages(self, shop: Storefront) -> None:
        """Query strings and forms the pages refuse: a 4xx, never a 5xx."""
        with httpx.Client(base_url=shop.url, timeout=30) as client:
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
            if csrf is None:
                raise RuntimeError("the login page has no csrf_token")
            token = csrf.group(1)
            client.post("/login", data={"email": "buyer@example.com", "password": PASSWORD, "csrf_token": token})

            @settings(
                max_examples=self.examples * 2, deadline=None, database=None, suppress_health_check=list(HealthCheck)
            )
            @given(
                value=PAGE_QUERIES,
                which=st.sampled_from(
                    [
                        "list.json?page=",
                        "list.json?pageSize=",
                        "list.json?tab=",
                        "detail.html?orderId=",
                        "detail.json?orderId=",
                        "cancel.html?orderId=",
                    ]
                ),
                form=st.binary(max_size=80),
            )
            def visit(value: str, which: str, form: bytes) -> None:
                for response in (
                    client.get(f"/p/order/{which}{quote(value)}"),
                    client.post(
                        "/p/order/cancel", content=form, headers={"content-type": "application/x-www-form-urlencoded"}
                    ),
                ):
                    self.counts["requests"] += 1
                    self.by_endpoint["pages"] += 1
                    if response.status_code >= 500:
                        self.counts["server_errors"] += 1

            visit()
            self.echo(f"pages: {self.counts['requests']} requests so far")

    # ---------------------------------------------------------------- the command
    def cli(self, shop: Storefront, tmp: Path) -> list[subprocess.CompletedProcess]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERMON_")} | {
            "ORDERMON_STOREFRONT_URL": shop.url,
            "ORDERMON_EMAIL": "buyer@example.com",
            "ORDERMON_PASSWORD": PASSWORD,
            "ORDERMON_DATA_DIR": str(tmp / "data"),
            "ORDERMON_DB": str(tmp / "o.db"),
            "ORDERMON_RETRY_BACKOFF": "0.05",
            "ORDERMON_RETRIES": "1",
            "ORDERMON_TIMEOUT": "5",
        }
        closed = "json://user:jsonsecretpassword0002@127.0.0.1:9/secretpath0003"
        runs = [
            (["monitor", "--once"], {"ORDERMON_ALERT_URLS": closed}),  # alerts that fail to deliver
            (["monitor", "--once"], {"ORDERMON_ALERT_URLS": ALERT_URLS, "ORDERMON_DB": str(tmp / "other.db")}),
            (["alerts"], {}),
            (["status", "--json"], {}),
            (["report", "--out", str(tmp / "report.html")], {}),
            (["orders"], {"ORDERMON_STOREFRONT_URL": "http://user:credentialsecret0005@127.0.0.1:1"}),
            (["monitor", "--once"], {"ORDERMON_ALERT_URLS": "nonsense://x:credentialsecret0005@y"}),
            (["orders"], {"ORDERMON_ACCOUNTS": '[{"email": "x", "password": "credentialsecret0005"'}),
            (["cancel", "\uff18" * 16, "--reason", "wrong"], {}),
            (["cancel", "8100000000000000", "--reason", ""], {}),
            (["orders"], {"ORDERMON_PASSWORD": "credentialsecret0005"}),  # wrong password
            (["history", "x" * 10_000], {}),
            (["status", "--db", "/dev/null"], {}),
            (["--bogus"], {}),
        ]
        results = []
        for args, extra in runs:
            result = subprocess.run(
                [sys.executable, "-m", "monitor.cli", *args],
                env=env | extra,
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=300,
            )
            results.append(result)
            self.counts["cli_runs"] += 1
            lines = result.stderr.strip().splitlines()
            one_line = result.returncode == 0 or (len(lines) == 1 and lines[0].startswith("error:"))
            if result.returncode not in EXIT_CODES or not one_line:
                self.counts["cli_bad_exits"] += 1
                self.echo(f"bad exit {result.returncode} for {args}: {result.stderr.strip()[:200]}")
        return results

    def sweep(self, outputs: list[str], folder: Path) -> None:
        """Every output and every file (and every member of every zip) searched for the secrets."""
        found = []
        for index, text in enumerate(outputs):
            found += [f"output {index}: {s}" for s in SECRETS if s in text]
        for path in folder.rglob("*"):
            if not path.is_file():
                continue
            data = path.read_bytes()
            blobs = [(str(path), data)]
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as archive:
                    blobs += [(f"{path}!{n}", archive.read(n)) for n in archive.namelist()]
            found += [f"{where}: {s}" for where, blob in blobs for s in SECRETS if s.encode() in blob]
        self.counts["secrets_found"] += len(found)
        for line in found:
            self.echo(f"SECRET {line}")

    def run(self) -> dict:
        started = time.perf_counter()
        self.counts.update(
            {
                "requests": 0,
                "server_errors": 0,
                "refused_changed_state": 0,
                "cli_runs": 0,
                "cli_bad_exits": 0,
                "secrets_found": 0,
            }
        )
        with workdir() as tmp:
            shop = Storefront(orders=20, seed=4, password=PASSWORD).wait()
            try:
                self.admin_api(shop)
                shop.admin.reset(seed=4, orders=20)
                self.pages(shop)
                results = self.cli(shop, tmp)
            finally:
                shop.stop()
            self.sweep([r.stdout + r.stderr for r in results], tmp)
        return dict(self.counts) | {
            "by_endpoint": dict(sorted(self.by_endpoint.items())),
            "seconds": round(time.perf_counter() - started, 1),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.badinput", description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=150, help="generated bodies per admin endpoint (default 150)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    echo = (lambda line: None) if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    result = Campaign(args.examples, echo).run()
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for key, value in result.items():
            print(f"{key:22} {value}")
    failures = ("server_errors", "refused_changed_state", "cli_bad_exits", "secrets_found")
    return 0 if all(result[k] == 0 for k in failures) else 1


if __name__ == "__main__":
    sys.exit(main())
