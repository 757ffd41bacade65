"""The plugin manager: our built-in hook implementations plus the plugins other packages
register through the ``investing_algorithm_framework`` entry point group.

Loaded once and lazily. A plugin that fails to import, has an invalid hook or raises in one
costs one warning line on stderr, never the CLI.

Environment:
    IAF_LOAD_PLUGINS  comma-separated entry point names of the third-party plugins to load;
                      set but empty, none loads. The built-in plugins always load.
"""
from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .hookspecs import PROJECT_NAME, Scaffold

if TYPE_CHECKING:  # pragma: no cover - typing only
    from importlib.metadata import EntryPoint

    import pluggy

    from .builders import Builder

__all__ = [
    "AppType",
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "LOAD_PLUGINS_ENV",
    "OWN_ENTRY_POINT",
    "call_each",
    "collect_app_types",
    "collect_builders",
    "get_plugin_manager",
    "new_plugin_manager",
    "normalize_app_type",
    "warn",
]

ENTRY_POINT_GROUP = PROJECT_NAME
LOAD_PLUGINS_ENV = "IAF_LOAD_PLUGINS"
#: Our own hook implementations: registered directly, first, whatever entry points exist. The wheel
#: also declares them as the entry point :data:`OWN_ENTRY_POINT` of the group (for hosts that load
#: the group themselves); here that entry point finds the module registered and is skipped.
BUILTIN_PLUGINS = ("iaf_aws_plugin.plugin",)
OWN_ENTRY_POINT = "iaf_aws_plugin"


def warn(message: str) -> None:
    """Print one warning line on stderr."""
    print(f"Warning: {message}", file=sys.stderr)


def normalize_app_type(value: str) -> str:
    """``AWS-Lambda`` and ``aws_lambda`` name the same type."""
    return value.strip().lower().replace("-", "_")


@dataclass(frozen=True)
class AppType:
    """An ``init --type`` contributed by a plugin."""

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


def _entry_points() -> list[EntryPoint]:
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
        if pm.is_registered(plugin):  # e.g. an entry point naming a built-in module
            plugin = None
            return
        pm.register(plugin, name=name)
        pm.check_pending()
    except Exception as exc:  # a third-party plugin must never kill the CLI
        if plugin is not None and pm.is_registered(plugin):
            pm.unregister(plugin)
        kind = "has an invalid hook" if isinstance(exc, pluggy.PluginValidationError) else "failed to load"
        warn(f"plugin '{name}' {kind} and was skipped: {type(exc).__name__}: {exc}")


def new_plugin_manager(entry_points: Iterable[EntryPoint] | None = None) -> pluggy.PluginManager:
    """A plugin manager with the hook specifications, the built-in plugins and the allowed
    entry point plugins (``entry_points`` replaces the installed ones, for tests)."""
    import importlib

    import pluggy

    from . import hookspecs

    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for module in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(module), name=module)
    allowed = _allowed_plugins()
    for ep in _entry_points() if entry_points is None else entry_points:
        if allowed is not None and ep.name not in allowed:
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
    """Call every implementation of a hook in registration order, isolating failures: a raising
    plugin warns and the others still run."""
    caller = getattr(pm.hook, hook_name)
    results = []
    for impl in caller.get_hookimpls():  # registration order (pluggy itself calls the last one first)
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
    """Every app type the plugins contribute, keyed by each normalized name and alias
    (the first registration of a name wins)."""
    app_types: dict[str, AppType] = {}

    def register(name: str, scaffold: Scaffold, aliases: Iterable[str] = (), help: str = "") -> None:
        app_type = AppType(name, scaffold, tuple(aliases), help)
        for key in app_type.names():
            app_types.setdefault(key, app_type)

    call_each(pm, "register_app_types", register=register)
    return app_types


def collect_builders(pm: pluggy.PluginManager) -> dict[str, Callable[[], Builder]]:
    """Image builder factories contributed by plugins, by name (the first registration wins).
    This is the one builder registry: ``deploy-aws-lambda --builder`` looks names up here."""
    builders: dict[str, Callable[[], Builder]] = {}

    def register(name: str, factory: Callable[[], Builder]) -> None:
        builders.setdefault(name, factory)

    call_each(pm, "register_builders", register=register)
    return builders
