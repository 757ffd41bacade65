"""Start-up hook: make the unmodified host CLI load plugins.

``iaf_aws_plugin.pth`` (installed next to the packages) imports this module in every
Python process of the environment, unless ``IAF_AWS_PLUGIN_AUTOLOAD=0``. It only puts a
tiny finder first on ``sys.meta_path``; the finder acts on exactly one module, the host's
CLI (``investing_algorithm_framework.cli.cli``): it lets the host's own loader execute it,
then hands the module to :func:`iaf_aws_plugin.plugins.attach_to_host_module`. Nothing
else is imported at start-up, nothing here may raise, and the host's files are untouched.
"""
import sys

_TARGET = "investing_algorithm_framework.cli.cli"


class _AttachingLoader:
    """Delegates to the host module's real loader, then attaches plugins to its group."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        try:
            from iaf_aws_plugin.plugins import attach_to_host_module

            attach_to_host_module(module)
        except Exception as exc:  # never break the host
            print(f"Warning: iaf-aws-plugin could not attach to the host CLI: {exc}", file=sys.stderr)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class HostCLIFinder:
    """Meta path finder that wraps the loader of the host's CLI module, and nothing else."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _TARGET:
            return None
        try:
            from importlib.machinery import PathFinder

            spec = PathFinder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _AttachingLoader(spec.loader)
            return spec
        except Exception:
            return None


def install():
    """Put the finder on ``sys.meta_path`` once."""
    if not any(type(finder).__name__ == "HostCLIFinder" for finder in sys.meta_path):
        sys.meta_path.insert(0, HostCLIFinder())


try:
    install()
except Exception:  # pragma: no cover - start-up must never fail
    pass
