"""The cost estimate at the end of the plan (deploy/cost.py), and alerts through the real host CLI."""
from __future__ import annotations

import re

import boto3
import pytest

from iaf_aws_plugin.deploy.cost import PRICE_TABLE_DATE, estimate, runs_per_month

# Our cost estimate and alerts (in process, the host CLI only as a vehicle): nothing of the host.
pytestmark = pytest.mark.anyhost


@pytest.mark.parametrize("cron, rate", [("cron(0/15 * * * ? *)", "rate(15 minutes)"),
                                        ("cron(0 * * * ? *)", "rate(1 hour)"),
                                        ("cron(0 0/4 * * ? *)", "rate(4 hours)"),
                                        ("cron(0 0 * * ? *)", "rate(1 day)")])
def test_a_clock_anchored_cron_costs_what_its_rate_costs(cron, rate):
    """Derived schedules are crons at fixed minutes now (issue 19): counted run by run, they make
    as many runs a month as the rate of the same interval."""
    assert runs_per_month(cron, "UTC") == pytest.approx(runs_per_month(rate, "UTC"))


def test_estimate_follows_the_documented_formula():
    runs = runs_per_month("rate(1 hour)", "UTC")
    assert runs == pytest.approx(30.4375 * 24)
    cost = estimate(region="eu-west-1", architecture="x86_64", memory_mb=3072, runs=runs, duration_s=20.0,
                    alarm_metrics=4, log_retention_days=30, kept_images=6)
    items = {line.item: line.usd for line in cost.lines}
    assert items["Lambda compute"] == pytest.approx(runs * 20.0 * 3.0 * 0.0000166667)
    assert items["Lambda requests"] == pytest.approx(runs * 0.20 / 1e6)
    assert items["Scheduler"] == pytest.approx(runs * 1.00 / 1e6)
    assert items["Alarms"] == pytest.approx(0.40)
    assert items["ECR storage"] == pytest.approx(6 * 0.5 * 0.10)
    assert cost.total == pytest.approx(sum(items.values()))
    text = "\n".join(cost.render())
    assert f"(eu-west-1; price table of {PRICE_TABLE_DATE}, USD, before free tiers" in text
    assert "measured average" in text

    arm = estimate(region="eu-west-1", architecture="arm64", memory_mb=3072, runs=runs, duration_s=20.0)
    assert {l.item: l.usd for l in arm.lines}["Lambda compute"] < items["Lambda compute"]

    provisioned = estimate(region="eu-west-1", architecture="x86_64", memory_mb=1024, runs=runs, duration_s=None,
                           provisioned=1)
    lines = {l.item: l for l in provisioned.lines}
    assert lines["Provisioned concurrency"].usd == pytest.approx(30.4375 * 86400 * 0.0000041667)
    assert "assumed: no run measured yet" in lines["Lambda compute (provisioned)"].formula

    elsewhere = estimate(region="ap-south-2", architecture="x86_64", memory_mb=1024, runs=10, duration_s=1.0)
    assert "us-east-1 prices: ap-south-2 is not in the price table" in elsewhere.render()[0]


def test_runs_per_month_of_a_weekday_cron():
    # 10 runs a day on weekdays: 20 weekdays in four weeks -> 200 runs, per 30.4375 days
    assert runs_per_month("cron(0 8-17 ? * MON-FRI *)", "Europe/Amsterdam") == pytest.approx(200 * 30.4375 / 28)
    assert runs_per_month(None, "UTC") == 0


def test_plan_ends_with_the_cost_measured_from_the_last_runs(bot_project, ecr_image, unique_name, deploy_inprocess,
                                                            op):
    image = ecr_image("v1")
    first, recorder = deploy_inprocess(bot_project, function_name=unique_name, image_uri=image, dry_run=True)
    text = "\n".join(recorder.lines)
    assert "Estimated monthly cost (eu-west-1; price table of" in text
    assert "30.0 s (assumed: no run measured yet)" in text
    assert recorder.lines[-2].lstrip().startswith("Total") or "Total" in text

    deploy_inprocess(bot_project, function_name=unique_name, image_uri=image)
    start = op.now_ms() - 3_600_000
    op.put_log_events(f"/aws/lambda/{unique_name}", "2024/01/01/[1]a",
                      op.invocation_lines("r1", start, ["x"], duration_ms=4000.0)
                      + op.invocation_lines("r2", start + 60_000, ["y"], duration_ms=6000.0))
    again, recorder = deploy_inprocess(bot_project, dry_run=True)
    assert any("5.0 s (measured average)" in line for line in recorder.lines), recorder.lines
    assert recorder.writes == []


@pytest.mark.host
def test_deploy_with_alert_email_through_the_host_cli(host_cli, aws_env, bot_project, ecr_image, unique_name, op):
    image = ecr_image("v1")
    result = host_cli(["deploy-aws-lambda", "--lambda-function-name", unique_name, "--image-uri", image,
                       "--alert-email", "ops@example.com", "--yes"], cwd=bot_project, env=aws_env)
    assert result.returncode == 0, result.stdout + result.stderr
    print(result.stdout)
    out = result.stdout
    assert f"create  Alert topic {unique_name}-iaf-alerts (SNS topic, e-mail ops@example.com" in out
    for alarm in ("errors", "throttles", "missed-runs", "undelivered-runs"):
        assert re.search(rf"create  Alarm {unique_name}-iaf-{alarm}\b", out), alarm
    assert "Estimated monthly cost" in out and re.search(r"Alarms +\$0\.50 +5 alarm metrics", out), out
    alarms = boto3.client("cloudwatch").describe_alarms(AlarmNamePrefix=unique_name)["MetricAlarms"]
    assert len(alarms) == 4
