"""deploy-aws-lambda --dry-run --json / --exit-code, and which AWS profile is used (in-process host CLI,
moto server): AWS_PROFILE over a saved profile, --profile '' clears it, empty or unknown is one line."""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.anyhost


def _lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Error:")]


def test_json_plan_and_exit_code_before_and_after_the_deploy(host_cli, aws_env, bot_project, ecr_image,
                                                             unique_name):
    image = ecr_image("v1")
    base = ["deploy-aws-lambda", "--lambda-function-name", unique_name, "--image-uri", image]
    pending = host_cli([*base, "--dry-run", "--json", "--exit-code"], cwd=bot_project, env=aws_env)
    assert pending.returncode == 2, pending.stderr
    plan = json.loads(pending.stdout)  # stdout is the JSON document alone
    assert plan["function"] == unique_name and plan["changes_pending"] is True
    assert {"action": "create", "resource": "Lambda function", "name": unique_name} in [
        {k: step[k] for k in ("action", "resource", "name")} for step in plan["steps"]], plan["steps"]
    assert plan["counts"]["create"] >= 5
    assert "Plan:" in pending.stderr and "Dry run: nothing was changed." in pending.stderr
    for secret in ("key-123-abc", "s3cr3t value"):
        assert secret not in pending.stdout + pending.stderr
    assert not (bot_project / "iaf-aws-lambda.json").exists()

    deployed = host_cli([*base, "--yes"], cwd=bot_project, env=aws_env)
    assert deployed.returncode == 0, deployed.stderr

    clean = host_cli(["deploy-aws-lambda", "--dry-run", "--json", "--exit-code"], cwd=bot_project, env=aws_env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    plan = json.loads(clean.stdout)
    assert plan["changes_pending"] is False and plan["counts"] == {}
    assert {step["action"] for step in plan["steps"]} == {"unchanged"}

    plain = host_cli(["deploy-aws-lambda", "--dry-run", "--exit-code", "--memory-size", "1024"], cwd=bot_project,
                     env=aws_env)
    assert plain.returncode == 2 and "Plan:" in plain.stdout, plain.stderr

    refused = host_cli(["deploy-aws-lambda", "--json", "--yes"], cwd=bot_project, env=aws_env)
    assert refused.returncode == 1 and len(_lines(refused)) == 1 and "--dry-run" in _lines(refused)[0]


def test_aws_profile_overrides_a_saved_profile(host_cli, aws_env, bot_project, ecr_image, unique_name):
    image = ecr_image("v1")
    settings = bot_project / "iaf-aws-lambda.json"
    settings.write_text(json.dumps({"version": 1, "profile": "laptop"}))  # saved on another machine
    status = ["status-aws-lambda", "--lambda-function-name", unique_name]

    unknown = host_cli(["deploy-aws-lambda", "--image-uri", image, "--dry-run"], cwd=bot_project, env=aws_env)
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
    assert _lines(unknown) == [_lines(unknown)[0]] and \
        "the AWS profile 'laptop' does not exist (it comes from the saved settings)" in _lines(unknown)[0]

    ci = host_cli(["deploy-aws-lambda", "--lambda-function-name", unique_name, "--image-uri", image, "--yes"],
                  cwd=bot_project, env={**aws_env, "AWS_PROFILE": "default"})
    assert ci.returncode == 0, ci.stderr
    assert json.loads(settings.read_text())["profile"] == "laptop"  # AWS_PROFILE is not saved over it
    assert host_cli(status, cwd=bot_project, env={**aws_env, "AWS_PROFILE": "default"}).returncode == 0

    cleared = host_cli([*status, "--profile", ""], cwd=bot_project, env=aws_env)
    assert cleared.returncode == 0, cleared.stderr

    for env, words in (({**aws_env, "AWS_PROFILE": ""}, "AWS_PROFILE is set but empty"),
                       ({**aws_env, "AWS_PROFILE": "nope"}, "the AWS profile 'nope' does not exist (it comes from AWS_PROFILE)")):
        for args in (status, ["deploy-aws-lambda", "--dry-run"]):
            result = host_cli(args, cwd=bot_project, env=env)
            assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
            assert len(_lines(result)) == 1 and words in _lines(result)[0], result.stderr

    dropped = host_cli(["deploy-aws-lambda", "--profile", "", "--yes"], cwd=bot_project, env=aws_env)
    assert dropped.returncode == 0, dropped.stderr
    assert "profile" not in json.loads(settings.read_text())
