"""The keep-active ping (issue 19, item 3) through the scaffolded handler, in a process of its own
(a cold start: aws_function.py imported as Lambda does) with the real S3 state handler against the
emulator, every request through a loopback proxy: the ping is answered without one request to the
state bucket and without a trade. The contrast, in the same process after a marker request: the
state handler's own read of the state pointer does show up at the proxy."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .test_end_to_end import install_offline_runner

pytestmark = pytest.mark.host

PING = {"source": "iaf-aws-plugin.keep-active", "schedule": "bot-iaf-keep-active"}
MARKER = "/iaf-test-marker"
RUNNER = """
import json, os, sys, urllib.error, urllib.request
from datetime import datetime, timezone
sys.path.insert(0, os.getcwd())
import aws_function  # the scaffolded entry point, as Lambda imports it (cold start)
import paper_market  # noqa: F401  (the offline paper market: no exchange)
result = aws_function.lambda_handler(json.loads(os.environ["PING_EVENT"]), None)
print("PING-RESULT " + json.dumps(result), flush=True)
try:
    urllib.request.urlopen(os.environ["AWS_ENDPOINT_URL"] + "%s", timeout=10)
except urllib.error.HTTPError:
    pass
# The contrast: what a scheduled delivery does first, one read of the state pointer.
aws_function.state_handler.set_scheduled_time(datetime(2026, 1, 1, 9, tzinfo=timezone.utc))
print("CONTRAST-DONE", flush=True)
""" % MARKER


def object_versions(s3, bucket: str) -> list[tuple[str, str]]:
    found = s3.list_object_versions(Bucket=bucket)
    return sorted((v["Key"], v["VersionId"]) for v in found.get("Versions", []) + found.get("DeleteMarkers", []))


def test_the_ping_loads_no_state_and_trades_nothing(aws_env, bucket, s3, fault_proxy, tmp_path):
    from iaf_aws_plugin.scaffold import scaffold
    from iaf_aws_plugin.schedule_gate import KEEP_ACTIVE_ANSWER

    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="sentinel.txt", Body=b"left alone")
    before = object_versions(s3, bucket)
    project = tmp_path / "bot"
    scaffold(project)
    install_offline_runner(project)
    full = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    full.update(aws_env, AWS_ENDPOINT_URL=fault_proxy.url, AWS_S3_STATE_BUCKET_NAME=bucket,
                BITVAVO_API_KEY="paper-key", BITVAVO_SECRET_KEY="paper-secret", IAF_FUNCTION_TIMEOUT="120",
                PING_EVENT=json.dumps(PING), RESOURCE_DIRECTORY=str(tmp_path / "container"))
    seen = len(fault_proxy.seen)
    ran = subprocess.run([sys.executable, "-c", RUNNER], cwd=project, env=full, capture_output=True, text=True,
                         timeout=300)
    assert ran.returncode == 0, ran.stderr[-4000:]
    assert "CONTRAST-DONE" in ran.stdout
    line = next(x for x in ran.stdout.splitlines() if x.startswith("PING-RESULT "))
    assert json.loads(line[len("PING-RESULT "):]) == {"statusCode": 200, "body": KEEP_ACTIVE_ANSWER}

    paths = [path for _method, path, _query, _action in fault_proxy.seen[seen:]]
    marker = paths.index(MARKER)
    to_bucket = [i for i, path in enumerate(paths) if path.lstrip("/").split("/", 1)[0] == bucket]
    assert to_bucket, "the proxy sees the state handler's requests (the contrast)"
    assert min(to_bucket) > marker, f"the ping touched the state bucket: {paths[:marker]}"
    assert object_versions(s3, bucket) == before  # nothing written
    assert not (tmp_path / "container" / "databases").exists()  # no state brought into the container
