"""Project templates: render the files shipped in ``iaf_aws_plugin/templates`` into a folder.

Templates are package data read with :mod:`importlib.resources`. A template file's name
maps to the written name by dropping a ``.tmpl`` suffix and turning a ``dot-`` prefix into
``.`` (so that ``.gitignore`` and friends in the repository do not act on it). Placeholders
are ``{{ name }}``; an unknown one is an error.

A template can have a variant for one major version of the host: ``NAME@iaf9.tmpl`` is
written as ``NAME`` instead of ``NAME.tmpl`` when the installed host is 9.x (the host's
strategies changed style between majors: ``time_unit``/``interval`` in 8.x, ``schedule``
in 9.x). A variant for another major is not written.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Mapping

from .errors import PluginError
from .files import write_text_atomic

if TYPE_CHECKING:  # pragma: no cover - typing only
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

AWS_LAMBDA = "aws-lambda"
HOST_DISTRIBUTION = "investing-algorithm-framework"
PLUGIN_DISTRIBUTION = "iaf-aws-plugin"
# Python versions with an AWS Lambda base image (public.ecr.aws/lambda/python:X.Y).
LAMBDA_PYTHON_VERSIONS = ("3.10", "3.11", "3.12", "3.13", "3.14")

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_VARIANT = re.compile(r"^(?P<base>.+)@iaf(?P<major>\d+)(?P<suffix>\.tmpl)?$")


class TemplateError(PluginError):
    """A template refers to a placeholder that has no value."""


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    status: str  # "created", "replaced" or "skipped"


def render(text: str, values: Mapping[str, str], *, source: str = "template") -> str:
    """Fill ``{{ name }}`` placeholders; a missing value or a malformed placeholder raises."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise TemplateError(f"{source}: unknown placeholder {{{{ {name} }}}}.",
                                fix=f"Known placeholders: {', '.join(sorted(values))}.")
        return values[name]

    rendered = _PLACEHOLDER.sub(fill, text)
    if "{{" in _PLACEHOLDER.sub("", text):
        raise TemplateError(f"{source}: malformed placeholder (a '{{{{' without a matching name '}}}}').")
    return rendered


def output_name(template_name: str) -> str:
    variant = _VARIANT.match(template_name)
    if variant:
        template_name = variant["base"] + (variant["suffix"] or "")
    name = template_name.removesuffix(".tmpl")
    return "." + name.removeprefix("dot-") if name.startswith("dot-") else name


def templates_root(app_type: str = AWS_LAMBDA) -> Traversable:
    root = resources.files("iaf_aws_plugin").joinpath("templates").joinpath(app_type)
    if not root.is_dir():
        raise PluginError(f"templates for '{app_type}' are missing from the installed iaf-aws-plugin.",
                          fix="Reinstall it: pip install --force-reinstall iaf-aws-plugin.")
    return root


def template_host_major(template_name: str) -> int | None:
    """The host major a template is the variant for (``x.py@iaf9.tmpl`` -> 9), else None."""
    variant = _VARIANT.match(template_name)
    return int(variant["major"]) if variant else None


def iter_templates(root: Traversable, prefix: str = "",
                   host_major: int | None = None) -> Iterator[tuple[str, Traversable]]:
    """(relative output path, template) for every file below ``root``, sorted.

    With ``host_major``, a variant for that major (``NAME@iafN.tmpl``) replaces its base
    template and variants for other majors are left out; without it, only base templates.
    """
    entries = [entry for entry in root.iterdir() if entry.name != "__pycache__"]
    chosen: dict[str, Traversable] = {}
    for entry in sorted(entries, key=lambda e: e.name):
        major = template_host_major(entry.name)
        if major is not None and major != host_major:
            continue
        relative = f"{prefix}{output_name(entry.name)}"
        if relative in chosen and major is None:
            continue  # the variant for this host was already chosen
        chosen[relative] = entry
    for relative, entry in sorted(chosen.items()):
        if entry.is_dir():
            yield from iter_templates(entry, relative + "/", host_major)
        else:
            yield relative, entry


def lambda_python_version(version: tuple[int, int] | None = None) -> str:
    """The Lambda base image version closest to this interpreter's."""
    major, minor = version or sys.version_info[:2]
    wanted = f"{major}.{minor}"
    if wanted in LAMBDA_PYTHON_VERSIONS:
        return wanted
    if (major, minor) < (3, 10):
        return LAMBDA_PYTHON_VERSIONS[0]
    return LAMBDA_PYTHON_VERSIONS[-1]


