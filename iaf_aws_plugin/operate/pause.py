"""``pause-aws-lambda`` / ``resume-aws-lambda``: disable and enable the bot's schedule (and its
keep-active schedule, when it has one), nothing else.

The saved settings are not touched (the schedule expression stays saved); the pause marker lives in
the schedule's Description (:mod:`iaf_aws_plugin.schedules.pause`), so deploys keep a paused bot
paused and ``status`` shows since when.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

from ..deploy.names import SCHEDULE_GROUP
from ..errors import PluginError
from ..schedules.pause import paused_description, paused_since

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .target import Target

#: The Description a resumed schedule gets (the deploy's own).
RUNNING_DESCRIPTION = "Runs one trading iteration (managed by deploy-aws-lambda)."


def _schedule(target: Target) -> dict[str, Any]:
    found = target.client.describe_schedule(target.names.schedule, SCHEDULE_GROUP)
    if found is None:
        raise PluginError(f"{target.function} has no schedule ({target.names.schedule}): it does not run by "
                          "itself, there is nothing to pause or resume.",
                          fix="deploy-aws-lambda --schedule 'rate(1 hour)' gives it one.")
    return found


def pause_state(target: Target) -> str | None:
    """Since when the bot is paused (UTC, ISO), or None (running, or no schedule)."""
    found = target.client.describe_schedule(target.names.schedule, SCHEDULE_GROUP)
    if found is None:
        return None
    return paused_since(found.get("Description"), found.get("State") == "ENABLED")


def _keep_active(target: Target, enabled: bool, description: str | None = None) -> str:
    """Disable or enable the keep-active schedule too (resources/keep_active.py): a paused bot is not
    invoked at all. Returns what to add to the message ("" when there is none, or nothing changed)."""
    from ..deploy.resources.keep_active import DESCRIPTION

    description = description or DESCRIPTION
    found = target.client.describe_schedule(target.names.keep_active_schedule, SCHEDULE_GROUP)
    if found is None or (found.get("State") == "ENABLED") == enabled:
        return ""
    target.client.set_schedule_state(found, enabled, description)
    return f" Its keep-active schedule {found['Name']} is {'enabled' if enabled else 'disabled'} too."


def pause(target: Target, echo: Callable[[str], None], now: datetime | None = None) -> None:
    found = _schedule(target)
    since = paused_since(found.get("Description"), found.get("State") == "ENABLED")
    when = now or datetime.now(timezone.utc)
    if since:
        also = _keep_active(target, False, str(found.get("Description")))  # an interrupted pause completes
        echo(f"{target.function} is already paused since {since}: nothing changed.{also}")
        return
    # The keep-active ping first: from the trading schedule's pause on, nothing invokes the function.
    also = _keep_active(target, False, paused_description(when))
    target.client.set_schedule_state(found, False, paused_description(when))
    echo(f"Paused {target.function}: schedule {found['Name']} ({found.get('ScheduleExpression')}) is disabled "
         f"since {paused_since(paused_description(when), False)}; no run starts until resume-aws-lambda "
         f"(a run in progress finishes). Deploys keep it paused; the saved settings are unchanged.{also}")


def resume(target: Target, echo: Callable[[str], None]) -> None:
    found = _schedule(target)
    since = paused_since(found.get("Description"), found.get("State") == "ENABLED")
    if found.get("State") == "ENABLED":
        also = _keep_active(target, True)  # an interrupted resume completes
        echo(f"{target.function} is not paused: its schedule {found['Name']} is enabled; nothing changed.{also}")
        return
    target.client.set_schedule_state(found, True, RUNNING_DESCRIPTION)
    also = _keep_active(target, True)
    echo(f"Resumed {target.function}" + (f" (paused since {since})" if since else "")
         + f": schedule {found['Name']} ({found.get('ScheduleExpression')}) is enabled again.{also}")
