"""Inside the Lambda function: skip a scheduled run that none of the bot's schedules is due at.

investing-algorithm-framework 9.x strategies run on a ``Schedule``. ``deploy-aws-lambda``
turns those schedules into an EventBridge cron; where EventBridge has no exact form (say
``DateRule.month_end(2)``, or several strategies at different times) the cron fires at a
superset of the schedules' times, and the scaffolded handler calls :func:`not_due` first:
a run that no schedule is due at returns successfully without loading the trading state.

The host decides, not this module: each schedule's own ``Schedule.is_due`` is asked
whether it fires in the minute the run was scheduled for, ``is_due(minute, minute - 1
minute)`` (EventBridge fires on whole minutes). On 8.x hosts (strategies with
``time_unit``/``interval``, no ``Schedule``) and for invocations that are not the
schedule's (a manual ``aws lambda invoke``), every run goes ahead.

Scheduler delivers at least once: :func:`not_due` also tells the app's state handler (ours,
``set_scheduled_time``) which scheduled time this delivery is for. A time whose run is already
committed is skipped here ("already ran for …", one read of the state pointer); a duplicate
that finds the same time's run in progress is stopped by the state handler's ``load``
(``DuplicateRunError``, which the scaffolded handler answers as a success). Manual invocations
carry no scheduled time and are never deduplicated.

Standard library only at import time: this runs at every cold start.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from .function_env import KEEP_ACTIVE_EVENT_SOURCE, SCHEDULE_EVENT_SOURCE, SCHEDULED_TIME_FIELD

__all__ = ["KEEP_ACTIVE_ANSWER", "SCHEDULE_EVENT_SOURCE", "not_due", "scheduled_time", "schedules_of"]

#: The answer to the keep-active schedule's weekly ping (deploy/resources/keep_active.py).
KEEP_ACTIVE_ANSWER = "keep-active ping: the function stays active; no state loaded, nothing traded"


logger = logging.getLogger("iaf_aws_plugin.schedule_gate")
# The host's AWS_LAMBDA_LOGGING_CONFIG leaves the root logger at WARNING: "not due" is INFO and
# must still reach the function's log (its records propagate to the root's handler).
if logger.level == logging.NOTSET:
    logger.setLevel(logging.INFO)


def schedules_of(app: Any) -> list[tuple[str, Any]]:
    """(name, host ``Schedule``) of every strategy, scheduled function and task of ``app``.

    Only objects with the host's ``is_due``: empty on 8.x hosts.
    """
    found: list[tuple[str, Any]] = []

    def add(name: str, schedule: Any) -> None:
        if callable(getattr(schedule, "is_due", None)):
            found.append((name, schedule))

    for strategy in _items(app, "strategies"):
        name = str(getattr(strategy, "strategy_id", None) or type(strategy).__name__)
        add(name, getattr(strategy, "schedule", None))
        for function in getattr(strategy, "scheduled_functions", None) or ():
            add(f"{name}.{getattr(function, 'func', '?')}", getattr(function, "schedule", None))
    for task in _items(app, "tasks"):
        add(str(getattr(task, "worker_id", None) or type(task).__name__), getattr(task, "schedule", None))
    return found


def _items(app: Any, kind: str) -> Iterable[Any]:
    # The host's App keeps them in ``_strategies``/``_tasks`` (9.0.0a20 has no public accessor).
    for attribute in (kind, f"_{kind}"):
        value = getattr(app, attribute, None)
        if isinstance(value, (list, tuple)):
            return value
    return ()


def _minute_of(value: Any) -> datetime | None:
    """An ISO 8601 time (``Z`` or an offset; naive means UTC) as its whole UTC minute, else None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).replace(second=0, microsecond=0)


def scheduled_minute(event: Any, now: datetime | None = None) -> datetime:
    """The whole UTC minute this run was scheduled for: the event's ``scheduled_time``, else now's minute."""
    found = _minute_of(event.get(SCHEDULED_TIME_FIELD)) if isinstance(event, Mapping) else None
    if found is not None:
        return found
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(second=0, microsecond=0)


def scheduled_time(event: Any) -> datetime | None:
    """The minute a delivery of deploy-aws-lambda's schedule was scheduled for; None for any
    other invocation (manual runs) and for a schedule event without a readable time."""
    if not (isinstance(event, Mapping) and event.get("source") == SCHEDULE_EVENT_SOURCE):
        return None
    return _minute_of(event.get(SCHEDULED_TIME_FIELD))


def not_due(app: Any, event: Any, now: datetime | None = None) -> str | None:
    """None when this run goes ahead; otherwise one line saying why it is skipped ("not due: …",
    or "already ran for …" when this scheduled time's run is already committed).

    Only runs started by deploy-aws-lambda's schedule (event ``source``
    :data:`SCHEDULE_EVENT_SOURCE`) are ever skipped: when the app has host schedules and
    none of them ``is_due`` in the scheduled minute, or when the state handler has that
    minute's run committed. A schedule whose ``is_due`` raises (e.g. a market-relative rule
    without a trading calendar) counts as due: when in doubt, run. The keep-active schedule's ping
    (event ``source`` :data:`KEEP_ACTIVE_EVENT_SOURCE`) is always answered here, before any call of
    the state handler: no state loaded, nothing traded.
    """
    if isinstance(event, Mapping) and event.get("source") == KEEP_ACTIVE_EVENT_SOURCE:
        # Before anything of the state handler: the ping only keeps the function from going Inactive.
        logger.info(KEEP_ACTIVE_ANSWER)
        return KEEP_ACTIVE_ANSWER
    reason = _not_scheduled(app, event, now)
    handler = getattr(app, "_state_handler", None)
    set_scheduled_time = getattr(handler, "set_scheduled_time", None)
    if callable(set_scheduled_time):
        ran = set_scheduled_time(None if reason else scheduled_time(event))
        if reason is None and isinstance(ran, str):
            return ran
    return reason


def _not_scheduled(app: Any, event: Any, now: datetime | None) -> str | None:
    if not (isinstance(event, Mapping) and event.get("source") == SCHEDULE_EVENT_SOURCE):
        return None
    schedules = schedules_of(app)
    if not schedules:
        return None
    minute = scheduled_minute(event, now)
    previous = minute - timedelta(minutes=1)
    for name, schedule in schedules:
        try:
            if schedule.is_due(minute, previous):
                return None
        except Exception:  # noqa: BLE001 - the host's own check failed: do not skip a trade on it
            logger.warning("is_due of %s failed; running anyway", name, exc_info=True)
            return None
    names = ", ".join(name for name, _ in schedules)
    reason = f"not due: no schedule of {names} fires at {minute:%Y-%m-%d %H:%M} UTC; run skipped"
    logger.info(reason)
    return reason
