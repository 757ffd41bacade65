"""9.x schedules -> EventBridge crons, proven against the host's own run times.

For every ``Schedule`` factory: the strategy source is scanned with ast (no user code runs),
the derived cron's fire times over a whole year (both daylight-saving changes included;
the cron is in UTC, like the host) are computed by an evaluator written apart from the
product (``eventbridge_cron.py``), and compared with the host's ``Schedule.iter_run_times``.
An exact cron fires at exactly the host's times; a covering one at a superset of them, and
then the function's gate (``schedule_gate.not_due``, which asks the host's ``is_due``)
lets exactly the host's times through.

Needs investing-algorithm-framework 9 (its ``Schedule``): skipped on 8.x hosts; .ci/run's
9.x leg runs them.
"""
from __future__ import annotations

import importlib.util
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from iaf_aws_plugin.schedules.strategy_scan import derive_schedule
from iaf_aws_plugin.errors import PluginError

iaf = pytest.importorskip("investing_algorithm_framework")
if not hasattr(iaf, "Schedule"):
    pytest.skip("the installed host has no Schedule (investing-algorithm-framework < 9)", allow_module_level=True)

_spec = importlib.util.spec_from_file_location("eventbridge_cron", Path(__file__).with_name("eventbridge_cron.py"))
assert _spec is not None and _spec.loader is not None
eventbridge_cron = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(eventbridge_cron)

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
END = datetime(2027, 1, 1, tzinfo=timezone.utc)  # a year: the EU and US DST changes are in it

HEADER = """
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo
from investing_algorithm_framework import (DateRule, Schedule, ScheduledFunction, TimeRule, TimeUnit,
                                           TradingStrategy)
"""

# (source of the schedule, exact cron expected or None when covering)
CASES = [
    ("Schedule.every(1, TimeUnit.MINUTE)", "cron(* * * * ? *)"),
    ("Schedule.every(5, TimeUnit.MINUTE)", "cron(0/5 * * * ? *)"),
    ("Schedule.every(15, TimeUnit.MINUTE, anchor=datetime(2024, 3, 1, 0, 5, tzinfo=timezone.utc))",
     "cron(5/15 * * * ? *)"),
    ("Schedule.every(interval=30, time_unit='minute')", "cron(0/30 * * * ? *)"),
    ("Schedule.every(60, TimeUnit.MINUTE)", "cron(0 * * * ? *)"),
    ("Schedule.every(7, TimeUnit.MINUTE)", None),
    ("Schedule.every(90, TimeUnit.MINUTE)", None),
    ("Schedule.every(1, TimeUnit.HOUR)", "cron(0 * * * ? *)"),
    ("Schedule.every(2, TimeUnit.HOUR)", "cron(0 0/2 * * ? *)"),
    ("Schedule.every(2, TimeUnit.HOUR, anchor=datetime(2025, 6, 1, 9, 30, tzinfo=timezone.utc))",
     "cron(30 1/2 * * ? *)"),
    ("Schedule.every(6, TimeUnit.HOUR, anchor=datetime(2025, 7, 1, 9, 30, tzinfo=ZoneInfo('Asia/Kolkata')))",
     "cron(0 4/6 * * ? *)"),  # 09:30 IST = 04:00 UTC (no daylight saving)
    ("Schedule.every(4, TimeUnit.HOUR, anchor=datetime(2025, 7, 1, 9, 30, tzinfo=timezone(timedelta(hours=2))))",
     "cron(30 3/4 * * ? *)"),  # 09:30 +02:00 = 07:30 UTC
    ("Schedule.every(5, TimeUnit.HOUR)", None),
    ("Schedule.every(1, TimeUnit.DAY)", "cron(0 0 * * ? *)"),
    ("Schedule.every(1, TimeUnit.DAY, anchor=datetime.fromisoformat('2025-01-01T09:35:00+00:00'))",
     "cron(35 9 * * ? *)"),
    ("Schedule.every(2, TimeUnit.DAY)", None),
    ("Schedule.every(120, TimeUnit.SECOND)", "cron(0/2 * * * ? *)"),
    ("Schedule(time_unit=TimeUnit.HOUR, interval=3)", "cron(0 0/3 * * ? *)"),
    ("Schedule.on(DateRule.every_day(), TimeRule.at(9, 35))", "cron(35 9 * * ? *)"),
    ("Schedule.on(DateRule.week_start(), TimeRule.at(9, 35))", "cron(35 9 ? * MON *)"),
    ("Schedule.on(DateRule.week_start(2), TimeRule.at(hour=16))", "cron(0 16 ? * WED *)"),
    ("Schedule.on(DateRule.week_end(), TimeRule.at(23, 59))", "cron(59 23 ? * SUN *)"),
    ("Schedule.on(DateRule.week_end(days_offset=2), TimeRule.at(0, 0))", "cron(0 0 ? * FRI *)"),
    ("Schedule.on(DateRule.month_start(), TimeRule.at(8, 0))", "cron(0 8 1 * ? *)"),
    ("Schedule.on(DateRule.month_start(3), TimeRule.at(8, 0))", "cron(0 8 4 * ? *)"),
    ("Schedule.on(DateRule.month_start(30), TimeRule.at(8, 0))", "cron(0 8 31 * ? *)"),
    ("Schedule.on(DateRule.month_end(), TimeRule.at(21, 0))", "cron(0 21 L * ? *)"),
    ("Schedule.on(DateRule.month_end(2), TimeRule.at(21, 0))", None),
    ("Schedule.on(DateRule.month_end(27), TimeRule.at(21, 0))", None),
    ("Schedule.on(date_rule=DateRule.every_day(), time_rule=TimeRule.at(12, 0, 0))", "cron(0 12 * * ? *)"),
]


