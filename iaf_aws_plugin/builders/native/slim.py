"""A slimmer dependency layer.

Slim (the default; ``--no-slim`` keeps everything), per distribution, before byte code is compiled:

- ``tests/`` and ``test/`` folders inside packages (not top-level modules of that name);
- ``.pyi``, ``.c``, ``.h``, ``.pyx``, ``.pxd`` files (type stubs and C sources: never imported);
- debug symbols of shared objects (``strip --strip-unneeded``), except under ``*.libs/``: those are
  patched by auditwheel, and stripping them breaks numpy;
- byte code of what a Lambda run never imports: the distributions and paths ``--prune-unused`` leaves
  out, and the API versions of the Azure management SDKs their clients do not load. Those sources stay
  in the image, importable (compiled on import, as without byte code); measured on IAF 8.10's set
  (Python 3.11), that is a fifth of the sources a build compiled.

Pruned (``--prune-unused``, opt-in): distributions the host declares but a Lambda run never imports
(:data:`UNUSED`, checked per host major: a host major not in the list prunes nothing), folders of the
distributions it keeps that it never imports (:data:`UNUSED_PATHS`), and the API versions of the
Azure management SDKs that their clients do not load (:data:`API_VERSIONED`)."""
from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

SOURCE_SUFFIXES = (".pyi", ".c", ".h", ".pyx", ".pxd")
TEST_FOLDERS = ("tests", "test")
STRIP_TIMEOUT = 600

# Distributions investing-algorithm-framework 8.x declares that a bot on Lambda never imports: the
# notebook server and JupyterLab stack (IAF's notebook helpers), the debugger, the Azure management
# SDKs and identity (IAF's deploy-azure-function command), Babel's locale data. Not in the list:
# what importing the framework loads (IPython and its dependencies, ipywidgets, comm, traitlets,
# pygments, wcwidth, azure-core, azure-storage-blob), found with ``sys.modules`` after
# ``import investing_algorithm_framework``. Checked by the stand-in acceptance test: the pruned
# image imports the framework and runs an iteration. 9.x declares none of these: nothing to prune.
UNUSED: dict[int, tuple[str, ...]] = {
    8: ("jupyter", "jupyter-*", "jupyterlab", "jupyterlab-server", "jupyterlab-pygments", "jupyter-builder",
        "notebook", "notebook-shim", "ipykernel", "nbformat", "nbconvert", "nbclient", "widgetsnbextension",
        "debugpy", "terminado", "send2trash", "argon2-cffi", "argon2-cffi-bindings", "mistune", "bleach",
        "tinycss2", "pandocfilters", "pyzmq", "tornado", "babel", "json5", "async-lru", "overrides",
        "rfc3339-validator", "rfc3986-validator", "rfc3987-syntax", "fqdn", "isoduration", "uri-template",
        "webcolors", "fastjsonschema", "jsonpointer", "arrow", "lark", "types-python-dateutil",
        "websocket-client", "beautifulsoup4", "soupsieve", "prometheus-client",
        # Found with ``python -X importtime`` and ``sys.modules`` after the scaffolded handler's import and one
        # iteration (IAF 8.10): IPython's terminal and completion stack, the async HTTP and JSON-schema stacks of
        # the Jupyter server, alembic (the host's web app migrations).
        "prompt-toolkit", "jedi", "parso", "pexpect", "ptyprocess", "stack-data", "executing", "asttokens",
        "pure-eval", "jupyter-console", "jupyter-events", "python-json-logger", "uvloop", "anyio", "httpx",
        "httpcore", "h11", "jsonschema", "jsonschema-specifications", "referencing", "rpds-py", "alembic", "mako",
        "flask-migrate"),
    9: (),
}
# Paths (folder or file prefixes) inside distributions a Lambda run keeps that it never imports (same
# check): ccxt's asyncio and websocket copies of every exchange (the framework uses the synchronous
# ``ccxt``), pyarrow's Flight RPC (only ``pyarrow.flight`` loads those libraries: ``readelf -d`` of the rest
# needs none), plotly's JupyterLab extension and widget bundle, numpy's Fortran wrapper generator.
UNUSED_PATHS: dict[int, tuple[str, ...]] = {
    8: ("ccxt/async_support/", "ccxt/pro/", "pyarrow/libarrow_flight.so", "pyarrow/libarrow_python_flight.so",
        "pyarrow/_flight.", "pyarrow/flight.py", "plotly/labextension/", "plotly/package_data/widgetbundle.js",
        "numpy/f2py/"),
    9: ()}
