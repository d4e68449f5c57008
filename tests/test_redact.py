"""Apprise targets are named without their secrets: in the database, the output and the logs.

Every schema Apprise registers gets a sample URL built from Apprise's own templates;
nothing is sent (the network is closed for the test)."""

import ast
import datetime as dt
import io
import logging
import random
import re
import socket
import string
from re import _constants as sre_constants
from re import _parser as sre_parse

import apprise
import pytest
from conftest import free_port

from monitor.alerts import Notifier
from monitor.redact import describe_target, plugin_for, scrub
from monitor.rules import Finding
from monitor.store import SqliteStore, everywhere

SECRETS = [  # the examples: a token, a user key, a secret topic, a password, a webhook path
    ("tgram://123456789:AAHtelegramsecret0123/987654", ["AAHtelegramsecret0123"], "Telegram"),
    ("pbul://o.pushbulletsecret0123", ["pushbulletsecret0123"], "Pushbullet"),
    ("pover://userkeysecret0123@apptokensecret0123", ["userkeysecret0123", "apptokensecret0123"], "Pushover"),
    ("ntfy://secret-topic-0123", ["secret-topic-0123"], "ntfy"),
    ("mailto://someone:mailpassword0123@example.com", ["mailpassword0123", "someone"], "E-Mail"),
    (
        "json://user:jsonpassword0123@hooks.example.com:8080/secret-path-0123",
        ["jsonpassword0123", "secret-path-0123"],
        "JSON",
    ),
    # shaped like a host name: only Apprise's knowledge that it is the password hides it
    ("mailto://someone:sec.ret.word@example.com", ["sec.ret.word"], "E-Mail"),
]


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt fails the test: building a label must send nothing."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network use: {args[:2]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def logs():
    """Everything any logger says meanwhile."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


@pytest.mark.parametrize("url, secrets, service", SECRETS)
def test_a_label_names_the_service_and_none_of_its_secrets(url, secrets, service, no_network, logs):
    label = describe_target(url)
    assert label.startswith(f"{service}: ")
    for secret in secrets:
        assert secret not in label and secret not in logs.getvalue()
        assert secret not in scrub(f"failed: {url} said {secret}", [url])


def test_an_unusable_url_is_named_by_its_scheme_only():
    assert describe_target("nonsense://user:secret0123@x") == "nonsense://(unrecognised)"
    assert describe_target("no scheme at all secret0123") == "(unrecognised URL)"
    assert plugin_for("nonsense://x") is None


# ---------------------------------------------------------------- every schema Apprise registers
RNG = random.Random(7)
ALNUM = string.ascii_lowercase + string.digits


def matching(pattern: str) -> str:
    """One string the token's regular expression accepts."""

    def walk(items) -> str:
        out = []
        for op, av in items:
            if op is sre_constants.LITERAL:
                out.append(chr(av))
            elif op is sre_constants.IN:
                chars = []
                for iop, iav in av:
                    if iop is sre_constants.LITERAL:
                        chars.append(chr(iav))
                    elif iop is sre_constants.RANGE:
                        chars += [chr(c) for c in range(iav[0], iav[1] + 1)]
                    elif iop is sre_constants.CATEGORY:
                        chars += list({sre_constants.CATEGORY_DIGIT: string.digits}.get(iav, ALNUM))
                chars = [c for c in chars if c.isalnum()] or ["a"]
                out.append(RNG.choice(chars))
            elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT):
                low, high, sub = av
                out.append("".join(walk(sub) for _ in range(low if low == high else min(max(low, 10), high))))
            elif op is sre_constants.SUBPATTERN:
                out.append(walk(av[-1]))
            elif op is sre_constants.BRANCH:
                out.append(walk(av[1][-1]))
            elif op in (sre_constants.ANY, sre_constants.NOT_LITERAL, sre_constants.CATEGORY):
                out.append("7" if av == sre_constants.CATEGORY_DIGIT else "x")
        return "".join(out)

    return walk(sre_parse.parse(pattern))


def value_for(name: str, token: dict, schema: str) -> str:
    kind = token.get("type", "string")
    if name == "schema":
        return schema
    if kind == "int":
        low, high = token.get("min", 1), token.get("max", 65535)
        return str(min(max(token.get("default", 8080 if name == "port" else low), low), high))
    if kind.startswith("choice"):
        values = token.get("values") or [""]
        if isinstance(values, str):
            values = sorted(ast.literal_eval(values.replace("frozenset(", "(")))
        return str(token.get("default", next(iter(values))))
    if kind == "email":
        return "alice@example.com"
    if name == "host":
        value = "notify.example.com"
    elif token.get("regex"):
        value = matching(token["regex"][0])
    else:
        value = "v" + "".join(RNG.choice(ALNUM) for _ in range(11))
    return token.get("prefix", "") + value


def sample(entry: dict) -> tuple[str, list[str]]:
    """A URL from the schema's first template, and the values in it that may be secrets."""
    schema = (entry["secure_protocols"] or entry["protocols"])[0]
    tokens = entry["details"]["tokens"]
    template = entry["details"]["templates"][0]
    values = {}
    for name in re.findall(r"{(\w+)}", template):
        token = tokens.get(name, {"type": "string"})
        if token.get("type", "").startswith("list"):
            group = token.get("group")
            if isinstance(group, str):
                group = ast.literal_eval(group) if group.startswith("{") else [group]
            member = sorted(group)[0] if group else None
            token = tokens.get(member, {"type": "string"})
        values[name] = value_for(name, token, schema)
    secret = [
        v.lstrip("@#+")
        for k, v in values.items()
        if k not in ("schema", "host", "port")
        and len(v.lstrip("@#+")) >= 4
        and not tokens.get(k, {}).get("type", "").startswith(("int", "choice"))
    ]
    return template.format(**values), secret


def test_every_schema_apprise_registers(no_network, logs):
    named = 0
    for entry in apprise.Apprise().details()["schemas"]:
        url, secrets = sample(entry)
        label = describe_target(url)  # never raises
        if plugin_for(url) is None:
            continue  # the template alone does not satisfy this plugin's own checks
        named += 1
        assert label.startswith(f"{entry['service_name']}: "), (url, label)
        for secret in secrets:
            assert secret not in label, (url, label)
            assert secret not in logs.getvalue(), url
    assert named >= 140  # the sweep really covered the plugins


# ---------------------------------------------------------------- the database
def test_the_database_holds_labels_and_scrubbed_errors(tmp_path):
    port = free_port()  # nobody listens: the delivery fails at once
    url = f"json://user:jsonpassword0123@127.0.0.1:{port}/secret-path-0123"
    store = SqliteStore(tmp_path / "ordermon.db")
    notifier = Notifier([url], backoff=1, max_attempts=1)
    now = dt.datetime.now(dt.UTC)
    store.record_poll(
        "a",
        started=now,
        site_now=now,
        orders_seen=1,
        details_read=1,
        orders=[],
        changes=[],
        findings=[
            Finding("refund_overdue", "8100000000001234", now, now, "late", "check", episode="refund_expected_by:0")
        ],
        route=everywhere(notifier.targets()),
    )
    assert notifier.deliver_due(store) == {"delivered": 0, "failed": 1}
    (delivery,) = store.deliveries(store.alerts()[0]["id"])
    assert delivery["state"] == "failed" and delivery["last_error"]
    dump = "\n".join(store.db.iterdump())
    assert "jsonpassword0123" not in dump and "secret-path-0123" not in dump
    store.close()