def write_strategy(project: Path, schedule_source: str, name: str = "S", extra: str = "") -> None:
    path = project / "strategies" / f"{name.lower()}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + textwrap.dedent(f"""
        class {name}(TradingStrategy):
            schedule = {schedule_source}
        {extra}
    """))


def host_schedule(source: str) -> Any:
    namespace: dict[str, Any] = {}
    exec(HEADER, namespace)  # the test's own literal, not user code
    return eval(source, namespace)


def host_times(*schedules: Any) -> set[datetime]:
    return {moment for schedule in schedules for moment in schedule.iter_run_times(START, END - timedelta(seconds=1))}


class FakeApp:
    """What the gate reads of the host's App: its strategies (with their host Schedules)."""

    def __init__(self, schedules: list[Any]) -> None:
        self._strategies = [type("Strategy", (), {"schedule": schedule, "strategy_id": f"s{index}",
                                                  "scheduled_functions": []})()
                            for index, schedule in enumerate(schedules)]
        self._tasks: list[Any] = []


def gate_passes(schedules: list[Any] | FakeApp, moment: datetime) -> bool:
    """The function's gate, for a run the schedule started at ``moment`` (the handler runs a few seconds later)."""
    from iaf_aws_plugin.schedule_gate import SCHEDULE_EVENT_SOURCE, not_due

    app = schedules if isinstance(schedules, FakeApp) else FakeApp(schedules)
    return not_due(app, {"source": SCHEDULE_EVENT_SOURCE}, now=moment + timedelta(seconds=7)) is None


def check_against_host(expression: str, exact: bool, schedules: list[Any]) -> None:
    fires = list(eventbridge_cron.fire_times(expression, START, END))
    wanted = host_times(*schedules)
    assert wanted, "the host never fires this schedule in a year"
    if exact:
        assert set(fires) == wanted, (expression, sorted(set(fires) ^ wanted)[:5])
        return
    assert wanted <= set(fires), (expression, sorted(wanted - set(fires))[:5])
    assert len(fires) > len(wanted)
    app = FakeApp(schedules)
    passed = {moment for moment in fires if gate_passes(app, moment)}
    assert passed == wanted, (expression, sorted(passed ^ wanted)[:5])


@pytest.mark.parametrize("source, expected", CASES, ids=[case[0] for case in CASES])
def test_each_factory_maps_to_the_hosts_own_run_times(tmp_path: Path, source: str, expected: str | None) -> None:
    write_strategy(tmp_path, source)
    derived = derive_schedule(tmp_path)
    assert derived is not None
    assert derived.exact == (expected is not None), derived
    if expected is not None:
        assert derived.expression == expected
        assert derived.skip_rule is None
    else:
        assert derived.skip_rule and "skipped" in derived.skip_rule
    check_against_host(derived.expression, derived.exact, [host_schedule(source)])


