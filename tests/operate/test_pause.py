"""pause-aws-lambda / resume-aws-lambda across a redeploy (in-process host CLI, moto server)."""
from __future__ import annotations

import boto3
import pytest

pytestmark = pytest.mark.anyhost


def _schedule(bot) -> dict:
    return boto3.client("scheduler", region_name=bot.region).get_schedule(Name=f"{bot.function}-iaf")


def test_pause_survives_a_redeploy_and_resume_starts_it(host_cli, deployed_bot, op):
    bot = deployed_bot
    settings = (bot.project / "iaf-aws-lambda.json").read_bytes()
    before = _schedule(bot)
    assert before["State"] == "ENABLED"

    paused = op.cli(host_cli, bot, "pause-aws-lambda")
    assert paused.returncode == 0, paused.stderr
    assert f"Paused {bot.function}" in paused.stdout
    after = _schedule(bot)
    assert after["State"] == "DISABLED" and after["Description"].startswith("PAUSED since 20")
    assert after["Target"] == before["Target"] and after["ScheduleExpression"] == before["ScheduleExpression"]
    assert (bot.project / "iaf-aws-lambda.json").read_bytes() == settings  # the saved settings are untouched
    since = after["Description"].split()[2]
    assert "already paused since" in op.cli(host_cli, bot, "pause-aws-lambda").stdout

    status = op.cli(host_cli, bot, "status-aws-lambda")
    assert status.returncode == 0 and f"PAUSED since {since}" in status.stdout, status.stdout

    # A redeploy (here with a new schedule too) keeps the bot paused and says so.
    redeploy = op.cli(host_cli, bot, "deploy-aws-lambda", "--schedule", "rate(2 hours)", "--yes")
    assert redeploy.returncode == 0, redeploy.stderr
    assert f"Note: the bot is paused since {since}: the deploy keeps its schedule disabled" in redeploy.stdout
    again = _schedule(bot)
    assert again["State"] == "DISABLED" and again["ScheduleExpression"] == "rate(2 hours)"
    assert again["Description"] == after["Description"]
    noop = op.cli(host_cli, bot, "deploy-aws-lambda", "--dry-run", "--exit-code")
    assert noop.returncode == 0, noop.stdout  # paused is no pending change

    # invoke asks first; without a terminal it refuses in one line and nothing runs.
    invoked = op.cli(host_cli, bot, "invoke-aws-lambda")
    assert invoked.returncode == 1
    errors = [line for line in invoked.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and f"is paused since {since}" in errors[0], invoked.stderr

    resumed = op.cli(host_cli, bot, "resume-aws-lambda")
    assert resumed.returncode == 0 and f"(paused since {since})" in resumed.stdout, resumed.stderr
    assert _schedule(bot)["State"] == "ENABLED"
    assert "is not paused" in op.cli(host_cli, bot, "resume-aws-lambda").stdout
    status = op.cli(host_cli, bot, "status-aws-lambda")
    assert "PAUSED" not in status.stdout and "rate(2 hours) (UTC), ENABLED" in status.stdout, status.stdout


def test_a_schedule_disabled_by_hand_is_enabled_by_a_deploy(host_cli, deployed_bot, op):
    bot = deployed_bot
    found = _schedule(bot)
    keys = ("ScheduleExpression", "ScheduleExpressionTimezone", "FlexibleTimeWindow", "Target")
    boto3.client("scheduler", region_name=bot.region).update_schedule(
        Name=found["Name"], State="DISABLED", Description="off for maintenance", **{k: found[k] for k in keys})
    plan = op.cli(host_cli, bot, "deploy-aws-lambda", "--dry-run")
    assert "enable" in plan.stdout and "paused" not in plan.stdout, plan.stdout


def test_pause_without_a_schedule_is_one_line(host_cli, deployed_bot, op):
    bot = deployed_bot
    assert op.cli(host_cli, bot, "deploy-aws-lambda", "--schedule", "none", "--yes").returncode == 0
    result = op.cli(host_cli, bot, "pause-aws-lambda")
    assert result.returncode == 1 and "has no schedule" in result.stderr
