"""rollback-aws-lambda and destroy-aws-lambda through the real host console script, on moto."""
from __future__ import annotations

import boto3
import pytest

# Our rollback and destroy against moto (in process): nothing of the host.
pytestmark = [pytest.mark.host, pytest.mark.anyhost]


def alias_version(function: str) -> str:
    return boto3.client("lambda").get_alias(FunctionName=function, Name="live")["FunctionVersion"]


def test_rollback_to_the_previous_and_a_given_version(host_cli, deployed_bot, op, ecr_image, deploy_inprocess):
    bot = deployed_bot
    image_v2 = ecr_image("v2")
    result, _ = deploy_inprocess(bot.project, image_uri=image_v2, memory_size=1024)
    assert result.applied and alias_version(bot.function) == "2"

    dry = op.cli(host_cli, bot, "rollback-aws-lambda", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "alias live: version 2 -> 1" in dry.stdout and "memory 1024 MB -> 3000 MB" in dry.stdout
    # (moto reports the function's newest ImageUri for every version, so no image line here;
    # AWS gives each version its own image and the plan shows "image sha256:… -> sha256:…".)
    assert alias_version(bot.function) == "2"

    no_tty = op.cli(host_cli, bot, "rollback-aws-lambda")
    assert no_tty.returncode == 1 and "--yes" in no_tty.stderr and alias_version(bot.function) == "2"

    back = op.cli(host_cli, bot, "rollback-aws-lambda", "--yes")
    assert back.returncode == 0, back.stderr
    print(back.stdout)
    assert "Rolled back: the live alias runs version 1 (was 2)" in back.stdout
    assert alias_version(bot.function) == "1"
    # status shows what the alias runs (version 1: 3000 MB), not $LATEST (1024 MB)
    from iaf_aws_plugin.operate.status import collect_status, render_status
    from iaf_aws_plugin.operate.target import TargetOptions, resolve_target

    status = collect_status(resolve_target(TargetOptions(project_dir=bot.project)), invocations=0)
    assert (status["function"]["version"], status["function"]["memory_mb"]) == ("1", 3000)
    assert "(version 1, the one the alias runs)" in "\n".join(render_status(status))

    nothing = op.cli(host_cli, bot, "rollback-aws-lambda", "--yes")
    assert nothing.returncode == 1 and "nothing to roll back to: version 1 is the oldest" in nothing.stderr

    forward = op.cli(host_cli, bot, "rollback-aws-lambda", "--to", "2", "--yes")
    assert forward.returncode == 0 and alias_version(bot.function) == "2"

    unknown = op.cli(host_cli, bot, "rollback-aws-lambda", "--to", "7", "--yes")
    assert unknown.returncode == 1 and "version '7' of" in unknown.stderr and "kept versions: 1, 2" in unknown.stderr

    # The image of version 1 is gone from ECR: Lambda could not start it, so no rollback to it.
    # (The whole repository goes: moto reports the newest image for every version.)
    ecr = boto3.client("ecr")
    repository = bot.image.split("/", 1)[1].split(":")[0]
    ecr.delete_repository(repositoryName=repository, force=True)
    gone = op.cli(host_cli, bot, "rollback-aws-lambda", "--yes")
    assert gone.returncode == 1 and "is no longer in ECR" in gone.stderr
    assert alias_version(bot.function) == "2"


def test_rollback_without_a_deployed_bot(host_cli, aws_env, tmp_path, unique_name):
    result = host_cli(["rollback-aws-lambda", "--lambda-function-name", unique_name, "--yes"], cwd=tmp_path,
                      env=aws_env)
    assert result.returncode == 1 and "has no live alias" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def resources_left(bot) -> dict[str, bool]:
    lam, iam, ecr = boto3.client("lambda"), boto3.client("iam"), boto3.client("ecr")
    logs, ssm, scheduler, s3, sqs = (boto3.client(s) for s in ("logs", "ssm", "scheduler", "s3", "sqs"))

    def exists(call, *errors) -> bool:
        try:
            call()
            return True
        except tuple(errors):
            return False

    return {
        "function": exists(lambda: lam.get_function(FunctionName=bot.function), lam.exceptions.ResourceNotFoundException),
        "role": exists(lambda: iam.get_role(RoleName=f"{bot.function}-iaf-lambda"), iam.exceptions.NoSuchEntityException),
        "scheduler_role": exists(lambda: iam.get_role(RoleName=f"{bot.function}-iaf-scheduler"),
                                 iam.exceptions.NoSuchEntityException),
        "repository": exists(lambda: ecr.describe_repositories(repositoryNames=[f"iaf-{bot.function}"]),
                             ecr.exceptions.RepositoryNotFoundException),
        "log_group": any(g["logGroupName"] == bot.log_group
                         for g in logs.describe_log_groups(logGroupNamePrefix=bot.log_group)["logGroups"]),
        "parameters": bool(ssm.get_parameters_by_path(Path=f"/iaf-aws/{bot.function}/")["Parameters"]),
        "schedule": exists(lambda: scheduler.get_schedule(Name=f"{bot.function}-iaf"),
                           scheduler.exceptions.ResourceNotFoundException),
        "dead_letter_queue": exists(lambda: sqs.get_queue_url(QueueName=f"{bot.function}-iaf-dlq"),
                                    sqs.exceptions.QueueDoesNotExist),
        "bucket": exists(lambda: s3.head_bucket(Bucket=bot.bucket), s3.exceptions.ClientError),
    }


def test_destroy_keeps_the_state_then_deploy_brings_the_bot_back_with_it(host_cli, deployed_bot, op, tmp_path):
    bot = deployed_bot
    op.save_state(bot.bucket, {"databases/prod.sqlite3": "orders: 1 BUY BTC"}, tmp_path / "run")
    op.put_log_events(bot.log_group, "s1", op.invocation_lines("r-1", op.now_ms(), ["hello"]))
    assert all(resources_left(bot).values())

    dry = op.cli(host_cli, bot, "destroy-aws-lambda", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    print(dry.stdout)
    for line in ("delete  Schedule", "delete  Dead-letter queue", "delete  Lambda alias", "delete  Lambda function", "delete  IAM role",
                 "delete  ECR repository", "delete  Log group", "delete  SSM secrets", "keep  S3 state bucket"):
        assert line in dry.stdout, line
    assert "Dry run: nothing was deleted." in dry.stdout and all(resources_left(bot).values())

    refused = op.cli(host_cli, bot, "destroy-aws-lambda")
    assert refused.returncode == 1 and "--yes" in refused.stderr and all(resources_left(bot).values())

    done = op.cli(host_cli, bot, "destroy-aws-lambda", "--yes")
    assert done.returncode == 0, done.stderr
    print(done.stdout)
    assert f"The trading state stays in s3://{bot.bucket}" in done.stdout
    left = resources_left(bot)
    assert left.pop("bucket") and not any(left.values()), left

    again = op.cli(host_cli, bot, "destroy-aws-lambda", "--yes")
    assert again.returncode == 0, again.stderr
    assert "Nothing to destroy" in again.stdout and "[1/" not in again.stdout

    # The saved settings redeploy the same bot, and it finds its old state.
    redeploy = op.cli(host_cli, bot, "deploy-aws-lambda", "--yes")
    assert redeploy.returncode == 0, redeploy.stdout + redeploy.stderr
    assert all(v for k, v in resources_left(bot).items() if k != "log_group")
    op.open_bucket_over_http(bot.bucket)
    pulled = tmp_path / "pulled"
    status = op.cli(host_cli, bot, "status-aws-lambda")
    assert "snapshot 1 saved" in status.stdout and "1 files" in status.stdout, status.stdout
    from iaf_aws_plugin.state.admin import pull

    pull(bot.bucket, boto3.client("s3"), str(pulled))
    assert (pulled / "databases" / "prod.sqlite3").read_text() == "orders: 1 BUY BTC"


def test_destroy_delete_state_needs_the_name_typed_out(host_cli, deployed_bot, op, tmp_path, deploy_inprocess):
    bot = deployed_bot
    deploy_inprocess(bot.project, alert_email="ops@example.com")
    op.open_bucket_over_http(bot.bucket)
    op.save_state(bot.bucket, {"a.txt": "state"}, tmp_path / "run")
    unconfirmed = op.cli(host_cli, bot, "destroy-aws-lambda", "--delete-state", "--yes")
    assert unconfirmed.returncode == 1 and f"--confirm {bot.function}" in unconfirmed.stderr
    no_tty = op.cli(host_cli, bot, "destroy-aws-lambda", "--delete-state")
    assert no_tty.returncode == 1 and "typed on a terminal" in no_tty.stderr
    wrong = op.cli(host_cli, bot, "destroy-aws-lambda", "--delete-state", "--yes", "--confirm", "other")
    assert wrong.returncode == 1 and resources_left(bot)["bucket"] and resources_left(bot)["function"]

    dry = op.cli(host_cli, bot, "destroy-aws-lambda", "--delete-state", "--dry-run")
    assert "delete  S3 state bucket" in dry.stdout and "TRADING STATE: " in dry.stdout
    assert f"delete  Alerts {bot.function}-iaf-alerts (4 alarms, SNS topic)" in dry.stdout, dry.stdout

    gone = op.cli(host_cli, bot, "destroy-aws-lambda", "--delete-state", "--yes", "--confirm", bot.function)
    assert gone.returncode == 0, gone.stderr
    assert not any(resources_left(bot).values())
    assert not boto3.client("cloudwatch").describe_alarms(AlarmNamePrefix=bot.function)["MetricAlarms"]
    again = op.cli(host_cli, bot, "destroy-aws-lambda", "--delete-state", "--yes", "--confirm", bot.function)
    assert again.returncode == 0 and "Nothing to destroy" in again.stdout


def test_rollback_steps_back_n_kept_versions(host_cli, deployed_bot, op, deploy_inprocess):
    bot = deployed_bot
    for memory in (1024, 2048):
        result, _ = deploy_inprocess(bot.project, memory_size=memory)
        assert result.applied
    assert alias_version(bot.function) == "3"

    too_far = op.cli(host_cli, bot, "rollback-aws-lambda", "--steps", "3", "--yes")
    assert too_far.returncode == 1 and "cannot roll back 3 versions: 2 older than version 3 are kept (1, 2)" \
        in too_far.stderr and alias_version(bot.function) == "3"
    both = op.cli(host_cli, bot, "rollback-aws-lambda", "--steps", "1", "--to", "1", "--yes")
    assert both.returncode == 1 and "--steps and --to" in both.stderr

    back = op.cli(host_cli, bot, "rollback-aws-lambda", "-n", "2", "--yes")
    assert back.returncode == 0, back.stderr
    assert "Rolled back: the live alias runs version 1 (was 3)" in back.stdout
    assert alias_version(bot.function) == "1"


def test_destroy_keep_logs_keeps_the_log_group_and_its_events(host_cli, deployed_bot, op):
    bot = deployed_bot
    op.put_log_events(bot.log_group, "s1", op.invocation_lines("r-1", op.now_ms(), ["bought 0.01 BTC"]))
    dry = op.cli(host_cli, bot, "destroy-aws-lambda", "--keep-logs", "--dry-run")
    assert dry.returncode == 0 and "keep  Log group" in dry.stdout and "delete  Log group" not in dry.stdout, dry.stdout

    done = op.cli(host_cli, bot, "destroy-aws-lambda", "--keep-logs", "--yes")
    assert done.returncode == 0, done.stderr
    assert f"The logs stay in {bot.log_group}." in done.stdout
    left = resources_left(bot)
    assert left.pop("bucket") and left.pop("log_group") and not any(left.values()), left
    events = boto3.client("logs", region_name=bot.region).filter_log_events(logGroupName=bot.log_group)["events"]
    assert any("bought 0.01 BTC" in event["message"] for event in events)