def test_seconds_interval_runs_every_minute_with_a_note(tmp_path: Path) -> None:
    write_strategy(tmp_path, "Schedule.every(30, TimeUnit.SECOND)")
    derived = derive_schedule(tmp_path)
    assert derived is not None and derived.expression == "cron(* * * * ? *)"
    assert derived.note and "30 seconds" in derived.note
    # Every minute is one of the host's times (it fires twice a minute; Lambda once).
    schedule = host_schedule("Schedule.every(30, TimeUnit.SECOND)")
    day = datetime(2026, 3, 29, tzinfo=timezone.utc)
    assert all(gate_passes([schedule], day + timedelta(minutes=m)) for m in range(0, 1440, 37))


@pytest.mark.parametrize("source, why", [
    ("Schedule.on(DateRule.every_day(), TimeRule.market_open(30))", "TimeRule.market_open needs the host's trading calendar"),
    ("Schedule.on(DateRule.week_start(), TimeRule.market_close())", "TimeRule.market_close needs"),
    ("Schedule.on(DateRule.every_day(), TimeRule.every_minute())", "TimeRule.every_minute needs"),
    ("Schedule.on(DateRule.every_day(), TimeRule.at(9, 35, 30))", "seconds"),
    ("Schedule.on(DateRule.week_start(7), TimeRule.at(9, 0))", "never matches"),
    ("Schedule.on(DateRule.month_end(31), TimeRule.at(9, 0))", "never matches"),
    ("Schedule.every(45, TimeUnit.SECOND)", "one-minute grid"),
    ("Schedule.every(1, TimeUnit.HOUR, anchor=datetime(2025, 1, 1, 9, 30, 15, tzinfo=timezone.utc))",
     "whole minutes"),
    ("Schedule.every(1, TimeUnit.HOUR, anchor=datetime(2025, 1, 1, 9, 30))", "no time zone"),
    ("Schedule.every(get_interval(), TimeUnit.HOUR)", "cannot be read without running"),
    # The host shifts such run times at daylight-saving changes (and its is_due then fires
    # every minute for an hour): no UTC cron matches that.
    ("Schedule.every(6, TimeUnit.HOUR, anchor=datetime(2025, 7, 1, 9, 30, tzinfo=ZoneInfo('Europe/Amsterdam')))",
     "changes its UTC offset"),
    ("make_schedule()", "cannot be read without running"),
])
def test_what_cannot_be_mapped_is_one_error_naming_the_override(tmp_path: Path, source: str, why: str) -> None:
    write_strategy(tmp_path, source)
    with pytest.raises(PluginError) as caught:
        derive_schedule(tmp_path)
    message = str(caught.value)
    assert why in message and "strategies/s.py:S" in message and "--schedule" in message, message
    assert "\n" not in message


def test_market_relative_rules_are_what_the_host_cannot_run_either() -> None:
    """The error above mirrors the host: without a calendar it raises NotImplementedError."""
    schedule = host_schedule("Schedule.on(DateRule.every_day(), TimeRule.market_open(30))")
    with pytest.raises(NotImplementedError):
        list(schedule.iter_run_times(START, START + timedelta(days=2)))


def test_several_strategies_the_finest_wins_and_is_named(tmp_path: Path) -> None:
    write_strategy(tmp_path, "Schedule.every(15, TimeUnit.MINUTE)", "Fast")
    write_strategy(tmp_path, "Schedule.on(DateRule.week_start(), TimeRule.at(9, 30))", "Weekly")
    write_strategy(tmp_path, "Schedule.every(1, TimeUnit.DAY)", "Daily")
    derived = derive_schedule(tmp_path)
    assert derived is not None
    assert derived.expression == "cron(0/15 * * * ? *)" and derived.exact
    assert derived.set_by == "strategies/fast.py:Fast (Schedule.every(15, TimeUnit.MINUTE))"
    assert derived.sources[0] == derived.set_by and len(derived.sources) == 3
    assert derived.less_frequent == derived.sources[1:]  # they would also run every 15 minutes
    check_against_host(derived.expression, True, [host_schedule("Schedule.every(15, TimeUnit.MINUTE)")])
    covered = set(eventbridge_cron.fire_times(derived.expression, START, END))
    assert host_times(host_schedule("Schedule.on(DateRule.week_start(), TimeRule.at(9, 30))"),
                      host_schedule("Schedule.every(1, TimeUnit.DAY)")) <= covered


