"""Running pip for the native builder: which pip, with its progress shown, and its failures as one line."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from ...errors import PluginError

_NO_WHEEL = re.compile(r"(?:Could not find a version that satisfies the requirement|"
                       r"No matching distribution found for) ([A-Za-z0-9_.\-\[\]]+)")
PIP_TIMEOUT = 1800


def pip_command(python: str | None = None) -> list[str]:
    """This interpreter's pip; else the pip wheel bundled with ``ensurepip`` (run from the
    wheel, nothing installed). ``python``: run that interpreter instead (a Python of the target's
    version, so that pip evaluates ``python_version`` markers for the target: pip's
    ``--python-version`` does not), with the bundled pip wheel."""
    interpreter, wheel = _pip_source(python)
    return [interpreter, str(Path(wheel) / "pip")] if wheel else [interpreter, "-m", "pip"]


def _pip_source(python: str | None) -> tuple[str, str]:
    """(the interpreter that runs pip, the bundled pip wheel it imports pip from or "" for its own pip):
    see :func:`pip_command`."""
    import importlib.util
    import ensurepip

    bundled = sorted(Path(ensurepip.__file__).parent.glob("_bundled/pip-*.whl"))
    if python is not None and os.path.realpath(python) != os.path.realpath(sys.executable) and bundled:
        return python, str(bundled[-1])
    if importlib.util.find_spec("pip") is not None:
        return sys.executable, ""
    if bundled:
        return sys.executable, str(bundled[-1])
    raise PluginError("pip is not available in this Python environment: the native builder needs it "
                      "to resolve the dependencies.", fix=f"{sys.executable} -m ensurepip (or pip install pip).")


# Runs pip (from ``sys.argv[1]``, a folder or wheel to import it from, or "" for the installed one) with
# the environment markers of Lambda's Linux on ``sys.argv[2]`` (x86_64 or aarch64): pip evaluates
# ``sys_platform``, ``platform_machine``... for the machine it runs on, whatever ``--platform`` says.
# The Python version markers come from the interpreter (one of the target's version, see pip_command).
_LAMBDA_MARKERS = """\
import runpy, sys
where, machine = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
if where:
    sys.path.insert(0, where)
import pip._vendor.packaging.markers as markers
machine_environment = markers.default_environment
def lambda_environment():
    return dict(machine_environment(), os_name="posix", sys_platform="linux", platform_system="Linux",
                platform_machine=machine)
markers.default_environment = lambda_environment
sys.argv[0] = "pip"
runpy.run_module("pip", run_name="__main__", alter_sys=True)
"""


def pip_for_lambda(python: str | None, machine: str) -> list[str]:
    """:func:`pip_command` evaluating environment markers as on Lambda's Linux ``machine`` (``x86_64``,
    ``aarch64``): a ``; sys_platform == "win32"`` dependency is left out when deploying from Windows,
    a ``; platform_machine == "aarch64"`` one is kept when deploying to arm64 from x86_64."""
    interpreter, wheel = _pip_source(python)
    return [interpreter, "-c", _LAMBDA_MARKERS, wheel, machine]


def pip_resolve_command(pip: list[str], report: Path, target: Path, python_version: str, tags: list[str],
                        requirements_file: Path | None, wheel: Path | None) -> list[str]:
    """pip resolves as ``pip install --target`` would, and installs nothing (pip < 24 wants
    ``--target`` with ``--platform`` even for a dry run)."""
    command = [*pip, "install", "--dry-run", "--ignore-installed", "--report", str(report), "--target", str(target),
               "--no-input", "--disable-pip-version-check", "--progress-bar", "off", "--only-binary=:all:",
               "--implementation", "cp", "--python-version", python_version]
    for tag in tags:
        command += ["--platform", tag]
    if requirements_file is not None:
        command += ["-r", str(requirements_file)]
    return [*command, str(wheel)] if wheel is not None else command


def wheel_requirements(wheel: Path) -> list[str]:
    """The ``Requires-Dist`` lines of a wheel (what pip resolves for it)."""
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        name = next((n for n in archive.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1), None)
        text = archive.read(name).decode("utf-8", "replace") if name else ""
    return sorted(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Requires-Dist:"))


def _run_pip(command: list[str], cwd: Path, env: dict[str, str], echo: Callable[[str], None],
             *, every: float = 10.0) -> tuple[int | None, str]:
    """Run pip and show its progress (packages collected so far, at most a line per ``every``
    seconds, and when it starts installing); (exit status or None after ``PIP_TIMEOUT``, output)."""
    started = last = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               errors="replace", stdin=subprocess.DEVNULL, cwd=cwd, env=env)
    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        process.kill()

    timer = threading.Timer(PIP_TIMEOUT, stop)
    timer.daemon = True
    timer.start()
    output: list[str] = []
    collected = 0
    try:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            now = time.monotonic()
            if line.startswith("Collecting "):
                collected += 1
                if now - last >= every:
                    name = line[len("Collecting "):].split(" (from ")[0].strip()
                    echo(f"  pip: {collected} packages collected after {now - started:.0f} s (now {name})")
                    last = now
            elif line.startswith("Installing collected packages"):
                echo(f"  pip: {collected} packages collected after {now - started:.0f} s; installing them")
                last = now
        returncode = process.wait()
    finally:
        timer.cancel()
        if process.poll() is None:  # interrupted (Ctrl-C): pip must not outlive the deploy
            process.kill()
            process.wait()
    return (None if timed_out.is_set() else returncode), "".join(output)


def _pip_error(output: str, requirements: Path, python_version: str, architecture: str,
               tags: list[str]) -> PluginError:
    missing = sorted(set(_NO_WHEEL.findall(output)), key=str.lower)
    if missing:
        return PluginError(f"no wheel for CPython {python_version} manylinux {architecture} of: "
                           f"{', '.join(missing)} (from {requirements.name}); the native builder installs wheels only.",
                           fix="Pick versions that publish such wheels, or build with --builder docker.")
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith("error")]
    detail = (errors[-1] if errors else lines[-1] if lines else "no output")
    return PluginError(f"pip could not install {requirements.name} for CPython {python_version} {architecture}: {detail}",
                       fix="Fix the requirement pip names, then deploy again.")
