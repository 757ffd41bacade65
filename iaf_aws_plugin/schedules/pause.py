"""The pause marker: a paused bot's schedule is DISABLED and its Description says since when.

Kept in AWS (not in the settings file), so that ``pause-aws-lambda`` from any machine is seen by a
deploy, ``status`` and ``invoke`` everywhere, and a redeploy keeps the bot paused.
"""
from __future__ import annotations

import re
from datetime import datetime

PAUSED_PREFIX = "PAUSED since "
_PAUSED = re.compile(r"^PAUSED since (?P<since>\S+)")


def paused_description(since: datetime) -> str:
    return (f"{PAUSED_PREFIX}{since.strftime('%Y-%m-%dT%H:%M:%SZ')} by pause-aws-lambda "
            "(resume-aws-lambda enables it; deploys keep it paused).")


def paused_since(description: str | None, enabled: bool) -> str | None:
    """The UTC time the bot was paused, or None when it is not paused (a DISABLED schedule without the
    marker was disabled by someone else: reported as DISABLED, enabled again by a deploy)."""
    if enabled:
        return None
    match = _PAUSED.match(description or "")
    return match["since"] if match else None
