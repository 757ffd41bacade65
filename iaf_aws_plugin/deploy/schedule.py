"""Moved to :mod:`iaf_aws_plugin.schedules.expressions`; this name is kept for old imports."""
from ..schedules.expressions import *  # noqa: F401,F403
from ..schedules.expressions import __all__  # noqa: F401
