"""Install exactly the resolved wheels (no resolution: ``--no-deps``, each by URL and sha256)
into a staging folder, with uv when it is there (the ``[fast]`` extra, or on PATH), else with
pip; then tell which files belong to which distribution (its ``RECORD``), made the same whoever
installed them: no installer marks, a canonical ``RECORD``, console scripts written here.

uv hardlinks the files from its cache (a gigabyte not copied); so every later step replaces a file
(writes a new one, unlinks, renames: :func:`replace_file`) and never writes into one."""
from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ...errors import PluginError
from .pins import Pin, canonical_name
from .uv_binary import find_uv

# Fewer distributions to install than this: one batch (two uv runs cost more than they overlap).
BATCH_MINIMUM = 20
_INSTALLER_MARKS = ("INSTALLER", "REQUESTED", "direct_url.json", "uv_cache.json")
SCRIPT = """#!/usr/bin/env python3
import sys
from {module} import {attribute}
if __name__ == "__main__":
    sys.exit({call}())
"""


def uv_platform(architecture: str) -> str:
    """uv checks each wheel against a platform; the wheels are pip's exact choice already, so the
    newest manylinux uv knows accepts them all."""
    return ("aarch64" if architecture == "arm64" else "x86_64") + "-manylinux_2_40"


@dataclass(frozen=True)
class Installed:
    """A distribution in the staging folder: its files relative to it (sorted)."""

    pin: Pin
    files: tuple[str, ...]


