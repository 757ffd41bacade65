"""The dependency layer: ``requirements.txt`` plus this plugin's wheel, resolved by pip for
the target platform and Python (wheels only), installed into ``LAMBDA_TASK_ROOT``, byte
code compiled by an interpreter of the target version, cached by a hash of all inputs."""
from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ...errors import PluginError
from .blobs import BlobStore, sha256_file
from .layers import Layer, tree_entries, write_layer
from .pip_run import PIP_TIMEOUT, _pip_error, _run_pip, pip_command, wheel_requirements  # noqa: F401 (old imports)

if TYPE_CHECKING:
    from .deflate import Codec

FORMAT = "deps-v1"  # bump when the layer's layout changes
_MANYLINUX_OLD = {"x86_64": ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"],
                  "aarch64": ["manylinux2014_aarch64"]}


def lambda_glibc(python_version: str) -> tuple[int, int]:
    """glibc of AWS's Lambda base image: Amazon Linux 2 (2.26) up to Python 3.11, AL2023 (2.34) after."""
    major, minor = (int(x) for x in python_version.split(".")[:2])
    return (2, 26) if (major, minor) <= (3, 11) else (2, 34)


def platform_tags(architecture: str, glibc: tuple[int, int]) -> list[str]:
    """Every manylinux tag the target runs, newest first: pip then takes the newest wheel
    (a single old tag silently picks old releases of numpy, pandas, pyarrow)."""
    arch = "aarch64" if architecture == "arm64" else "x86_64"
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(glibc[1], 16, -1)]
    if arch == "x86_64":
        tags += ["manylinux_2_12_x86_64", "manylinux_2_5_x86_64"]
    return tags + _MANYLINUX_OLD[arch]


@dataclass(frozen=True)
class Interpreter:
    path: str | None
    version: str  # X.Y wanted
    found_by: str  # "this interpreter", "pyenv", "uv", "PATH" or "" when none


def find_interpreter(version: str) -> Interpreter:
    """A CPython of the target minor version on this machine, to compile byte code with."""
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        return Interpreter(sys.executable, version, "this interpreter")
    candidates: list[tuple[str, str]] = []
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = _output([pyenv, "root"])
        if root:
            candidates += [(p, "pyenv") for p in sorted(glob.glob(f"{root}/versions/{version}*/bin/python"))]
    uv = shutil.which("uv")
    if uv:
        found = _output([uv, "python", "find", "--no-python-downloads", version])
        if found:
            candidates.append((found, "uv"))
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append((on_path, "PATH"))
    for path, how in candidates:
        if _output([path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]) == version:
            return Interpreter(path, version, how)
    return Interpreter(None, version, "")


def _output(command: list[str]) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


@dataclass(frozen=True)
class DependencyLayer:
    layer: Layer
    key: str
    packages: tuple[tuple[str, int], ...]  # (top-level name, bytes), largest first
    compiled: bool
    interpreter: str  # how byte code was compiled, or why not
    cached: bool  # nothing resolved, installed nor compiled now
    removed: tuple[int, int, int, int] = (0, 0, 0, 0)  # slimming: tests, sources, debug symbols, files
    slim: bool = True
    pruned: tuple[str, ...] = ()  # distributions --prune-unused left out
    pruned_note: str = ""
    phases: tuple[tuple[str, float, float], ...] = ()  # (phase, seconds, CPU seconds of all processes)
    built: tuple[str, ...] = ()  # distributions installed and compiled now (the others were cached)
    installer: str = ""
    trimmed_note: str = ""  # --prune-unused: the API versions left out of the distributions it keeps
    uncompiled_note: str = ""  # slim: the sources left without byte code (never imported on Lambda)


HOST = "investing-algorithm-framework"


