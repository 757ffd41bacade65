"""deploy-aws-lambda through the real host console script, against the moto server.

Assertions are on the emulator's side (resources and their settings) and on the saved
settings file, not only on the output.
"""
from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

pytestmark = pytest.mark.host

SECRETS = ("key-123-abc", "s3cr3t value", "tok-from-flag-999")
# The scaffolded strategy runs hourly (time_unit/interval on 8.x, Schedule.every(1, TimeUnit.HOUR) on 9.x):
# on the hour, UTC, when the hourly candle closes.
HOURLY = "cron(0 * * * ? *)"


def cli_deploy(host_cli, project: Path, aws_env: dict, *args: str):
    result = host_cli(["deploy-aws-lambda", *args], cwd=project, env=aws_env)
    for secret in SECRETS:
        assert secret not in result.stdout and secret not in result.stderr, "a secret leaked into the output"
    assert "Traceback" not in result.stderr, result.stderr
    return result


def bucket_facts(s3, bucket: str) -> dict:
    return {
        "pab": s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"],
        "sse": s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
        ["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"],
        "versioning": s3.get_bucket_versioning(Bucket=bucket).get("Status"),
        "policy": json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]),
        "location": s3.get_bucket_location(Bucket=bucket).get("LocationConstraint"),
    }


