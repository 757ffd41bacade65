"""A faithful stand-in for AWS's Lambda Python base image, and a Lambda Runtime API, for the
acceptance test and benchmarks/build.py (the public base image cannot be downloaded here).

The stand-in: Debian bookworm (Python 3.11) from ``mmdebstrap``, laid out like Lambda's image:
``/var/task`` (LAMBDA_TASK_ROOT, the working directory), ``/var/runtime`` with AWS's runtime
interface client ``awslambdaric`` and an older boto3 (imported after the image's site-packages,
as on Lambda), ``/lambda-entrypoint.sh HANDLER`` running ``python3 -m awslambdaric HANDLER``.
It is assembled with umoci and pushed with skopeo to a loopback registry.
"""
from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import socket
import subprocess
import tarfile
import io
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

STANDIN_PYTHON = "3.11"
LAMBDA_UID = 993
RUNTIME_REQUIREMENTS = ("awslambdaric==4.2.2", "boto3==1.34.0")
ENTRYPOINT = """#!/bin/sh
# Like AWS's: /lambda-entrypoint.sh HANDLER starts the runtime interface client.
export PYTHONPATH="${LAMBDA_TASK_ROOT}:/opt/python"
cd "${LAMBDA_TASK_ROOT}"
exec python3 -m awslambdaric "$@"
"""


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({result.returncode}): {result.stderr[-2000:]}")
    return result


def debian_rootfs(cache: Path) -> Path:
    """``mmdebstrap --variant=minbase`` bookworm with python3 (cached; about 25-90 s cold)."""
    tarball = cache / "bookworm-python3.tar"
    if not tarball.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        part = cache / f"bookworm-python3.{os.getpid()}.part.tar"
        _run(["mmdebstrap", "--quiet", "--variant=minbase", "--include=python3,ca-certificates",
              "--skip=output/dev", "bookworm", str(part)], timeout=900)
        part.replace(tarball)
    return tarball


def runtime_dir(cache: Path) -> Path:
    """awslambdaric and an old boto3 for CPython 3.11 x86_64 (pip, wheels only; cached)."""
    key = hashlib.sha256("\n".join(RUNTIME_REQUIREMENTS).encode()).hexdigest()[:12]
    target = cache / f"runtime-{key}"
    if not target.is_dir():
        part = cache / f"runtime-{key}.{os.getpid()}.part"
        shutil.rmtree(part, ignore_errors=True)
        from iaf_aws_plugin.builders.native.dependencies import pip_command, platform_tags

        command = [*pip_command(), "install", "--quiet", "--target", str(part), "--only-binary=:all:",
                   "--implementation", "cp", "--python-version", STANDIN_PYTHON, "--no-compile"]
        for tag in platform_tags("x86_64", (2, 36)):
            command += ["--platform", tag]
        _run([*command, *RUNTIME_REQUIREMENTS], timeout=900)
        shutil.rmtree(part / "bin", ignore_errors=True)
        part.replace(target)
    return target


def _lambda_layout_tar(runtime: Path, out: Path) -> None:
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        def add_dir(name: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)

        def add_file(name: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))

        for name in ("var", "var/task", "var/runtime", "opt", "opt/python"):
            add_dir(name)
        add_dir("tmp", 0o1777)
        add_file("lambda-entrypoint.sh", ENTRYPOINT.encode(), 0o755)
        # /var/runtime comes after the image's site-packages, as on Lambda.
        add_file("usr/lib/python3/dist-packages/zz-lambda-runtime.pth", b"/var/runtime\n")
        for path in sorted(runtime.rglob("*")):
            relative = path.relative_to(runtime).as_posix()
            if "__pycache__" in relative:
                continue
            if path.is_dir():
                add_dir(f"var/runtime/{relative}")
            else:
                add_file(f"var/runtime/{relative}", path.read_bytes())


def standin_image(cache: Path, registry: str, work: Path) -> str:
    """Build the stand-in with umoci and push it to ``registry``; its reference."""
    layout = work / "standin-layout"
    tag = STANDIN_PYTHON
    _run(["umoci", "init", "--layout", str(layout)])
    _run(["umoci", "new", "--image", f"{layout}:{tag}"])
    _run(["umoci", "raw", "add-layer", "--image", f"{layout}:{tag}", str(debian_rootfs(cache))], timeout=600)
    lambda_tar = work / "lambda-layout.tar"
    _lambda_layout_tar(runtime_dir(cache), lambda_tar)
    _run(["umoci", "raw", "add-layer", "--image", f"{layout}:{tag}", str(lambda_tar)], timeout=600)
    _run(["umoci", "config", "--image", f"{layout}:{tag}", "--architecture", "amd64", "--os", "linux",
          "--config.entrypoint", "/lambda-entrypoint.sh", "--config.workingdir", "/var/task",
          "--config.env", "LAMBDA_TASK_ROOT=/var/task", "--config.env", "LAMBDA_RUNTIME_DIR=/var/runtime",
          "--config.env", "LANG=C.UTF-8", "--config.env", "TZ=:/etc/localtime",
          "--config.env", "PATH=/usr/local/bin:/usr/bin:/bin"])
    reference = f"{registry}/lambda/python:{tag}"
    _run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}:{tag}", f"docker://{reference}"],
         timeout=600)
    return reference


