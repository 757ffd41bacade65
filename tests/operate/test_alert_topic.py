"""``deploy-aws-lambda --alert-topic ARN`` (issue 22, item 5): the alarms notify an SNS topic the
user owns, besides or instead of the e-mail topic; the deploy never changes or deletes that topic."""
from __future__ import annotations

import json

import boto3
import pytest

from iaf_aws_plugin.errors import PluginError

# Host-independent (the deploy library and the host's click group are the same on every host): one leg.
pytestmark = pytest.mark.anyhost


def alarms_of(function: str) -> dict[str, dict]:
    found = boto3.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{function}-iaf-")["MetricAlarms"]
    return {a["AlarmName"]: a for a in found}


def topics() -> list[str]:
    return [t["TopicArn"] for t in boto3.client("sns").list_topics()["Topics"]]


def test_alarms_notify_the_users_topic_which_is_never_deleted(bot_project, ecr_image, unique_name,
                                                               deploy_inprocess):
    sns = boto3.client("sns")
    mine = sns.create_topic(Name=f"{unique_name}-pager")["TopicArn"]
    sns.subscribe(TopicArn=mine, Protocol="https", Endpoint="https://pager.example.com/hook")
    ours = f"arn:aws:sns:eu-west-1:123456789012:{unique_name}-iaf-alerts"

    only, _ = deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"),
                               schedule="rate(1 hour)", alert_topic=mine)
    assert only.applied
    shown = [s for s in only.plan.steps if s.resource == "Alert topic"]
    assert [(s.name, s.action) for s in shown] == [(mine, "unchanged")]
    assert "never changed or deleted" in shown[0].changes[0]
    alarms = alarms_of(unique_name)
    assert len(alarms) == 4
    assert all(a["AlarmActions"] == [mine] and a["OKActions"] == [mine] for a in alarms.values())
    assert ours not in topics()  # no e-mail: no topic of the bot's own
    assert json.loads((bot_project / "iaf-aws-lambda.json").read_text())["alert_topic"] == mine

    both, _ = deploy_inprocess(bot_project, alert_email="me@example.com")
    assert all(sorted(a["AlarmActions"]) == sorted([ours, mine]) for a in alarms_of(unique_name).values())
    assert ours in topics()

    back, _ = deploy_inprocess(bot_project, alert_email="none")  # the e-mail topic goes, the user's stays
    assert ours not in topics() and mine in topics()
    assert all(a["AlarmActions"] == [mine] for a in alarms_of(unique_name).values())
    assert any(s.action == "delete" and s.name == f"{unique_name}-iaf-alerts" for s in back.plan.steps)

    gone, _ = deploy_inprocess(bot_project, alert_topic="none")
    assert alarms_of(unique_name) == {} and mine in topics()
    assert [s["Endpoint"] for s in sns.list_subscriptions_by_topic(TopicArn=mine)["Subscriptions"]] == [
        "https://pager.example.com/hook"]


def test_destroy_keeps_the_users_topic(bot_project, ecr_image, unique_name, deploy_inprocess, host_cli, aws_env):
    sns = boto3.client("sns")
    mine = sns.create_topic(Name=f"{unique_name}-chatbot")["TopicArn"]
    deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"), schedule="rate(1 hour)",
                     alert_email="me@example.com", alert_topic=mine)
    result = host_cli(["destroy-aws-lambda", "--yes"], cwd=bot_project, env=aws_env)
    assert result.returncode == 0, result.stderr
    assert alarms_of(unique_name) == {}
    assert mine in topics()
    assert f"arn:aws:sns:eu-west-1:123456789012:{unique_name}-iaf-alerts" not in topics()


@pytest.mark.parametrize("value, said", [
    ("my-topic", "expected an SNS topic ARN"),
    ("arn:aws:sqs:eu-west-1:123456789012:q", "expected an SNS topic ARN"),
    ("arn:aws:sns:eu-west-1:12345:t", "expected an SNS topic ARN"),
    ("arn:aws:sns:eu-west-1:123456789012:alerts.fifo", "FIFO"),
    ("arn:aws:sns:us-east-1:123456789012:alerts", "in region us-east-1, the bot in eu-west-1"),
])
def test_bad_alert_topics_are_one_line(value, said):
    from iaf_aws_plugin.deploy.alert_topic import validate_alert_topic

    with pytest.raises(PluginError) as caught:
        validate_alert_topic(value, "eu-west-1")
    assert said in caught.value.message and "\n" not in caught.value.message
    assert validate_alert_topic("None") == "none"


def test_status_names_the_users_topic(bot_project, ecr_image, unique_name, deploy_inprocess, host_cli, aws_env):
    mine = boto3.client("sns").create_topic(Name=f"{unique_name}-slack")["TopicArn"]
    deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"), schedule="rate(1 hour)",
                     alert_topic=mine)
    result = host_cli(["status-aws-lambda"], cwd=bot_project, env=aws_env)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("Alerts"))
    assert f"to your topic {mine};" in line, line
