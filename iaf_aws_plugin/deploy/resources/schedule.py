"""The EventBridge Scheduler schedule that invokes the ``live`` alias (its role is in :mod:`.roles`).
Without a schedule in the settings, an existing one is removed."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ...function_env import SCHEDULE_EVENT_SOURCE, SCHEDULED_TIME_FIELD
from ...schedules.nextrun import schedule_gap_seconds
from ...schedules.pause import paused_since
from ..models import (CREATE, DELETE, SCHEDULE_MAX_EVENT_AGE, SCHEDULE_RETRY_ATTEMPTS, UNCHANGED, UPDATE,
                      ActionGroup, Call, DesiredState, LiveState, PlanContext, Schedule, Spec, Step)
from ..names import ALIAS, SCHEDULE_GROUP, Names

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..awsclient import AWSClient

RESOURCE = "Schedule"


def schedule_input(names: Names) -> dict[str, Any]:
    """The event each run gets: the run knows the minute it was scheduled for, also when it starts late."""
    return {"source": SCHEDULE_EVENT_SOURCE, "schedule": names.schedule,
            SCHEDULED_TIME_FIELD: "<aws.scheduler.scheduled-time>"}


def max_event_age(expression: str, zone: str) -> int:
    """How long Scheduler keeps retrying a delivery: within the schedule's period (so a late run
    never meets the next one), at most an hour, at least Scheduler's minimum of 60 seconds."""
    gap = schedule_gap_seconds(expression, zone)
    return max(60, min(SCHEDULE_MAX_EVENT_AGE, gap if gap else SCHEDULE_MAX_EVENT_AGE))


def desired_schedule(spec: Spec) -> Schedule | None:
    names = spec.names
    if not spec.schedule:
        return None
    # spec.paused (deploy --rename, before the old bot's state is carried over): created DISABLED with the
    # pause marker, never enabled first; resume-aws-lambda starts it, later deploys keep it paused.
    return Schedule(name=names.schedule, group=SCHEDULE_GROUP, expression=spec.schedule, timezone=spec.timezone,
                    target_arn=names.alias_arn, role_arn=names.scheduler_role_arn, enabled=spec.paused is None,
                    retries=SCHEDULE_RETRY_ATTEMPTS, max_event_age=max_event_age(spec.schedule, spec.timezone),
                    input=schedule_input(names), dead_letter_arn=names.dead_letter_arn,
                    description=spec.paused or "Runs one trading iteration (managed by deploy-aws-lambda).")


def desired(spec: Spec) -> dict[str, Any]:
    return {"schedule": desired_schedule(spec)}


def read(client: AWSClient, spec: Spec, live: LiveState) -> dict[str, Any]:
    return {"schedule": client.schedule(spec.names.schedule, SCHEDULE_GROUP)}


def schedule_changes(want: Schedule, have: Schedule, target: str) -> list[str]:
    changes = []
    if have.expression != want.expression:
        changes.append(f"{have.expression} -> {want.expression}")
    if have.timezone != want.timezone:
        changes.append(f"time zone {have.timezone} -> {want.timezone}")
    if have.target_arn != want.target_arn or have.role_arn != want.role_arn:
        changes.append(f"target -> {target}")
    if have.enabled != want.enabled:
        changes.append("enable" if want.enabled else "disable")
    if (have.retries, have.max_event_age) != (want.retries, want.max_event_age):
        changes.append(f"retries {have.retries or 0} -> {want.retries} within {want.max_event_age} s")
    if have.dead_letter_arn != want.dead_letter_arn:
        changes.append("dead-letter queue" if want.dead_letter_arn else "no dead-letter queue")
    return changes


def plan(want_state: DesiredState | None, live: LiveState, ctx: PlanContext) -> list[Step]:
    names = ctx.names
    want, have = (None if want_state is None else want_state.schedule), live.schedule
    if want is None:
        if have is None:
            return [] if want_state is None else [Step(RESOURCE, names.schedule, UNCHANGED, ("none",))]
        return [Step(RESOURCE, have.name, DELETE, (f"was {have.expression}",) if want_state is not None else (),
                     (Call("delete_schedule", {"name": have.name, "group": have.group}),))]
    target = f"{names.function}:{ALIAS}"
    since = paused_since(have.description, have.enabled) if have is not None else None
    if since:  # pause-aws-lambda's: the deploy never starts a paused bot
        want = replace(want, enabled=False, description=have.description if have is not None else "")
        ctx.notes.append(f"the bot is paused since {since}: the deploy keeps its schedule disabled "
                         "(resume-aws-lambda starts it).")
    changes = schedule_changes(want, have, target) if have is not None else []
    if have is not None and not changes:
        return [Step(RESOURCE, want.name, UNCHANGED, (f"{want.expression} {want.timezone}",))]
    created = (f"{want.expression} {want.timezone} -> {target}",) + (() if want.enabled else ("created paused",))
    return [Step(RESOURCE, want.name, CREATE if have is None else UPDATE, tuple(changes) or created,
                 (Call("put_schedule", {"schedule": want, "exists": have is not None}),))]


def actions(spec: Spec) -> list[ActionGroup]:
    schedule = spec.names.arn("scheduler", f"schedule/{SCHEDULE_GROUP}/{spec.names.schedule}")
    if spec.schedule and not spec.destroy:
        return [ActionGroup(schedule, ("scheduler:GetSchedule", "scheduler:CreateSchedule",
                                       "scheduler:UpdateSchedule"))]
    return [ActionGroup(schedule, ("scheduler:GetSchedule", "scheduler:DeleteSchedule"))]
