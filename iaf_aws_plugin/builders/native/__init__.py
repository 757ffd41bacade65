"""The ``native`` builder: a Lambda container image built without Docker.

The base image is pulled over the registry HTTP API (:mod:`.registry`), the dependencies are
resolved by pip for the target platform (:mod:`.dependencies`), the project's files form the
app layer (:mod:`.layers`, honouring ``.dockerignore``), and the image is pushed through the
ECR API (:mod:`.ecr`). Same inputs, same digests: an unchanged project uploads nothing.

:meth:`NativeBuilder.prepare` builds locally (no AWS call) so that the deploy can compare the
digest with the deployed one before planning; :meth:`NativeBuilder.push` uploads what ECR lacks.
"""
from __future__ import annotations

import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ...errors import PluginError
from .. import ARCHITECTURES, BuildRequest, BuiltImage, RegistryCredentials, _print
from .blobs import BlobStore
from .dockerfile import DEFAULT_HANDLER, LAMBDA_PYTHON, python_version_of, read_dockerfile
from .image import LocalImage, assemble, write_oci_layout
from .layers import DockerIgnore, tree_entries, write_layer

__all__ = ["NativeBuilder", "PreparedImage", "default_base_image"]

DEFAULT_TASK_ROOT = "/var/task"
# Never in an image, whatever .dockerignore says: deploy-aws-lambda keeps secrets in SSM, and
# its settings file changes with every deploy (it would change the image's digest); the state of
# offline runs (invoke-aws-lambda --local --offline) is a paper account's, never the bot's.
ALWAYS_EXCLUDED = (".env", ".env.*", "iaf-aws-lambda.json", ".iaf-offline/")
# When the project has no .dockerignore: what the scaffolded one excludes.
DEFAULT_IGNORE = (".venv/", "venv/", "env/", "**/__pycache__/", "*.py[cod]", ".git/", ".pytest_cache/",
                  ".mypy_cache/", "data/", "backtest_results/", "reports/", "notebooks/", "resources/",
                  "Dockerfile", ".dockerignore", "iaf-aws-lambda.json")
_ECR_URI = re.compile(r"^(?P<registry>(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?)/"
                      r"(?P<repository>[a-z0-9._/-]+)$")


def default_base_image(python_version: str) -> str:
    return f"{LAMBDA_PYTHON}:{python_version}"