def test_first_deploy_redeploy_noop_and_schedule_removal(host_console, aws_env, bot_project, ecr_image, unique_name):
    """Through the real console script: a deploy, a changed redeploy, a no-op redeploy."""
    host_cli = host_console
    account, region = "123456789012", aws_env["AWS_REGION"]
    image_v1 = ecr_image("v1")
    first = cli_deploy(host_cli, bot_project, aws_env, "--lambda_function_name", unique_name, "--image-uri",
                       image_v1, "-e", "PLAIN_SETTING", "one", "-e", "EXCHANGE_TOKEN", SECRETS[2], "--yes")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "derived from strategies/my_strategy.py:MyTradingStrategy" in first.stdout

    # --- the emulator's side after the first deploy
    bucket = f"iaf-{unique_name}-{account}-{region}"
    s3 = boto3.client("s3", region_name=region)
    facts = bucket_facts(s3, bucket)
    assert facts["pab"] == {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                            "RestrictPublicBuckets": True}
    assert facts["sse"] == "AES256" and facts["versioning"] == "Enabled" and facts["location"] == region
    deny = facts["policy"]["Statement"][0]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}

    ecr = boto3.client("ecr", region_name=region)
    repo = ecr.describe_repositories(repositoryNames=[f"iaf-{unique_name}"])["repositories"][0]
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True
    rules = json.loads(ecr.get_lifecycle_policy(repositoryName=f"iaf-{unique_name}")["lifecyclePolicyText"])["rules"]
    # The only rule: untagged images expire after a day (never a count over every image: issue 13).
    assert [r["selection"] for r in rules] == [{"tagStatus": "untagged", "countType": "sinceImagePushed",
                                                "countUnit": "days", "countNumber": 1}]

    iam = boto3.client("iam")
    role = f"{unique_name}-iaf-lambda"
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []  # no managed S3 policy
    policy = iam.get_role_policy(RoleName=role, PolicyName="iaf-deploy-least-privilege")["PolicyDocument"]
    for statement in policy["Statement"]:
        assert "*" not in statement["Resource"]
        if any(a.startswith("s3:") for a in statement["Action"]):
            assert all(r.startswith(f"arn:aws:s3:::{bucket}") for r in statement["Resource"])

    lam = boto3.client("lambda", region_name=region)
    fn = lam.get_function(FunctionName=unique_name)
    digest_v1 = ecr.describe_images(repositoryName=f"prebuilt-{unique_name}",
                                    imageIds=[{"imageTag": "v1"}])["imageDetails"][0]["imageDigest"]
    assert fn["Code"]["ImageUri"].endswith(f"@{digest_v1}")  # by digest, never by tag
    config = fn["Configuration"]
    assert config["PackageType"] == "Image" and config["MemorySize"] == 3000 and config["Timeout"] == 900
    assert config["Role"] == f"arn:aws:iam::{account}:role/{role}"
    env = config["Environment"]["Variables"]
    assert env["AWS_S3_STATE_BUCKET_NAME"] == bucket and env["IAF_SSM_PARAMETER_PATH"] == f"/iaf-aws/{unique_name}/"
    assert env["PLAIN_SETTING"] == "one" and env["LOG_LEVEL"] == "INFO"
    assert not set(env) & {"BITVAVO_API_KEY", "BITVAVO_SECRET_KEY", "EXCHANGE_TOKEN"}
    assert not set(env.values()) & set(SECRETS)
    assert lam.get_alias(FunctionName=unique_name, Name="live")["FunctionVersion"] == "1"
    assert lam.get_function_concurrency(FunctionName=unique_name)["ReservedConcurrentExecutions"] == 1
    invoke = lam.get_function_event_invoke_config(FunctionName=unique_name, Qualifier="live")
    assert invoke["MaximumRetryAttempts"] == 0 and invoke["MaximumEventAgeInSeconds"] == 60

    ssm = boto3.client("ssm", region_name=region)
    params = {p["Name"]: p for p in ssm.get_parameters_by_path(Path=f"/iaf-aws/{unique_name}/",
                                                               WithDecryption=True)["Parameters"]}
    assert {n.rsplit("/", 1)[1]: p["Value"] for n, p in params.items()} == {
        "BITVAVO_API_KEY": "key-123-abc", "BITVAVO_SECRET_KEY": "s3cr3t value", "EXCHANGE_TOKEN": SECRETS[2]}
    assert {p["Type"] for p in params.values()} == {"SecureString"}

    scheduler = boto3.client("scheduler", region_name=region)
    schedule = scheduler.get_schedule(Name=f"{unique_name}-iaf")
    assert schedule["ScheduleExpression"] == HOURLY and schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["Target"]["Arn"] == f"arn:aws:lambda:{region}:{account}:function:{unique_name}:live"
    # The run learns the minute it was scheduled for (the handler's is_due gate), also when it starts late.
    assert json.loads(schedule["Target"]["Input"]) == {"source": "iaf-aws-plugin.schedule", "schedule": f"{unique_name}-iaf",
                                                       "scheduled_time": "<aws.scheduler.scheduled-time>"}
    scheduler_policy = iam.get_role_policy(RoleName=f"{unique_name}-iaf-scheduler", PolicyName="iaf-invoke-live-alias")
    assert scheduler_policy["PolicyDocument"]["Statement"][0]["Resource"] == [schedule["Target"]["Arn"]]

    saved = json.loads((bot_project / "iaf-aws-lambda.json").read_text())
    assert saved["function_name"] == unique_name and saved["env"] == {"PLAIN_SETTING": "one"}
    assert saved["schedule"] == HOURLY and saved["image_uri"] == image_v1
    assert not any(secret in json.dumps(saved) for secret in SECRETS)

    # Trading state in the bucket. moto enforces the TLS-only policy and we talk plain HTTP to it:
    # lift the policy to write (the redeploy must notice the drift and put it back).
    s3.delete_bucket_policy(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="state/db.sqlite3", Body=b"trading state")

    # --- redeploy with changes
    image_v2 = ecr_image("v2")
    second = cli_deploy(host_cli, bot_project, aws_env, "--image-uri", image_v2, "--memory-size", "1024",
                        "--timeout", "120", "--schedule", "cron(0 9 * * ? *)", "--schedule-timezone",
                        "Europe/Amsterdam", "-e", "PLAIN_SETTING", "two", "--yes")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "memory 3000 -> 1024 MB" in second.stdout
    assert f"update  S3 state bucket {bucket} (TLS-only bucket policy)" in second.stdout
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == facts["policy"]
    config = lam.get_function(FunctionName=unique_name)
    assert config["Configuration"]["MemorySize"] == 1024 and config["Configuration"]["Timeout"] == 120
    assert config["Configuration"]["Environment"]["Variables"]["PLAIN_SETTING"] == "two"
    assert not config["Code"]["ImageUri"].endswith(digest_v1)
    assert lam.get_alias(FunctionName=unique_name, Name="live")["FunctionVersion"] == "2"
    schedule = scheduler.get_schedule(Name=f"{unique_name}-iaf")
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == (
        "cron(0 9 * * ? *)", "Europe/Amsterdam")

    # --- no flags at all: the saved settings redeploy the same bot, and nothing changes
    third = cli_deploy(host_cli, bot_project, aws_env)
    assert third.returncode == 0, third.stdout + third.stderr
    assert "Nothing to change" in third.stdout
    versions = lam.list_versions_by_function(FunctionName=unique_name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]

    # --- --schedule none removes the schedule
    fourth = cli_deploy(host_cli, bot_project, aws_env, "--schedule", "none", "--yes")
    assert fourth.returncode == 0, fourth.stdout + fourth.stderr
    with pytest.raises(scheduler.exceptions.ResourceNotFoundException):
        scheduler.get_schedule(Name=f"{unique_name}-iaf")
    assert json.loads((bot_project / "iaf-aws-lambda.json").read_text())["schedule"] == "none"

    # The state bucket was reused by every redeploy, never emptied.
    s3.delete_bucket_policy(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="state/db.sqlite3")["Body"].read() == b"trading state"


