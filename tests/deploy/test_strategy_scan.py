"""The schedule derived from the project's strategies, read with ast (no user code runs)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from iaf_aws_plugin.schedules.expressions import parse_schedule
from iaf_aws_plugin.schedules.strategy_scan import (DerivedSchedule, derive_schedule, every_strategy_runs_warning,
                                                   faster_than_strategies_warning)
from iaf_aws_plugin.errors import PluginError

def write(project: Path, relative: str, source: str) -> None:
    path = project / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))


def test_scaffolded_8x_project_runs_hourly(tmp_path: Path) -> None:
    from iaf_aws_plugin.scaffold import scaffold

    scaffold(tmp_path, host_major=8)
    derived = derive_schedule(tmp_path)
    assert derived == DerivedSchedule(
        expression="cron(0 * * * ? *)", period_seconds=3600,
        sources=("strategies/my_strategy.py:MyTradingStrategy (every 1 hour)",))


def test_smallest_period_wins_and_every_strategy_is_listed(tmp_path: Path) -> None:
    write(tmp_path, "strategies/__init__.py", "")
    write(tmp_path, "strategies/slow.py", """
        from investing_algorithm_framework import TimeUnit, TradingStrategy
        class Slow(TradingStrategy):
            time_unit = TimeUnit.DAY
            interval = 1
    """)
    write(tmp_path, "strategies/fast.py", """
        import investing_algorithm_framework as iaf
        class Fast(iaf.TradingStrategy):
            time_unit: iaf.TimeUnit = iaf.TimeUnit.MINUTE
            interval: int = 15
    """)
    derived = derive_schedule(tmp_path)
    assert derived is not None
    assert derived.expression == "cron(0/15 * * * ? *)"
    assert derived.period_seconds == 900
    assert set(derived.sources) == {"strategies/fast.py:Fast (every 15 minutes)",
                                    "strategies/slow.py:Slow (every 1 day)"}
    # The host runs every strategy in each invocation: the daily one would trade every 15 minutes.
    assert derived.less_frequent == ("strategies/slow.py:Slow (every 1 day)",)
    warning = every_strategy_runs_warning(derived.expression, derived)
    assert warning is not None and "\n" not in warning
    assert "each run of cron(0/15 * * * ? *) runs every strategy" in warning
    assert "strategies/slow.py:Slow (every 1 day) will also run" in warning and "separate bots" in warning


def test_no_every_strategy_warning_when_they_share_a_schedule(tmp_path: Path) -> None:
    for name in ("One", "Two"):
        write(tmp_path, f"strategies/{name.lower()}.py", f"""
            from investing_algorithm_framework import TimeUnit, TradingStrategy
            class {name}(TradingStrategy):
                time_unit = TimeUnit.HOUR
                interval = 1
        """)
    derived = derive_schedule(tmp_path)
    assert derived is not None and len(derived.sources) == 2 and derived.less_frequent == ()
    assert every_strategy_runs_warning(derived.expression, derived) is None


@pytest.mark.parametrize("time_unit, interval, expression, seconds", [
    # Intervals that divide the hour or the day: a cron at fixed minutes of the UTC clock (candle closes).
    ('"hour"', "4", "cron(0 0/4 * * ? *)", 4 * 3600),
    ('TimeUnit.from_string("HOUR")', "24", "cron(0 0 * * ? *)", 86400),
    ('TimeUnit("MINUTE")', "60", "cron(0 * * * ? *)", 3600),
    ("UNIT", "EVERY", "cron(0 0/3 * * ? *)", 3 * 3600),  # module-level constants
    ("TimeUnit.MINUTE", "1", "cron(* * * * ? *)", 60),
    ("TimeUnit.MINUTE", "20", "cron(0/20 * * * ? *)", 1200),
    ("TimeUnit.HOUR", "12", "cron(0 0/12 * * ? *)", 12 * 3600),
    # Intervals that do not divide: no cron fires at exactly those times, so a rate.
    ('"Minute"', "90", "rate(90 minutes)", 5400),
    ("TimeUnit.MINUTE", "45", "rate(45 minutes)", 2700),  # divides the day, but not on one minute of each hour
    ("TimeUnit.HOUR", "5", "rate(5 hours)", 5 * 3600),
    ('TimeUnit.from_value("day")', "2", "rate(2 days)", 2 * 86400),
    ("TimeUnit.SECOND", "90", "rate(1 minute)", 90),  # never slower than the strategy
])
def test_time_unit_forms(tmp_path: Path, time_unit: str, interval: str, expression: str, seconds: int) -> None:
    write(tmp_path, "strategies/s.py", f"""
        from investing_algorithm_framework import TimeUnit, TradingStrategy
        UNIT = TimeUnit.HOUR
        EVERY = 3
        class S(TradingStrategy):
            time_unit = {time_unit}
            interval = {interval}
    """)
    derived = derive_schedule(tmp_path)
    assert derived is not None and (derived.expression, derived.period_seconds) == (expression, seconds)
    assert parse_schedule(derived.expression) == derived.expression


def host_time_units() -> dict[str, str]:
    """The host's TimeUnit members, read from its source (importing the host takes seconds)."""
    import ast
    import importlib.util

    spec = importlib.util.find_spec("investing_algorithm_framework")
    assert spec is not None and spec.submodule_search_locations
    source = Path(next(iter(spec.submodule_search_locations))) / "domain" / "models" / "time_unit.py"
    tree = ast.parse(source.read_text())
    enum = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "TimeUnit")
    return {statement.targets[0].id: statement.value.value for statement in enum.body
            if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant)}


