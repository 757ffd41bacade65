"""The execution role's policy is enough for what the function does, and no more.

On an IAM-enforcing emulator, a principal holding exactly ``function_policy`` runs the state
handler (load, save, a second load) and is refused another bot's state. (moto checks S3 calls
against the object's ARN but every other service's against ``*``, so the resource-scoped SSM
statement cannot be shown to suffice here; test_planner checks its ARNs.)
"""
from __future__ import annotations

import json

import boto3
import pytest

from iaf_aws_plugin.deploy.desired import Names, function_policy

ACCOUNT = "123456789012"


def test_state_handler_works_with_exactly_the_function_policy(
        aws_env, iam_enforcing_moto, iam_switch, monkeypatch, tmp_path, unique_name):
    from investing_algorithm_framework.domain import OperationalException

    from iaf_aws_plugin import AWSS3StorageStateHandler

    monkeypatch.setenv("AWS_ENDPOINT_URL", iam_enforcing_moto)
    iam_switch(False)
    names = Names.derive(ACCOUNT, "eu-west-1", unique_name)
    other = Names.derive(ACCOUNT, "eu-west-1", unique_name + "x")
    s3 = boto3.client("s3")
    for bucket in (names.bucket, other.bucket):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    iam = boto3.client("iam")
    iam.create_user(UserName=unique_name)
    iam.put_user_policy(UserName=unique_name, PolicyName="function",
                        PolicyDocument=json.dumps(function_policy(names)))
    key = iam.create_access_key(UserName=unique_name)["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    iam_switch(True)
    try:
        state = tmp_path / "state"
        (state / "databases").mkdir(parents=True)
        (state / "databases" / "prod-database.sqlite3").write_bytes(b"orders and trades")
        first = AWSS3StorageStateHandler(bucket_name=names.bucket)
        first.initialize()
        first.load(str(state))
        first.save(str(state))
        second = AWSS3StorageStateHandler(bucket_name=names.bucket)
        second.initialize()
        second.load(str(tmp_path / "again"))
        assert (tmp_path / "again" / "databases" / "prod-database.sqlite3").read_bytes() == b"orders and trades"
        second.save(str(tmp_path / "again"))

        foreign = AWSS3StorageStateHandler(bucket_name=other.bucket)
        foreign.initialize()
        with pytest.raises(OperationalException, match="access denied"):
            foreign.load(str(tmp_path / "foreign"))
    finally:
        iam_switch(False)
