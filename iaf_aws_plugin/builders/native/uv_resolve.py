"""uv as the resolver, where its platform is exactly the target's.

uv knows a fixed set of manylinux platforms (``manylinux_2_17``, ``_2_28``, ``_2_31`` … ``_2_40``).
Lambda's Python 3.12+ bases run glibc 2.34, one of them: there uv resolves (in about a second where
pip takes ten or more) with the same platform semantics as pip's ``--platform`` list. Lambda's
Python ≤ 3.11 bases run glibc 2.26, which uv does not know (``manylinux2014`` picks older releases,
``_2_28`` wheels that do not load): pip resolves those.

uv is only asked when nothing configures pip beyond what uv is told too: a pip configuration file,
or a ``PIP_*`` setting uv would not see, keeps pip. Any failure of uv falls back to pip."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from .pins import Pin, canonical_name

UV_MANYLINUX = (17, 28, *range(31, 41))  # the manylinux_2_N platforms uv 0.13 accepts
# PIP_* settings uv is told (or that do not change a resolution); any other one keeps pip.
_TOLD = {"PIP_INDEX_URL": "--index-url", "PIP_EXTRA_INDEX_URL": "--extra-index-url", "PIP_FIND_LINKS": "--find-links"}
_HARMLESS = {"PIP_NO_INDEX", "PIP_PRE", "PIP_CACHE_DIR", "PIP_DISABLE_PIP_VERSION_CHECK", "PIP_DEFAULT_TIMEOUT",
             "PIP_NO_INPUT", "PIP_PROGRESS_BAR", "PIP_CERT", "PIP_CONFIG_FILE", "PIP_ROOT_USER_ACTION",
             "PIP_NO_WARN_SCRIPT_LOCATION", "PIP_REQUIRE_VIRTUALENV", "PIP_BREAK_SYSTEM_PACKAGES"}
UV_TIMEOUT = 900


def uv_platform_for(tags: list[str]) -> str | None:
    """``x86_64-manylinux_2_34`` when the newest tag is a glibc uv knows, else None."""
    match = re.match(r"manylinux_2_(\d+)_(x86_64|aarch64)$", tags[0]) if tags else None
    if match is None or int(match[1]) not in UV_MANYLINUX:
        return None
    return f"{match[2]}-manylinux_2_{match[1]}"


def _pip_configured() -> bool:
    """A pip configuration file (or a PIP_* setting uv would not see) that could change a resolution."""
    if any(name.startswith("PIP_") and name not in _TOLD and name not in _HARMLESS for name in os.environ):
        return True
    explicit = os.environ.get("PIP_CONFIG_FILE")
    if explicit:
        return explicit != os.devnull and Path(explicit).is_file()
    home = Path.home()
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    files = [Path("/etc/pip.conf"), Path("/etc/xdg/pip/pip.conf"), config / "pip" / "pip.conf",
             home / ".pip" / "pip.conf", Path(sys.prefix) / "pip.conf"]
    return any(path.is_file() for path in files)


def uv_resolver(tags: list[str]) -> str | None:
    """uv's binary when it may resolve for these tags (see the module's docstring), else None."""
    from .uv_binary import find_uv

    if sys.version_info < (3, 11) or uv_platform_for(tags) is None or _pip_configured():
        return None  # (3.10 has no tomllib to read uv's pylock.toml)
    return find_uv()


def uv_pins(uv: str, work: Path, requirements_file: Path | None, constraints_file: Path | None, wheel: Path | None,
            *, python_version: str, tags: list[str], cwd: Path) -> tuple[Pin, ...] | None:
    """uv's resolution as pins (the wheel it chose for the platform: URL and sha256), leaving out
    the plugin's own wheel; None when uv fails (pip then resolves)."""
    import tomllib  # type: ignore[import-not-found,unused-ignore]  # 3.11+ (uv_resolver checks)

    platform = uv_platform_for(tags)
    assert platform is not None
    sources = work / "uv-requirements.txt"
    lines = [f"-r {requirements_file}"] if requirements_file is not None else []
    if wheel is not None:
        lines.append(f"{wheel.name.split('-')[0]} @ {wheel.resolve().as_uri()}")
    sources.write_text("\n".join(lines) + "\n", encoding="utf-8")
    lock = work / "pylock.toml"
    command = [uv, "pip", "compile", "--quiet", "--no-header", "--python-version", python_version, "--python-platform",
               platform, "--only-binary", ":all:", "--format", "pylock.toml", "-o", str(lock), str(sources)]
    for name, option in _TOLD.items():
        for value in os.environ.get(name, "").split():
            command += [option, value]
    if os.environ.get("PIP_NO_INDEX", "").lower() in ("1", "true", "yes", "on"):
        command.append("--no-index")
    if os.environ.get("PIP_PRE", "").lower() in ("1", "true", "yes", "on"):
        command += ["--prerelease", "allow"]
    if constraints_file is not None:
        command += ["-c", str(constraints_file)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_") or k in ("UV_CACHE_DIR",)}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    if os.environ.get("PIP_CERT") and "SSL_CERT_FILE" not in env:
        env["SSL_CERT_FILE"] = os.environ["PIP_CERT"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=UV_TIMEOUT, cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0 or not lock.is_file():
        return None
    try:
        data = tomllib.loads(lock.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    leave_out = canonical_name(wheel.name.split("-")[0]) if wheel is not None else None
    pins = []
    for package in data.get("packages") or []:
        name = canonical_name(str(package.get("name", "")))
        if not name or name == leave_out or "directory" in package or "archive" in package:
            continue
        chosen = best_wheel([w for w in package.get("wheels") or [] if w.get("url") or w.get("path")],
                            python_version, tags)
        if chosen is None:
            return None  # no wheel for the platform: let pip decide (and say why)
        url = str(chosen.get("url") or (lock.parent / str(chosen["path"])).resolve().as_uri())
        hashes = chosen.get("hashes")
        sha256 = str(hashes.get("sha256", "")) if isinstance(hashes, dict) else ""
        pins.append(Pin(name, str(package.get("version", "")), url, sha256))
    return tuple(sorted(pins, key=lambda p: p.name))


def best_wheel(wheels: list[dict[str, object]], python_version: str, tags: list[str]) -> dict[str, object] | None:
    """The wheel pip installs of those uv lists as compatible (a version may ship several: manylinux
    builds for older and newer glibc, abi3 and version-specific): the one whose best tag comes first
    in pip's order of supported tags (``packaging.tags``: this CPython's ABI, then abi3, then none,
    then older abi3, then pure Python; within each, the newest platform first)."""
    ranked = []
    for wheel in wheels:
        name = str(wheel.get("url") or wheel.get("path") or "").rsplit("/", 1)[-1]
        rank = wheel_rank(name, python_version, tags)
        if rank is not None:
            ranked.append((rank, name, wheel))
    return min(ranked, key=lambda item: (item[0], item[1]))[2] if ranked else None


def wheel_rank(filename: str, python_version: str, tags: list[str]) -> tuple[int, int] | None:
    """(tag class, platform position) of a wheel's best tag for CPython ``python_version`` on the
    platform ``tags`` (newest first); None when it does not install there."""
    parts = filename.removesuffix(".whl").split("-")
    if len(parts) < 5:
        return None
    major, minor = (int(x) for x in python_version.split(".")[:2])
    cp = f"cp{major}{minor}"
    pure = [f"py{major}{minor}", f"py{major}", *(f"py{major}{m}" for m in range(minor - 1, -1, -1))]
    best: tuple[int, int] | None = None
    for interpreter in parts[-3].split("."):
        for abi in parts[-2].split("."):
            for platform in parts[-1].split("."):
                if platform == "any":
                    position = len(tags)
                elif platform in tags:
                    position = tags.index(platform)
                else:
                    continue
                if interpreter == cp and abi == cp:
                    kind = 0
                elif interpreter == cp and abi == "abi3":
                    kind = 1
                elif interpreter == cp and abi == "none":
                    kind = 2
                elif abi == "abi3" and interpreter.startswith(f"cp{major}") and interpreter[3:].isdigit() \
                        and int(interpreter[3:]) < minor:
                    kind = 3 + minor - int(interpreter[3:])
                elif abi == "none" and interpreter in pure:
                    kind = 100 + pure.index(interpreter)
                else:
                    continue
                if platform == "any":  # packaging lists every platform-specific tag before the "any" ones
                    kind += 1000
                rank = (kind, position)
                best = rank if best is None or rank < best else best
    return best