def test_dry_run_prints_the_plan_and_creates_nothing(host_cli, aws_env, bot_project, ecr_image, unique_name):
    result = cli_deploy(host_cli, bot_project, aws_env, "--lambda-function-name", unique_name,
                        "--image-uri", ecr_image("v1"), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "create  Lambda function" in result.stdout and "Dry run: nothing was changed." in result.stdout
    lam = boto3.client("lambda")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=unique_name)
    assert f"iaf-{unique_name}-" not in " ".join(b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"])
    assert not (bot_project / "iaf-aws-lambda.json").exists()


@pytest.mark.anyhost  # the bucket rules of our deploy engine (in process)
def test_us_east_1_bucket_has_no_location_constraint(host_cli, aws_env, bot_project, ecr_image, unique_name):
    env = {**aws_env, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
    image = ecr_image("v1", region="us-east-1")
    result = cli_deploy(host_cli, bot_project, env, "--lambda_function_name", unique_name, "--region", "us-east-1",
                        "--image-uri", image, "--schedule", "rate(5 minutes)", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "more often than the strategies need" in result.stderr
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = f"iaf-{unique_name}-123456789012-us-east-1"
    assert s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") is None
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    fn = boto3.client("lambda", region_name="us-east-1").get_function(FunctionName=unique_name)
    assert ".dkr.ecr.us-east-1.amazonaws.com/" in fn["Code"]["ImageUri"]
    schedule = boto3.client("scheduler", region_name="us-east-1").get_schedule(Name=f"{unique_name}-iaf")
    assert schedule["ScheduleExpression"] == "rate(5 minutes)"


@pytest.mark.parametrize("args, expected", [
    (["--lambda_function_name", "bot", "--memory_size", "64"], "invalid --memory-size 64"),
    (["--lambda_function_name", "bot", "--project_dir", "."], "has no aws_function.py"),
])
def test_bad_input_is_one_line_and_non_zero(host_cli, aws_env, bot_project, tmp_path, args, expected):
    cwd = tmp_path if "--project_dir" in args else bot_project
    result = host_cli(["deploy-aws-lambda", *args, "--yes"], cwd=cwd, env=aws_env)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and expected in errors[0], result.stderr


# Our deploy's interruption handling and convergence: the console script is only the vehicle (no host
# installs a SIGINT handler in its CLI: checked in 8.0.0, 8.10.0 and 9.0.0a20); the console script
# itself is proven per host by the first deploy above and tests/plugin/test_host_cli.py.
@pytest.mark.anyhost
def test_deploy_interrupted_by_ctrl_c_converges_when_rerun(aws_env, bot_project, ecr_image, unique_name):
    """A real interruption: SIGINT to the host console script right after its second step."""
    import os
    import signal
    import subprocess
    import sys

    image = ecr_image("v1")
    args = [str(Path(sys.executable).parent / "investing-algorithm-framework"), "deploy-aws-lambda",
            "--lambda-function-name", unique_name, "--image-uri", image, "--yes"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(aws_env, PYTHONUNBUFFERED="1")
    # A test runner started as a background job of a non-interactive shell ignores SIGINT, and the
    # child would inherit that: give it the default handler, as an interactive terminal does.
    process = subprocess.Popen(args, cwd=bot_project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("[2/"):
            process.send_signal(signal.SIGINT)
            break
    stdout = process.stdout.read()  # until the process exits
    stderr = process.stderr.read()
    process.wait(timeout=120)
    assert process.returncode != 0, "".join(seen)
    assert "Interrupted during:" in stdout and "continues where it stopped" in stdout, stdout
    assert "Traceback" not in stderr, stderr
    assert not (bot_project / "iaf-aws-lambda.json").exists()

    from subprocess import run

    rerun = run(args, cwd=bot_project, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "unchanged  S3 state bucket" in rerun.stdout  # reused, not created twice
    lam = boto3.client("lambda")
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=unique_name)["Versions"]] == [
        "$LATEST", "1"]
    assert lam.get_alias(FunctionName=unique_name, Name="live")["FunctionVersion"] == "1"
    assert boto3.client("scheduler").get_schedule(Name=f"{unique_name}-iaf")["State"] == "ENABLED"
    assert json.loads((bot_project / "iaf-aws-lambda.json").read_text())["function_name"] == unique_name
