"""The function's schedule gate on in-memory schedules (any host): when in doubt, it runs."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from iaf_aws_plugin.schedule_gate import SCHEDULE_EVENT_SOURCE, not_due, scheduled_minute, schedules_of

pytestmark = pytest.mark.anyhost  # in-memory stand-ins for the host's schedules: nothing of the host

EVENT = {"source": SCHEDULE_EVENT_SOURCE}
NOON = datetime(2026, 3, 29, 12, 0, tzinfo=timezone.utc)


class AtMinute:
    """A stand-in for the host's Schedule: due only in one minute; records what it was asked."""

    def __init__(self, minute: datetime) -> None:
        self.minute = minute
        self.asked: list[tuple[datetime, datetime | None]] = []

    def is_due(self, now: datetime, last_run: datetime | None) -> bool:
        self.asked.append((now, last_run))
        return last_run is not None and last_run < self.minute <= now


class Broken:
    def is_due(self, now: datetime, last_run: datetime | None) -> bool:
        raise NotImplementedError("needs a calendar")


def app(*schedules: Any, tasks: tuple[Any, ...] = ()) -> Any:
    strategies = [type("S", (), {"strategy_id": f"s{i}", "schedule": s, "scheduled_functions": []})()
                  for i, s in enumerate(schedules)]
    return type("App", (), {"_strategies": strategies,
                            "_tasks": [type("T", (), {"worker_id": f"t{i}", "schedule": t})()
                                       for i, t in enumerate(tasks)]})()


def test_asks_is_due_for_the_scheduled_minute_and_the_minute_before() -> None:
    schedule = AtMinute(NOON)
    assert not_due(app(schedule), EVENT, now=NOON + timedelta(seconds=9)) is None
    assert schedule.asked == [(NOON, NOON - timedelta(minutes=1))]
    reason = not_due(app(schedule), EVENT, now=NOON + timedelta(minutes=1, seconds=2))
    assert reason == "not due: no schedule of s0 fires at 2026-03-29 12:01 UTC; run skipped"


def test_the_events_scheduled_time_wins_over_the_clock() -> None:
    event = dict(EVENT, scheduled_time="2026-03-29T12:00:00Z")
    assert not_due(app(AtMinute(NOON)), event, now=NOON + timedelta(minutes=3)) is None
    assert scheduled_minute({"scheduled_time": "2026-03-29T14:00:00+02:00"}) == NOON
    assert scheduled_minute({"scheduled_time": "garbage"}, now=NOON + timedelta(seconds=59)) == NOON


def test_any_due_schedule_runs_the_bot_tasks_and_scheduled_functions_included() -> None:
    later = AtMinute(NOON + timedelta(hours=1))
    function = type("F", (), {"func": "rebalance", "schedule": AtMinute(NOON)})()
    strategy = type("S", (), {"strategy_id": "s", "schedule": later, "scheduled_functions": [function]})()
    with_function = type("App", (), {"_strategies": [strategy], "_tasks": []})()
    assert [name for name, _ in schedules_of(with_function)] == ["s", "s.rebalance"]
    assert not_due(with_function, EVENT, now=NOON) is None
    assert not_due(app(later, tasks=(AtMinute(NOON),)), EVENT, now=NOON) is None


def test_never_skips_when_unsure() -> None:
    assert not_due(app(AtMinute(NOON)), {"note": "manual invoke"}, now=NOON + timedelta(hours=5)) is None
    assert not_due(app(AtMinute(NOON)), None, now=NOON + timedelta(hours=5)) is None
    assert not_due(app(Broken()), EVENT, now=NOON) is None  # the host's check failed: run
    eight_x = app(None)  # 8.x strategies have no Schedule
    assert schedules_of(eight_x) == [] and not_due(eight_x, EVENT, now=NOON + timedelta(hours=5)) is None
    assert not_due(object(), EVENT) is None
