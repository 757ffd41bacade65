"""Fixtures for the deploy inputs: a private moto server that enforces IAM, a saved os.environ."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

import pytest

BIN_DIR = Path(sys.executable).parent


@pytest.fixture
def restore_environ() -> Iterator[None]:
    """Whatever a test puts into os.environ (load_secrets does) is undone afterwards."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def iam_enforcing_moto() -> Iterator[str]:
    """A moto server of our own (own process, own state) on which IAM can be switched on.

    The shared server must stay permissive for everyone else; here, after setting
    things up, ``iam_switch(True)`` makes every later request need a real
    access key and a policy allowing the action, as AWS does.
    """
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_"))}
    process = subprocess.Popen([str(BIN_DIR / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the private moto server did not start")
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def set_iam_enforcement(endpoint: str, *, enforce: bool) -> None:
    """Switch moto's IAM checks on (every request authenticated and authorized) or off."""
    count = b"0" if enforce else b"inf"
    request = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=count, method="POST",
                                     headers={"Content-Type": "text/plain"})  # not a form: moto reads the body
    urllib.request.urlopen(request, timeout=10).close()


@pytest.fixture
def iam_switch(iam_enforcing_moto: str) -> Iterator[Callable[[bool], None]]:
    """``iam_switch(True)`` turns IAM checks on for the private server; off again afterwards."""
    yield lambda enforce: set_iam_enforcement(iam_enforcing_moto, enforce=enforce)
    set_iam_enforcement(iam_enforcing_moto, enforce=False)