def test_every_host_time_unit_is_understood(tmp_path: Path) -> None:
    """A unit added by a future host (say WEEK) must not be silently ignored."""
    expected = {"SECOND": 70, "MINUTE": 70 * 60, "HOUR": 70 * 3600, "DAY": 70 * 86400}
    units = host_time_units()
    assert set(units) == set(expected)
    for name, value in units.items():
        for form in (f"TimeUnit.{name}", repr(value.lower()), f"TimeUnit.from_value({value!r})"):
            project = tmp_path / f"{name}-{abs(hash(form))}"
            write(project, "strategies/s.py", f"""
                from investing_algorithm_framework import TimeUnit, TradingStrategy
                class S(TradingStrategy):
                    time_unit = {form}
                    interval = 70
            """)
            derived = derive_schedule(project)
            assert derived is not None and derived.period_seconds == expected[name], form


def test_subclasses_constructor_arguments_and_decorators(tmp_path: Path) -> None:
    write(tmp_path, "strategies/base.py", """
        from investing_algorithm_framework import TimeUnit, TradingStrategy
        class Base(TradingStrategy):
            time_unit = TimeUnit.HOUR
            interval = 6
        class Child(Base):
            interval = 2
        class ViaInit(TradingStrategy):
            def __init__(self):
                super().__init__(time_unit=TimeUnit.HOUR, interval=3)
    """)
    write(tmp_path, "aws_function.py", """
        from investing_algorithm_framework import create_app, TimeUnit
        from strategies.base import Base
        app = create_app()
        app.add_strategy(Base(time_unit=TimeUnit.MINUTE, interval=30))

        @app.strategy(time_unit=TimeUnit.DAY, interval=1)
        def daily(algorithm, market_data):
            pass

        @app.strategy
        def default_one(algorithm, market_data):
            pass
    """)
    derived = derive_schedule(tmp_path)
    assert derived is not None
    assert set(derived.sources) == {
        "strategies/base.py:Base (every 6 hours)",  # Child and ViaInit: never added, never run
        "aws_function.py:Base(...) (every 30 minutes)",
        "aws_function.py:daily (every 1 day)",
        "aws_function.py:default_one (every 10 minutes)",  # the host's decorator defaults
    }
    assert derived.expression == "cron(0/10 * * * ? *)"


