"""Which wheels the dependency layer holds: pip resolves (``--dry-run --report``) with its exact
platform semantics (every manylinux tag the target's glibc runs), and the answer (name, version,
URL, sha256 of each wheel) is cached by a hash of the requirements, the platform, the Python and
the index settings: an unchanged ``requirements.txt`` does not even resolve again.

Installing those exact wheels is :mod:`.install`'s job (uv when present, else pip)."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ...errors import PluginError
from .blobs import BlobStore
from .pins import Pin, canonical_name

FORMAT = "resolve-v2"  # v2: keyed by pip's merged settings (files too), not five PIP_* variables


@dataclass(frozen=True)
class Resolution:
    pins: tuple[Pin, ...]  # sorted by name
    key: str
    cached: bool
    resolver: str = "pip"  # who resolved now: "pip" or "uv" (see :mod:`.uv_resolve`)

    def version_of(self, name: str) -> str | None:
        wanted = canonical_name(name)
        return next((p.version for p in self.pins if p.name == wanted), None)


def resolution_key(requirements: bytes, wheel_requirements: list[str], python_version: str, tags: list[str]) -> str:
    from .pip_config import HARMLESS, pip_settings, values

    settings = pip_settings()
    index = [f"{name}={value}" for name, value in sorted(settings.items()) if name not in HARMLESS]
    for constraints in values(settings, "constraint"):  # an edited constraints file resolves again
        try:
            index.append(hashlib.sha256(Path(constraints).read_bytes()).hexdigest())
        except OSError:
            index.append(f"{constraints} unreadable")
    parts = [FORMAT, hashlib.sha256(requirements).hexdigest(), *wheel_requirements, python_version, *tags, *index]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def pins_from_report(report: dict[str, object], *, leave_out: str) -> tuple[Pin, ...]:
    """The wheels of a pip installation report, without ``leave_out`` (the plugin itself: its own
    layer)."""
    pins = []
    for item in report.get("install") or []:  # type: ignore[attr-defined]
        metadata = item.get("metadata") or {}
        info = item.get("download_info") or {}
        name = canonical_name(str(metadata.get("name", "")))
        if not name or name == canonical_name(leave_out):
            continue
        hashes = (info.get("archive_info") or {}).get("hashes") or {}
        pins.append(Pin(name, str(metadata.get("version", "")), str(info.get("url", "")), str(hashes.get("sha256", ""))))
    return tuple(sorted(pins, key=lambda p: p.name))


def requirement_lines(requirements: bytes) -> list[str] | None:
    """The requirement lines of a ``requirements.txt`` (comments and blanks dropped), or None when
    it has options (``-r``, ``--index-url``…): those resolve from scratch."""
    lines = []
    for raw in requirements.decode("utf-8", "replace").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-") or line.endswith("\\"):
            return None
        lines.append(line)
    return sorted(set(lines))


def resolve(store: BlobStore, project_dir: Path, wheel: Path, *, python_version: str, architecture: str,
            tags: list[str], echo: Callable[[str], None], python: str | None = None) -> Resolution:
    """The pins of ``requirements.txt`` plus the plugin's own requirements (cached). ``python``: an
    interpreter of the target's version, which runs pip when pip resolves (uv is told the version).

    When the file only gained lines since the last resolution for this platform and Python, only
    the new lines are resolved, with the earlier pins as constraints (as a lock file keeps its
    versions); a conflict, or any other change, resolves everything again."""
    from .pip_run import wheel_requirements
    from .uv_resolve import glibc_of, uv_resolver, why_not_uv

    requirements_file = Path(project_dir) / "requirements.txt"
    requirements = requirements_file.read_bytes() if requirements_file.is_file() else b""
    wanted = wheel_requirements(wheel)
    key = resolution_key(requirements, wanted, python_version, tags)
    cached = store.record("resolutions", key)
    if cached is not None and isinstance(cached.get("pins"), list):
        return Resolution(tuple(Pin(*p) for p in cached["pins"]), key, True)
    uv = uv_resolver(tags)  # (a cached resolution needs no resolver)
    resolver = "pip"
    lines = requirement_lines(requirements)
    base_key = resolution_key(b"", wanted, python_version, tags)
    base = store.record("resolution-bases", base_key)
    pins: tuple[Pin, ...] | None = None
    if lines is not None and base is not None:
        earlier = store.record("resolutions", str(base.get("key")))
        before = base.get("lines")
        if earlier is not None and isinstance(before, list) and set(before) < set(lines):
            added = sorted(set(lines) - set(before))
            old = tuple(Pin(*p) for p in earlier["pins"])
            echo(f"Resolving the {len(added)} new requirement{'s' if len(added) > 1 else ''} "
                 f"({', '.join(added)}) with the other {len(old)} pins kept")
            constraints = "".join(f"{p.name}=={p.version}\n" for p in old)
            new, resolver = _pip_report(store, project_dir, None, "\n".join(added) + "\n", constraints, wheel,
                                        python_version=python_version, architecture=architecture, tags=tags,
                                        echo=echo, quiet_failure=True, uv=uv, python=python)
            if new is not None:
                merged = {p.name: p for p in old}
                merged.update({p.name: p for p in new})
                pins = tuple(sorted(merged.values(), key=lambda p: p.name))
            else:
                echo("The new requirements do not fit the earlier pins: resolving everything again")
    if pins is None:
        echo(f"Resolving dependencies for CPython {python_version} {architecture} "
             f"(manylinux up to glibc {glibc_of(tags)}) with {'uv' if uv else 'pip'}"
             + ("" if uv else f" ({why_not_uv(tags) or 'uv is not installed'})"))
        pins, resolver = _pip_report(store, project_dir, requirements_file if requirements else None, None, None,
                                     wheel, python_version=python_version, architecture=architecture, tags=tags,
                                     echo=echo, uv=uv, python=python)
        assert pins is not None
    store.save_record("resolutions", key, {"pins": [[p.name, p.version, p.url, p.sha256] for p in pins]})
    if lines is not None:
        store.save_record("resolution-bases", base_key, {"key": key, "lines": lines})
    return Resolution(pins, key, False, resolver)


def _pip_report(store: BlobStore, project_dir: Path, requirements_file: Path | None, requirements_text: str | None,
                constraints: str | None, wheel: Path, *, python_version: str, architecture: str, tags: list[str],
                echo: Callable[[str], None], quiet_failure: bool = False, uv: str | None = None,
                python: str | None = None) -> tuple[tuple[Pin, ...] | None, str]:
    """(pip's resolution, "pip"), or uv's when ``uv`` is given and succeeds (:mod:`.uv_resolve`); the pins
    are None when pip fails and ``quiet_failure``."""
    from .pip_run import PIP_TIMEOUT, _pip_error, _run_pip, pip_for_lambda, pip_resolve_command

    with tempfile.TemporaryDirectory(prefix="resolve-", dir=store.tmpdir()) as work:
        report_path = Path(work) / "report.json"
        if requirements_text is not None:
            requirements_file = Path(work) / "requirements.txt"
            requirements_file.write_text(requirements_text, encoding="utf-8")
        if uv is not None:
            from .uv_resolve import uv_pins

            constraints_file = None
            if constraints is not None:
                constraints_file = Path(work) / "uv-constraints.txt"
                constraints_file.write_text(constraints, encoding="utf-8")
            by_uv = uv_pins(uv, Path(work), requirements_file, constraints_file,
                            None if requirements_text is not None else wheel, python_version=python_version,
                            tags=tags, cwd=project_dir, echo=echo)
            if by_uv is not None:
                return by_uv, "uv"
            echo("uv could not resolve the requirements: pip resolves them")
        pip = pip_for_lambda(python, "aarch64" if architecture == "arm64" else "x86_64")
        command = pip_resolve_command(pip, report_path, Path(work) / "target", python_version, tags,
                                      requirements_file, None if requirements_text is not None else wheel)
        # (new lines alone: the plugin's own requirements are pinned already)
        if constraints is not None:
            (Path(work) / "constraints.txt").write_text(constraints, encoding="utf-8")
            command += ["-c", str(Path(work) / "constraints.txt")]
        env = {k: v for k, v in os.environ.items() if k not in ("PIP_TARGET", "PIP_PREFIX", "PIP_USER")}
        returncode, output = _run_pip(command, project_dir, env, echo)
        shown = Path(project_dir) / "requirements.txt"
        if returncode is None:
            raise PluginError(f"pip did not finish resolving {shown} in {PIP_TIMEOUT} s.",
                              fix="Check the network connection to the package index and retry.")
        if returncode != 0:
            if quiet_failure:
                return None, "pip"
            raise _pip_error(output, shown, python_version, architecture, tags)
        report = json.loads(report_path.read_text(encoding="utf-8"))
    return pins_from_report(report, leave_out=wheel.name.split("-")[0]), "pip"
