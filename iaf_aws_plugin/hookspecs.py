"""The plugin contract of the investing-algorithm-framework CLI: hook specifications and the
types their arguments have.

Hooks are always called with keyword arguments, so a specification can gain arguments later
without breaking implementations that take fewer. This module imports nothing from the plugin
manager or the host bridge: they depend on it, never the other way round.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol

import pluggy

PROJECT_NAME = "investing_algorithm_framework"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

if TYPE_CHECKING:  # pragma: no cover - typing only
    import click

    from .builders import Builder

#: Writes a project of one app type: called as ``scaffold(path=..., replace=...)``.
Scaffold = Callable[..., Any]


class RegisterAppType(Protocol):
    """The ``register`` argument of :func:`register_app_types`."""

    def __call__(
        self, name: str, scaffold: Scaffold, aliases: Iterable[str] = (), help: str = ""
    ) -> None: ...


class RegisterBuilder(Protocol):
    """The ``register`` argument of :func:`register_builders`: ``factory()`` makes a new builder."""

    def __call__(self, name: str, factory: Callable[[], Builder]) -> None: ...


@hookspec
def register_commands(cli: click.Group) -> None:
    """Register additional CLI commands on the host's click group."""


@hookspec
def register_app_types(register: RegisterAppType) -> None:
    """Contribute app types to ``init --type``: ``register(name, scaffold, aliases=(), help="")``."""


@hookspec
def register_builders(register: RegisterBuilder) -> None:
    """Contribute image builders to ``deploy-aws-lambda --builder``: ``register(name, factory)``."""
