"""A fault-injecting HTTP proxy between a boto3 client and the moto server on 127.0.0.1.

It forwards every request, except that the nth occurrence(s) of an S3 operation can be answered
with a 500, delayed past the client's read timeout, forwarded with the answer replaced by a 500
(the server acted, the client never hears), or cut off by closing the connection.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ERROR_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
    b"<Message>injected fault</Message></Error>"
)


def operation(method: str, path: str) -> str:
    q = parse_qs(urlsplit(path).query, keep_blank_values=True)
    if method == "PUT" and "partNumber" in q and "uploadId" in q:
        return "UploadPart"
    if method == "POST" and "uploads" in q:
        return "CreateMultipartUpload"
    if method == "POST" and "uploadId" in q:
        return "CompleteMultipartUpload"
    if method == "DELETE" and "uploadId" in q:
        return "AbortMultipartUpload"
    return f"{method}"


class FaultProxy:
    """Proxy to ``upstream`` (``http://127.0.0.1:port``); ``url`` is where clients connect."""

    def __init__(self, upstream: str) -> None:
        u = urlsplit(upstream)
        self.upstream = (u.hostname, u.port)
        self.counts: Counter[str] = Counter()
        self.faults: dict[tuple[str, int], tuple[str, float]] = {}
        self.every: dict[str, tuple[str, float]] = {}
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                op = operation(self.command, self.path)
                with proxy.lock:
                    proxy.counts[op] += 1
                    n = proxy.counts[op]
                    action, arg = proxy.faults.get((op, n)) or proxy.every.get(op) or ("pass", 0.0)
                if action == "error":
                    return self._reply(500, {"Content-Type": "application/xml"}, ERROR_XML)
                if action == "reset":
                    self.close_connection = True
                    self.connection.close()
                    return
                if action == "delay":
                    time.sleep(arg)
                status, headers, data = proxy._forward(self.command, self.path, self.headers, body)
                if action == "lost":
                    return self._reply(500, {"Content-Type": "application/xml"}, ERROR_XML)
                self._reply(status, headers, data)

            def _reply(self, status, headers, data) -> None:
                try:
                    self.send_response(status)
                    head = self.command == "HEAD"
                    for k, v in headers.items():
                        if k.lower() in ("transfer-encoding", "connection", "date", "server"):
                            continue
                        if k.lower() == "content-length" and not head:
                            continue
                        self.send_header(k, v)
                    if not head or "content-length" not in {k.lower() for k in headers}:
                        self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _forward(self, method, path, headers, body):
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            hdrs = {k: v for k, v in headers.items() if k.lower() not in ("connection",)}
            conn.request(method, path, body=body if body else None, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def fail(self, op: str, nth: int, action: str = "error", *, times: int = 1, arg: float = 0.0) -> None:
        """Apply ``action`` (error, delay, lost, reset) to occurrences nth .. nth+times-1 of ``op``."""
        for i in range(nth, nth + times):
            self.faults[(op, i)] = (action, arg)

    def always(self, op: str, action: str, arg: float = 0.0) -> None:
        """Apply ``action`` to every later occurrence of ``op``."""
        self.every[op] = (action, arg)

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()
            self.faults.clear()
            self.every.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
