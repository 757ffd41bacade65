"""The keep-active schedule: a weekly invocation of a bot whose schedule leaves more than 7 days
between two runs (a monthly bot, ``cron(0 9 1 * ? *)``).

Lambda's documentation: "A function becomes inactive when it has been idle long enough for Lambda
to reclaim the external resources that were configured for it. When you try to invoke a function
that is inactive, the invocation fails and Lambda sets the function to pending state until the
function resources are recreated." A container-image function left alone for weeks is one; the
first scheduled run after that would fail. The keep-active schedule invokes the ``live`` alias
weekly with an event whose ``source`` is
:data:`~iaf_aws_plugin.function_env.KEEP_ACTIVE_EVENT_SOURCE`; the scaffolded handler's first call,
:func:`~iaf_aws_plugin.schedule_gate.not_due`, answers it before the trading state is loaded, so
nothing is traded and the state bucket is not touched.

It fires in the schedule's time zone at a time no run of a cron schedule is near (so it never
meets one under the reserved concurrency of 1; a rate has no fixed times: a ping that meets a run
is throttled and retried), retries like the schedule and parks an undeliverable ping in
the dead-letter queue (an alarm with ``--alert-email``: the function could not be invoked).
``pause-aws-lambda`` disables it with the schedule. Without a long gap (and on destroy) it is removed.
A handler that does not call ``not_due`` (or none in the project folder) might trade on the ping:
then there is no keep-active schedule, and the plan says so. So might an image this deploy did not
build (``--image-uri``: its plugin and handler are unknown) or one built by a release before the
ping (``not_due`` then ran a full iteration): only a version the deploy marks with
:data:`~iaf_aws_plugin.function_env.KEEP_ACTIVE_ENV` (built here, handler calling ``not_due``) gets
pings; ``rollback-aws-lambda`` to a version without the mark deletes the schedule (the next deploy
creates it again).
"""
from __future__ import annotations

import ast
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...function_env import KEEP_ACTIVE_EVENT_SOURCE
from ...schedules.nextrun import next_run
from ...schedules.pause import paused_since
from ..models import (CREATE, DELETE, SCHEDULE_MAX_EVENT_AGE, SCHEDULE_RETRY_ATTEMPTS, UNCHANGED, UPDATE,
                      ActionGroup, Call, DesiredState, LiveState, PlanContext, Schedule, Spec, Step)
from ..names import ALIAS, SCHEDULE_GROUP, Names
from .schedule import schedule_changes

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..awsclient import AWSClient

__all__ = ["DESCRIPTION", "KEEP_ACTIVE_DAYS", "RESOURCE", "actions", "answers_keep_active", "desired",
           "desired_keep_active", "keep_active_expression", "longest_gap_days", "marks_keep_active", "plan", "read"]

RESOURCE = "Keep-active schedule"
#: A schedule whose runs are further apart than this gets the weekly ping.
KEEP_ACTIVE_DAYS = 7
DESCRIPTION = ("Keeps the function from going Inactive: a weekly invocation that loads no state and trades "
               "nothing (managed by deploy-aws-lambda).")
#: The ping's time: minute 37 (no strategy's candle closes then) of one of these hours and days, the
#: first that keeps clear of every trading run (a run may last the function timeout).
_MINUTE = 37
_CANDIDATES = tuple((day, hour) for day in ("WED", "SAT", "MON", "THU", "SUN", "TUE", "FRI")
                    for hour in (3, 15, 9, 21))
_CLEAR_AFTER_PING = timedelta(minutes=10)  # a cold start answering the ping, with room to spare
_HORIZON = timedelta(days=400)  # more than a year: yearly crons show their gap


def longest_gap_days(expression: str, zone: str, now: datetime | None = None) -> float | None:
    """The longest time between two runs of ``expression``, in days; None when not computable
    (or when it runs at most once more). Crons are measured over the next 400 days by the days
    they fire on: two runs on days 8 days apart are more than 7 days apart, 7 days apart at most 7."""
    from ...schedules.expressions import schedule_period_seconds

    text = " ".join(expression.split())
    if text.startswith("rate("):
        period = schedule_period_seconds(text)
        return None if period is None else period / 86400
    fields = text[len("cron("):-1].split() if text.startswith("cron(") and text.endswith(")") else []
    if len(fields) == 6 and fields[2] in ("*", "?") and fields[4] in ("*", "?") and fields[3] == fields[5] == "*":
        return 1.0  # every day: at most a day between two runs
    return _cron_gap_days(text, zone, (now or datetime.now(timezone.utc)).replace(second=0, microsecond=0))