def test_same_class_name_in_two_files_counts_twice(tmp_path: Path) -> None:
    for name, unit in (("a", "HOUR"), ("b", "MINUTE")):
        write(tmp_path, f"strategies/{name}.py", f"""
            from investing_algorithm_framework import TimeUnit, TradingStrategy
            class Base(TradingStrategy):
                time_unit = TimeUnit.{unit}
            class MyStrategy(Base):
                interval = 2
        """)
    derived = derive_schedule(tmp_path)
    assert derived is not None and derived.expression == "cron(0/2 * * * ? *)"
    assert set(derived.sources) == {"strategies/a.py:MyStrategy (every 2 hours)",
                                    "strategies/b.py:MyStrategy (every 2 minutes)"}


def test_strategies_in_test_folders_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "strategies/tests/test_fast.py", """
        from investing_algorithm_framework import TimeUnit, TradingStrategy
        class Fast(TradingStrategy):
            time_unit = TimeUnit.SECOND
            interval = 1
    """)
    assert derive_schedule(tmp_path) is None


def test_user_code_is_never_run_and_broken_files_are_skipped(tmp_path: Path) -> None:
    marker = tmp_path / "was-run"
    write(tmp_path, "aws_function.py", f"""
        open({str(marker)!r}, "w").write("ran")
        raise SystemExit("user code must not run")
    """)
    write(tmp_path, "strategies/broken.py", "class Broken(TradingStrategy:\n")
    (tmp_path / "strategies" / "binary.py").write_bytes(b"\xff\xfe\x00garbage")
    write(tmp_path, "strategies/good.py", """
        from investing_algorithm_framework import TimeUnit, TradingStrategy
        class Good(TradingStrategy):
            time_unit = TimeUnit.MINUTE
            interval = 5
    """)
    derived = derive_schedule(tmp_path)
    assert not marker.exists()
    assert derived is not None and derived.sources == ("strategies/good.py:Good (every 5 minutes)",)


@pytest.mark.parametrize("body", [
    "",  # no strategies at all
    "class NotAStrategy:\n    time_unit = 'hour'\n    interval = 1\n",
    "from investing_algorithm_framework import TradingStrategy\n"
    "class Dynamic(TradingStrategy):\n    time_unit = compute()\n    interval = 1\n",
    "from investing_algorithm_framework import TimeUnit, TradingStrategy\n"
    "class Zero(TradingStrategy):\n    time_unit = TimeUnit.HOUR\n    interval = 0\n",
])
def test_nothing_derivable(tmp_path: Path, body: str) -> None:
    write(tmp_path, "strategies/s.py", body)
    assert derive_schedule(tmp_path) is None


def test_missing_project_folder(tmp_path: Path) -> None:
    assert derive_schedule(tmp_path / "nope") is None


def test_warning_when_schedule_is_faster_than_strategies() -> None:
    derived = DerivedSchedule("rate(1 hour)", 3600, ("strategies/my_strategy.py:MyTradingStrategy (every 1 hour)",))
    warning = faster_than_strategies_warning("rate(5 minutes)", derived)
    assert warning is not None and "\n" not in warning
    assert "rate(5 minutes)" in warning and "every 5 minutes" in warning and "every 1 hour" in warning
    assert "strategies/my_strategy.py:MyTradingStrategy" in warning
    assert faster_than_strategies_warning("cron(*/10 * * * ? *)", derived) is not None


@pytest.mark.parametrize("expression", ["rate(1 hour)", "rate(2 hours)", "cron(0 * * * ? *)",
                                        "cron(0 9 ? * MON-FRI *)"])
def test_no_warning_when_not_faster(expression: str) -> None:
    derived = DerivedSchedule("rate(1 hour)", 3600, ("s.py:S (every 1 hour)",))
    assert faster_than_strategies_warning(expression, derived) is None


def test_no_warning_without_strategies_or_below_lambdas_minimum() -> None:
    assert faster_than_strategies_warning("rate(1 minute)", None) is None
    seconds = DerivedSchedule("rate(1 minute)", 10, ("s.py:S (every 10 seconds)",))
    assert faster_than_strategies_warning("rate(1 minute)", seconds) is None


