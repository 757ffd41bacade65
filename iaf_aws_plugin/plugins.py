"""The host bridge: one plugin manager, and the glue that puts plugins into the host's CLI.

The host (investing-algorithm-framework) has no plugin mechanism of its own. Plugins are
found through the ``investing_algorithm_framework`` entry point group, loaded once and
lazily, and a plugin that fails to load or misbehaves costs one warning line on stderr,
never the CLI.

Environment:
    IAF_LOAD_PLUGINS  comma-separated entry point names of the third-party plugins to load;
                      set but empty, no third-party plugin loads. iaf-aws-plugin's own
                      entry point (``aws``) always loads.
"""
from __future__ import annotations

import copy
import functools
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol

from .hookspecs import PROJECT_NAME

if TYPE_CHECKING:  # pragma: no cover - typing only
    import click
    import pluggy

ENTRY_POINT_GROUP = PROJECT_NAME
OWN_PLUGIN_NAME = "aws"
LOAD_PLUGINS_ENV = "IAF_LOAD_PLUGINS"
HOST_CLI_MODULE = "investing_algorithm_framework.cli.cli"

Scaffold = Callable[..., Any]


class RegisterAppType(Protocol):
    def __call__(
        self, name: str, scaffold: Scaffold, aliases: Iterable[str] = (), help: str = ""
    ) -> None: ...


class RegisterBuilder(Protocol):
    def __call__(self, name: str, factory: Callable[[], Any]) -> None: ...


def warn(message: str) -> None:
    """Print one warning line on stderr."""
    print(f"Warning: {message}", file=sys.stderr)


def normalize_app_type(value: str) -> str:
    """``AWS-Lambda`` and ``aws_lambda`` name the same type."""
    return value.strip().lower().replace("-", "_")


@dataclass(frozen=True)
class AppType:
    name: str
    scaffold: Scaffold
    aliases: tuple[str, ...] = ()
    help: str = ""

    def names(self) -> set[str]:
        return {normalize_app_type(n) for n in (self.name, *self.aliases)}


def _allowed_plugins() -> set[str] | None:
    value = os.environ.get(LOAD_PLUGINS_ENV)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def _entry_points() -> list[Any]:
    from importlib.metadata import entry_points

    seen: set[str] = set()
    unique = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        # The same distribution can be visible twice (e.g. a wheel and a source
        # checkout on sys.path): register each name once.
        if ep.name not in seen:
            seen.add(ep.name)
            unique.append(ep)
    return unique


def _register_checked(pm: pluggy.PluginManager, name: str, load: Callable[[], object]) -> None:
    """Load and register one plugin; on any failure warn, unregister and go on."""
    import pluggy

    plugin = None
    try:
        plugin = load()
        pm.register(plugin, name=name)
        pm.check_pending()
    except Exception as exc:  # a third-party plugin must never kill the CLI
        if plugin is not None and pm.is_registered(plugin):
            pm.unregister(plugin)
        kind = "has an invalid hook" if isinstance(exc, pluggy.PluginValidationError) else "failed to load"
        warn(f"plugin '{name}' {kind} and was skipped: {type(exc).__name__}: {exc}")


def new_plugin_manager(entry_points: Iterable[Any] | None = None) -> pluggy.PluginManager:
    """A plugin manager with our hook specifications and the allowed entry point plugins."""
    import pluggy

    from . import hookspecs

    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    allowed = _allowed_plugins()
    for ep in _entry_points() if entry_points is None else entry_points:
        if ep.name != OWN_PLUGIN_NAME and allowed is not None and ep.name not in allowed:
            continue
        if pm.has_plugin(ep.name) or pm.is_blocked(ep.name):
            continue
        _register_checked(pm, ep.name, ep.load)
    return pm


@functools.lru_cache(maxsize=1)
def get_plugin_manager() -> pluggy.PluginManager:
    """The process's plugin manager: entry points are read once, on first use."""
    return new_plugin_manager()


def call_each(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> list[Any]:
    """Call every implementation of a hook, isolating failures: a raising plugin warns."""
    caller = getattr(pm.hook, hook_name)
    results = []
    for impl in reversed(caller.get_hookimpls()):  # registration order
        try:
            result = impl.function(*[kwargs[name] for name in impl.argnames])
        except Exception as exc:
            warn(f"plugin '{impl.plugin_name}' failed in {hook_name} and was skipped: "
                 f"{type(exc).__name__}: {exc}")
            continue
        if result is not None:
            results.append(result)
    return results


def collect_app_types(pm: pluggy.PluginManager) -> dict[str, AppType]:
    """Every app type the plugins contribute, keyed by each normalized name and alias."""
    app_types: dict[str, AppType] = {}

    def register(name: str, scaffold: Scaffold, aliases: Iterable[str] = (), help: str = "") -> None:
        app_type = AppType(name, scaffold, tuple(aliases), help)
        for key in app_type.names():
            app_types.setdefault(key, app_type)  # first registration wins

    call_each(pm, "register_app_types", register=register)
    return app_types


def collect_builders(pm: pluggy.PluginManager) -> dict[str, Callable[[], Any]]:
    """Image builder factories contributed by plugins, by name (first registration wins)."""
    builders: dict[str, Callable[[], Any]] = {}

    def register(name: str, factory: Callable[[], Any]) -> None:
        builders.setdefault(name, factory)

    call_each(pm, "register_builders", register=register)
    return builders


# --- attaching to the host's click group -------------------------------------------------

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
        return super().list_commands(ctx)  # type: ignore[misc]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._iaf_load_plugins()
        return super().get_command(ctx, cmd_name)  # type: ignore[misc]


def attach(cli: click.Group) -> click.Group:
    """Make ``cli`` load plugins lazily, on first use. Idempotent."""
    cls = type(cli)
    if not issubclass(cls, _PluginLoadingGroup):
        cli.__class__ = type(cls.__name__, (_PluginLoadingGroup, cls), {})
    return cli


def host_loads_plugins(module: Any) -> bool:
    """True when the host grew its own plugin loading: then we must not register again."""
    return any(hasattr(module, name) for name in ("get_plugin_manager", "pm", "plugin_manager"))


def attach_to_host_module(module: Any) -> None:
    """Called by the start-up hook right after the host's CLI module has executed."""
    import click

    cli = getattr(module, "cli", None)
    if isinstance(cli, click.Group) and not host_loads_plugins(module):
        attach(cli)


def host_cli() -> click.Group:
    """The host's CLI group, with plugins attached (used by ``python -m iaf_aws_plugin``)."""
    import importlib

    module = importlib.import_module(HOST_CLI_MODULE)
    cli = module.cli
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

    if getattr(init, "_iaf_original", None) is not None:
        init = init._iaf_original  # type: ignore[attr-defined]
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
            error = click.ClickException(f"unknown app type {requested!r} for init --type; choose one of: {choices}.")
            error.exit_code = 2  # a usage error, said in one line
            raise error
        kwargs["type"] = normalized if host_types else requested
        path = kwargs.get("path")
        if path and not os.path.exists(path):
            # The host silently does nothing for a folder that does not exist yet.
            os.makedirs(path)
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