def install(pins: list[Pin], staging: Path, *, python_version: str, architecture: str, tags: list[str],
            run: Callable[[list[str], dict[str, str]], tuple[int | None, str]]) -> str:
    """Install ``pins`` into ``staging``; the installer's name."""
    staging.mkdir(parents=True, exist_ok=True)
    requirements = staging.parent / f"{staging.name}-pins.txt"
    requirements.write_text("".join(p.requirement + "\n" for p in pins), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PIP_TARGET", "PIP_PREFIX", "PIP_USER")}
    uv = find_uv()
    if uv is not None:
        command = [uv, "pip", "install", "--quiet", "--no-deps", "--target", str(staging), "--python-version",
                   python_version, "--python-platform", uv_platform(architecture), "--no-compile", "--link-mode", "hardlink",
                   "-r", str(requirements)]
        returncode, output = run(command, dict(env, UV_PYTHON_DOWNLOADS=env.get("UV_PYTHON_DOWNLOADS", "never")))
        if returncode == 0:
            requirements.unlink()
            return "uv"
        shutil.rmtree(staging, ignore_errors=True)  # an older uv, say: pip installs the same wheels
        staging.mkdir(parents=True)
    from .pip_run import pip_command

    command = [*pip_command(), "install", "--no-deps", "--target", str(staging), "--no-compile", "--no-input",
               "--disable-pip-version-check", "--progress-bar", "off", "--no-warn-script-location",
               "--only-binary=:all:", "--implementation", "cp", "--python-version", python_version,
               "-r", str(requirements)]
    for tag in tags:
        command += ["--platform", tag]
    how = "pip"
    returncode, output = run(command, env)
    requirements.unlink()
    if returncode != 0:
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        detail = next((line for line in reversed(lines) if line.lower().startswith("error")), lines[-1] if lines else "")
        raise PluginError(f"{how} could not install the resolved wheels: {detail or 'no output'}",
                          fix="Check the connection to the package index and retry.")
    return how


def install_batches(pins: list[Pin]) -> list[list[Pin]]:
    """The order a cold build installs ``pins`` in: the pure-Python wheels first (many sources to
    compile, few bytes to download), then the wheels with compiled code (most of the bytes), which
    download while the first batch compiles. One batch when there are few (a package added) or one
    kind only."""
    pure = [p for p in pins if p.url.split("?")[0].split("#")[0].endswith("-none-any.whl")]
    binary = [p for p in pins if p not in pure]
    if len(pins) < BATCH_MINIMUM or not pure or not binary:
        return [pins]
    return [pure, binary]


def split(staging: Path, pins: list[Pin]) -> list[Installed]:
    """Each distribution's files, by its ``RECORD`` (``../../bin/x`` of pip's ``--target`` is
    ``bin/x``); installer marks removed, console scripts rewritten, ``RECORD`` canonical. Files no
    ``RECORD`` names are removed (they would make the layer depend on the installer)."""
    by_name = {p.name: p for p in pins}
    owned: dict[str, list[str]] = {}
    for info in sorted(staging.glob("*.dist-info")):
        name = canonical_name(info.name[:-len(".dist-info")].rsplit("-", 1)[0])
        pin = by_name.get(name)
        if pin is None:
            continue
        files = set()
        record = info / "RECORD"
        rows = list(csv.reader(io.StringIO(record.read_text(encoding="utf-8")))) if record.is_file() else []
        for row in rows:
            if not row:
                continue
            relative = row[0]
            while relative.startswith("../"):
                relative = relative[3:]
            if not relative or relative.startswith("/") or ".." in relative.split("/"):
                continue
            if (staging / relative).is_file() or (staging / relative).is_symlink():
                files.add(relative)
        for mark in _INSTALLER_MARKS:
            (info / mark).unlink(missing_ok=True)
            files.discard(f"{info.name}/{mark}")
        for script in _console_scripts(info):
            files.add(script[0])
            (staging / script[0]).parent.mkdir(exist_ok=True)
            replace_file(staging / script[0], script[1].encode("utf-8"), 0o755)
        for relative in files:
            path = staging / relative
            if relative.startswith("bin/") and path.is_file() and not path.is_symlink():
                _env_shebang(path)
        files.discard(f"{info.name}/RECORD")
        files = {f for f in files if (staging / f).exists() or (staging / f).is_symlink()}
        owned[name] = sorted(files)
    every = {f for files in owned.values() for f in files}
    for folder, _, names in os.walk(staging, topdown=False):
        for file_name in names:
            relative = (Path(folder) / file_name).relative_to(staging).as_posix()
            if relative not in every and not relative.endswith("/RECORD"):
                (Path(folder) / file_name).unlink()
    missing = sorted(set(by_name) - set(owned))
    if missing:
        raise PluginError(f"the installer left no .dist-info for {', '.join(missing)}.",
                          fix="Retry; if it persists, build with --builder docker and report the package.")
    return [Installed(by_name[name], tuple(owned[name])) for name in sorted(owned)]


def replace_file(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` as a new file (never into the old one: it may be a hard link into uv's cache)."""
    temporary = path.with_name(f".{path.name}.new")
    temporary.unlink(missing_ok=True)
    temporary.write_bytes(data)
    os.chmod(temporary, mode)
    os.replace(temporary, path)


def break_link(path: Path) -> None:
    """Give ``path`` a copy of its own when it is hard-linked (before a tool rewrites it in place)."""
    if path.is_symlink() or path.stat().st_nlink <= 1:
        return
    temporary = path.with_name(f".{path.name}.copy")
    shutil.copy2(path, temporary)
    os.replace(temporary, path)


def _console_scripts(info: Path) -> list[tuple[str, str]]:
    """``(bin/NAME, script)`` for every console and GUI script (the installers' own differ)."""
    entry_points = info / "entry_points.txt"
    if not entry_points.is_file():
        return []
    import configparser

    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(entry_points.read_text(encoding="utf-8"))
    except configparser.Error:
        return []
    scripts = []
    for section in ("console_scripts", "gui_scripts"):
        if not parser.has_section(section):
            continue
        for name, value in parser.items(section):
            target = value.split("[")[0].strip()
            module, _, attribute = target.partition(":")
            if not module or not attribute or "/" in name:
                continue
            top = attribute.split(".")[0]
            scripts.append((f"bin/{name}", SCRIPT.format(module=module.strip(), attribute=top, call=attribute.strip())))
    return scripts


def _env_shebang(path: Path) -> None:
    data = path.read_bytes()
    if data.startswith(b"#!"):
        first, _, rest = data.partition(b"\n")
        if b"python" in first and first != b"#!/usr/bin/env python3":
            replace_file(path, b"#!/usr/bin/env python3\n" + rest, path.stat().st_mode & 0o7777)


def _recorded(record: Path) -> dict[str, tuple[str, int]]:
    """``{path: ("sha256=…", size)}`` of the installer's ``RECORD`` (what the wheel recorded)."""
    try:
        rows = list(csv.reader(io.StringIO(record.read_text(encoding="utf-8"))))
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    known = {}
    for row in rows:
        if len(row) == 3 and row[1].startswith("sha256=") and row[2].isdigit():
            known[row[0]] = (row[1], int(row[2]))
    return known


def _maybe_rewritten(relative: str) -> bool:
    """Files the build rewrites (byte code, scripts, stripped shared objects): hashed again."""
    name = relative.rsplit("/", 1)[-1]
    return (relative.endswith((".pyc", "/RECORD")) or relative.startswith("bin/") or name.endswith(".so")
            or ".so." in name)


def write_record(staging: Path, distribution: Installed) -> Installed:
    """A ``RECORD`` made from the files as they are (after slimming and compiling)."""
    info = next((f.split("/")[0] for f in distribution.files if f.split("/")[0].endswith(".dist-info")), None)
    if info is None:
        return distribution
    known = _recorded(staging / info / "RECORD")
    lines = []
    for relative in distribution.files:
        path = staging / relative
        if path.is_symlink() or not path.is_file():
            lines.append(f"{relative},,")
            continue
        recorded = known.get(relative)
        if recorded is not None and recorded[1] == path.stat().st_size and not _maybe_rewritten(relative):
            lines.append(f"{relative},{recorded[0]},{recorded[1]}")  # as the wheel recorded it: not hashed again
            continue
        data = path.read_bytes()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{relative},sha256={digest},{len(data)}")
    lines.append(f"{info}/RECORD,,")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for line in lines:
        writer.writerow(line.rsplit(",", 2))
    replace_file(staging / info / "RECORD", buffer.getvalue().encode("utf-8"), 0o644)
    return Installed(distribution.pin, tuple(sorted({*distribution.files, f"{info}/RECORD"})))
