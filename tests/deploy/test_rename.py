"""One bot per folder (issue 19, item 5): deploying a folder under another --lambda-function-name than
the deployed one is refused before any change; --rename deploys the new function, then disables the
old one's schedule and prints the exact command that destroys it. Never two bots trading silently."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import boto3
import pytest

pytestmark = [pytest.mark.anyhost]

TOKEN = "tok-rename-5f3e9a1c"  # kept only in SSM (given once with -e): it must move with the bot


def settings_of(project: Path) -> dict:
    return json.loads((project / "iaf-aws-lambda.json").read_text())


def schedule_state(name: str) -> tuple[str, str]:
    found = boto3.client("scheduler").get_schedule(Name=f"{name}-iaf")
    return found["State"], found.get("Description", "")


def function_exists(name: str) -> bool:
    lam = boto3.client("lambda")
    try:
        lam.get_function(FunctionName=name)
    except lam.exceptions.ResourceNotFoundException:
        return False
    return True


def test_rename_is_refused_then_done_with_rename_and_the_printed_destroy_works(
        host_cli, host_console, aws_env, bot_project, ecr_image, unique_name) -> None:
    old, new = f"{unique_name}a", f"{unique_name}b"
    image = ecr_image("v1")
    first = host_cli(["deploy-aws-lambda", "--lambda-function-name", old, "--image-uri", image,
                      "-e", "EXCHANGE_TOKEN", TOKEN, "--yes"], cwd=bot_project, env=aws_env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert schedule_state(old)[0] == "ENABLED"

    # Another name, no --rename: one line with the fix, nothing changed (through the real console script).
    refused = host_console(["deploy-aws-lambda", "--lambda-function-name", new, "--image-uri", image, "--yes"],
                           cwd=bot_project, env=aws_env)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stdout + refused.stderr
    errors = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, refused.stderr
    assert errors[0].startswith(f"Error: this folder's bot is {old} (saved in iaf-aws-lambda.json), and it is still "
                                f"deployed: deploying the folder as {new} would leave two bots trading"), errors[0]
    assert f"Pass --rename to deploy {new}" in errors[0] and "Nothing was changed." in errors[0]
    assert not function_exists(new) and schedule_state(old)[0] == "ENABLED"
    assert settings_of(bot_project)["function_name"] == old

    # The dry run of --rename says what it will do, and does nothing.
    dry = host_cli(["deploy-aws-lambda", "--lambda-function-name", new, "--image-uri", image, "--rename",
                    "--dry-run"], cwd=bot_project, env=aws_env)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"Then (--rename): every schedule of {old}, this folder's bot before, is disabled" in dry.stdout
    assert not function_exists(new) and schedule_state(old)[0] == "ENABLED"

    renamed = host_cli(["deploy-aws-lambda", "--lambda-function-name", new, "--image-uri", image, "--rename",
                        "--yes"], cwd=bot_project, env=aws_env)
    assert renamed.returncode == 0, renamed.stdout + renamed.stderr
    assert TOKEN not in renamed.stdout + renamed.stderr
    out = renamed.stdout
    # The new bot first, then the old one stopped: never a moment with no bot, never two running.
    assert out.index(f"Deployed {new}: alias") < out.index(f"Stopped {old}, this folder's bot before")
    assert schedule_state(new)[0] == "ENABLED"
    state, description = schedule_state(old)
    assert state == "DISABLED" and description.startswith("PAUSED since ") and f"--rename to {new}" in description
    assert function_exists(old)  # only stopped: its state and logs stay until destroyed
    ssm = boto3.client("ssm")
    assert ssm.get_parameter(Name=f"/iaf-aws/{new}/EXCHANGE_TOKEN", WithDecryption=True)["Parameter"]["Value"] == TOKEN
    saved = settings_of(bot_project)
    assert saved["function_name"] == new and "EXCHANGE_TOKEN" in saved["stored_secrets"]

    # The old bot shows as paused, and the printed command removes it (and only it).
    status = host_cli(["status-aws-lambda", "--lambda-function-name", old], cwd=bot_project, env=aws_env)
    assert "PAUSED since" in status.stdout, status.stdout + status.stderr
    command = next(line.split("Remove it with: ", 1)[1] for line in out.splitlines() if "Remove it with: " in line)
    region = aws_env["AWS_REGION"]
    assert command == f"investing-algorithm-framework destroy-aws-lambda --lambda-function-name {old} --region {region}"
    words = shlex.split(command)
    destroyed = host_cli([*words[1:], "--yes"], cwd=bot_project, env=aws_env)
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert not function_exists(old) and function_exists(new) and schedule_state(new)[0] == "ENABLED"
    assert settings_of(bot_project)["function_name"] == new

    # Nothing left to stop: the folder deploys as usual.
    again = host_cli(["deploy-aws-lambda", "--yes"], cwd=bot_project, env=aws_env)
    assert again.returncode == 0 and "Stopped" not in again.stdout, again.stdout + again.stderr


def test_a_previous_function_that_is_gone_needs_no_rename(deploy_inprocess, aws_env, bot_project, ecr_image,
                                                          unique_name) -> None:
    old, new = f"{unique_name}a", f"{unique_name}b"
    image = ecr_image("v1")
    deploy_inprocess(bot_project, function_name=old, image_uri=image)
    boto3.client("lambda").delete_function(FunctionName=old)
    result, recorder = deploy_inprocess(bot_project, function_name=new, image_uri=image)
    assert result.applied and settings_of(bot_project)["function_name"] == new
    assert not any("Stopped" in line or "--rename" in line for line in recorder.lines)


def test_a_failed_stop_says_both_bots_run_and_how_to_stop_the_old_one(deploy_inprocess, aws_env, bot_project,
                                                                     ecr_image, unique_name, monkeypatch) -> None:
    """Disabling the old schedule is refused (AccessDenied, at the HTTP level): never silent."""
    import importlib.util
    import sys

    from iaf_aws_plugin.errors import PluginError

    old, new = f"{unique_name}a", f"{unique_name}b"
    image = ecr_image("v1")
    deploy_inprocess(bot_project, function_name=old, image_uri=image)
    spec = importlib.util.spec_from_file_location("_iaf_test_faultproxy",
                                                  Path(__file__).parent.parent / "state" / "faultproxy.py")
    assert spec is not None and spec.loader is not None
    faultproxy = sys.modules.get(spec.name) or importlib.util.module_from_spec(spec)
    if spec.name not in sys.modules:
        sys.modules[spec.name] = faultproxy
        spec.loader.exec_module(faultproxy)
    proxy = faultproxy.FaultProxy(aws_env["AWS_ENDPOINT_URL"])
    proxy.add("answer", lambda request: request.method == "PUT" and request.path == f"/schedules/{old}-iaf",
              times=None, status=403, headers=[("Content-Type", "application/json"),
                                               ("x-amzn-ErrorType", "AccessDeniedException")],
              body=b'{"Message": "not allowed to update this schedule"}')
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    try:
        with pytest.raises(PluginError) as failed:
            deploy_inprocess(bot_project, function_name=new, image_uri=image, rename=True)
    finally:
        proxy.close()
        monkeypatch.setenv("AWS_ENDPOINT_URL", aws_env["AWS_ENDPOINT_URL"])
    text = str(failed.value)
    assert text.startswith(f"{new} is deployed, but stopping {old} failed (") and "both bots run now." in text, text
    assert f"pause-aws-lambda --lambda-function-name {old} --region {aws_env['AWS_REGION']}" in text
    assert "\n" not in text
    assert function_exists(new) and schedule_state(old)[0] == "ENABLED"
    assert settings_of(bot_project)["function_name"] == new  # the new bot is the folder's now
