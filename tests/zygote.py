"""`ordermon` commands for the tests, each in a process of its own, forked from a server that has
imported ordermon's libraries once.

Most of a short command's time is the interpreter importing pydantic, click, httpx, sqlite-utils,
APScheduler and Apprise (about 0.6 s of CPU); the suite runs well over a hundred commands on two
cores. The server imports those libraries, never ordermon itself: each child imports ordermon anew,
with its own environment, folder and standard streams, runs `python -m monitor.cli` and ends as an
interpreter does (threads joined, exit handlers run, streams flushed), with the command's exit code.

Run as a script, this file is the server: one JSON request per line on stdin ({"args", "env",
"cwd", "out", "err"}), and for each the child's pid, then its exit code, one per line on stdout.
"""

import json
import os
import sys

PRELOAD = (
    "anyio",
    "apprise",
    "apscheduler.schedulers.blocking",
    "asyncio",
    "click",
    "concurrent.futures",
    "cryptography.fernet",
    "dateutil.parser",
    "email.message",
    "holidays",
    "httpcore",
    "httpx",
    "playwright.async_api",
    "playwright.sync_api",
    "pydantic",
    "pydantic_settings",
    "pygments.lexers",
    "rich.console",
    "rich.table",
    "rich.progress",
    "sqlite_utils",
    "tenacity",
    "tzlocal",
    "zoneinfo",
)


def _serve() -> dict:
    """The server's loop; returns only in a child, with its request."""
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    answers = os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(2, 1)  # nothing the server or a library prints can reach the protocol
    for module in PRELOAD:
        __import__(module)
    while line := requests.readline():
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            requests.close()
            os.close(answers)
            return request
        os.write(answers, f"{pid}\n".encode())
        _, status = os.waitpid(pid, 0)
        os.write(answers, f"{os.waitstatus_to_exitcode(status)}\n".encode())
    sys.exit(0)


def _become(request: dict) -> None:
    """The child: the command's environment, folder and streams."""
    os.environ.clear()
    os.environ.update(request["env"])
    if request["cwd"]:
        os.chdir(request["cwd"])
    for fd, path in ((1, request["out"]), (2, request["err"])):
        target = os.open(path, os.O_WRONLY | os.O_TRUNC)
        os.dup2(target, fd)
        os.close(target)
    sys.argv = ["ordermon", *request["args"]]


if __name__ == "__main__":
    _become(_serve())
    del sys.path[0]  # as `python -m` from the command's folder: this file's folder is not the path
    sys.path.insert(0, os.getcwd())
    import runpy

    runpy.run_module("monitor.cli", run_name="__main__", alter_sys=True)
