"""Start-up hook: make the unmodified host CLI load plugins.

Python runs :func:`start` at every interpreter start-up in the environment: through
``iaf_aws_plugin.start`` (PEP 829, Python 3.15 and later, which then skip the ``import`` line
of the matching ``.pth``) or through the ``import`` line of ``iaf_aws_plugin.pth`` (older
Pythons). Unless ``IAF_AWS_PLUGIN_AUTOLOAD=0``, it only puts a tiny finder first on
``sys.meta_path``; the finder acts on exactly one module, the host's
CLI (``investing_algorithm_framework.cli.cli``): it lets the host's own loader execute it,
then hands the module to :func:`iaf_aws_plugin.host_bridge.attach_to_host_module`. Nothing
else is imported at start-up, nothing here may raise, and the host's files are untouched.
"""
import os
import sys

# Annotations are strings and typing is never imported: this module runs at every start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover - typing only
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from importlib.abc import Loader
    from types import ModuleType

_TARGET = "investing_algorithm_framework.cli.cli"


class _AttachingLoader:  # a Loader in all but base class (importing importlib.abc costs start-up time)
    """Delegates to the host module's real loader, then attaches plugins to its group."""

    def __init__(self, loader: "Loader") -> None:
        self._loader = loader

    def create_module(self, spec: "ModuleSpec") -> "ModuleType | None":
        return self._loader.create_module(spec)

    def exec_module(self, module: "ModuleType") -> None:
        self._loader.exec_module(module)
        try:
            from iaf_aws_plugin.host_bridge import attach_to_host_module

            attach_to_host_module(module)
        except Exception as exc:  # never break the host
            print(f"Warning: iaf-aws-plugin could not attach to the host CLI: {exc}", file=sys.stderr)

    def __getattr__(self, name: str) -> object:
        return getattr(self._loader, name)


class HostCLIFinder:
    """Meta path finder that wraps the loader of the host's CLI module, and nothing else."""

    def find_spec(self, fullname: str, path: "Sequence[str] | None" = None,
                  target: "ModuleType | None" = None) -> "ModuleSpec | None":
        if fullname != _TARGET:
            return None
        try:
            from importlib.machinery import PathFinder

            spec = PathFinder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _AttachingLoader(spec.loader)  # type: ignore[assignment]
            return spec
        except Exception:
            return None


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(type(finder).__name__ == "HostCLIFinder" for finder in sys.meta_path):
        sys.meta_path.insert(0, HostCLIFinder())


def start() -> None:
    """The start-up entry point: install the finder unless ``IAF_AWS_PLUGIN_AUTOLOAD`` is off.
    Never raises; running it twice installs one finder."""
    try:
        if os.environ.get("IAF_AWS_PLUGIN_AUTOLOAD", "1").strip().lower() not in ("0", "false", "no", "off"):
            install()
    except Exception:  # pragma: no cover - start-up must never fail
        pass