# Distributions kept, but only the API versions their own modules import: ``create_app`` imports
# the framework's CLI (deploy-azure-function), hence ``azure.mgmt.web`` and its siblings, whose
# default client loads one ``vYYYY_MM_DD`` folder of the 10-20 each ships.
API_VERSIONED: dict[int, tuple[str, ...]] = {8: ("azure-mgmt-*",), 9: ()}
_API_VERSION = re.compile(r"^v\d{4}_\d{2}_\d{2}\w*$")
_MODELS_IMPORT = re.compile(r"^from \.(v\d{4}_\d{2}_\d{2}\w*)\.models import", re.MULTILINE)
_DEFAULT_VERSION = re.compile(r"^\s*DEFAULT_API_VERSION = ['\"](\d{4}-\d{2}-\d{2}[\w-]*)['\"]", re.MULTILINE)


def unused_paths(host_major: int | None) -> tuple[str, ...]:
    return UNUSED_PATHS.get(host_major, ()) if host_major is not None else ()


def prune_folders(staging: Path, files: tuple[str, ...], folders: tuple[str, ...]) -> tuple[tuple[str, ...], int]:
    """Leave out the files below ``folders``: (kept files, bytes left out)."""
    kept = []
    removed = 0
    for relative in files:
        if relative.startswith(folders):
            path = staging / relative
            removed += path.lstat().st_size
            path.unlink()
        else:
            kept.append(relative)
    return tuple(kept), removed


def api_versioned(name: str, host_major: int | None) -> bool:
    patterns = API_VERSIONED.get(host_major, ()) if host_major is not None else ()
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def unloaded_api_versions(staging: Path, files: tuple[str, ...]) -> list[str]:
    """The ``vYYYY_MM_DD/`` folders (as ``path/vX/`` prefixes) a multi-API client does not load by
    default: kept are the ones its ``models.py`` imports (``from .vX.models import *``) and its
    ``DEFAULT_API_VERSION``; a folder where neither names one keeps them all."""
    versions: dict[str, set[str]] = {}
    for relative in files:
        parts = relative.split("/")
        for depth, part in enumerate(parts[:-1]):
            if _API_VERSION.match(part):
                versions.setdefault("/".join(parts[:depth]), set()).add(part)
                break
    unloaded: list[str] = []
    for parent, found in versions.items():
        named: set[str] = set()
        for relative in files:
            folder, _, name = relative.rpartition("/")
            if folder != parent or not name.endswith(".py"):
                continue
            text = (staging / relative).read_text(encoding="utf-8", errors="replace")
            if name == "models.py":
                named.update(_MODELS_IMPORT.findall(text))
            named.update("v" + v.replace("-", "_") for v in _DEFAULT_VERSION.findall(text))
        named &= found
        if named:
            unloaded += [f"{parent}/{v}/" for v in sorted(found - named)]
    return unloaded


def covering_prefixes(skipped: set[str], compiled: set[str]) -> list[str]:
    """Few path prefixes that cover every file of ``skipped`` and none of ``compiled``: the highest
    folder holding no compiled file (``a/b/``), else the file itself."""
    mixed = {"/".join(parts[:depth]) for parts in (f.split("/") for f in compiled) for depth in range(1, len(parts))}
    prefixes = set()
    for relative in skipped:
        parts = relative.split("/")
        prefixes.add(next(("/".join(parts[:depth]) + "/" for depth in range(1, len(parts))
                           if "/".join(parts[:depth]) not in mixed), relative))
    return sorted(prefixes)


