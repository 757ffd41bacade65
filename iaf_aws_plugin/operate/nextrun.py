"""Moved to :mod:`iaf_aws_plugin.schedules.nextrun`; this name is kept for old imports."""
from ..schedules.nextrun import *  # noqa: F401,F403
from ..schedules.nextrun import __all__  # noqa: F401
