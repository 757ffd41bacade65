"""Image builders: turn a project folder into an image in ECR, behind one interface.

The deploy asks a :class:`Builder` to build and push; which tool does it (Docker
today, a Docker-free builder later) is the builder's business. Importing this
package is cheap: builders are imported by name through :func:`get_builder`.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

from ..errors import PluginError

__all__ = [
    "BUILDERS",
    "BuildRequest",
    "Builder",
    "BuiltImage",
    "RegistryCredentials",
    "get_builder",
]

ARCHITECTURES = ("x86_64", "arm64")

# name → "module:class"; a Docker-free builder registers here.
BUILDERS: dict[str, str] = {
    "docker": "iaf_aws_plugin.builders.docker:DockerBuilder",
}


@dataclass(frozen=True)
class BuildRequest:
    """What to build: the project folder, for which Lambda architecture
    (``"x86_64"`` or ``"arm64"``), pushed to ``repository_uri:tag``."""

    project_dir: Path
    architecture: str
    repository_uri: str
    tag: str


@dataclass(frozen=True)
class RegistryCredentials:
    """A registry login (for ECR: user ``AWS`` and a 12-hour token). The password
    never appears in ``repr``."""

    registry: str
    username: str
    password: str

    def __repr__(self) -> str:
        return f"RegistryCredentials(registry={self.registry!r}, username={self.username!r}, password='****')"

    __str__ = __repr__


@dataclass(frozen=True)
class BuiltImage:
    """A pushed image: ``image_uri`` is ``<repository_uri>@sha256:…``, ``digest`` is ``sha256:…``."""

    image_uri: str
    digest: str


def _print(line: str) -> None:
    print(line, flush=True)


@runtime_checkable
class Builder(Protocol):
    """Builds a project into a container image and pushes it to a registry."""

    name: str

    def check(self) -> None:
        """Raise :class:`PluginError` (one line: what is missing, how to fix) when this
        builder cannot work on this machine."""
        ...

    def build(self, request: BuildRequest, credentials: RegistryCredentials, *,
              echo: Callable[[str], None] = _print) -> BuiltImage:
        """Build ``request.project_dir`` for ``request.architecture``, push it, and
        return the pushed image by digest. Progress goes line by line to ``echo``."""
        ...


def get_builder(name: str) -> Builder:
    """A new builder by name (``"docker"``), or :class:`PluginError` naming the known ones."""
    target = BUILDERS.get(name)
    if target is None:
        raise PluginError(f"Unknown builder {name!r}.",
                          fix=f"Use --builder with one of: {', '.join(sorted(BUILDERS))}.")
    module_name, _, class_name = target.partition(":")
    builder: Builder = getattr(importlib.import_module(module_name), class_name)()
    return builder
