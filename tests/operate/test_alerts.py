"""Alerts (deploy-aws-lambda --alert-email): SNS topic, e-mail subscription, CloudWatch alarms on
errors, throttles and missed runs, on the moto server."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest

from iaf_aws_plugin.deploy.resources.alerts import missed_run_period, schedule_gap_seconds

pytestmark = pytest.mark.anyhost  # our alert resources against moto (in process): nothing of the host


def alarms_of(function: str) -> dict[str, dict]:
    found = boto3.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{function}-iaf-")["MetricAlarms"]
    return {a["AlarmName"]: a for a in found}


def test_alerts_are_created_kept_and_removed(bot_project, ecr_image, unique_name, deploy_inprocess, aws_env):
    image = ecr_image("v1")
    result, recorder = deploy_inprocess(bot_project, function_name=unique_name, image_uri=image,
                                        alert_email="me@example.com")
    assert result.applied
    topic_arn = f"arn:aws:sns:eu-west-1:123456789012:{unique_name}-iaf-alerts"
    sns = boto3.client("sns")
    subs = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subs] == [("email", "me@example.com")]
    alarms = alarms_of(unique_name)
    assert sorted(alarms) == [f"{unique_name}-iaf-errors", f"{unique_name}-iaf-missed-runs",
                              f"{unique_name}-iaf-throttles", f"{unique_name}-iaf-undelivered-runs"]
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [topic_arn] and alarm["OKActions"] == [topic_arn]
    errors = alarms[f"{unique_name}-iaf-errors"]
    assert (errors["MetricName"], errors["Statistic"], errors["Threshold"], errors["ComparisonOperator"]) == (
        "Errors", "Sum", 0.0, "GreaterThanThreshold")
    assert json.loads((bot_project / "iaf-aws-lambda.json").read_text())["alert_email"] == "me@example.com"

    # The same settings again: nothing to change, no write call.
    again, recorder = deploy_inprocess(bot_project)
    assert again.plan.is_noop, [s.describe() for s in again.plan.changes]
    assert recorder.writes == []

    removed, _ = deploy_inprocess(bot_project, alert_email="none")
    assert any(s.resource == "Alerts" and s.action == "delete" for s in removed.plan.steps)
    assert alarms_of(unique_name) == {}
    assert topic_arn not in [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    assert json.loads((bot_project / "iaf-aws-lambda.json").read_text())["alert_email"] == "none"
    quiet, recorder = deploy_inprocess(bot_project)
    assert quiet.plan.is_noop and recorder.writes == []


def test_a_changed_alert_email_unsubscribes_the_old_address(bot_project, ecr_image, unique_name, deploy_inprocess):
    deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"), alert_email="me@example.com")
    topic_arn = f"arn:aws:sns:eu-west-1:123456789012:{unique_name}-iaf-alerts"
    changed, recorder = deploy_inprocess(bot_project, alert_email="desk@example.com")
    topic = next(s for s in changed.plan.steps if s.resource == "Alert topic")
    assert topic.changes == ("e-mail desk@example.com (confirm the message AWS sends)", "unsubscribe me@example.com")
    assert recorder.writes == ["Subscribe", "Unsubscribe"]
    subs = boto3.client("sns").list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert [s["Endpoint"] for s in subs] == ["desk@example.com"]


def test_an_old_address_pending_confirmation_is_reported_not_removed():
    from iaf_aws_plugin.deploy.models import Alerts
    from iaf_aws_plugin.deploy.names import Names
    from iaf_aws_plugin.deploy.resources.alerts import desired_alerts, plan_alerts

    names = Names.derive("123456789012", "eu-west-1", "bot")
    want = desired_alerts(names, "desk@example.com", None, "UTC")
    assert want is not None
    live = Alerts(want.topic_name, want.topic_arn, emails=("desk@example.com",), pending=("me@example.com",),
                  alarms=want.alarms, subscriptions={"desk@example.com": f"{want.topic_arn}:1"})
    [topic, *alarms] = plan_alerts(want, live, names=names)
    assert topic.action == "unchanged" and topic.calls == ()
    assert topic.changes == ("me@example.com is still pending confirmation and cannot be removed (it gets no alert "
                             "unless its link is clicked; then the next deploy unsubscribes it)",)
    assert all(step.action == "unchanged" for step in alarms)


def test_missed_run_alarm_metric_math_on_the_emulator(bot_project, ecr_image, unique_name, deploy_inprocess):
    """The alarm as stored by CloudWatch: one period of twice the schedule's interval, successes =
    FILL(invocations, 0) - FILL(errors, 0) < 1, no data = breaching. moto stores the queries and
    serves their metric data but does not evaluate math: the test evaluates the stored expression
    on the data points the emulator returns for three hours of runs."""
    deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"), alert_email="me@example.com",
                     schedule="rate(1 hour)")
    alarm = alarms_of(unique_name)[f"{unique_name}-iaf-missed-runs"]
    assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["TreatMissingData"], alarm["EvaluationPeriods"]) \
        == (1.0, "LessThanThreshold", "breaching", 1)
    queries = {q["Id"]: q for q in alarm["Metrics"]}
    assert queries["successes"]["Expression"] == "FILL(invocations, 0) - FILL(errors, 0)"
    assert queries["successes"]["ReturnData"] is True
    for query_id, metric in (("invocations", "Invocations"), ("errors", "Errors")):
        stat = queries[query_id]["MetricStat"]
        assert stat["Period"] == 7200 and stat["Stat"] == "Sum"  # twice the hourly interval
        assert stat["Metric"]["MetricName"] == metric and stat["Metric"]["Namespace"] == "AWS/Lambda"
        assert stat["Metric"]["Dimensions"] == [{"Name": "FunctionName", "Value": unique_name}]

    cloudwatch = boto3.client("cloudwatch")
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    windows = {"ran": now - timedelta(hours=6), "failed": now - timedelta(hours=4), "silent": now - timedelta(hours=2)}
    dims = [{"Name": "FunctionName", "Value": unique_name}]
    cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[
        {"MetricName": "Invocations", "Dimensions": dims, "Timestamp": windows["ran"] + timedelta(minutes=5), "Value": 1},
        {"MetricName": "Invocations", "Dimensions": dims, "Timestamp": windows["failed"] + timedelta(minutes=5), "Value": 1},
        {"MetricName": "Errors", "Dimensions": dims, "Timestamp": windows["failed"] + timedelta(minutes=5), "Value": 1},
    ])

    def successes(start: datetime) -> list[float]:
        answer = cloudwatch.get_metric_data(StartTime=start, EndTime=start + timedelta(hours=2), MetricDataQueries=[
            {"Id": q["Id"], "MetricStat": q["MetricStat"], "ReturnData": True}
            for q in alarm["Metrics"] if "MetricStat" in q])
        series = {r["Id"]: dict(zip(r["Timestamps"], r["Values"])) for r in answer["MetricDataResults"]}
        stamps = set(series.get("invocations", {})) | set(series.get("errors", {}))
        # FILL(x, 0) - FILL(y, 0) over the timestamps either series has (CloudWatch's FILL semantics)
        return [series.get("invocations", {}).get(t, 0.0) - series.get("errors", {}).get(t, 0.0) for t in stamps]

    def in_alarm(values: list[float]) -> bool:
        if not values:
            return alarm["TreatMissingData"] == "breaching"
        return any(v < alarm["Threshold"] for v in values)  # LessThanThreshold, 1 of 1 datapoints

    assert successes(windows["ran"]) == [1.0] and not in_alarm(successes(windows["ran"]))
    assert successes(windows["failed"]) == [0.0] and in_alarm(successes(windows["failed"]))
    assert successes(windows["silent"]) == [] and in_alarm(successes(windows["silent"]))


@pytest.mark.parametrize("expression, zone, gap, period", [
    ("rate(15 minutes)", "UTC", 900, 1800),
    ("rate(1 hour)", "UTC", 3600, 7200),
    ("rate(1 day)", "UTC", 86400, 172800),
    # The clock-anchored crons derived schedules get (issue 19): the same windows as their rates.
    ("cron(0/15 * * * ? *)", "UTC", 900, 1800),
    ("cron(0 * * * ? *)", "UTC", 3600, 7200),
    ("cron(0 0/4 * * ? *)", "UTC", 4 * 3600, 8 * 3600),
    ("cron(0 0 * * ? *)", "UTC", 86400, 172800),
    ("cron(0 9 ? * MON-FRI *)", "Europe/Amsterdam", 3 * 86400, 6 * 86400),  # Friday -> Monday
    # Friday 17:50 -> Monday 08:00; twice that, rounded up to whole hours
    ("cron(*/10 8-17 ? * MON-FRI *)", "UTC", 3 * 86400 - 9 * 3600 - 50 * 60, 125 * 3600),
])
def test_missed_run_window_is_twice_the_longest_gap(expression, zone, gap, period):
    now = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)  # a Wednesday
    assert schedule_gap_seconds(expression, zone, now) == gap
    assert missed_run_period(gap) == period


def test_alert_email_is_checked(bot_project, unique_name, deploy_inprocess):
    from iaf_aws_plugin.errors import PluginError

    with pytest.raises(PluginError, match="invalid --alert-email 'me-at-example'"):
        deploy_inprocess(bot_project, function_name=unique_name, image_uri="x", alert_email="me-at-example")
