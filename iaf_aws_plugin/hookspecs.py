"""Hook specifications of the investing-algorithm-framework plugin surface.

Hooks are always called with keyword arguments, so a specification can gain
arguments later without breaking implementations that take fewer.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

PROJECT_NAME = "investing_algorithm_framework"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

if TYPE_CHECKING:  # pragma: no cover - typing only
    import click

    from .plugins import RegisterAppType, RegisterBuilder


@hookspec
def register_commands(cli: click.Group) -> None:
    """Register additional CLI commands on the host's click group."""


@hookspec
def register_app_types(register: RegisterAppType) -> None:
    """Contribute app types to ``init --type``: ``register(name, scaffold, aliases=(), help="")``."""


@hookspec
def register_builders(register: RegisterBuilder) -> None:
    """Contribute image builders to ``deploy-aws-lambda --builder``: ``register(name, factory)``."""
