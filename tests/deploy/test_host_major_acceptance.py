"""Acceptance on the installed host (8.x and 9.x legs of .ci/run): ``init-aws-lambda`` then
``deploy-aws-lambda --dry-run`` through the real host CLI against the emulator, with the derived
schedule printed and proven equal to the host's own run times."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

pytestmark = pytest.mark.host

HOST_MAJOR = int(importlib.metadata.version("investing-algorithm-framework").split(".")[0])
YEAR = (datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2027, 1, 1, tzinfo=timezone.utc))

_spec = importlib.util.spec_from_file_location("eventbridge_cron", Path(__file__).with_name("eventbridge_cron.py"))
assert _spec is not None and _spec.loader is not None
eventbridge_cron = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(eventbridge_cron)

# Run by the host's Python in the project: the scaffolded strategy's own schedule (our test
# imports the project it scaffolded; deploy-aws-lambda itself never runs user code).
HOST_TIMES = """
import json, sys
from datetime import datetime, timezone
from strategies.my_strategy import MyTradingStrategy
strategy = MyTradingStrategy()
schedule = getattr(strategy, "schedule", None)
if schedule is None:
    print(json.dumps({"time_unit": strategy.time_unit.value, "interval": strategy.interval}))
else:
    start, end = (datetime.fromisoformat(x) for x in sys.argv[1:3])
    print(json.dumps({"times": [t.isoformat() for t in schedule.iter_run_times(start, end)]}))
