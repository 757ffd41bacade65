"""One deploy at a time per bot: the deploy lease in the state bucket (moto server; S3 conditional writes)."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import boto3
import pytest

pytestmark = pytest.mark.anyhost

LEASE_KEY = ".iaf-deploy/lease.json"


def reopening_echo(bot, lines: list[str]):
    """The deploy's echo that lifts the bucket's TLS-only policy again right after the deploy puts it back
    (moto denies every object call under it, HTTPS or not: see tests/operate/conftest.py)."""
    def echo(line: str) -> None:
        lines.append(line)
        if "S3 state bucket" in line:
            boto3.client("s3", region_name=bot.region).delete_bucket_policy(Bucket=bot.bucket)
    return echo


def test_two_deploys_started_together_one_applies_one_is_refused(deployed_bot):
    from iaf_aws_plugin.deploy.pipeline import deploy
    from iaf_aws_plugin.deploy.settings import DeployOptions
    from iaf_aws_plugin.errors import PluginError

    bot = deployed_bot
    start = threading.Barrier(2)
    done = threading.Event()
    outcome: dict[int, object] = {}
    lines_of: dict[int, list[str]] = {}

    def confirm(_question: str) -> bool:  # only the lease holder gets here: it waits for the other deploy
        assert done.wait(120), "the other deploy was not refused"
        return True

    def run(memory: int) -> None:
        lines: list[str] = lines_of.setdefault(memory, [])
        start.wait()
        try:
            outcome[memory] = deploy(DeployOptions(project_dir=bot.project, memory_size=memory),
                                     echo=reopening_echo(bot, lines), warn=lines.append, confirm=confirm)
        except PluginError as exc:
            outcome[memory] = exc
            done.set()

    threads = [threading.Thread(target=run, args=(memory,)) for memory in (1024, 2048)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    refused = [o for o in outcome.values() if isinstance(o, PluginError)]
    applied = [o for o in outcome.values() if not isinstance(o, PluginError)]
    assert len(refused) == 1 and len(applied) == 1, outcome
    message = str(refused[0])
    assert "\n" not in message and "another deploy of this bot is running" in message
    assert "arn:aws:sts::123456789012:user/moto on " in message and " since 20" in message
    assert applied[0].applied
    winner = applied[0].settings.memory_size
    config = boto3.client("lambda", region_name=bot.region).get_function_configuration(FunctionName=bot.function)
    assert config["MemorySize"] == winner
    assert json.loads((bot.project / "iaf-aws-lambda.json").read_text())["memory_size"] == winner
    s3 = boto3.client("s3", region_name=bot.region)
    assert "Contents" not in s3.list_objects_v2(Bucket=bot.bucket, Prefix=".iaf-deploy/")  # released


def _put_lease(bot, *, expires: datetime) -> None:
    record = {"holder": "arn:aws:sts::123456789012:assumed-role/ci/github on runner-7", "since": "2026-01-02T03:04:05Z",
              "expires": expires.strftime("%Y-%m-%dT%H:%M:%SZ"), "token": "other"}
    boto3.client("s3", region_name=bot.region).put_object(Bucket=bot.bucket, Key=LEASE_KEY,
                                                          Body=json.dumps(record).encode())


def test_a_held_lease_is_one_line_an_expired_one_is_taken_over_force_unlock_removes_one(host_cli, deployed_bot,
                                                                                        op):
    from iaf_aws_plugin.deploy.pipeline import deploy
    from iaf_aws_plugin.deploy.settings import DeployOptions

    bot = deployed_bot
    s3 = boto3.client("s3", region_name=bot.region)
    _put_lease(bot, expires=datetime.now(timezone.utc) + timedelta(minutes=30))
    refused = op.cli(host_cli, bot, "deploy-aws-lambda", "--memory-size", "1024", "--yes")
    assert refused.returncode == 1
    errors = [line for line in refused.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "assumed-role/ci/github on runner-7 holds the deploy lease since " \
                                "2026-01-02T03:04:05Z" in errors[0] and "--force-unlock" in errors[0], refused.stderr
    assert op.cli(host_cli, bot, "deploy-aws-lambda", "--dry-run").returncode == 0  # a dry run takes no lease

    _put_lease(bot, expires=datetime.now(timezone.utc) - timedelta(minutes=1))  # a deploy that died long ago
    lines: list[str] = []
    result = deploy(DeployOptions(project_dir=bot.project, memory_size=2048, yes=True),
                    echo=reopening_echo(bot, lines), warn=lines.append)
    assert result.applied, lines
    assert "Contents" not in s3.list_objects_v2(Bucket=bot.bucket, Prefix=".iaf-deploy/")

    _put_lease(bot, expires=datetime.now(timezone.utc) + timedelta(minutes=30))
    forced = op.cli(host_cli, bot, "deploy-aws-lambda", "--memory-size", "1024", "--yes", "--force-unlock")
    assert forced.returncode == 0, forced.stderr
    assert "--force-unlock: removed the deploy lease of arn:aws:sts::123456789012:assumed-role/ci/github" \
           in forced.stdout
    assert "Deployed " in forced.stdout
