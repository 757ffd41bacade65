"""The schedule's delivery retries and its dead-letter SQS queue (issue 19, item 2), on moto:
the target document read back, the queue's encryption and policy, the alarm on its depth,
status showing undelivered runs, and the queue removed with the schedule."""
from __future__ import annotations

import json

import boto3
import pytest

pytestmark = [pytest.mark.usefixtures("aws_env"), pytest.mark.anyhost]


def test_schedule_retries_into_an_encrypted_dead_letter_queue_only_its_scheduler_may_send_to(
        bot_project, ecr_image, unique_name, deploy_inprocess, contract):
    result, recorder = deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"),
                                        schedule="rate(15 minutes)", alert_email="ops@example.com")
    assert result.applied
    assert any(f"create  Dead-letter queue {unique_name}-iaf-dlq" in line for line in recorder.lines), recorder.lines
    assert {"SQS.CreateQueue", "SQS.GetQueueUrl"} <= set(contract.checked)  # checked against botocore's model
    sqs, iam = boto3.client("sqs"), boto3.client("iam")
    url = sqs.get_queue_url(QueueName=f"{unique_name}-iaf-dlq")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    queue_arn = attributes["QueueArn"]
    account = queue_arn.split(":")[4]
    scheduler_role = f"arn:aws:iam::{account}:role/{unique_name}-iaf-scheduler"

    target = boto3.client("scheduler").get_schedule(Name=f"{unique_name}-iaf")["Target"]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 900}  # the period
    assert target["DeadLetterConfig"] == {"Arn": queue_arn}
    assert json.loads(target["Input"]) == {"source": "iaf-aws-plugin.schedule", "schedule": f"{unique_name}-iaf",
                                           "scheduled_time": "<aws.scheduler.scheduled-time>"}

    assert attributes["SqsManagedSseEnabled"] == "true" and attributes["MessageRetentionPeriod"] == "1209600"
    assert json.loads(attributes["Policy"])["Statement"] == [{
        "Sid": "OnlyTheBotsScheduler", "Effect": "Allow", "Principal": {"AWS": scheduler_role},
        "Action": "sqs:SendMessage", "Resource": queue_arn}]
    role_policy = iam.get_role_policy(RoleName=f"{unique_name}-iaf-scheduler",
                                      PolicyName="iaf-invoke-live-alias")["PolicyDocument"]
    assert {"Sid": "SendToOwnDeadLetterQueue", "Effect": "Allow", "Action": ["sqs:SendMessage"],
            "Resource": [queue_arn]} in role_policy["Statement"]

    alarm = boto3.client("cloudwatch").describe_alarms(
        AlarmNames=[f"{unique_name}-iaf-undelivered-runs"])["MetricAlarms"][0]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Dimensions"], alarm["ComparisonOperator"],
            alarm["Threshold"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible",
                                    [{"Name": "QueueName", "Value": f"{unique_name}-iaf-dlq"}],
                                    "GreaterThanThreshold", 0.0)

    # A redeploy finds everything as it should be.
    again, recorder = deploy_inprocess(bot_project)
    assert again.plan.is_noop and recorder.writes == [], recorder.writes

    # status shows the runs that could not be delivered.
    from iaf_aws_plugin.operate.status import collect_status, render_status
    from iaf_aws_plugin.operate.target import TargetOptions, resolve_target

    def undelivered_line() -> str:
        status = collect_status(resolve_target(TargetOptions(project_dir=bot_project)), invocations=0)
        return next(line for line in render_status(status) if line.startswith("Undelivered"))

    assert undelivered_line() == f"Undelivered  0 run(s) in the dead-letter queue {unique_name}-iaf-dlq"
    sqs.send_message(QueueUrl=url, MessageBody=target["Input"])
    assert undelivered_line().startswith(f"Undelivered  1 run(s) in the dead-letter queue {unique_name}-iaf-dlq (")

    # A changed schedule changes the event age; no schedule removes the queue (and its alarm).
    daily, recorder = deploy_inprocess(bot_project, schedule="rate(1 day)")
    # slower than the hourly strategy: a warning that names it (issue 19, item 4)
    assert any("less often than strategies/my_strategy.py:MyTradingStrategy (every 1 hour) needs" in line
               for line in recorder.warnings), recorder.warnings
    assert boto3.client("scheduler").get_schedule(Name=f"{unique_name}-iaf")["Target"]["RetryPolicy"][
        "MaximumEventAgeInSeconds"] == 3600
    assert any("retries 185 -> 185 within 3600 s" in step.subject for step in daily.plan.changes)
    removed, recorder = deploy_inprocess(bot_project, schedule="none")
    assert any(f"delete  Dead-letter queue {unique_name}-iaf-dlq (no schedule)" in line for line in recorder.lines)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName=f"{unique_name}-iaf-dlq")
    assert not boto3.client("cloudwatch").describe_alarms(
        AlarmNames=[f"{unique_name}-iaf-undelivered-runs"])["MetricAlarms"]


@pytest.mark.parametrize(("expression", "age"), [("rate(1 minute)", 60), ("rate(15 minutes)", 900),
                                                 ("cron(0 * * * ? *)", 3600), ("rate(7 days)", 3600),
                                                 ("cron(0/15 * * * ? *)", 900), ("cron(0 0 * * ? *)", 3600)])
def test_delivery_is_retried_within_the_schedules_period(expression, age):
    from iaf_aws_plugin.deploy.resources.schedule import max_event_age

    assert max_event_age(expression, "UTC") == age
    assert 60 <= age <= 86400  # what EventBridge Scheduler accepts
