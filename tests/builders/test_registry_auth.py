"""Anonymous bearer-token auth as public registries do it (public.ecr.aws, Docker Hub): a proxy in
front of the loopback docker-registry answers 401 with a Bearer challenge, hands out an anonymous
token, and redirects blob downloads to storage that must NOT see the token."""
from __future__ import annotations

import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from iaf_aws_plugin.builders.native.blobs import BlobStore
from iaf_aws_plugin.builders.native.reference import parse_reference
from iaf_aws_plugin.builders.native.registry import fetch_layers, resolve_base
from iaf_aws_plugin.errors import PluginError

from .conftest import PY

pytestmark = pytest.mark.anyhost  # the result does not depend on the host version: CI runs it in one leg

TOKEN = "anon-token-123"


@pytest.fixture
def token_registry(registry: str, tiny_base: str) -> Iterator[tuple[str, dict[str, Any]]]:
    seen: dict[str, Any] = {"token_requests": [], "storage_auth": [], "refuse": False}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            port = self.server.server_address[1]
            if self.path.startswith("/token"):
                seen["token_requests"].append(urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query))
                body = b"{}" if seen["refuse"] else f'{{"token": "{TOKEN}"}}'.encode()
                return self._send(200, body, {"Content-Type": "application/json"})
            if self.path.startswith("/storage/"):
                seen["storage_auth"].append(self.headers.get("Authorization"))
                return self._proxy(self.path[len("/storage"):])
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                challenge = (f'Bearer realm="http://127.0.0.1:{port}/token",service="test-registry",'
                             f'scope="repository:lambda/python:pull"')
                return self._send(401, b"{}", {"WWW-Authenticate": challenge})
            if "/blobs/" in self.path:
                return self._send(307, b"", {"Location": f"http://127.0.0.1:{port}/storage{self.path}"})
            return self._proxy(self.path)

        def _proxy(self, path: str) -> None:
            request = urllib.request.Request(f"http://{registry}{path}")
            if self.headers.get("Accept"):
                request.add_header("Accept", self.headers["Accept"])
            with urllib.request.urlopen(request) as answer:
                self._send(answer.status, answer.read(), {"Content-Type": answer.headers.get("Content-Type", "")})

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)  # quick shutdown
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_anonymous_token_is_fetched_and_not_sent_to_blob_storage(token_registry, tmp_path):
    host, seen = token_registry
    store = BlobStore(tmp_path / "cache")
    base = resolve_base(parse_reference(f"{host}/lambda/python:{PY}"), "x86_64", store)
    assert seen["token_requests"] and seen["token_requests"][0]["service"] == ["test-registry"]
    assert seen["token_requests"][0]["scope"] == ["repository:lambda/python:pull"]
    fetch_layers(base, [layer.digest for layer in base.layers], store)
    assert all(store.has(layer.digest) for layer in base.layers)
    assert seen["storage_auth"] and set(seen["storage_auth"]) == {None}  # the token stays with the registry


def test_a_registry_that_gives_no_token_is_one_line(token_registry, tmp_path):
    host, seen = token_registry
    seen["refuse"] = True
    with pytest.raises(PluginError, match="returned no token"):
        resolve_base(parse_reference(f"{host}/lambda/python:{PY}"), "x86_64", BlobStore(tmp_path / "cache"))