# --- Lambda Runtime API ---------------------------------------------------------------------

class RuntimeAPI:
    """The Runtime API awslambdaric talks to (``AWS_LAMBDA_RUNTIME_API``), on loopback:
    ``invoke(event)`` hands an event to the next ``GET …/invocation/next`` and waits for the
    response or error the runtime posts back."""

    def __init__(self) -> None:
        self.events: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.results: dict[str, queue.Queue[tuple[str, Any]]] = {}
        self.init_errors: list[Any] = []
        self.generation = 0  # one per container: new_container() before starting a process
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: bytes = b"{}", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if not self.path.endswith("/runtime/invocation/next"):
                    return self._reply(404)
                generation = api.generation
                while True:  # a stopped container's pending request must not take the next event
                    try:
                        request_id, body = api.events.get(timeout=0.2)
                    except queue.Empty:
                        if generation != api.generation:
                            return
                        continue
                    if generation == api.generation:
                        break
                    api.events.put((request_id, body))
                    return
                self._reply(200, body, {
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 900_000),
                    "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:eu-west-1:123456789012:function:bot",
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = self.path.split("/")
                if self.path.endswith("/init/error"):
                    api.init_errors.append(body.decode(errors="replace"))
                    for results in api.results.values():
                        results.put(("init-error", body.decode(errors="replace")))
                    return self._reply(202)
                if len(parts) >= 6 and parts[-1] in ("response", "error"):
                    request_id = parts[-2]
                    try:
                        payload: Any = json.loads(body)
                    except ValueError:
                        payload = body.decode(errors="replace")
                    api.results.setdefault(request_id, queue.Queue()).put((parts[-1], payload))
                    return self._reply(202)
                return self._reply(404)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a function process stopped while waiting for its next event

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def new_container(self) -> None:
        """Requests of earlier (stopped) containers stop waiting for events."""
        self.generation += 1

    def invoke(self, event: Any, timeout: float = 600) -> tuple[str, Any]:
        request_id = str(uuid.uuid4())
        results = self.results.setdefault(request_id, queue.Queue())
        self.events.put((request_id, json.dumps(event).encode()))
        return results.get(timeout=timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def prepare_rootfs(root: Path) -> None:
    """What Lambda gives a function: a writable /tmp, /dev/null; /var/task not writable by its user."""
    (root / "tmp").mkdir(exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    dev = root / "dev"
    dev.mkdir(exist_ok=True)
    for name, minor in (("null", 3), ("zero", 5), ("urandom", 9), ("random", 8)):
        if not (dev / name).exists():
            try:
                os.mknod(dev / name, 0o20666, os.makedev(1, minor))
                os.chmod(dev / name, 0o666)
            except OSError:
                pass
    for folder, dirs, files in os.walk(root / "var" / "task"):
        for name in dirs + files:
            path = Path(folder) / name
            if not path.is_symlink():
                path.chmod(path.stat().st_mode & ~0o222)


def start_function(root: Path, handler: str, env: dict[str, str], log: Path,
                   uid: int = LAMBDA_UID) -> subprocess.Popen[bytes]:
    """``/lambda-entrypoint.sh HANDLER`` chrooted into ``root``, as an unprivileged user."""
    def enter() -> None:
        os.chroot(root)
        os.chdir("/var/task")
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)

    handle = open(log, "ab")
    return subprocess.Popen(["/lambda-entrypoint.sh", handler], env=env, preexec_fn=enter,
                            stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def stop(process: subprocess.Popen[bytes]) -> None:
    from deploy_fixtures import stop_process

    stop_process(process)


OFFLINE_HANDLER = '''"""The scaffolded bot with an offline paper market (test only): every order fills at its price,
candles come from a CSV in the image. Reports the app's orders, trades and positions."""
import run_offline  # the test runner of tests/state/e2e (imports aws_function and the paper market)
import aws_function


def handler(event, context):
    import boto3
    import iaf_aws_plugin

    return dict(run_offline.report(aws_function.lambda_handler(event, context)),
                boto3=boto3.__file__, boto3_version=boto3.__version__, plugin=iaf_aws_plugin.__file__)
'''
