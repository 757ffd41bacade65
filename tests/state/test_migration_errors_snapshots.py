"""Migration from the host's handler, loud failures, and the snapshot library functions."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest


def test_bucket_of_the_host_handler_loads_exactly_and_first_save_converts(make_handler, s3, bucket, tmp_path,
                                                                           write, tree, monkeypatch):
    from investing_algorithm_framework import AWSS3StorageStateHandler as HostHandler

    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for i in range(20):
        write(a, f"files/{i:04d}.txt", f"file {i}")
    write(a, "databases/prod-database.sqlite3", os.urandom(50_000))
    write(a, "ünï/cødé.txt", "non-ascii")
    host = HostHandler(bucket_name=bucket)
    host.initialize()
    host.save(str(a))
    # More than one listing page (the host handler itself loads only 1,000 keys): same plain
    # layout, written in parallel because the host handler uploads one file at a time.
    extra = [f"more/{i:04d}.txt" for i in range(1_030)]
    for rel in extra:
        write(a, rel, rel)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda rel: s3.put_object(Bucket=bucket, Key=rel, Body=rel.encode()), extra))
    legacy = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
              for o in page.get("Contents", [])}
    assert len(legacy) == 1_052

    handler, _ = make_handler()
    handler.load(str(b))
    assert tree(b) == tree(a)
    handler.save(str(b))  # converts
    keys = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])}
    assert ".iaf-state/HEAD.json" in keys and legacy <= keys  # nothing the user had is deleted
    write(b, "files/0000.txt", "changed after the conversion")
    handler.load(str(b))  # warm, unchanged pointer: repairs the local edit from the new layout
    assert tree(b) == tree(a)
    handler.save(str(b))
    fresh, log = make_handler()
    fresh.load(str(c))
    assert tree(c) == tree(a)
    assert not [k for op, k in log.calls if op == "GetObject" and "/objects/" not in (k or "")
                and not k.startswith(".iaf-state/")]  # read from the new layout only


def test_missing_bucket_is_one_clear_error(aws_env, tmp_path, unique_name):
    from investing_algorithm_framework import OperationalException
    from iaf_aws_plugin import AWSS3StorageStateHandler

    handler = AWSS3StorageStateHandler(unique_name)
    handler.initialize()
    with pytest.raises(OperationalException) as error:
        handler.load(str(tmp_path / "a"))
    message = str(error.value)
    assert unique_name in message and "does not exist" in message and "Fix:" in message
    assert "\n" not in message


def test_missing_credentials_is_one_clear_error(aws_env, tmp_path, monkeypatch, bucket):
    from investing_algorithm_framework import OperationalException
    from iaf_aws_plugin import AWSS3StorageStateHandler

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    empty = tmp_path / "no-credentials"
    empty.write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    handler = AWSS3StorageStateHandler(bucket)
    handler.initialize()
    with pytest.raises(OperationalException) as error:
        handler.load(str(tmp_path / "a"))
    message = str(error.value)
    assert "no AWS credentials" in message and bucket in message and "Fix:" in message


@pytest.mark.parametrize("code", ["AccessDenied", "InvalidAccessKeyId", "ExpiredToken"])
def test_access_denied_message_names_bucket_action_and_fix(code):
    from iaf_aws_plugin.state.s3 import _client_error_message

    message = _client_error_message("my-bucket", "write", "s3://my-bucket/k", code, 403, "denied")
    assert "my-bucket" in message and "write" in message and "s3:PutObject" in message and "Fix:" in message


def test_list_and_restore_snapshots(make_handler, bucket, tmp_path, write, tree):
    from iaf_aws_plugin.state.snapshots import list_snapshots, restore_snapshot

    a, b = tmp_path / "a", tmp_path / "b"
    handler, _ = make_handler(prefix="bot")
    versions = []
    for i in range(3):
        handler.load(str(a))
        write(a, "db.sqlite3", f"version {i}")
        write(a, f"only-in-{i}.txt", str(i))
        handler.save(str(a))
        versions.append(tree(a))
    snapshots = list_snapshots(bucket, prefix="bot", client=handler.s3_client)
    assert [s.generation for s in snapshots] == [1, 2, 3]
    assert [s.current for s in snapshots] == [False, False, True]

    handler.load(str(a))  # a run in progress: restoring must wait
    from iaf_aws_plugin import StateLockedError
    with pytest.raises(StateLockedError):
        restore_snapshot(bucket, 1, prefix="bot", client=handler.s3_client)
    handler.save(str(a))

    restored = restore_snapshot(bucket, 1, prefix="bot", client=handler.s3_client)
    assert restored.generation == 4 and restored.current
    handler.load(str(a))  # the warm instance follows the restore
    assert tree(a) == versions[0]
    handler.save(str(a))
    reader, _ = make_handler(prefix="bot")
    reader.load(str(b))
    assert tree(b) == versions[0]
    assert len(list_snapshots(bucket, prefix="bot", client=handler.s3_client)) == 4


def test_package_import_stays_cheap_and_exports_errors():
    import subprocess
    import sys

    code = ("import sys, iaf_aws_plugin; heavy = [m for m in ('boto3', 'botocore', "
            "'investing_algorithm_framework') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    import iaf_aws_plugin
    from investing_algorithm_framework import OperationalException

    assert issubclass(iaf_aws_plugin.StateLockedError, OperationalException)
    assert issubclass(iaf_aws_plugin.StateConflictError, OperationalException)


def test_access_denied_is_one_operational_error_naming_bucket_action_and_fix(
        aws_env, iam_enforcing_moto, iam_switch, monkeypatch, tmp_path, unique_name):
    """A real denial from an IAM-enforcing emulator: a role that may list but not read objects."""
    import json

    import boto3
    from investing_algorithm_framework.domain import OperationalException

    from iaf_aws_plugin import AWSS3StorageStateHandler

    monkeypatch.setenv("AWS_ENDPOINT_URL", iam_enforcing_moto)
    iam_switch(False)
    boto3.client("s3").create_bucket(Bucket=unique_name,
                                     CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    iam = boto3.client("iam")
    iam.create_user(UserName=unique_name)
    iam.put_user_policy(UserName=unique_name, PolicyName="list-only", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{unique_name}"}],
    }))
    key = iam.create_access_key(UserName=unique_name)["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    iam_switch(True)
    handler = AWSS3StorageStateHandler(bucket_name=unique_name)
    with pytest.raises(OperationalException) as error:
        handler.initialize()
        handler.load(str(tmp_path / "state"))
    message = str(error.value)
    assert unique_name in message and "Fix:" in message and "\n" not in message
    assert "denied" in message.lower() and "s3:" in message
