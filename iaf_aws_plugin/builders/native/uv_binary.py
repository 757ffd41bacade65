"""Where uv is, if anywhere: used by the resolver (uv_resolve.py) and the installer (install.py)."""
from __future__ import annotations

import os
import shutil


def find_uv() -> str | None:
    """uv's binary: from the ``uv`` package (``pip install iaf-aws-plugin[fast]``), else on PATH;
    ``IAF_AWS_NO_UV=1`` makes the builder use pip."""
    if os.environ.get("IAF_AWS_NO_UV"):
        return None
    try:
        import uv  # type: ignore[import-not-found,unused-ignore]

        found = str(uv.find_uv_bin())
        if os.access(found, os.X_OK):
            return found
    except (ImportError, OSError, AttributeError):
        pass
    return shutil.which("uv")
