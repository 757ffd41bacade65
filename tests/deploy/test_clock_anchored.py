"""Derived schedules are anchored on the UTC clock (issue 19, item 4): an interval that divides the
hour or the day becomes a cron at fixed minutes, so runs follow candle closes; others keep a rate.

The fire times are computed by the evaluator written apart from the product (eventbridge_cron.py),
and every cron is checked against EventBridge's own grammar (parse_schedule: stricter than moto).
"""
from __future__ import annotations

import importlib.util
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from iaf_aws_plugin.schedules.expressions import clock_anchored, parse_schedule, schedule_period_seconds
from iaf_aws_plugin.schedules.strategy_scan import derive_schedule

pytestmark = pytest.mark.anyhost

_spec = importlib.util.spec_from_file_location("eventbridge_cron", Path(__file__).with_name("eventbridge_cron.py"))
assert _spec is not None and _spec.loader is not None
eventbridge_cron = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(eventbridge_cron)

START = datetime(2026, 3, 28, tzinfo=timezone.utc)  # over the EU daylight-saving change: UTC does not move
END = START + timedelta(days=3)
DIVIDING_MINUTES = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30]
DIVIDING_HOURS = [1, 2, 3, 4, 6, 8, 12, 24]


@pytest.mark.parametrize("seconds", [60 * m for m in DIVIDING_MINUTES] + [3600 * h for h in DIVIDING_HOURS])
def test_an_interval_dividing_the_hour_or_the_day_fires_on_its_utc_boundaries(seconds: int) -> None:
    expression = clock_anchored(seconds)
    assert expression is not None and expression.startswith("cron(")
    assert parse_schedule(expression) == expression  # EventBridge's grammar, normalized form
    fires = list(eventbridge_cron.fire_times(expression, START, END))
    wanted = [START + timedelta(seconds=seconds * k) for k in range(3 * 86400 // seconds)]
    assert fires == wanted
    assert schedule_period_seconds(expression) == seconds


def test_the_issues_examples() -> None:
    assert clock_anchored(3600) == "cron(0 * * * ? *)"
    assert clock_anchored(900) == "cron(0/15 * * * ? *)"
    assert clock_anchored(4 * 3600) == "cron(0 0/4 * * ? *)"
    assert clock_anchored(86400) == "cron(0 0 * * ? *)"


@pytest.mark.parametrize("seconds", [7 * 60, 45 * 60, 90 * 60, 5 * 3600, 2 * 86400, 7 * 86400, 90, 30])
def test_an_interval_that_does_not_divide_keeps_a_rate(seconds: int) -> None:
    assert clock_anchored(seconds) is None


def test_the_plan_of_a_15_minute_strategy_starts_on_the_quarter_hours(tmp_path: Path) -> None:
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "s.py").write_text(textwrap.dedent("""
        from investing_algorithm_framework import TimeUnit, TradingStrategy
        class Quarter(TradingStrategy):
            time_unit = TimeUnit.MINUTE
            interval = 15
    """))
    derived = derive_schedule(tmp_path)
    assert derived is not None and derived.expression == "cron(0/15 * * * ? *)"
    after = datetime(2026, 12, 6, 10, 7, 31, tzinfo=timezone.utc)  # a deploy at 10:07 runs next at 10:15, not 10:22
    first = next(eventbridge_cron.fire_times(derived.expression, after, after + timedelta(hours=1)))
    assert first == datetime(2026, 12, 6, 10, 15, tzinfo=timezone.utc)
