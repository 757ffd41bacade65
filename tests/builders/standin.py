"""A faithful stand-in for AWS's Lambda Python base image, and AWS's own Runtime Interface Emulator
to run it, for the acceptance test and benchmarks/build.py (the public base image cannot be
downloaded here).

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
import re
import shutil
import socket
import subprocess
import tarfile
import io
import time
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


# --- AWS's Runtime Interface Emulator ------------------------------------------------------

RIE_DISTRIBUTION = "aws-sam-cli==1.170.0"  # its wheel carries the emulator's static binaries
RIE_MEMBER = "samcli/local/rapid/aws-lambda-rie-x86_64"
_REPORT = re.compile(r"^REPORT RequestId: (?P<rest>.*)$")
_FIGURE = re.compile(r"(?P<name>Init Duration|Duration|Billed Duration): (?P<value>[0-9.]+) ms")
_INIT = re.compile(r"\(rapid\) INIT REPORT\(durationMs: (?P<value>[0-9.]+)\)")
_INVOKE = re.compile(r"\(rapid\) INVOKE RTDONE\(status: (?P<status>\w+).*duration: (?P<value>[0-9.]+)ms\)")


def emulator_binary(cache: Path) -> tuple[Path | None, str]:
    """AWS's Runtime Interface Emulator for x86_64 (cached): from the aws-sam-cli wheel on PyPI,
    that one file unzipped. (path, "") or (None, why it could not be fetched)."""
    target = cache / f"aws-lambda-rie-x86_64-{RIE_DISTRIBUTION.split('==')[1]}"
    if target.is_file():
        return target, ""
    import tempfile
    import zipfile

    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as work:
        from iaf_aws_plugin.builders.native.dependencies import pip_command

        try:
            result = subprocess.run([*pip_command(), "download", "--quiet", "--no-deps", "--only-binary=:all:",
                                     "--disable-pip-version-check", "-d", work, RIE_DISTRIBUTION],
                                    capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as error:
            return None, f"pip download {RIE_DISTRIBUTION}: {error}"
        wheels = sorted(Path(work).glob("aws_sam_cli-*.whl"))
        if result.returncode != 0 or not wheels:
            return None, f"pip download {RIE_DISTRIBUTION} failed: {(result.stderr.strip().splitlines() or ['?'])[-1]}"
        with zipfile.ZipFile(wheels[0]) as archive:
            if RIE_MEMBER not in archive.namelist():
                return None, f"{wheels[0].name} has no {RIE_MEMBER}"
            part = Path(work) / "rie"
            part.write_bytes(archive.read(RIE_MEMBER))
        part.chmod(0o755)
        part.replace(target)
    return target, ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Emulator:
    """``aws-lambda-rie /lambda-entrypoint.sh HANDLER`` chrooted into an unpacked image, as the
    function's user, on loopback ports of its own: invoked over its HTTP API; its log has
    Lambda's own ``START``/``END``/``REPORT`` lines (and ``INIT REPORT``)."""

    def __init__(self, binary: Path, root: Path, handler: str, env: dict[str, str], log: Path,
                 uid: int = LAMBDA_UID) -> None:
        inside = root / "usr" / "local" / "bin" / "aws-lambda-rie"
        inside.parent.mkdir(parents=True, exist_ok=True)
        if not inside.is_file():
            shutil.copyfile(binary, inside)
        inside.chmod(0o755)
        self.port = _free_port()
        self.log = log
        env = dict(env)
        env.pop("AWS_LAMBDA_RUNTIME_API", None)  # the emulator serves it and tells the runtime
        env.setdefault("AWS_LAMBDA_FUNCTION_TIMEOUT", "900")

        def enter() -> None:
            os.chroot(root)
            os.chdir("/var/task")
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)

        handle = open(log, "ab")
        self.process = subprocess.Popen(
            ["/usr/local/bin/aws-lambda-rie", "--log-level", "info",
             "--runtime-interface-emulator-address", f"127.0.0.1:{self.port}",
             "--runtime-api-address", f"127.0.0.1:{_free_port()}", "/lambda-entrypoint.sh", handler],
            env=env, preexec_fn=enter, start_new_session=True, stdout=handle, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        handle.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"aws-lambda-rie exited: {log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.05)

    def invoke(self, event: Any, timeout: float = 900) -> tuple[str, Any]:
        """("response" or "error", the payload)."""
        import urllib.request

        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/2015-03-31/functions/function/invocations",
            data=json.dumps(event).encode(), method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        try:
            payload: Any = json.loads(body)
        except ValueError:
            payload = body.decode(errors="replace")
        failed = isinstance(payload, dict) and "errorType" in payload and "errorMessage" in payload
        return ("error" if failed else "response"), payload

    def reports(self) -> list[dict[str, Any]]:
        """Lambda's lines in its log, figures in ms: ``REPORT`` (``Duration`` has the init in it:
        the emulator starts the runtime at the first invocation), ``INIT REPORT`` (``durationMs``:
        the init alone) and ``INVOKE`` (``durationMs``: the handler alone)."""
        found: list[dict[str, Any]] = []
        for raw in self.log.read_text(errors="replace").splitlines():
            line = raw.strip()
            match = _REPORT.match(line)
            if match:
                found.append({"kind": "REPORT", "line": line,
                              **{m["name"]: float(m["value"]) for m in _FIGURE.finditer(match["rest"])}})
            init = _INIT.search(line)
            if init:
                found.append({"kind": "INIT REPORT", "line": line, "durationMs": float(init["value"])})
            invoke = _INVOKE.search(line)
            if invoke:
                found.append({"kind": "INVOKE", "line": line, "status": invoke["status"],
                              "durationMs": float(invoke["value"])})
        return found

    def stop(self) -> None:
        import signal

        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            if self.process.poll() is not None:
                break
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        try:  # the runtime it started, in the same session
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


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