"""


def host_run_times(project: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    result = subprocess.run([sys.executable, "-c", HOST_TIMES, YEAR[0].isoformat(), "2026-12-31T23:59:59+00:00"],
                            cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def dry_run(host_cli, project: Path, aws_env: dict, name: str, image: str, *extra: str):
    if not (project / ".env").exists():  # the keys the scaffolded handler needs (else refused: test_market_keys.py)
        (project / ".env").write_text("BITVAVO_API_KEY=paper-key\nBITVAVO_SECRET_KEY=paper-secret\n")
    return host_cli(["deploy-aws-lambda", "--lambda_function_name", name, "--image-uri", image, "--dry-run",
                     *extra], cwd=project, env=aws_env)


def test_init_then_dry_run_prints_the_schedule_the_host_runs(host_cli, aws_env, ecr_image, unique_name,
                                                             tmp_path: Path) -> None:
    project = tmp_path / "bot"
    init = host_cli(["init-aws-lambda", "--path", str(project)])
    assert init.returncode == 0, init.stderr
    image = ecr_image("v1")
    result = dry_run(host_cli, project, aws_env, unique_name, image)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("Schedule: "))
    expression = re.match(r"Schedule: (\S+ ?\S* ?\S* ?\S* ?\S* ?\S*\)|rate\([^)]*\))", line)
    assert expression, line
    expression_text = expression.group(1)
    assert "derived from strategies/my_strategy.py:MyTradingStrategy" in line
    host = host_run_times(project)
    # Both majors: anchored on the UTC clock, every hour on the hour (when exchanges close hourly candles).
    assert expression_text == "cron(0 * * * ? *)" and "(UTC)" in line, line
    fires = {t.isoformat() for t in eventbridge_cron.fire_times(expression_text, *YEAR)}
    assert len(fires) == 8760 and all(t.endswith(":00:00+00:00") for t in fires)
    if HOST_MAJOR >= 9:
        assert fires == set(host["times"])
    else:  # 8.x runs every `interval` `time_unit` from whenever it is started: the cron starts it on the hour
        assert host == {"time_unit": "HOUR", "interval": 1}
    assert "Dry run: nothing was changed." in result.stdout
    assert "put_schedule" in result.stdout or expression_text in result.stdout.split("Plan:", 1)[1]


@pytest.mark.skipif(HOST_MAJOR < 9, reason="Schedule.on needs investing-algorithm-framework 9")
def test_dry_run_prints_the_covering_cron_and_the_skipping_rule(host_cli, aws_env, ecr_image, unique_name,
                                                                tmp_path: Path) -> None:
    from iaf_aws_plugin.scaffold import scaffold

    project = tmp_path / "bot"
    scaffold(project)
    strategy = project / "strategies" / "my_strategy.py"
    source = strategy.read_text().replace(
        "schedule = Schedule.every(1, TimeUnit.HOUR)",
        "schedule = Schedule.on(DateRule.month_end(2), TimeRule.at(21, 0))").replace(
        "    Schedule,\n", "    DateRule,\n    Schedule,\n    TimeRule,\n")
    strategy.write_text(source)
    result = dry_run(host_cli, project, aws_env, unique_name, ecr_image("v1"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Schedule: cron(0 21 26-29 * ? *) (UTC), derived from strategies/my_strategy.py:MyTradingStrategy " \
           "(Schedule.on(DateRule.month_end(2), TimeRule.at(21, 0)))" in result.stdout, result.stdout
    assert "runs on days other than DateRule.month_end(2)" in result.stdout
    assert "skipped" in result.stdout and "Schedule.is_due" in result.stdout
    host = set(host_run_times(project)["times"])
    fires = {t.isoformat() for t in eventbridge_cron.fire_times("cron(0 21 26-29 * ? *)", *YEAR)}
    assert host < fires and len(host) == 12


@pytest.mark.skipif(HOST_MAJOR < 9, reason="TimeRule needs investing-algorithm-framework 9")
def test_market_relative_rule_is_one_error_naming_schedule(host_cli, aws_env, ecr_image, unique_name,
                                                           tmp_path: Path) -> None:
    from iaf_aws_plugin.scaffold import scaffold

    project = tmp_path / "bot"
    scaffold(project)
    strategy = project / "strategies" / "my_strategy.py"
    strategy.write_text(strategy.read_text().replace(
        "schedule = Schedule.every(1, TimeUnit.HOUR)",
        "schedule = Schedule.on(DateRule.every_day(), TimeRule.market_open(30))"))
    image = ecr_image("v1")
    result = dry_run(host_cli, project, aws_env, unique_name, image)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "TimeRule.market_open needs the host's trading calendar" in errors[0]
    assert "--schedule" in errors[0]
    # The override works.
    override = dry_run(host_cli, project, aws_env, unique_name, image,
                       "--schedule", "cron(30 14 ? * MON-FRI *)", "--schedule-timezone", "America/New_York")
    assert override.returncode == 0, override.stdout + override.stderr


# The time zone rule is our planner's, on the schedule the tests above derive per host: one leg suffices.
@pytest.mark.anyhost
def test_a_derived_schedule_runs_in_utc_whatever_the_saved_time_zone(deploy_inprocess, bot_project, ecr_image,
                                                                     unique_name) -> None:
    """Candles close on UTC boundaries: a derived schedule runs in UTC. --schedule-timezone (saved)
    applies to an explicit --schedule only; the plan says so in a note, and a deploy made with another
    zone before is moved to UTC (a visible schedule update)."""
    import boto3

    image = ecr_image("v1")
    deploy_inprocess(bot_project, function_name=unique_name, image_uri=image, schedule="cron(0 9 * * ? *)",
                     schedule_timezone="Europe/Amsterdam")
    scheduler = boto3.client("scheduler")
    live = scheduler.get_schedule(Name=f"{unique_name}-iaf")
    assert (live["ScheduleExpression"], live["ScheduleExpressionTimezone"]) == ("cron(0 9 * * ? *)", "Europe/Amsterdam")
    # Back to the derived schedule: the saved zone stays saved, the schedule runs in UTC.
    settings = bot_project / "iaf-aws-lambda.json"
    saved = json.loads(settings.read_text())
    saved.pop("schedule"), saved.pop("schedule_source")
    settings.write_text(json.dumps(saved))
    _, recorder = deploy_inprocess(bot_project)
    assert any(line.startswith("Schedule: cron(0 * * * ? *) (UTC), derived from") for line in recorder.lines)
    note = [line for line in recorder.lines if "--schedule-timezone Europe/Amsterdam" in line]
    assert note == ["  Note: a derived schedule runs in UTC, when exchanges close candles; --schedule-timezone "
                    "Europe/Amsterdam applies to an explicit --schedule only."], recorder.lines
    assert any("cron(0 9 * * ? *) -> cron(0 * * * ? *)" in line and "time zone Europe/Amsterdam -> UTC" in line
               for line in recorder.lines), recorder.lines
    live = scheduler.get_schedule(Name=f"{unique_name}-iaf")
    assert (live["ScheduleExpression"], live["ScheduleExpressionTimezone"]) == ("cron(0 * * * ? *)", "UTC")
    saved = json.loads(settings.read_text())
    assert (saved["schedule"], saved["schedule_source"], saved["schedule_timezone"]) == (
        "cron(0 * * * ? *)", "derived", "Europe/Amsterdam")
    # UTC under another name is left as it is (no update of a deployed bot).
    _, recorder = deploy_inprocess(bot_project, schedule_timezone="etc/utc", dry_run=True)
    assert not any("Note: a derived schedule runs in UTC" in line for line in recorder.lines)