@dataclass
class PreparedImage:
    """A locally built image and what the report and the plan say about it."""

    image: LocalImage
    base_image: str
    python_version: str
    compiled: bool
    compile_note: str
    dependencies_cached: bool
    packages: tuple[tuple[str, int], ...]
    phases: dict[str, float] = field(default_factory=dict)
    dependencies: Any = None  # the DependencyLayer (what slimming removed, what was pruned, its phases)

    @property
    def digest(self) -> str:
        return self.image.digest

    def report(self) -> list[str]:
        by_origin: dict[str, int] = {}
        for layer in self.image.layers:
            by_origin[layer.origin] = by_origin.get(layer.origin, 0) + layer.size
        lines = [f"Image {self.digest}: {self.image.size / 1e6:.1f} MB compressed "
                 f"(base {by_origin.get('base', 0) / 1e6:.1f} MB, dependencies "
                 f"{by_origin.get('dependencies', 0) / 1e6:.1f} MB, iaf-aws-plugin "
                 f"{by_origin.get('iaf-aws-plugin', 0) / 1e3:.1f} kB, app {by_origin.get('app', 0) / 1e3:.1f} kB) "
                 f"on {self.base_image}, CPython {self.python_version}."]
        if self.packages:
            top = ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in self.packages[:10])
            lines.append(f"Largest packages (installed size): {top}.")
        lines.append("Byte code: " + (f"compiled with {self.compile_note}." if self.compiled else
                                      f"none ({self.compile_note}): every cold start compiles the dependencies "
                                      "again, about 3.5 s more for IAF 8.10; install Python "
                                      f"{self.python_version} (pyenv or uv) to avoid it."))
        deps = self.dependencies
        if deps is not None:
            tests, sources, symbols, files = deps.removed
            lines.append("Slim: " + (f"removed {(tests + sources + symbols) / 1e6:.1f} MB from the dependencies "
                                     f"(tests/ {tests / 1e6:.1f} MB, .pyi/.c/.h/.pyx/.pxd {sources / 1e6:.1f} MB, "
                                     f"{files} files; debug symbols {symbols / 1e6:.1f} MB)"
                                     + (f"; {deps.uncompiled_note}" if deps.uncompiled_note else "")
                                     + "; --no-slim keeps them."
                                     if deps.slim else "off (--no-slim): the dependencies are installed as they are."))
            if deps.pruned_note:
                lines.append(f"Pruned (--prune-unused): {deps.pruned_note}"
                             + (f": {', '.join(deps.pruned)}" if deps.pruned else "")
                             + (f"; {deps.trimmed_note}." if deps.trimmed_note else "."))
            if deps.phases:
                built = (f"{len(deps.built)} distributions built now with {deps.installer}"
                         if deps.built else "every distribution from the cache")
                lines.append("Dependencies: " + ", ".join(f"{name} {seconds:.1f} s (CPU {cpu:.1f} s)"
                                                          for name, seconds, cpu in deps.phases) + f" ({built}).")
        lines.append("Time: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.phases.items()) + ".")
        return lines


def _project_python(project_dir: Path, base_image: str | None) -> tuple[str, str | None]:
    """(Python X.Y, base image written in the Dockerfile or None)."""
    from ...scaffold import lambda_python_version

    info = read_dockerfile(project_dir)
    written = info.base_image if info else None
    version = python_version_of(base_image) or python_version_of(written) or lambda_python_version()
    return version, written


class NativeBuilder:
    """Builds with pip and plain Python, pushes through the ECR API. No Docker."""

    name = "native"

    def __init__(self, store: BlobStore | None = None) -> None:
        self.store = store or BlobStore()

    def check(self) -> None:
        from .pip_run import pip_command

        pip_command()

    def prepare(self, request: BuildRequest, *, echo: Callable[[str], None] = _print) -> PreparedImage:
        """Build the image locally (cheap when nothing changed: everything is cached)."""
        from .dependencies import build_dependency_layer, build_plugin_layer, find_interpreter, lambda_glibc
        from .plugin_wheel import plugin_wheel
        from .reference import parse_reference
        from .registry import resolve_base

        if request.architecture not in ARCHITECTURES:
            raise PluginError(f"Unknown architecture {request.architecture!r}.",
                              fix=f"Use one of: {', '.join(ARCHITECTURES)}.")
        project_dir = Path(request.project_dir)
        phases: dict[str, float] = {}
        started = time.monotonic()
        python_version, written = _project_python(project_dir, request.base_image)
        base_text = request.base_image or (written if written and "$" not in written else None) \
            or default_base_image(python_version)
        base = resolve_base(parse_reference(base_text), request.architecture, self.store, echo=echo)
        task_root = _env(base.config, "LAMBDA_TASK_ROOT") or DEFAULT_TASK_ROOT
        phases["base image"] = time.monotonic() - started

        started = time.monotonic()
        interpreter = find_interpreter(python_version)
        wheel = plugin_wheel(self.store)
        deps = build_dependency_layer(
            self.store, project_dir, wheel, python_version=python_version,
            architecture=request.architecture, glibc=lambda_glibc(python_version), task_root=task_root,
            interpreter=interpreter, echo=echo, slim=request.slim, prune_unused=request.prune_unused)
        phases["dependencies" + (" (cached)" if deps.cached else "")] = time.monotonic() - started

        started = time.monotonic()
        plugin = build_plugin_layer(self.store, wheel, task_root=task_root, interpreter=interpreter)
        phases["iaf-aws-plugin"] = time.monotonic() - started

        started = time.monotonic()
        app = self.app_layer(project_dir, task_root, interpreter.path)
        phases["app"] = time.monotonic() - started

        started = time.monotonic()
        info = read_dockerfile(project_dir)
        handler = info.handler if info else DEFAULT_HANDLER
        image = assemble(self.store, base, [
            ("dependencies", deps.layer, f"pip install --target {task_root} -r requirements.txt iaf-aws-plugin "
                                         f"(cp{python_version.replace('.', '')} {request.architecture})"),
            ("iaf-aws-plugin", plugin, f"iaf-aws-plugin {wheel.name} (the installed version)"),
            ("app", app, f"COPY . {task_root}/"),
        ], handler=handler, task_root=task_root)
        phases["assemble"] = time.monotonic() - started
        return PreparedImage(image, str(base.reference), python_version, deps.compiled, deps.interpreter,
                             deps.cached, deps.packages, phases, deps)

    def app_layer(self, project_dir: Path, task_root: str, python: str | None) -> Any:
        """The project files as one layer below ``task_root`` (``.dockerignore`` honoured, secrets and
        settings never), compiled by ``python`` when given."""
        ignore_file = project_dir / ".dockerignore"
        rules = ignore_file.read_text(encoding="utf-8").splitlines() if ignore_file.is_file() else list(DEFAULT_IGNORE)
        ignore = DockerIgnore(rules, ALWAYS_EXCLUDED)
        with tempfile.TemporaryDirectory(prefix="app-", dir=self.store.tmpdir()) as work:
            staging = Path(work) / "app"
            staging.mkdir()
            for image_path, source in tree_entries(project_dir, "", skip=ignore):  # prunes .venv/ etc.
                relative = image_path.lstrip("/")
                if ignore.excluded(relative):
                    continue
                target = staging / relative
                if source.is_symlink():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.symlink_to(source.readlink())
                elif source.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, target)
                    shutil.copymode(source, target)
            if python is not None:
                from .dependencies import compile_tree

                compile_tree(python, staging, task_root)
            return write_layer(self.store, tree_entries(staging, task_root.strip("/")))

    def write_output(self, prepared: PreparedImage, output: str, tag: str, *,
                     echo: Callable[[str], None] = _print) -> Path:
        """``oci:DIR[:REF]``: the image as an OCI layout (base layers downloaded if needed)."""
        from .registry import fetch_layers

        if not output.startswith("oci:"):
            raise PluginError(f"unsupported --output {output!r}.", fix="Use --output oci:DIR (an OCI image layout).")
        directory = output[4:]
        if not directory:
            raise PluginError("--output oci: needs a folder.", fix="For example: --output oci:build/image")
        fetch_layers(prepared.image.base, [layer.digest for layer in prepared.image.layers], self.store, echo)
        path = Path(directory)
        write_oci_layout(prepared.image, self.store, path, tag)
        echo(f"Wrote the image to the OCI layout {path} (reference {tag}).")
        return path

    def push(self, prepared: PreparedImage, repository_uri: str, tag: str, *, profile: str | None = None,
             ecr: Any = None, echo: Callable[[str], None] = _print) -> tuple[BuiltImage, Any]:
        """Upload what ECR lacks and put the manifest; (image by digest, :class:`PushResult`)."""
        from .ecr import push_image
        from .registry import fetch_layers

        match = _ECR_URI.match(repository_uri)
        if not match:
            raise PluginError(f"{repository_uri} is not an Amazon ECR repository: the native builder pushes "
                              "through the ECR API only.", fix="Push to ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME.")
        if ecr is None:
            import boto3

            ecr = boto3.Session(profile_name=profile, region_name=match["region"]).client("ecr")
        started = time.monotonic()
        result = push_image(ecr, match["repository"], match["account"], prepared.image, self.store, tag,
                            fetch_base=lambda digests: fetch_layers(prepared.image.base, digests, self.store, echo),
                            echo=echo)
        prepared.phases["push"] = time.monotonic() - started
        return BuiltImage(image_uri=f"{repository_uri}@{prepared.digest}", digest=prepared.digest), result

    def build(self, request: BuildRequest, credentials: RegistryCredentials, *,
              echo: Callable[[str], None] = _print) -> BuiltImage:
        """Prepare, write ``request.output`` if any, push; print the report."""
        prepared = self.prepare(request, echo=echo)
        if request.output:
            self.write_output(prepared, request.output, request.tag, echo=echo)
        built, _ = self.push(prepared, request.repository_uri, request.tag, profile=request.profile, echo=echo)
        for line in prepared.report():
            echo(line)
        return built


def _env(config: dict[str, Any], name: str) -> str | None:
    for item in (config.get("config") or {}).get("Env") or []:
        key, _, value = str(item).partition("=")
        if key == name:
            return value
    return None