def compatible_range(version: str) -> str:
    """``8.10.0`` -> ``>=8.10.0,<9``; ``0.1.0`` -> ``>=0.1.0,<0.2``."""
    parts = [int(p) for p in re.findall(r"\d+", version)[:2]] + [0]
    major, minor = parts[0], parts[1]
    upper = f"{major + 1}" if major > 0 else f"0.{minor + 1}"
    return f">={version},<{upper}"


def host_version() -> str:
    """The installed host's version, e.g. ``8.10.0`` or ``9.0.0a20``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(HOST_DISTRIBUTION)
    except PackageNotFoundError:
        raise PluginError(f"{HOST_DISTRIBUTION} is not installed in this environment.",
                          fix=f"pip install {PLUGIN_DISTRIBUTION}") from None


def major_of(version: str) -> int:
    """``9.0.0a20`` -> 9."""
    match = re.match(r"\d+", version)
    if not match:
        raise PluginError(f"cannot read the major version of {HOST_DISTRIBUTION} {version!r}.")
    return int(match.group())


def default_values(project_dir: Path) -> dict[str, str]:
    from . import __version__

    host = host_version()
    return {
        "project_name": project_dir.resolve().name or "trading-bot",
        "python_version": lambda_python_version(),
        # No extras: the bot needs none (9.x moved boto3, the Azure SDKs and IPython into
        # extras; boto3 comes with iaf-aws-plugin), and research tools stay out of the image.
        "host_requirement": f"{HOST_DISTRIBUTION}{compatible_range(host)}",
        "plugin_requirement": f"{PLUGIN_DISTRIBUTION}{compatible_range(__version__)}",
    }


def scaffold(
    target: Path,
    *,
    replace: bool = False,
    app_type: str = AWS_LAMBDA,
    values: Mapping[str, str] | None = None,
    echo: Callable[[str], None] | None = None,
    host_major: int | None = None,
) -> list[WrittenFile]:
    """Write every template of ``app_type`` below ``target`` (created with its parents); existing files only with ``replace``.

    ``host_major`` picks the templates' variants (default: the installed host's major).
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise PluginError(f"cannot create the project in {target}: it is a file.", fix="Choose another --path.")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PluginError(f"cannot create the project folder {target}: {exc.strerror}.",
                          fix="Check the path and its permissions.") from None
    values = dict(default_values(target) if values is None else values)
    if host_major is None:
        host_major = major_of(host_version())
    root = templates_root(app_type)
    # Render everything first: a template error must not leave a half-written project.
    rendered = [(rel, render(t.read_text(encoding="utf-8"), values, source=f"templates/{app_type}/{rel}"))
                for rel, t in iter_templates(root, host_major=host_major)]
    written = []
    for relative, text in rendered:
        path = target / relative
        if path.is_dir():
            raise PluginError(f"cannot write {path}: a directory is in the way.", fix="Move it, then run init again.")
        existed = path.exists()
        status = "skipped" if existed and not replace else ("replaced" if existed else "created")
        if status != "skipped":
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, text)
        written.append(WrittenFile(path, status))
        if echo is not None:
            note = "  (exists; --replace overwrites it)" if status == "skipped" else ""
            echo(f"{status:>8}  {relative}{note}")
    return written


def scaffold_aws_lambda(path: str | None = None, replace: bool = False) -> list[WrittenFile]:
    """The ``aws-lambda`` app type: used by ``init-aws-lambda`` and ``init --type aws-lambda``."""
    import click

    target = Path(path) if path else Path.cwd()
    written = scaffold(target, replace=replace, echo=click.echo)
    skipped = sum(1 for f in written if f.status == "skipped")
    click.echo(f"AWS Lambda trading bot in {target}: {len(written) - skipped} written, {skipped} kept.")
    if skipped and not replace:
        click.echo("Existing files were kept; run again with --replace to overwrite them.")
    click.echo("Next:")
    if path:
        import shlex

        click.echo(f"  cd {shlex.quote(str(target))}")
    for line in NEXT_STEPS:
        click.echo(f"  {line}")
    return written


#: What to run after ``init-aws-lambda`` (printed by it, by the quick start and in the docs; a test runs them).
NEXT_STEPS = (
    "investing-algorithm-framework invoke-aws-lambda --local --offline   # one run here: paper market, no AWS, no keys",
    "cp .env.example .env                                 # then put your exchange keys in .env",
    "investing-algorithm-framework deploy-aws-lambda --dry-run   # the plan: the function takes the folder's name",
    "investing-algorithm-framework deploy-aws-lambda             # asks, applies, saves the settings",
    "investing-algorithm-framework status-aws-lambda             # then logs-aws-lambda --follow",
)
