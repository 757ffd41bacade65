"""Image builders: turn a project folder into an image in ECR, behind one interface.

The deploy asks a :class:`Builder` to build and push; which tool does it is the builder's
business. Builders are contributed through the ``register_builders`` hook (the built-in
``docker`` one in :mod:`iaf_aws_plugin.plugin`) and looked up with
:func:`iaf_aws_plugin.plugin_manager.collect_builders`. Importing this package is cheap.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable


__all__ = [
    "BuildRequest",
    "Builder",
    "BuiltImage",
    "RegistryCredentials",
]

ARCHITECTURES = ("x86_64", "arm64")


@dataclass(frozen=True)
class BuildRequest:
    """What to build: the project folder, for which Lambda architecture
    (``"x86_64"`` or ``"arm64"``), pushed to ``repository_uri:tag``; optionally on which base
    image and where else to write it (builders that cannot say so in one line)."""

    project_dir: Path
    architecture: str
    repository_uri: str
    tag: str
    base_image: str | None = None  # builder's default when None (a Lambda Python base image)
    output: str | None = None  # also write the image there, e.g. ``oci:DIR``
    profile: str | None = None  # AWS profile, for builders that call AWS themselves
    slim: bool = True  # native: drop tests, C sources, stubs and debug symbols from the dependencies
    prune_unused: bool = False  # native: leave out packages the host declares but Lambda never imports


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