def _cron_gap_days(text: str, zone: str, start: datetime) -> float | None:
    when = next_run(text, zone, start)
    days = []
    while when is not None and when - start < _HORIZON:
        days.append(when.date())
        when = next_run(text, zone, when.replace(hour=23, minute=59, second=59, microsecond=0))
    if len(days) < 2:
        return None if not days else float(_HORIZON.days)  # at most once in 400 days
    return float(max((b - a).days for a, b in zip(days, days[1:])))


def keep_active_expression(expression: str, zone: str, timeout: int, now: datetime | None = None) -> str:
    """A weekly cron (in the schedule's zone) that keeps clear of every trading run of the next 400
    days: no run starts within ``timeout`` + 2 minutes before a ping or 10 minutes after it."""
    start = now or datetime.now(timezone.utc)
    before = timedelta(seconds=timeout + 120)
    if " ".join(expression.split()).startswith("rate("):
        # A rate counts from the schedule's creation: no fixed time to keep clear of (and the
        # answer must not change from one deploy to the next). A ping that meets a run is
        # throttled and retried by Scheduler.
        return f"cron({_MINUTE} {_CANDIDATES[0][1]} ? * {_CANDIDATES[0][0]} *)"
    for day, hour in _CANDIDATES:
        candidate = f"cron({_MINUTE} {hour} ? * {day} *)"
        ping = next_run(candidate, zone, start)
        clear = True
        while clear and ping is not None and ping - start < _HORIZON:
            run = next_run(expression, zone, ping - before, start=start)
            clear = run is None or run >= ping + _CLEAR_AFTER_PING
            ping = next_run(candidate, zone, ping)
        if clear:
            return candidate
    return f"cron({_MINUTE} {_CANDIDATES[0][1]} ? * {_CANDIDATES[0][0]} *)"


