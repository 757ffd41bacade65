#!/usr/bin/env python3
"""The quick start, command one of the README: ``python3 quickstart/run.py``.

Sets up a virtual environment in ``.quickstart/venv`` (investing-algorithm-framework, this
iaf-aws-plugin built from the clone, and moto's server: about 4 minutes the first time, seconds
afterwards), then runs ``quickstart/flow.py`` in it: the whole flow against an AWS emulator on
127.0.0.1. Needs Python 3.10 or later and nothing else; only the package installs use the network.
Options after the command go to flow.py (``--image standin`` skips the native build).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".quickstart"
VENV = WORK / "venv"
MARKER = VENV / "quickstart-installed"


def say(text: str) -> None:
    print(text, flush=True)


def fail(text: str) -> int:
    say(f"Error: {text}")
    return 1


def install(python: Path, args: list[str], log: Path) -> int:
    """``pip install ARGS`` into the venv (with uv when it is on PATH: the same packages, faster),
    showing one line per package collected and a line every 15 s of silence; all output in ``log``."""
    uv = shutil.which("uv")
    if uv:
        command = [uv, "pip", "install", "--python", str(python), "--compile-bytecode", *args]
    else:
        command = [str(python), "-m", "pip", "--disable-pip-version-check", "install", "--progress-bar", "off", *args]
    started = time.monotonic()
    last = [started]
    count = 0

    def show(text: str) -> None:
        last[0] = time.monotonic()
        say(f"  [{last[0] - started:4.0f} s] {text}")

    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(1):
            if time.monotonic() - last[0] >= 15:
                show("still installing...")

    threading.Thread(target=heartbeat, daemon=True).start()
    with log.open("a", encoding="utf-8") as handle:
        handle.write("$ " + " ".join(command) + "\n")
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   errors="replace", stdin=subprocess.DEVNULL)
        assert process.stdout is not None
        for line in process.stdout:
            handle.write(line)
            if line.startswith("Collecting "):
                count += 1
                show(f"{count:3d} {line[len('Collecting '):].split(' (from ')[0].strip()}")
            elif line.startswith(("Installing collected packages", "Building wheel", "Resolved", "Prepared",
                                  "Installed", "Uninstalled")):
                show(line.split(":")[0].strip())
        status = process.wait()
    done.set()
    return status


def requirements_digest() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def setup() -> Path:
    """The venv's Python, with everything installed; the plugin always rebuilt from this clone."""
    python = VENV / "bin" / "python"
    log = WORK / "install.log"
    WORK.mkdir(exist_ok=True)
    log.write_text("")
    fresh = not python.exists() or not MARKER.exists() or MARKER.read_text() != requirements_digest()
    if fresh:
        say(f"[setup] A virtual environment in {VENV} with investing-algorithm-framework, iaf-aws-plugin (this "
            "clone) and moto's server: about 4 minutes, one line per package (full log: "
            f"{log.relative_to(ROOT)}).")
        if not python.exists():
            try:
                venv.EnvBuilder(with_pip=True).create(VENV)
            except (subprocess.CalledProcessError, OSError) as error:
                raise SystemExit(fail(f"creating the virtual environment {VENV} failed ({error}). On Debian and "
                                      "Ubuntu Python's venv needs its own package: apt install python3-venv "
                                      f"(or python{sys.version_info[0]}.{sys.version_info[1]}-venv), then run "
                                      "the quick start again.")) from None
        if install(python, [f"{ROOT}[quickstart]"], log) != 0:
            raise SystemExit(fail(f"installing into {VENV} failed; see {log} (the last lines say why), fix it "
                                  "and run the quick start again."))
        MARKER.write_text(requirements_digest())
    else:
        say(f"[setup] {VENV} is ready; reinstalling iaf-aws-plugin from this clone (seconds).")
        again = ["--reinstall-package", "iaf-aws-plugin"] if shutil.which("uv") else ["--force-reinstall"]
        if install(python, ["--no-deps", *again, str(ROOT)], log) != 0:
            raise SystemExit(fail(f"reinstalling iaf-aws-plugin into {VENV} failed; see {log}."))
    return python


def main() -> int:
    if sys.version_info < (3, 10):
        return fail(f"Python {sys.version_info[0]}.{sys.version_info[1]} is too old: the quick start needs 3.10 or "
                    "later (investing-algorithm-framework does). Run it with a newer python3.")
    try:
        python = setup()
    except KeyboardInterrupt:
        say("\nSetup interrupted; run the quick start again to continue.")
        return 130
    flow = ROOT / "quickstart" / "flow.py"
    os.execv(str(python), [str(python), str(flow), *sys.argv[1:]])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
