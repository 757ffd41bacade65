"""The AWS client sends the documents it is given (here: a schedule's retry policy and input come
from models.Schedule, not from constants in the client), checked on the emulator."""
from __future__ import annotations

import json

import boto3
import pytest

from iaf_aws_plugin.deploy.awsclient import AWSClient
from iaf_aws_plugin.deploy.models import Schedule

pytestmark = pytest.mark.anyhost  # our AWS client against moto


def test_put_schedule_sends_the_models_retry_policy_and_input(aws_env, unique_name):
    client = AWSClient(boto3.Session(region_name=aws_env["AWS_REGION"]), aws_env["AWS_REGION"], sleep=lambda s: None)
    arn = f"arn:aws:lambda:{aws_env['AWS_REGION']}:123456789012:function:{unique_name}:live"
    role = f"arn:aws:iam::123456789012:role/{unique_name}"
    schedule = Schedule(name=unique_name, group="default", expression="rate(5 minutes)", timezone="Europe/Amsterdam",
                        target_arn=arn, role_arn=role, enabled=False, retries=2, max_event_age=120,
                        input={"source": "test", "n": 1}, description="from the model")
    client.put_schedule(schedule, exists=False)
    found = boto3.client("scheduler").get_schedule(Name=unique_name, GroupName="default")
    assert found["Target"]["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 120}
    assert json.loads(found["Target"]["Input"]) == {"source": "test", "n": 1}
    assert (found["State"], found["Description"], found["ScheduleExpressionTimezone"]) == (
        "DISABLED", "from the model", "Europe/Amsterdam")
    read = client.schedule(unique_name, "default")
    assert read is not None and (read.retries, read.max_event_age, read.enabled) == (2, 120, False)