def test_no_warning_for_the_derived_schedule_itself(tmp_path: Path) -> None:
    """90 s strategies get rate(1 minute): passing that explicitly is not 'too fast'."""
    write(tmp_path, "strategies/s.py", """
        from investing_algorithm_framework import TimeUnit, TradingStrategy
        class S(TradingStrategy):
            time_unit = TimeUnit.SECOND
            interval = 90
    """)
    derived = derive_schedule(tmp_path)
    assert derived is not None and derived.expression == "rate(1 minute)"
    assert faster_than_strategies_warning(derived.expression, derived) is None


def test_sources_are_listed_most_frequent_first(tmp_path: Path) -> None:
    write(tmp_path, "strategies/a.py", """
        from investing_algorithm_framework import TimeUnit, TradingStrategy
        class A(TradingStrategy):
            time_unit = TimeUnit.DAY
            interval = 1
        class B(TradingStrategy):
            time_unit = TimeUnit.MINUTE
            interval = 5
    """)
    derived = derive_schedule(tmp_path)
    assert derived is not None
    assert derived.sources == ("strategies/a.py:B (every 5 minutes)", "strategies/a.py:A (every 1 day)")


def test_a_sub_minute_strategy_is_refused_in_one_line(tmp_path: Path) -> None:
    """EventBridge runs a function at most once a minute: 30 seconds is not silently one minute."""
    write(tmp_path, "strategies/s.py", """
        from investing_algorithm_framework import TimeUnit, TradingStrategy
        class S(TradingStrategy):
            time_unit = TimeUnit.SECOND
            interval = 30
    """)
    with pytest.raises(PluginError) as refused:
        derive_schedule(tmp_path)
    assert str(refused.value).startswith("strategies/s.py:S (every 30 seconds) runs more often than once a minute")
    assert "\n" not in str(refused.value) and "--schedule 'rate(1 minute)'" in (refused.value.fix or "")


def test_an_explicit_schedule_slower_than_a_strategy_warns_naming_it(tmp_path: Path) -> None:
    from iaf_aws_plugin.schedules.strategy_scan import slower_than_strategies_warning

    write(tmp_path, "strategies/s.py", """
        from investing_algorithm_framework import TimeUnit, TradingStrategy
        class Fast(TradingStrategy):
            time_unit = TimeUnit.MINUTE
            interval = 15
    """)
    derived = derive_schedule(tmp_path)
    warning = slower_than_strategies_warning("rate(1 day)", derived)
    assert warning is not None and "strategies/s.py:Fast (every 15 minutes) needs (every 15 minutes)" in warning
    assert slower_than_strategies_warning("rate(15 minutes)", derived) is None
    assert slower_than_strategies_warning("rate(5 minutes)", derived) is None


def test_only_the_strategies_the_handler_adds_drive_the_schedule(tmp_path: Path) -> None:
    write(tmp_path, "strategies/s.py", """
        from investing_algorithm_framework import TimeUnit, TradingStrategy
        class Hourly(TradingStrategy):
            time_unit = TimeUnit.HOUR
            interval = 1
        class Unused(TradingStrategy):
            time_unit = TimeUnit.MINUTE
            interval = 5
    """)
    write(tmp_path, "aws_function.py", """
        from strategies.s import Hourly
        app.add_strategy(Hourly)
    """)
    derived = derive_schedule(tmp_path)
    assert derived is not None and derived.expression == "cron(0 * * * ? *)" and derived.note is None
    assert derived.sources == ("strategies/s.py:Hourly (every 1 hour)",)
    # Nothing readable added: every strategy of the project counts, and the plan says so.
    write(tmp_path, "aws_function.py", "app.add_strategy(make_strategy())\n")
    derived = derive_schedule(tmp_path)
    assert derived is not None and derived.expression == "cron(0/5 * * * ? *)"
    assert derived.note and "every strategy in the project drives the schedule" in derived.note
