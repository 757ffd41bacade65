"""A derived schedule is derived again at every deploy; an explicit one stays (issue 19, item 4)."""
from __future__ import annotations

import importlib.metadata
import json

import boto3
import pytest

# The re-derivation is the plugin's, whatever the host; the first test edits the 8.x scaffold's
# time_unit/interval (9.x scaffolds Schedule.every and derives a cron: tests/deploy/test_host_schedules.py).
pytestmark = [pytest.mark.usefixtures("aws_env"), pytest.mark.anyhost]
HOST_MAJOR = int(importlib.metadata.version("investing-algorithm-framework").split(".")[0])


@pytest.mark.skipif(HOST_MAJOR >= 9, reason="edits the 8.x scaffold's time_unit and interval")
def test_a_strategy_change_shows_up_as_a_schedule_update(bot_project, ecr_image, unique_name, deploy_inprocess):
    settings = bot_project / "iaf-aws-lambda.json"
    first, _ = deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"))
    assert first.applied
    saved = json.loads(settings.read_text())
    assert (saved["schedule"], saved["schedule_source"]) == ("cron(0 * * * ? *)", "derived")

    strategy = bot_project / "strategies" / "my_strategy.py"
    text = strategy.read_text()
    assert "time_unit = TimeUnit.HOUR" in text and "interval = 1\n" in text
    strategy.write_text(text.replace("time_unit = TimeUnit.HOUR", "time_unit = TimeUnit.MINUTE")
                        .replace("interval = 1\n", "interval = 15\n"))
    second, recorder = deploy_inprocess(bot_project)
    step = next(s for s in second.plan.steps if s.resource == "Schedule")
    assert step.action == "update" and "cron(0 * * * ? *) -> cron(0/15 * * * ? *)" in step.changes, step
    assert boto3.client("scheduler").get_schedule(Name=f"{unique_name}-iaf")["ScheduleExpression"] == \
        "cron(0/15 * * * ? *)"
    assert json.loads(settings.read_text())["schedule"] == "cron(0/15 * * * ? *)"

    # An interval that divides neither the hour nor the day keeps a rate.
    strategy.write_text(text.replace("time_unit = TimeUnit.HOUR", "time_unit = TimeUnit.MINUTE")
                        .replace("interval = 1\n", "interval = 90\n"))
    odd, _ = deploy_inprocess(bot_project)
    step = next(s for s in odd.plan.steps if s.resource == "Schedule")
    assert step.action == "update" and "cron(0/15 * * * ? *) -> rate(90 minutes)" in step.changes, step

    # --schedule makes it explicit: a later strategy change does not move it.
    deploy_inprocess(bot_project, schedule="rate(5 minutes)")
    assert json.loads(settings.read_text())["schedule_source"] == "explicit"
    strategy.write_text(text)
    kept, _ = deploy_inprocess(bot_project)
    assert next(s for s in kept.plan.steps if s.resource == "Schedule").action == "unchanged"
    assert json.loads(settings.read_text())["schedule"] == "rate(5 minutes)"


def test_settings_of_earlier_versions_keep_their_saved_schedule(bot_project, ecr_image, unique_name,
                                                                 deploy_inprocess):
    settings = bot_project / "iaf-aws-lambda.json"
    deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"), schedule="rate(2 hours)")
    saved = json.loads(settings.read_text())
    del saved["schedule_source"]
    settings.write_text(json.dumps(saved))
    again, _ = deploy_inprocess(bot_project)
    assert again.plan.is_noop and "schedule_source" not in json.loads(settings.read_text())
