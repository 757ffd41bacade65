"""uv as the resolver: about a second where pip takes ten or more, with pip's platform semantics.

uv knows a fixed set of manylinux platforms (``manylinux_2_17``, ``_2_28``, ``_2_31`` … ``_2_40``).
Lambda's Python 3.12+ bases run glibc 2.34, one of them: uv resolves for exactly that platform.
Lambda's Python <= 3.11 bases run glibc 2.26, which uv does not know (``manylinux2014`` would pick
older releases than pip, ``_2_28`` wheels that do not load). There uv resolves for the next glibc
it knows (2.28, a superset), and every pinned release is checked against the target's own tags: a
release without a wheel for them (numpy 2.4, pyarrow 26 on glibc 2.26) is capped at the newest
release that has one, which pip itself names (``--no-deps`` dry run with the exact ``--platform``
list), and uv resolves again. So every pin installs on the target, as pip's would.

uv is told pip's own settings (:mod:`.pip_config`: index URLs, find-links, constraints, certificate,
trusted hosts) and compares indexes as pip does (``unsafe-best-match``). A pip setting it cannot be
told, or several indexes (uv takes each release from the first index that lists it, where pip merges
their files), keeps pip as the resolver; so does any failure of uv."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

from .pip_config import is_true, pip_settings, unknown_settings, values
from .pins import Pin, canonical_name

UV_MANYLINUX = (17, 28, *range(31, 41))  # the manylinux_2_N platforms uv 0.13 accepts
UV_TIMEOUT = 900
MAX_ROUNDS = 6  # uv resolutions with caps added, before pip resolves instead


def uv_platform_for(tags: list[str]) -> str | None:
    """The platform uv resolves for: the target's glibc when uv knows it (``x86_64-manylinux_2_34``),
    else the next newer one it knows (then every pin is checked against ``tags``); None when none."""
    match = re.match(r"manylinux_2_(\d+)_(x86_64|aarch64)$", tags[0]) if tags else None
    if match is None:
        return None
    known = [minor for minor in UV_MANYLINUX if minor >= int(match[1])]
    return f"{match[2]}-manylinux_2_{known[0]}" if known else None


def why_not_uv(tags: list[str]) -> str | None:
    """Why pip resolves for these tags instead of uv (None: uv may, when it is installed)."""
    if sys.version_info < (3, 11):
        return "Python 3.10 cannot read uv's pylock.toml"
    if uv_platform_for(tags) is None:
        return "uv knows no manylinux platform for this target"
    settings = pip_settings()
    unknown = unknown_settings(settings)
    if unknown:
        return f"pip is configured with {', '.join(unknown)}, which uv cannot be told"
    if len(index_sources(settings)) > 1:
        # uv takes each release from the first index that lists it; pip merges every index's files.
        return "several package indexes are configured, and uv would not merge their files as pip does"
    return None


def index_sources(settings: dict[str, str]) -> list[str]:
    """Every index and find-links location pip reads packages from."""
    main = [] if is_true(settings.get("no-index")) else \
        (values(settings, "index-url") or ["https://pypi.org/simple"])
    extra = [] if is_true(settings.get("no-index")) else values(settings, "extra-index-url")
    return [*main, *extra, *values(settings, "find-links")]


def uv_resolver(tags: list[str]) -> str | None:
    """uv's binary when it may resolve for these tags (see the module's docstring), else None."""
    from .uv_binary import find_uv

    return find_uv() if why_not_uv(tags) is None else None


def uv_index_options(settings: dict[str, str]) -> list[str]:
    """pip's index settings as uv's options (indexes compared as pip compares them)."""
    options = ["--index-strategy", "unsafe-best-match"]
    for key, option in (("index-url", "--index-url"), ("extra-index-url", "--extra-index-url"),
                        ("find-links", "--find-links"), ("constraint", "--constraint"),
                        ("trusted-host", "--allow-insecure-host")):
        for value in values(settings, key):
            options += [option, value]
    if is_true(settings.get("no-index")):
        options.append("--no-index")
    if is_true(settings.get("pre")):
        options += ["--prerelease", "allow"]
    return options


def uv_pins(uv: str, work: Path, requirements_file: Path | None, constraints_file: Path | None, wheel: Path | None,
            *, python_version: str, tags: list[str], cwd: Path,
            echo: Callable[[str], None] = lambda _: None) -> tuple[Pin, ...] | None:
    """uv's resolution as pins (the wheel pip would install of each: URL and sha256), leaving out
    the plugin's own wheel; None when uv fails (pip then resolves)."""
    platform = uv_platform_for(tags)
    assert platform is not None
    settings = pip_settings()
    sources = work / "uv-requirements.txt"
    lines = [f"-r {requirements_file}"] if requirements_file is not None else []
    if wheel is not None:
        lines.append(f"{wheel.name.split('-')[0]} @ {wheel.resolve().as_uri()}")
    sources.write_text("\n".join(lines) + "\n", encoding="utf-8")
    lock = work / "pylock.toml"
    caps_file = work / "uv-caps.txt"
    command = [uv, "pip", "compile", "--quiet", "--no-header", "--python-version", python_version, "--python-platform",
               platform, "--only-binary", ":all:", "--format", "pylock.toml", "-o", str(lock),
               *uv_index_options(settings), "-c", str(caps_file), str(sources)]
    if constraints_file is not None:
        command += ["-c", str(constraints_file)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_") or k in ("UV_CACHE_DIR",)}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    cert = settings.get("cert", "").strip()
    if cert and "SSL_CERT_FILE" not in env:
        env["SSL_CERT_FILE"] = cert
    leave_out = canonical_name(wheel.name.split("-")[0]) if wheel is not None else None
    caps: dict[str, str] = {}
    for _ in range(MAX_ROUNDS):
        caps_file.write_text("".join(f"{name}{cap}\n" for name, cap in sorted(caps.items())), encoding="utf-8")
        data = _compile(command, lock, cwd, env)
        if data is None:
            return None
        pins, misfits = _pins_of(data, lock, leave_out, python_version, tags)
        if not misfits:
            return pins
        newest = newest_fitting(misfits, python_version=python_version, tags=tags, cwd=cwd)
        if newest is None:
            return None  # no release of one of them fits the target: pip resolves (and says which)
        echo(f"  uv: no wheel for glibc {glibc_of(tags)} in {', '.join(f'{n} {v}' for n, v in misfits)}: "
             f"capped at {', '.join(f'{n} {v}' for n, v in sorted(newest.items()))} (the newest that have one)")
        caps.update({name: f"<={version}" for name, version in newest.items()})
    return None


def _compile(command: list[str], lock: Path, cwd: Path, env: dict[str, str]) -> dict[str, object] | None:
    import tomllib  # type: ignore[import-not-found,unused-ignore]  # 3.11+ (uv_resolver checks)

    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=UV_TIMEOUT, cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0 or not lock.is_file():
        return None
    try:
        return dict(tomllib.loads(lock.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def _pins_of(data: dict[str, object], lock: Path, leave_out: str | None, python_version: str,
             tags: list[str]) -> tuple[tuple[Pin, ...], list[tuple[str, str]]]:
    """(pins, (name, version) of the releases without a wheel for ``tags``)."""
    pins = []
    misfits = []
    for package in data.get("packages") or []:  # type: ignore[attr-defined]
        name = canonical_name(str(package.get("name", "")))
        if not name or name == leave_out or "directory" in package or "archive" in package:
            continue
        version = str(package.get("version", ""))
        chosen = best_wheel([w for w in package.get("wheels") or [] if w.get("url") or w.get("path")],
                            python_version, tags)
        if chosen is None:
            misfits.append((name, version))
            continue
        url = str(chosen.get("url") or (lock.parent / str(chosen["path"])).resolve().as_uri())
        hashes = chosen.get("hashes")
        sha256 = str(hashes.get("sha256", "")) if isinstance(hashes, dict) else ""
        pins.append(Pin(name, version, url, sha256))
    return tuple(sorted(pins, key=lambda p: p.name)), misfits


def newest_fitting(misfits: list[tuple[str, str]], *, python_version: str, tags: list[str],
                   cwd: Path) -> dict[str, str] | None:
    """For each (name, version): the newest older release with a wheel for ``tags``, as pip picks it
    (one ``--no-deps`` dry run, pip's own settings); None when pip finds none for one of them."""
    from .pip_run import PIP_TIMEOUT, pip_command, pip_resolve_command

    with tempfile.TemporaryDirectory(prefix="fit-") as work:
        report = Path(work) / "report.json"
        command = pip_resolve_command(pip_command(), report, Path(work) / "target", python_version, tags, None, None)
        command += ["--no-deps", "--quiet", *(f"{name}<{version}" for name, version in misfits)]
        env = {k: v for k, v in os.environ.items() if k not in ("PIP_TARGET", "PIP_PREFIX", "PIP_USER")}
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT, cwd=cwd, env=env,
                                    stdin=subprocess.DEVNULL)
            if result.returncode != 0:
                return None
            installs = json.loads(report.read_text(encoding="utf-8")).get("install") or []
        except (OSError, ValueError, subprocess.TimeoutExpired):
            return None
    found = {canonical_name(str(i["metadata"]["name"])): str(i["metadata"]["version"]) for i in installs}
    return found if all(name in found for name, _ in misfits) else None


def glibc_of(tags: list[str]) -> str:
    match = re.match(r"manylinux_(\d+)_(\d+)_", tags[0])
    return f"{match[1]}.{match[2]}" if match else tags[0]


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
