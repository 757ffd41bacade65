"""Moved to :mod:`iaf_aws_plugin.schedules.strategy_scan`; this name is kept for old imports."""
from ..schedules.strategy_scan import *  # noqa: F401,F403
from ..schedules.strategy_scan import __all__  # noqa: F401