def cpu_seconds() -> float:
    """CPU time of this process (every thread) and of its finished child processes: on a shared,
    loaded machine it tells the work done where the wall clock tells the waiting too."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def build_dependency_layer(store: BlobStore, project_dir: Path, wheel: Path, *, python_version: str,
                           architecture: str, glibc: tuple[int, int], task_root: str, interpreter: Interpreter,
                           echo: Callable[[str], None], slim: bool = True,
                           prune_unused: bool = False) -> DependencyLayer:
    """Resolve (cached by the requirements), then build what no earlier build did: each
    distribution is installed, slimmed and compiled once per name, version and Python
    (:mod:`.fragments`); the layer is assembled from those."""
    from concurrent.futures import ThreadPoolExecutor

    from .deflate import best
    from .fragments import assemble_layer, cached_fragment, fragment_key
    from .install import install, install_batches, split
    from .resolve import resolve
    from .slim import pruned, unused

    phases: list[tuple[str, float, float]] = []
    clock = (time.monotonic(), cpu_seconds())

    def lap(name: str) -> None:
        nonlocal clock
        now = (time.monotonic(), cpu_seconds())
        phases.append((name, now[0] - clock[0], now[1] - clock[1]))
        clock = now

    tags = platform_tags(architecture, glibc)
    resolution = resolve(store, project_dir, wheel, python_version=python_version, architecture=architecture,
                         tags=tags, echo=echo, python=interpreter.path)
    lap("resolve (cached)" if resolution.cached else f"resolve ({resolution.resolver})")
    host = resolution.version_of(HOST)
    host_major = int(host.split(".")[0]) if host and host.split(".")[0].isdigit() else None
    left_out: tuple[str, ...] = ()
    pruned_note = ""
    if prune_unused:
        left_out = tuple(pruned([p.name for p in resolution.pins], host_major))
        known = unused(host_major)
        pruned_note = (f"{len(left_out)} distributions never imported on Lambda by {HOST} {host_major}.x"
                       if known else f"nothing: {HOST} {host_major}.x declares none of the packages on the list"
                       if known is not None else
                       f"nothing: no list of unused packages for {HOST} {host or '(not a dependency)'}")
    pins = [p for p in resolution.pins if p.name not in left_out]
    compile_version = interpreter.version if interpreter.path else None
    from .pins import canonical_name
    from .slim import api_versioned, unused_paths

    folders = unused_paths(host_major) if prune_unused else ()
    path_tops = {canonical_name(f.split("/")[0]) for f in folders}
    trimmed = {p.name for p in pins if prune_unused and api_versioned(p.name, host_major)}
    # a distribution with a folder to leave out: its fragment differs from the unpruned one
    with_paths = {p.name for p in pins if canonical_name(p.name) in path_tops}
    trimmed |= with_paths
    keys = {p.name: fragment_key(p.name, p.version, p.sha256 or p.url, python_version=python_version,
                                 task_root=task_root, slim=slim, compile_version=compile_version,
                                 prune=("api-versions;" + ",".join(folders)) if p.name in trimmed else "")
            for p in pins}
    fragments = {p.name: cached_fragment(store, keys[p.name]) for p in pins}
    missing = [p for p in pins if fragments[p.name] is None]
    installer = ""
    if missing:
        work = tempfile.mkdtemp(prefix="deps-", dir=store.tmpdir())
        try:
            echo(f"Installing {len(missing)} of {len(pins)} distributions"
                 + (f" (the other {len(pins) - len(missing)} are cached)" if len(missing) < len(pins) else ""))
            batches = install_batches(missing)
            codec = best()
            compiled_tag = "cpython-" + python_version.replace(".", "") if interpreter.path is not None else ""
            if interpreter.path is not None:
                echo(f"Compiling byte code with Python {python_version} ({interpreter.found_by}: {interpreter.path})")
            installers: list[str] = []
            futures: dict[str, Any] = {}
            # One thread installs the batches one after the other; this one slims and compiles each batch
            # once it is installed, and the pool writes its fragments while the next batch compiles.
            with ThreadPoolExecutor(max_workers=1) as installing, \
                    ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
                staged = [Path(work) / f"target-{i}" for i in range(len(batches))]
                installs = [installing.submit(install, batch, staging, python_version=python_version,
                                              architecture=architecture, tags=tags,
                                              run=lambda command, env: _run_pip(command, project_dir, env, echo))
                            for batch, staging in zip(batches, staged)]
                for batch, staging, installed_by in zip(batches, staged, installs):
                    installers.append(installed_by.result())
                    installed = split(staging, batch)
                    lap(f"install ({installers[-1]})" if len(batches) == 1 else
                        f"install ({installers[-1]}, {len(batches)} batches, each but the first while the one "
                        "before compiles)")
                    for dist, details in _slim_and_compile(staging, installed, lap, slim=slim,
                                                           host_major=host_major, trimmed=trimmed, folders=folders,
                                                           interpreter=interpreter, task_root=task_root):
                        futures[dist.pin.name] = pool.submit(_fragment_of, store, keys[dist.pin.name], staging, dist,
                                                             compiled_tag, task_root, details, codec)
                for name, future in futures.items():
                    fragments[name] = future.result()
            lap(f"tar + gzip ({codec.name}), with RECORD (parallel" +
                (", each batch's while the next one compiles)" if len(batches) > 1 else ")"))
            installer = "pip" if "pip" in installers else installers[0]
        finally:
            _remove_later(Path(work))
    ready = [fragments[p.name] for p in pins]
    layer = assemble_layer(store, [f for f in ready if f is not None], task_root)
    lap("assemble layer")
    sizes: dict[str, int] = {}
    totals = [0, 0, 0, 0]
    for fragment in ready:
        assert fragment is not None
        for top, size in fragment.top_level:
            sizes[top] = sizes.get(top, 0) + size
        totals = [a + b for a, b in zip(totals, fragment.removed)]
    packages = tuple(sorted(sizes.items(), key=lambda item: (-item[1], item[0])))
    trimmed_bytes = sum(f.pruned for f in ready if f is not None)
    trimmed_note = (f"{trimmed_bytes / 1e6:.0f} MB of API versions their clients never load and of paths "
                    f"a Lambda run never imports ({', '.join(folders)}) left out of "
                    f"{', '.join(f.name for f in ready if f is not None and f.pruned)}" if trimmed_bytes else "")
    uncompiled_bytes = sum(f.uncompiled for f in ready if f is not None)
    uncompiled_note = (f"no byte code for {uncompiled_bytes / 1e6:.0f} MB of sources a Lambda run never imports "
                       f"(the --prune-unused list, and API versions their clients never load) in "
                       f"{sum(1 for f in ready if f is not None and f.uncompiled)} distributions; still importable, "
                       "compiled on import; --no-slim compiles them" if uncompiled_bytes else "")
    note = (f"Python {python_version} ({interpreter.found_by})" if interpreter.path
            else "no Python " + python_version + " on this machine")
    merged: dict[str, tuple[float, float]] = {}  # a phase of each batch: one line each
    for name, wall, cpu in phases:
        before = merged.get(name, (0.0, 0.0))
        merged[name] = (before[0] + wall, before[1] + cpu)
    return DependencyLayer(layer, resolution.key, packages, interpreter.path is not None, note,
                           resolution.cached and not missing, (totals[0], totals[1], totals[2], totals[3]), slim,
                           left_out, pruned_note, tuple((name, wall, cpu) for name, (wall, cpu) in merged.items()),
                           tuple(p.name for p in missing), installer,
                           trimmed_note, uncompiled_note)


def _remove_later(folder: Path) -> None:
    """Delete a staging folder (a gigabyte, tens of thousands of files) without waiting for it: the
    layer is assembled meanwhile; what an interrupted process leaves is removed by the next build."""
    trash = folder.parent / f"trash-{folder.name}"
    try:
        folder.rename(trash)
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for old in folder.parent.glob("trash-*"):
        if old != trash:
            shutil.rmtree(old, ignore_errors=True)  # left by an interrupted build
    threading.Thread(target=shutil.rmtree, args=(trash,), kwargs={"ignore_errors": True}, daemon=True).start()


def _strip_all(staging: Path, to_strip: list[tuple[str, str]], removed: "dict[str, Any]") -> None:
    """Strip every shared object in two parallel batches; bytes saved per distribution."""
    from concurrent.futures import ThreadPoolExecutor

    from .slim import strip

    before = {relative: (staging / relative).stat().st_size for _, relative in to_strip}
    relatives = [relative for _, relative in to_strip]
    workers = max(1, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda batch: strip(staging, batch), [relatives[i::workers] for i in range(workers)]))
    for name, relative in to_strip:
        removed[name].symbols += before[relative] - (staging / relative).stat().st_size


@dataclass(frozen=True)
class _Slimmed:
    """What slimming, pruning and compiling did to one distribution (for its fragment's record)."""

    removed: tuple[int, int, int, int]  # tests, sources, debug symbols, files
    pruned: int = 0  # bytes --prune-unused left out of it
    uncompiled: int = 0  # bytes of sources left without byte code


def _slim_and_compile(staging: Path, installed: list[Any], lap: Callable[[str], None], *, slim: bool,
                      host_major: int | None, trimmed: set[str], folders: tuple[str, ...], interpreter: Interpreter,
                      task_root: str) -> list[tuple[Any, _Slimmed]]:
    """Slim (unless ``slim`` is false), prune the ``trimmed`` distributions and compile the byte
    code of one installed batch; its distributions, largest first, each with what was done to it."""
    from .slim import (Removed, api_versioned, covering_prefixes, prune_api_versions, prune_folders, pruned,
                       unloaded_api_versions, unused_paths)

    removed: dict[str, Removed] = {d.pin.name: Removed() for d in installed}
    if slim:
        from .slim import slim as slim_files

        to_strip: list[tuple[str, str]] = []
        slimmed = []
        for dist in installed:
            kept, what, shared = slim_files(staging, dist.files)
            removed[dist.pin.name] = what
            to_strip += [(dist.pin.name, s) for s in shared]
            slimmed.append(type(dist)(dist.pin, kept))
        installed = slimmed
        _strip_all(staging, to_strip, removed)
        lap("slim")
    pruned_bytes: dict[str, int] = {}
    kept_dists = []
    for dist in installed:
        if dist.pin.name in trimmed:
            files, pruned_bytes[dist.pin.name] = prune_api_versions(staging, dist.files)
            files, left_out_bytes = prune_folders(staging, files, folders)
            pruned_bytes[dist.pin.name] += left_out_bytes
            dist = type(dist)(dist.pin, files)
        kept_dists.append(dist)
    installed = kept_dists
    uncompiled: dict[str, int] = {}
    if interpreter.path is not None:
        # Slim: no byte code for what a Lambda run never imports (it stays importable, compiled on import).
        skip: list[str] = []
        if slim:
            never: dict[str, list[str]] = {}
            for dist in installed:
                sources = [f for f in dist.files if f.endswith(".py")]
                if pruned([dist.pin.name], host_major):
                    never[dist.pin.name] = sources
                    continue
                unloaded = unused_paths(host_major)
                if api_versioned(dist.pin.name, host_major) and dist.pin.name not in trimmed:
                    unloaded += tuple(unloaded_api_versions(staging, dist.files))
                never[dist.pin.name] = [f for f in sources if unloaded and f.startswith(unloaded)]
            uncompiled = {name: sum((staging / f).lstat().st_size for f in files)
                          for name, files in never.items() if files}
            skipped = {f for files in never.values() for f in files}
            skip = covering_prefixes(skipped, {f for d in installed for f in d.files
                                               if f.endswith(".py") and f not in skipped})
        compile_tree(interpreter.path, staging, task_root, skip=skip)
        lap("compile")
    largest_first = sorted(installed, key=lambda d: -sum((staging / f).lstat().st_size for f in d.files))
    return [(d, _Slimmed(removed[d.pin.name].counts(), pruned_bytes.get(d.pin.name, 0), uncompiled.get(d.pin.name, 0)))
            for d in largest_first]


def _fragment_of(store: BlobStore, key: str, staging: Path, dist: Any, compiled_tag: str, task_root: str,
                 details: _Slimmed, codec: "Codec") -> Any:
    """RECORD, tar and gzip members of one distribution: its fragment."""
    from .fragments import make_fragment
    from .install import write_record

    final = write_record(staging, _with_byte_code(staging, dist, compiled_tag))
    return make_fragment(store, key, dist.pin.name, dist.pin.version, staging, final.files, task_root,
                         details.removed, details.pruned, details.uncompiled, codec=codec)


def _with_byte_code(staging: Path, distribution: Any, tag: str) -> Any:
    """The distribution's files plus the ``.pyc`` files compiled from its sources."""
    if not tag:
        return distribution
    files = set(distribution.files)
    for relative in distribution.files:
        if relative.endswith(".py"):
            folder, _, name = relative.rpartition("/")
            pyc = (f"{folder}/" if folder else "") + f"__pycache__/{name[:-3]}.{tag}.pyc"
            if (staging / pyc).is_file():
                files.add(pyc)
    return type(distribution)(distribution.pin, tuple(sorted(files)))


def build_plugin_layer(store: BlobStore, wheel: Path, *, task_root: str, interpreter: Interpreter) -> Layer:
    """The plugin's own layer: its wheel unpacked into ``task_root`` (no dependencies: they are
    in the dependency layer), byte code compiled like the dependencies'."""
    key = hashlib.sha256("\n".join([FORMAT, sha256_file(wheel), task_root,
                                     f"compile={interpreter.version if interpreter.path else 'no'}"]).encode()).hexdigest()
    cached = store.record("plugin-layers", key)
    if cached is not None and store.has(cached["digest"]):
        return Layer(cached["digest"], cached["diff_id"], int(cached["size"]), int(cached["uncompressed"]))
    import zipfile

    with tempfile.TemporaryDirectory(prefix="plugin-", dir=store.tmpdir()) as work:
        target = Path(work) / "target"
        with zipfile.ZipFile(wheel) as archive:
            for member in sorted(archive.namelist()):
                if member.endswith("/") or member.startswith("/") or ".." in member.split("/"):
                    continue
                path = target / member
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(archive.read(member))
        _clean(target)
        _canonical_record(target)
        if interpreter.path is not None:
            compile_tree(interpreter.path, target, task_root)
        layer = write_layer(store, tree_entries(target, task_root.strip("/")))
    store.save_record("plugin-layers", key, {"digest": layer.digest, "diff_id": layer.diff_id, "size": layer.size,
                                             "uncompressed": layer.uncompressed})
    return layer


def _canonical_record(target: Path) -> None:
    """RECORD rewritten from the files themselves: the wheel the plugin was installed from and
    one rebuilt from the installation give the same layer."""
    import base64

    for info in target.glob("*.dist-info"):
        lines = []
        for path in sorted(p for p in target.rglob("*") if p.is_file() and p.name != "RECORD"):
            data = path.read_bytes()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            lines.append(f"{path.relative_to(target).as_posix()},sha256={digest},{len(data)}")
        lines.append(f"{info.name}/RECORD,,")
        (info / "RECORD").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _clean(target: Path) -> None:
    """No byte code of this machine's Python, no scripts pointing at a local interpreter."""
    for cache in sorted(target.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache, ignore_errors=True)
    for pyc in target.rglob("*.py[co]"):
        pyc.unlink()
    for info in target.glob("*.dist-info/direct_url.json"):
        info.unlink()  # a local file URL: differs per machine, says nothing in the image
    bin_dir = target / "bin"
    if bin_dir.is_dir():
        for script in sorted(bin_dir.iterdir()):
            if script.is_file() and not script.is_symlink():
                data = script.read_bytes()
                if data.startswith(b"#!"):
                    first, _, rest = data.partition(b"\n")
                    if b"python" in first:
                        script.write_bytes(b"#!/usr/bin/env python3\n" + rest)


def compile_tree(python: str, root: Path, image_path: str, *, skip: "list[str] | tuple[str, ...]" = ()) -> None:
    """``.pyc`` files for the target Python, valid read-only (unchecked-hash), naming the
    sources by their path in the image; none below the ``skip`` folders (``relative/path/``) or for the
    ``skip`` files."""
    import re

    command = [python, "-m", "compileall", "-q", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
               "-s", str(root), "-p", image_path]
    if skip:
        alternatives = "|".join(re.escape(s) + ("" if s.endswith("/") else "$") for s in sorted(skip))
        command += ["-x", "^" + re.escape(f"{root}/") + f"(?:{alternatives})"]
    command.append(str(root))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    # Exit status 1 only means some file did not compile (test data, templates for other
    # Pythons): those are left without byte code, as pip does.
    try:
        subprocess.run(command, capture_output=True, timeout=PIP_TIMEOUT, stdin=subprocess.DEVNULL, env=env)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise PluginError(f"compiling byte code with {python} failed: {error}.",
                          fix="Retry; or remove that interpreter from PATH to build without byte code.") from None
