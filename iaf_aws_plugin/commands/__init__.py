"""Thin click commands: parse, call the library, print."""
from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(fn: F) -> F:
    """Turn an expected failure (:class:`~iaf_aws_plugin.errors.PluginError`) into one line and exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import click

        from ..errors import PluginError

        try:
            return fn(*args, **kwargs)
        except PluginError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]
