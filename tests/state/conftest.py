"""Fixtures for the S3 state handler tests: a fresh bucket on the moto server, handlers, and a
request recorder built on botocore's own event hooks (nothing is stubbed or patched)."""
from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest


@dataclass
class RequestLog:
    """HTTP requests a client sent (``before-send``: one per attempt) and the operations with their keys."""

    sends: int = 0
    calls: list[tuple[str, str | None]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    params: list[dict[str, Any]] = field(default_factory=list)
    threads: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, client: Any) -> "RequestLog":
        client.meta.events.register("before-send", self._on_send)
        client.meta.events.register("before-parameter-build.s3", self._on_params)
        return self

    def _on_send(self, request: Any, **_: Any) -> None:
        with self.lock:
            self.sends += 1
            self.threads.add(threading.get_ident())
            self.headers.append({k.lower(): v for k, v in request.headers.items()})

    def _on_params(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        with self.lock:
            self.calls.append((model.name, params.get("Key")))
            self.params.append(dict(params))

    def reset(self) -> None:
        with self.lock:
            self.sends = 0
            self.calls.clear()
            self.headers.clear()
            self.params.clear()
            self.threads.clear()

    def ops(self, name: str, key_part: str = "") -> list[str | None]:
        return [key for op, key in self.calls if op == name and key_part in (key or "")]


@pytest.fixture
def s3(aws_env: dict[str, str]) -> Any:
    """A client that talks to the emulator directly (never through the fault proxy)."""
    import boto3

    return boto3.client("s3", endpoint_url=aws_env["AWS_ENDPOINT_URL"])


@pytest.fixture
def fault_proxy(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A ``faultproxy.FaultProxy`` in front of the emulator; clients made afterwards (handlers of
    ``make_handler``, child processes given ``os.environ``) go through it."""
    import importlib.util
    import sys

    module = sys.modules.get("_iaf_test_faultproxy")
    if module is None:
        spec = importlib.util.spec_from_file_location("_iaf_test_faultproxy", Path(__file__).parent / "faultproxy.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    proxy = module.FaultProxy(aws_env["AWS_ENDPOINT_URL"])
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture
def bucket(s3: Any, unique_name: str) -> str:
    s3.create_bucket(Bucket=unique_name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return unique_name


@pytest.fixture
def make_handler(bucket: str) -> Callable[..., Any]:
    """``make_handler(prefix=..., lease_timeout=...)`` -> (handler, RequestLog) on the test bucket.

    Handlers behave as in Lambda (no background lease renewal) unless ``renew_lease`` is given:
    a test that lets a lease expire must not have it renewed by a thread of the test process."""
    from iaf_aws_plugin import AWSS3StorageStateHandler

    def make(**kwargs: Any) -> tuple[Any, RequestLog]:
        kwargs.setdefault("bucket_name", bucket)
        kwargs.setdefault("renew_lease", False)
        handler = AWSS3StorageStateHandler(kwargs.pop("bucket_name"), **kwargs)
        handler.initialize()
        return handler, RequestLog().attach(handler.s3_client)

    return make


@pytest.fixture(name="write")
def write_fixture() -> Callable[..., Path]:
    """``write(root, "a/b.txt", data)`` creates a file and its folders."""
    return write


@pytest.fixture(name="tree")
def tree_fixture() -> Callable[[Path], dict[str, str]]:
    """``tree(root)``: every file's sha256 and every folder, to compare folders exactly."""
    return tree


def write(root: Path, rel: str, data: bytes | str = b"") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def tree(root: Path) -> dict[str, str]:
    """Every file (sha256) and folder ("dir") under ``root``, without following symlinks."""
    found: dict[str, str] = {}
    for current, dirs, files in os.walk(root):
        rel_dir = os.path.relpath(current, root)
        for name in dirs:
            path = os.path.join(current, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            found[rel] = "link:" + os.readlink(path) if os.path.islink(path) else "dir"
        for name in files:
            path = os.path.join(current, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if os.path.islink(path):
                found[rel] = "link:" + os.readlink(path)
            else:
                with open(path, "rb") as handle:
                    found[rel] = hashlib.sha256(handle.read()).hexdigest()
    return found