def answers_keep_active(handler: Path) -> bool:
    """Whether ``aws_function.py`` asks :func:`~iaf_aws_plugin.schedule_gate.not_due` (which answers
    the keep-active ping without trading), read with ast, without running it. A missing or
    unreadable file: False (an unknown handler might trade on the ping)."""
    try:
        tree = ast.parse(handler.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return False
    return any(isinstance(node, ast.Call) and (getattr(node.func, "id", None) == "not_due"
                                               or getattr(node.func, "attr", None) == "not_due")
               for node in ast.walk(tree))


def marks_keep_active(spec: Spec) -> bool:
    """Whether the version this deploy publishes answers the ping: its image is built here (not
    ``--image-uri``; an unchanged build found in ECR by its digest counts) from a handler that calls
    ``not_due``. Such a version carries :data:`~iaf_aws_plugin.function_env.KEEP_ACTIVE_ENV`."""
    return spec.answers_keep_active and (spec.builds or spec.builder is not None)


def ping_input(names: Names) -> dict[str, Any]:
    return {"source": KEEP_ACTIVE_EVENT_SOURCE, "schedule": names.keep_active_schedule}


def desired_keep_active(spec: Spec, now: datetime | None = None) -> Schedule | None:
    if not spec.schedule or not marks_keep_active(spec) or spec.destroy:
        return None
    gap = longest_gap_days(spec.schedule, spec.timezone, now)
    if gap is None or gap <= KEEP_ACTIVE_DAYS:
        return None
    names = spec.names
    return Schedule(name=names.keep_active_schedule, group=SCHEDULE_GROUP,
                    expression=keep_active_expression(spec.schedule, spec.timezone, spec.timeout, now),
                    timezone=spec.timezone, target_arn=names.alias_arn, role_arn=names.scheduler_role_arn,
                    enabled=True, retries=SCHEDULE_RETRY_ATTEMPTS, max_event_age=SCHEDULE_MAX_EVENT_AGE,
                    input=ping_input(names), dead_letter_arn=names.dead_letter_arn, description=DESCRIPTION)


def desired(spec: Spec) -> dict[str, Any]:
    return {"keep_active": desired_keep_active(spec)}


def read(client: AWSClient, spec: Spec, live: LiveState) -> dict[str, Any]:
    return {"keep_active": client.schedule(spec.names.keep_active_schedule, SCHEDULE_GROUP)}


def _paused(live: LiveState) -> str | None:
    """The pause marker of the bot, or None. The trading schedule's decides (pause-aws-lambda writes
    it on both schedules): a ping left disabled by an interrupted resume is enabled again."""
    found = live.schedule
    return found.description if found is not None and paused_since(found.description, found.enabled) else None


def plan(want_state: DesiredState | None, live: LiveState, ctx: PlanContext) -> list[Step]:
    names = ctx.names
    want, have = (None if want_state is None else want_state.keep_active), live.keep_active
    schedule = None if want_state is None else want_state.schedule
    if want is None:
        unsafe = False  # wanted, but the image might trade on a ping
        if want_state is not None and schedule is not None and schedule.expression:
            gap = longest_gap_days(schedule.expression, schedule.timezone)
            unsafe = gap is not None and gap > KEEP_ACTIVE_DAYS
            if unsafe and want_state.function.image_uri:
                ctx.notes.append(
                    f"{schedule.expression} leaves up to {gap:.0f} days between runs, and Lambda makes a function "
                    "Inactive after weeks without invocations (its next run then fails), but the image is prebuilt "
                    "(--image-uri): whether its handler answers a keep-active ping without trading is unknown, so "
                    "no keep-active schedule. Deploy from the project folder (without --image-uri) to get one.")
            elif unsafe:
                ctx.notes.append(
                    f"{schedule.expression} leaves up to {gap:.0f} days between runs, and Lambda makes a function "
                    "Inactive after weeks without invocations (its next run then fails), but the project's "
                    "aws_function.py does not call iaf_aws_plugin.schedule_gate.not_due, so a keep-active ping could "
                    "trade: no keep-active schedule. Call not_due(app, event) first in lambda_handler, as the template "
                    "does (init-aws-lambda), and deploy again.")
        if have is None:
            return []
        reason = () if want_state is None else (
            ("no schedule",) if schedule is None else
            ("its image might trade on a ping (see the note)",) if unsafe else ("the schedule runs at least weekly",))
        return [Step(RESOURCE, have.name, DELETE, reason,
                     (Call("delete_schedule", {"name": have.name, "group": have.group}),))]
    marker = _paused(live)
    if marker:  # pause-aws-lambda's: the deploy never starts a paused bot's pings either
        want = replace(want, enabled=False, description=marker)
    target = f"{names.function}:{ALIAS}"
    changes = schedule_changes(want, have, target) if have is not None else []
    if have is not None and not changes:
        return [Step(RESOURCE, want.name, UNCHANGED, (f"{want.expression} {want.timezone}",))]
    gap = longest_gap_days(str(schedule.expression), want.timezone) if schedule is not None else None
    why = (f"weekly {want.expression} {want.timezone} -> {target}: the schedule leaves up to {gap:.0f} days "
           "between runs and Lambda makes a function Inactive after weeks without invocations; the ping loads "
           "no state and trades nothing (cost: 'Keep-active pings' below)") if gap is not None else \
        f"weekly {want.expression} {want.timezone} -> {target}"
    return [Step(RESOURCE, want.name, CREATE if have is None else UPDATE, tuple(changes) or (why,),
                 (Call("put_schedule", {"schedule": want, "exists": have is not None}),))]


def actions(spec: Spec) -> list[ActionGroup]:
    """Read always; write when these settings want a ping; delete (one no longer wanted) otherwise."""
    schedule = spec.names.arn("scheduler", f"schedule/{SCHEDULE_GROUP}/{spec.names.keep_active_schedule}")
    gap = longest_gap_days(spec.schedule, spec.timezone) if spec.schedule and not spec.destroy else None
    if gap is not None and gap > KEEP_ACTIVE_DAYS:
        return [ActionGroup(schedule, ("scheduler:GetSchedule", "scheduler:CreateSchedule", "scheduler:UpdateSchedule",
                                       "scheduler:DeleteSchedule"))]
    return [ActionGroup(schedule, ("scheduler:GetSchedule", "scheduler:DeleteSchedule"))]