def test_several_strategies_no_one_covers_the_rest_merge_into_a_covering_cron(tmp_path: Path) -> None:
    sources = ["Schedule.every(1, TimeUnit.HOUR)", "Schedule.on(DateRule.every_day(), TimeRule.at(9, 35))"]
    write_strategy(tmp_path, sources[0], "Hourly")
    write_strategy(tmp_path, sources[1], "Morning", extra="""
        class Rebalance(TradingStrategy):
            schedule = Schedule.on(DateRule.month_end(), TimeRule.at(21, 0))
            scheduled_functions = [
                ScheduledFunction(func="report", date_rule=DateRule.week_end(), time_rule=TimeRule.at(18, 5)),
            ]
    """)
    derived = derive_schedule(tmp_path)
    assert derived is not None and not derived.exact and derived.skip_rule
    assert derived.set_by is not None and derived.set_by.startswith("strategies/hourly.py:Hourly")
    assert any("Rebalance.report" in source for source in derived.sources)
    schedules = [host_schedule(source) for source in sources] + [
        host_schedule("Schedule.on(DateRule.month_end(), TimeRule.at(21, 0))"),
        host_schedule("Schedule.on(DateRule.week_end(), TimeRule.at(18, 5))")]
    check_against_host(derived.expression, False, schedules)


def test_decorators_tasks_constructor_arguments_and_constants(tmp_path: Path) -> None:
    (tmp_path / "aws_function.py").write_text(HEADER + textwrap.dedent("""
        from investing_algorithm_framework import Task, create_app
        from strategies.base import Base
        EVERY_TEN = Schedule.every(10, TimeUnit.MINUTE)
        app = create_app()
        app.add_strategy(Base(schedule=Schedule.every(20, TimeUnit.MINUTE)))

        @app.strategy(schedule=Schedule.on(DateRule.week_start(), TimeRule.at(9, 0)))
        def weekly(context, data):
            pass

        @app.task(schedule=EVERY_TEN)
        def housekeeping(context):
            pass

        class Cleanup(Task):
            schedule = Schedule.every(1, TimeUnit.DAY)

        class NeverAdded(Task):
            schedule = Schedule.every(2, TimeUnit.MINUTE)

        app.add_task(Cleanup)
    """))
    write_strategy(tmp_path, "None", "Base")
    derived = derive_schedule(tmp_path)
    assert derived is not None
    assert derived.expression == "cron(0/10 * * * ? *)"
    assert set(derived.sources) == {
        "aws_function.py:housekeeping (Schedule.every(10, TimeUnit.MINUTE))",
        "aws_function.py:Base(...) (Schedule.every(20, TimeUnit.MINUTE))",
        "aws_function.py:weekly (Schedule.on(DateRule.week_start(), TimeRule.at(9, 0)))",
        "aws_function.py:Cleanup (Schedule.every(1, TimeUnit.DAY))",
    }  # NeverAdded is a task aws_function.py never adds: it never runs, so it does not drive the schedule
    assert derived.set_by == "aws_function.py:housekeeping (Schedule.every(10, TimeUnit.MINUTE))"


def test_scaffolded_9x_project_runs_hourly_on_the_hour(tmp_path: Path) -> None:
    from iaf_aws_plugin.scaffold import scaffold

    scaffold(tmp_path / "bot", host_major=9)
    derived = derive_schedule(tmp_path / "bot")
    assert derived is not None and derived.expression == "cron(0 * * * ? *)" and derived.exact
    assert derived.sources == ("strategies/my_strategy.py:MyTradingStrategy (Schedule.every(1, TimeUnit.HOUR))",)
    check_against_host(derived.expression, True, [host_schedule("Schedule.every(1, TimeUnit.HOUR)")])
