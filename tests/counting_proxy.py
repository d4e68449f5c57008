"""A forward HTTP proxy on loopback for tests: it asks for Basic credentials (407 until given), passes
plain-HTTP requests on, counts them, and marks each one's User-Agent so that the site's access log
tells what came through it."""

from __future__ import annotations

import base64
import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

MARK = "via-counting-proxy"
#: Hop-by-hop headers (RFC 9110, 7.6.1): a proxy does not pass them on.
HOP = {"connection", "keep-alive", "proxy-authorization", "proxy-connection"}
HOP |= {"te", "trailer", "transfer-encoding", "upgrade"}


class CountingProxy:
    def __init__(self, user: str, password: str):
        self.passed = 0  # requests passed on with the right credentials
        self.asked = 0  # requests answered 407 (none, or wrong, credentials)
        self._lock = threading.Lock()
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _pass_on(self) -> None:
                if self.headers.get("Proxy-Authorization") != expected:
                    with proxy._lock:
                        proxy.asked += 1
                    self.send_response(407)
                    self.send_header("Proxy-Authenticate", 'Basic realm="test"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                target = urlsplit(self.path)  # a proxy's request names the whole URL
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                headers["User-Agent"] = f"{self.headers.get('User-Agent', '')} {MARK}"
                upstream = http.client.HTTPConnection(target.hostname or "", target.port or 80, timeout=30)
                try:
                    path = target.path + (f"?{target.query}" if target.query else "")
                    upstream.request(self.command, path or "/", body=body or None, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                finally:
                    upstream.close()
                with proxy._lock:
                    proxy.passed += 1
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_HEAD = _pass_on

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="counting-proxy")

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