def prune_api_versions(staging: Path, files: tuple[str, ...]) -> tuple[tuple[str, ...], int]:
    """Leave out the API-version folders :func:`unloaded_api_versions` finds: (kept files, bytes left out)."""
    return prune_folders(staging, files, tuple(unloaded_api_versions(staging, files)))


def unused(host_major: int | None) -> tuple[str, ...] | None:
    """The list for that framework major; None when there is none (nothing is pruned)."""
    return UNUSED.get(host_major) if host_major is not None else None


def pruned(names: list[str], host_major: int | None) -> list[str]:
    """The distributions of ``names`` (canonical) that ``--prune-unused`` leaves out."""
    patterns = unused(host_major) or ()
    return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]


@dataclass
class Removed:
    """What slimming took out (bytes)."""

    tests: int = 0
    sources: int = 0
    symbols: int = 0
    files: int = 0
    stripped: list[str] = field(default_factory=list)

    def add(self, other: "Removed") -> None:
        self.tests += other.tests
        self.sources += other.sources
        self.symbols += other.symbols
        self.files += other.files

    @property
    def total(self) -> int:
        return self.tests + self.sources + self.symbols

    def counts(self) -> tuple[int, int, int, int]:
        """(tests, sources, debug symbols, files): as a fragment records them."""
        return self.tests, self.sources, self.symbols, self.files



def _is_test_file(relative: str) -> bool:
    parts = relative.split("/")
    # inside a package: a tests/ folder below a top-level package, never the top level itself
    return any(part in TEST_FOLDERS for part in parts[1:-1]) and not parts[0].endswith((".dist-info", ".data"))


def _is_shared_object(relative: str) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return (name.endswith(".so") or ".so." in name) and not any(p.endswith(".libs") for p in relative.split("/")[:-1])


def slim(staging: Path, files: tuple[str, ...]) -> tuple[tuple[str, ...], Removed, list[str]]:
    """Remove the files slimming drops; (kept files, what was removed, shared objects to strip)."""
    removed = Removed()
    kept = []
    to_strip = []
    for relative in files:
        path = staging / relative
        if path.is_symlink() or not path.is_file():
            kept.append(relative)
            continue
        if _is_test_file(relative):
            removed.tests += path.stat().st_size
        elif relative.endswith(SOURCE_SUFFIXES) and not relative.split("/")[0].endswith(".dist-info"):
            removed.sources += path.stat().st_size
        else:
            kept.append(relative)
            if _is_shared_object(relative):
                to_strip.append(relative)
            continue
        removed.files += 1
        path.unlink()
    return tuple(kept), removed, to_strip


def strip(staging: Path, relatives: list[str]) -> int:
    """``strip --strip-unneeded`` these shared objects; bytes saved (0 without binutils)."""
    tool = shutil.which("strip")
    if tool is None or not relatives:
        return 0
    from .install import break_link

    for relative in relatives:  # strip may write into a file with several links: uv's cache has the others
        break_link(staging / relative)
    before = sum((staging / r).stat().st_size for r in relatives)
    modes = {r: (staging / r).stat().st_mode & 0o7777 for r in relatives}
    for start in range(0, len(relatives), 200):
        batch = [str(staging / r) for r in relatives[start:start + 200]]
        try:  # a file strip does not understand is left as it was (strip writes a copy, then renames)
            subprocess.run([tool, "--strip-unneeded", *batch], capture_output=True, timeout=STRIP_TIMEOUT,
                           stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            break
    for relative, mode in modes.items():
        os.chmod(staging / relative, mode)  # as installed, stripped or not
    return before - sum((staging / r).stat().st_size for r in relatives)
