"""A loopback HTTP proxy in front of the S3 emulator that injects faults the way networks do.

Clients point ``AWS_ENDPOINT_URL`` at it; every request goes to the emulator unchanged unless a
rule matches it. Rules act at the HTTP level only (nothing in the code under test is patched):

- ``drop``: forward the request (the emulator applies it), then reset the connection instead
  of answering: the client never learns that its write happened, and botocore retries it;
- ``fail``: answer 500 InternalError without forwarding (nothing applied); botocore retries;
- ``fail_after``: forward (applied), then answer 500 (or ``status``/``code``, e.g. S3's 409
  ConditionalRequestConflict, which botocore does not retry);
- ``slow``: forward, then send the answer's body in small pieces with pauses;
- ``hook``: call a function, then forward (e.g. change a file while its upload starts);
- ``date``: forward, then replace the answer's ``Date`` header;
- ``answer``: answer ``status`` with ``headers`` and ``body`` without forwarding (a service's
  refusal, e.g. Lambda's 429); ``inspect(conn)`` is called first, with the client connected.

Each rule applies ``times`` times (None: always). ``proxy.seen`` lists every request as
``(method, path, query, action)``.
"""
from __future__ import annotations

import http.client
import socket
import socketserver
import struct
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "expect", "proxy-connection"}


@dataclass
class Request:
    method: str
    path: str  # unquoted, without the query
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    target: str  # as sent
    raw_headers: list[tuple[str, str]]  # as sent

    @property
    def key(self) -> str:
        """The object key (the endpoint is an IP address: path-style addressing, /bucket/key)."""
        parts = self.path.lstrip("/").split("/", 1)
        return parts[1] if len(parts) > 1 else ""


@dataclass
class Rule:
    action: str
    match: Callable[[Request], bool]
    times: int | None = 1
    hits: int = 0
    options: dict[str, Any] = field(default_factory=dict)


def on(method: str, key_contains: str = "", *, query: str | None = None) -> Callable[[Request], bool]:
    """A matcher: requests with ``method`` whose key contains ``key_contains`` (and whose query
    has the parameter ``query``)."""
    def match(request: Request) -> bool:
        return (request.method == method and key_contains in request.key
                and (query is None or query in request.query))
    return match


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.rules: list[Rule] = []
        self.seen: list[tuple[str, str, dict[str, str], str]] = []
        self.active = 0  # requests received and not yet fully answered
        self.lock = threading.Lock()
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                while proxy._serve_one(self):
                    pass

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # A short poll: close() (shutdown) waits for the loop to notice, 0.5 s per proxy by default.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def add(self, action: str, match: Callable[[Request], bool], *, times: int | None = 1, **options: Any) -> Rule:
        rule = Rule(action, match, times, options=options)
        with self.lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- one request ---------------------------------------------------------------------------
    on = staticmethod(on)

    def _serve_one(self, conn: socketserver.StreamRequestHandler) -> bool:
        request = self._read(conn)
        if request is None:
            return False
        with self.lock:
            self.active += 1
        try:
            return self._act(conn, request)
        except OSError:
            return False
        finally:
            with self.lock:
                self.active -= 1

    def _act(self, conn: socketserver.StreamRequestHandler, request: Request) -> bool:
        rule = self._rule_for(request)
        action = rule.action if rule else "forward"
        with self.lock:
            self.seen.append((request.method, request.path, request.query, action))
        if action == "fail":
            self._answer(conn, 500, [("Content-Type", "application/xml")],
                         b"<Error><Code>InternalError</Code><Message>injected by the test proxy</Message></Error>")
            return True
        if action == "answer":
            assert rule is not None
            if "inspect" in rule.options:
                rule.options["inspect"](conn)
            self._answer(conn, rule.options.get("status", 500), list(rule.options.get("headers", [])),
                         rule.options.get("body", b""))
            return True
        if action == "hook":
            assert rule is not None
            rule.options["fn"](request)
        status, headers, body = self._forward(request)
        if action == "drop":  # applied upstream; the client gets a reset instead of the answer
            conn.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if action == "fail_after":
            assert rule is not None
            code = rule.options.get("code", "InternalError")
            self._answer(conn, rule.options.get("status", 500), [("Content-Type", "application/xml")],
                         f"<Error><Code>{code}</Code><Message>injected after applying</Message></Error>".encode())
            return True
        if action == "date":
            assert rule is not None
            headers = [(k, rule.options["value"] if k.lower() == "date" else v) for k, v in headers]
        if action == "slow":
            assert rule is not None
            self._answer(conn, status, headers, body, chunk=rule.options.get("chunk", 16384),
                         delay=rule.options.get("delay", 0.05), head=request.method == "HEAD")
            return True
        self._answer(conn, status, headers, body, head=request.method == "HEAD")
        return True

    def _rule_for(self, request: Request) -> Rule | None:
        with self.lock:
            for rule in self.rules:
                if (rule.times is None or rule.hits < rule.times) and rule.match(request):
                    rule.hits += 1
                    return rule
        return None

    @staticmethod
    def _read(conn: socketserver.StreamRequestHandler) -> Request | None:
        line = conn.rfile.readline()
        if not line or not line.strip():
            return None
        method, target, _ = line.decode("latin-1").split(" ", 2)
        headers: list[tuple[str, str]] = []
        while True:
            raw = conn.rfile.readline().decode("latin-1")
            if raw in ("\r\n", "\n", ""):
                break
            name, _, value = raw.partition(":")
            headers.append((name.strip(), value.strip()))
        lower = {k.lower(): v for k, v in headers}
        if lower.get("expect", "").lower() == "100-continue":
            conn.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            conn.wfile.flush()
        if "chunked" in lower.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size = int(conn.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while conn.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(conn.rfile.read(size))
                conn.rfile.readline()
            body = b"".join(parts)
        else:
            body = conn.rfile.read(int(lower.get("content-length", "0") or 0))
        split = urllib.parse.urlsplit(target)
        query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        return Request(method, urllib.parse.unquote(split.path), query, lower, body, target, headers)

    def _forward(self, request: Request) -> tuple[int, list[tuple[str, str]], bytes]:
        upstream = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            upstream.putrequest(request.method, request.target, skip_host=True, skip_accept_encoding=True)
            for name, value in request.raw_headers:
                if name.lower() not in _HOP:
                    upstream.putheader(name, value)
            upstream.putheader("Content-Length", str(len(request.body)))
            upstream.endheaders(request.body)
            response = upstream.getresponse()
            body = response.read()
            return response.status, response.getheaders(), body
        finally:
            upstream.close()

    @staticmethod
    def _answer(conn: socketserver.StreamRequestHandler, status: int, headers: list[tuple[str, str]], body: bytes,
                *, chunk: int = 0, delay: float = 0.0, head: bool = False) -> None:
        lines = [f"HTTP/1.1 {status} {http.client.responses.get(status, 'Status')}"]
        lines += [f"{k}: {v}" for k, v in headers if k.lower() not in _HOP or (head and k.lower() == "content-length")]
        if not head and status not in (204, 304):
            lines.append(f"Content-Length: {len(body)}")
        if not head and status in (204, 304):
            body = b""
        if head:
            body = b""
        conn.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if chunk and body:
            for start in range(0, len(body), chunk):
                conn.wfile.write(body[start:start + chunk])
                conn.wfile.flush()
                time.sleep(delay)
        else:
            conn.wfile.write(body)
        conn.wfile.flush()
