"""The host bridge: puts the plugins' commands and app types into the host's click group.

The host (investing-algorithm-framework) has no plugin mechanism of its own. The start-up
hook (``_autoload``) or ``python -m iaf_aws_plugin`` calls :func:`attach`; the plugins then
load the first time the group looks up a command.
"""
from __future__ import annotations

import copy
import os
from typing import TYPE_CHECKING, Any

from .plugin_manager import AppType, call_each, collect_app_types, get_plugin_manager, normalize_app_type

if TYPE_CHECKING:  # pragma: no cover - typing only
    from types import ModuleType

    import click
    import pluggy

__all__ = ["HOST_CLI_MODULE", "attach", "attach_to_host_module", "extend_init", "host_cli", "install_plugins"]

HOST_CLI_MODULE = "investing_algorithm_framework.cli.cli"
_LOADED_FLAG = "_iaf_plugins_loaded"


class _PluginLoadingGroup:
    """Mixed into the host's group class: plugins load the first time commands are listed."""

    def _iaf_load_plugins(self) -> None:
        if self.__dict__.get(_LOADED_FLAG):
            return
        self.__dict__[_LOADED_FLAG] = True
        install_plugins(self)  # type: ignore[arg-type]

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._iaf_load_plugins()
        return super().list_commands(ctx)  # type: ignore[misc,no-any-return]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._iaf_load_plugins()
        return super().get_command(ctx, cmd_name)  # type: ignore[misc,no-any-return]


def attach(cli: click.Group) -> click.Group:
    """Make ``cli`` load plugins lazily, on first use. Idempotent."""
    cls = type(cli)
    if not issubclass(cls, _PluginLoadingGroup):
        cli.__class__ = type(cls.__name__, (_PluginLoadingGroup, cls), {})
    return cli


def host_loads_plugins(module: ModuleType) -> bool:
    """True when the host grew its own plugin loading: then we must not register again."""
    return any(hasattr(module, name) for name in ("get_plugin_manager", "pm", "plugin_manager"))


def attach_to_host_module(module: ModuleType) -> None:
    """Called by the start-up hook right after the host's CLI module has executed."""
    import click

    cli = getattr(module, "cli", None)
    if isinstance(cli, click.Group) and not host_loads_plugins(module):
        attach(cli)


def host_cli() -> click.Group:
    """The host's CLI group, with plugins attached (used by ``python -m iaf_aws_plugin``)."""
    import importlib

    module = importlib.import_module(HOST_CLI_MODULE)
    cli: click.Group = module.cli
    return cli if host_loads_plugins(module) else attach(cli)


def install_plugins(cli: click.Group, pm: pluggy.PluginManager | None = None) -> None:
    """Let every plugin add its commands and ``init`` app types to ``cli``."""
    pm = get_plugin_manager() if pm is None else pm
    call_each(pm, "register_commands", cli=cli)
    app_types = collect_app_types(pm)
    if app_types and "init" in cli.commands:
        cli.add_command(extend_init(cli.commands["init"], app_types))


def _host_app_types() -> list[str]:
    try:
        from investing_algorithm_framework.cli.initialize_app import AppType as HostAppType
    except Exception:
        return []
    return [member.value.lower() for member in HostAppType]


def extend_init(init: click.Command, app_types: dict[str, AppType]) -> click.Command:
    """Wrap the host's ``init`` so that ``--type`` also accepts plugin app types.

    Host types keep going to the host's own code, unchanged; an unknown type is a one-line
    usage error instead of the host's ``ValueError`` traceback.
    """
    import click

    class _UsageError(click.ClickException):
        exit_code = 2  # a usage error, said in one line

    original = getattr(init, "_iaf_original", None)
    if isinstance(original, click.Command):
        init = original
    original_callback = init.callback
    plugin_names = sorted({t.name for t in app_types.values()})

    def callback(**kwargs: Any) -> Any:
        ctx = click.get_current_context()
        requested = kwargs.get("type") or "default"
        app_type = app_types.get(normalize_app_type(requested))
        if app_type is not None:
            from .errors import PluginError

            try:
                return app_type.scaffold(path=kwargs.get("path"), replace=bool(kwargs.get("replace")))
            except PluginError as exc:
                raise click.ClickException(str(exc)) from None
        host_types = _host_app_types()
        normalized = normalize_app_type(requested)
        if host_types and normalized not in host_types:
            choices = ", ".join(sorted(set(host_types) - set(app_types)) + plugin_names)
            raise _UsageError(f"unknown app type {requested!r} for init --type; choose one of: {choices}.")
        kwargs["type"] = normalized if host_types else requested
        path = kwargs.get("path")
        if path and not os.path.exists(path):
            # The host silently does nothing for a folder that does not exist yet.
            os.makedirs(path)
        if original_callback is None:  # pragma: no cover - the host's init always has one
            return None
        return ctx.invoke(original_callback, **kwargs)

    params = []
    for param in init.params:
        if param.name == "type":
            param = copy.copy(param)
            host_help = ", ".join(t for t in _host_app_types() if t not in app_types) or "default"
            param.help = f"Type of app to create: {host_help}, or from plugins: {', '.join(plugin_names)}."
        params.append(param)
    wrapped = click.Command(
        name=init.name,
        callback=callback,
        params=params,
        help=init.help,
        short_help=init.short_help,
        epilog=init.epilog,
        context_settings=init.context_settings,
    )
    wrapped._iaf_original = init  # type: ignore[attr-defined]
    return wrapped
