"""iaf-aws-plugin: run investing-algorithm-framework trading bots on AWS Lambda.

Importing this package is cheap: it runs in every interpreter start-up of an
environment where the plugin is installed (see ``_autoload``). Public names that
need the host or boto3 are imported on first access.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0.dev0"

__all__ = ["AWSS3StorageStateHandler", "StateLockedError", "__version__"]

_LAZY = {
    "AWSS3StorageStateHandler": "iaf_aws_plugin.state_handler",
    "StateLockedError": "iaf_aws_plugin.state_handler",
    "StateConflictError": "iaf_aws_plugin.state_handler",
}

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .state_handler import AWSS3StorageStateHandler, StateLockedError


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'iaf_aws_plugin' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
