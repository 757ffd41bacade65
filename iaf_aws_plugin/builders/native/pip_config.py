"""pip's own settings for ``pip install``: its configuration files and ``PIP_*`` variables, merged
the way pip merges them, so that uv can be told the same index settings and a cached resolution
is keyed by them.

pip's order, each later one overriding (pip's ``configuration.py``): the global files
(``$XDG_CONFIG_DIRS/pip/pip.conf``, then ``/etc/pip.conf``), the user files (``~/.pip/pip.conf``,
then ``$XDG_CONFIG_HOME/pip/pip.conf``; skipped when ``PIP_CONFIG_FILE`` names an existing file),
the environment's ``sys.prefix/pip.conf``, the ``PIP_CONFIG_FILE`` file, then ``PIP_*`` variables.
In every file the ``[install]`` section overrides ``[global]``. ``PIP_CONFIG_FILE=/dev/null`` loads
no file at all."""
from __future__ import annotations

import configparser
import os
import sys
from pathlib import Path
from typing import Mapping

# What uv is told, by pip's name: a setting outside these and HARMLESS keeps pip as the resolver.
LISTS = ("extra-index-url", "find-links", "constraint", "trusted-host")  # pip splits these on whitespace
TOLD = {"index-url", "no-index", "pre", "cert", *LISTS}
# Settings that do not change which wheels a ``--target`` resolution picks (or that the build sets itself).
HARMLESS = {"cache-dir", "no-cache-dir", "disable-pip-version-check", "timeout", "default-timeout", "retries",
            "no-input", "progress-bar", "root-user-action", "no-warn-script-location", "require-virtualenv",
            "break-system-packages", "config-file", "no-color", "quiet", "verbose", "log", "user", "target", "prefix",
            "root", "src", "exists-action", "upgrade", "upgrade-strategy", "ignore-installed", "no-compile", "compile",
            "force-reinstall", "prefer-binary", "only-binary", "python-version", "platform", "implementation", "abi",
            "no-python-version-warning", "isolated"}
_TRUE = {"1", "y", "yes", "t", "true", "on"}


def config_files(environ: Mapping[str, str]) -> list[Path]:
    """pip's configuration files for this environment, lowest precedence first ([] for /dev/null)."""
    explicit = environ.get("PIP_CONFIG_FILE")
    if explicit == os.devnull:
        return []
    home = Path(environ.get("HOME") or Path.home())
    system = [Path(d) / "pip" / "pip.conf" for d in (environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":") if d]
    files = [*system, Path("/etc/pip.conf")]
    if not (explicit and Path(explicit).is_file()):
        files += [home / ".pip" / "pip.conf", Path(environ.get("XDG_CONFIG_HOME") or home / ".config") / "pip" / "pip.conf"]
    files.append(Path(sys.prefix) / "pip.conf")
    if explicit:
        files.append(Path(explicit))
    return files


def pip_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every setting ``pip install`` would use, by pip's option name (``index-url``…), merged."""
    environ = os.environ if environ is None else environ
    merged: dict[str, str] = {}
    for section in ("global", "install"):
        for path in config_files(environ):
            parser = configparser.RawConfigParser()
            try:
                parser.read(path, encoding="utf-8")
            except (OSError, configparser.Error, UnicodeDecodeError):
                continue
            if parser.has_section(section):
                merged.update({_option(key): value for key, value in parser.items(section)})
    for name, value in environ.items():
        if name.startswith("PIP_") and name[4:].lower() not in ("version", "help"):
            merged[_option(name[4:])] = value
    return merged


def unknown_settings(settings: Mapping[str, str]) -> list[str]:
    """The settings uv would not be told (pip then resolves)."""
    return sorted(key for key in settings if key not in TOLD and key not in HARMLESS)


def is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in _TRUE


def values(settings: Mapping[str, str], key: str) -> list[str]:
    """A setting's values (split on whitespace for pip's list settings)."""
    value = settings.get(key, "")
    return value.split() if key in LISTS else ([value.strip()] if value.strip() else [])


def _option(name: str) -> str:
    """pip's normalised option name: lower case, ``_`` as ``-``, no leading dashes."""
    return name.lower().replace("_", "-").lstrip("-")
