"""Moved: the live state is :class:`~.models.LiveState`, read by each kind of :mod:`.resources`
(:func:`~.planner.read_live_state`). These names are kept for old imports."""
from __future__ import annotations

from .models import FunctionConfig, LiveState, LiveVersions, Role
from .planner import read_live_state
from .resources.function import read_versions

__all__ = ["LiveFunction", "LiveRole", "LiveState", "LiveVersions", "read_live_state", "read_versions"]

# The live twins of the desired models (same types).
LiveFunction = FunctionConfig
LiveRole = Role
