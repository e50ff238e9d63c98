"""HTTP plumbing: a threaded HTTP/1.1 server on loopback, one handler that
turns each request into an app.Request and writes the app.Response back.

Also the two transport details the pipeline needs from the socket: reading
bodies (Content-Length or chunked) and telling whether the client has gone
(for delayed requests, which must be dropped unprocessed if so).
"""

import select
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from app import Request

MAX_BODY = 5 * 1024 * 1024  # the real API refuses bodies far smaller (500 KB)


def log_line(text):
    # One line per request on stderr. Callers pass only method, path (no
    # query string), status and non-secret notes.
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' HTTP clients expect
    server_version = "fake_notion"
    sys_version = ""

    def log_message(self, fmt, *args):
        # The stdlib access log would print request lines with query strings
        # (OAuth state, ids); requests are logged by _serve instead.
        pass

    def log_error(self, fmt, *args):
        log_line("error: " + (fmt % args))

    def do_GET(self):
        self._serve()

    def do_POST(self):
        self._serve()

    def do_PATCH(self):
        self._serve()

    def do_PUT(self):
        self._serve()

    def do_DELETE(self):
        self._serve()

    def do_HEAD(self):
        self._serve()

    def do_OPTIONS(self):
        self._serve()

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(length) if length else b""

    def _client_gone(self):
        """True when the peer has closed (EOF or reset) its end."""
        sock = self.connection
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return False
            return sock.recv(1, socket.MSG_PEEK) == b""
        except (ConnectionError, OSError, ValueError):
            return True

    def _serve(self):
        started = time.monotonic()
        split = urlsplit(self.path)
        path = unquote(split.path)
        try:
            body = self._read_body()
        except ValueError:
            self.send_error(400, "Bad request body")
            return
        req = Request(self.command, path, parse_qs(split.query, keep_blank_values=True), self.headers, body,
                      self._client_gone)
        resp = self.server.app.handle(req)
        if resp is None:
            self.close_connection = True
            log_line(f"{self.command} {path} dropped: client gone during injected delay")
            return
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(resp.body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
        ms = (time.monotonic() - started) * 1000
        note = f" {resp.note}" if resp.note else ""
        log_line(f"{self.command} {path} {resp.status}{note} {ms:.0f}ms")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host, port, app):
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.app = app
        super().__init__((host, port), Handler)

    def base_url(self):
        host, port = self.server_address[:2]
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"
