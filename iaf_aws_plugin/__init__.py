"""iaf-aws-plugin: run investing-algorithm-framework trading bots on AWS Lambda.

Importing this package must stay nearly free: it runs at every interpreter start-up in an
environment where the plugin is installed (see ``_autoload``), so it imports nothing at
all (not even ``typing``). Public names that need the host or boto3 load on first access.
"""

__version__ = "0.1.0.dev0"

__all__ = ["AWSS3StorageStateHandler", "DuplicateRunError", "StateConflictError", "StateLockedError",
           "__version__"]

_LAZY = {
    "AWSS3StorageStateHandler": "iaf_aws_plugin.state.handler",
    "StateLockedError": "iaf_aws_plugin.state.handler",
    "StateConflictError": "iaf_aws_plugin.state.handler",
    "DuplicateRunError": "iaf_aws_plugin.state.handler",
}

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover - typing only
    from .state.handler import AWSS3StorageStateHandler, DuplicateRunError, StateConflictError, StateLockedError


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'iaf_aws_plugin' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
