"""One bot per folder (issue 19, item 5): deploying a folder under another --lambda-function-name than
the deployed one is refused before any change; --rename stops the old bot's schedules before anything is
applied, deploys the new one (paused when the old one has state, with the commands that carry the state
over), and prints the exact command that destroys the old one. Never two bots trading at once."""
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


def open_bucket(function: str) -> None:
    """The deploy gives the state bucket a TLS-only policy, which moto enforces over its plain HTTP: lifted
    (AWS is reached over HTTPS)."""
    from iaf_aws_plugin.deploy.names import Names

    account = boto3.client("sts").get_caller_identity()["Account"]
    bucket = Names.derive(account, boto3.session.Session().region_name, function).bucket
    boto3.client("s3").delete_bucket_policy(Bucket=bucket)


def printed(out: str, marker: str) -> list[str]:
    return [line.split(marker, 1)[1] if marker else line.strip() for line in out.splitlines() if marker in line]


def faultproxy():
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("_iaf_test_faultproxy",
                                                  Path(__file__).parent.parent / "state" / "faultproxy.py")
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name) or importlib.util.module_from_spec(spec)
    if spec.name not in sys.modules:
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


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

    # The dry run of --rename says what it will do, and does nothing. The old bot has no state (it never
    # ran): the new one is deployed enabled.
    open_bucket(old)
    dry = host_cli(["deploy-aws-lambda", "--lambda-function-name", new, "--image-uri", image, "--rename",
                    "--dry-run"], cwd=bot_project, env=aws_env)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert (f"--rename: before anything is applied, every schedule of {old}, this folder's bot before, is "
            "disabled (paused)") in dry.stdout
    assert f"--rename: {old} has no state: {new} starts on empty state, its schedule enabled." in dry.stdout
    as_json = host_cli(["deploy-aws-lambda", "--lambda-function-name", new, "--image-uri", image, "--rename",
                        "--dry-run", "--json"], cwd=bot_project, env=aws_env)
    assert as_json.returncode == 0, as_json.stdout + as_json.stderr
    assert [note for note in json.loads(as_json.stdout)["notes"] if note.startswith("--rename: ")] == [
        f"--rename: before anything is applied, every schedule of {old}, this folder's bot before, is disabled "
        "(paused); its function, state and logs stay until you destroy it.",
        f"--rename: {old} has no state: {new} starts on empty state, its schedule enabled."]
    assert not function_exists(new) and schedule_state(old)[0] == "ENABLED"

    renamed = host_cli(["deploy-aws-lambda", "--lambda-function-name", new, "--image-uri", image, "--rename",
                        "--yes"], cwd=bot_project, env=aws_env)
    assert renamed.returncode == 0, renamed.stdout + renamed.stderr
    assert TOKEN not in renamed.stdout + renamed.stderr
    out = renamed.stdout
    # The old bot stopped before anything of the new one is applied: never two bots running.
    assert out.index(f"Stopped {old}, this folder's bot before") < out.index("[1/") < out.index(
        f"Deployed {new}: alias"), out
    assert "state-aws-lambda" not in out  # no state to carry over
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
    assert command == (f"investing-algorithm-framework destroy-aws-lambda --lambda-function-name {old} "
                       f"--stage default --region {region}")
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


def _rename_denied(matches, body, deploy_inprocess, aws_env, bot_project, new, image, monkeypatch) -> str:
    """The one-line error of a --rename deploy to ``new`` while Lambda/Scheduler answer the requests that
    ``matches`` with AccessDenied (``body``), at the HTTP level through the fault proxy."""
    from iaf_aws_plugin.errors import PluginError

    proxy = faultproxy().FaultProxy(aws_env["AWS_ENDPOINT_URL"])
    proxy.add("answer", matches, times=None, status=403, headers=[("Content-Type", "application/json"),
                                                                  ("x-amzn-ErrorType", "AccessDeniedException")],
              body=body)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    try:
        with pytest.raises(PluginError) as failed:
            deploy_inprocess(bot_project, function_name=new, image_uri=image, rename=True)
    finally:
        proxy.close()
        monkeypatch.setenv("AWS_ENDPOINT_URL", aws_env["AWS_ENDPOINT_URL"])
    return str(failed.value)


def test_a_failed_stop_deploys_nothing_and_says_how_to_stop_the_old_one(deploy_inprocess, aws_env, bot_project,
                                                                       ecr_image, unique_name, monkeypatch) -> None:
    """Disabling the old schedule is refused (AccessDenied, at the HTTP level): the new bot is not deployed
    (it would run next to the old one), and the error says how to stop the old one."""
    old, new = f"{unique_name}a", f"{unique_name}b"
    image = ecr_image("v1")
    deploy_inprocess(bot_project, function_name=old, image_uri=image)
    text = _rename_denied(lambda request: request.method == "PUT" and request.path == f"/schedules/{old}-iaf",
                          b'{"Message": "not allowed to update this schedule"}', deploy_inprocess, aws_env,
                          bot_project, new, image, monkeypatch)
    assert text.startswith(f"stopping {old} failed (") and f"so {new} was not deployed: {old} keeps running" in text
    assert (f"pause-aws-lambda --lambda-function-name {old} --stage default --region {aws_env['AWS_REGION']}"
            in text), text
    assert "\n" not in text
    assert not function_exists(new) and schedule_state(old)[0] == "ENABLED"
    assert settings_of(bot_project)["function_name"] == old  # nothing changed


def test_a_bot_with_state_is_renamed_paused_and_the_printed_commands_carry_the_state_over_and_start_it(
        deploy_inprocess, host_cli, aws_env, bot_project, ecr_image, unique_name, tmp_path) -> None:
    """The new name has its own, empty state bucket: with the old bot's state there, the new bot is created
    paused (never enabled first), and the printed pull, push and resume work as printed."""
    import shutil
    import tempfile

    old, new = f"{unique_name}a", f"{unique_name}b"
    image = ecr_image("v1")
    deploy_inprocess(bot_project, function_name=old, image_uri=image)
    open_bucket(old)
    seed = tmp_path / "seed"
    (seed / "databases").mkdir(parents=True)
    orders = b"SQLite format 3\x00 the old bot's open orders"
    (seed / "databases" / "bot.sqlite3").write_bytes(orders)
    pushed = host_cli(["state-aws-lambda", "push", str(seed), "--yes", "--lambda-function-name", old,
                       "--stage", "default"], cwd=bot_project, env=aws_env)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr

    created: list[dict] = []
    session = boto3.Session(region_name=aws_env["AWS_REGION"])
    session.events.register("provide-client-params.scheduler.CreateSchedule",
                            lambda params, **_: created.append(dict(params)))
    result, recorder = deploy_inprocess(bot_project, function_name=new, image_uri=image, rename=True,
                                        session=session)
    assert result.applied
    out = "\n".join(recorder.lines)
    # The plan says it all before the confirmation (the plan is printed before anything is applied).
    said = out.index(f"{new} is deployed PAUSED (its schedule created disabled)")
    assert f"--rename: {old}'s s3://" in out and "holds its state (snapshot 1" in out
    assert said < out.index(f"Stopped {old}") < out.index("[1/") < out.index(f"Deployed {new}")
    # Created DISABLED with the pause marker, never enabled and disabled afterwards.
    schedules = [params for params in created if params["Name"] == f"{new}-iaf"]
    assert len(schedules) == 1 and schedules[0]["State"] == "DISABLED", created
    assert recorder.operations.count("UpdateSchedule") == 1  # the old bot's schedule only
    state, description = schedule_state(new)
    assert state == "DISABLED" and description.startswith("PAUSED since ") and f"--rename from {old}" in description
    assert schedule_state(old)[0] == "DISABLED"

    commands = printed(out, "  investing-algorithm-framework ")
    assert [words.split()[0] for words in commands] == ["state-aws-lambda", "state-aws-lambda", "resume-aws-lambda"]
    directory = Path(tempfile.gettempdir()) / f"iaf-state-{old}"
    try:
        open_bucket(new)
        for command in commands:
            ran = host_cli(shlex.split(command), cwd=bot_project, env=aws_env)
            assert ran.returncode == 0, command + "\n" + ran.stdout + ran.stderr
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    assert schedule_state(new)[0] == "ENABLED" and schedule_state(old)[0] == "DISABLED"
    check = tmp_path / "check"
    pulled = host_cli(["state-aws-lambda", "pull", str(check)], cwd=bot_project, env=aws_env)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert (check / "databases" / "bot.sqlite3").read_bytes() == orders  # the new bot trades on the old state


def test_the_printed_commands_name_the_stage_of_the_old_function(deploy_inprocess, host_cli, aws_env, bot_project,
                                                                 ecr_image, unique_name) -> None:
    """default_stage in the settings file: a printed --lambda-function-name alone would get the stage appended
    (stages.py) and name a function that does not exist."""
    (bot_project / "iaf-aws-lambda.json").write_text(json.dumps({"default_stage": "paper"}))
    old, new = f"{unique_name}a", f"{unique_name}b"
    image = ecr_image("v1")
    deploy_inprocess(bot_project, function_name=old, image_uri=image)
    assert function_exists(f"{old}-paper")
    open_bucket(f"{old}-paper")
    _, recorder = deploy_inprocess(bot_project, function_name=new, image_uri=image, rename=True)
    [command] = printed("\n".join(recorder.lines), "Remove it with: ")
    region = aws_env["AWS_REGION"]
    assert command == (f"investing-algorithm-framework destroy-aws-lambda --lambda-function-name {old} "
                       f"--stage paper --region {region}")
    destroyed = host_cli([*shlex.split(command)[1:], "--yes"], cwd=bot_project, env=aws_env)
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert not function_exists(f"{old}-paper") and function_exists(f"{new}-paper")
    assert settings_of(bot_project)["stages"]["paper"]["function_name"] == f"{new}-paper"


def test_a_failed_apply_after_the_stop_says_no_bot_runs_and_the_printed_resume_works(
        deploy_inprocess, host_cli, aws_env, bot_project, ecr_image, unique_name, monkeypatch) -> None:
    """The old bot is stopped before the apply: when the apply then fails (Lambda refuses to create the new
    function, at the HTTP level), the error says no bot runs, and its resume command starts the old one."""
    old, new = f"{unique_name}a", f"{unique_name}b"
    image = ecr_image("v1")
    deploy_inprocess(bot_project, function_name=old, image_uri=image)
    open_bucket(old)
    text = _rename_denied(lambda request: request.method == "POST" and request.path.endswith("/functions"),
                          b'{"Message": "not allowed to create functions"}', deploy_inprocess, aws_env,
                          bot_project, new, image, monkeypatch)
    assert f"{old} was stopped before (--rename), so no bot runs now." in text and "\n" not in text, text
    assert schedule_state(old)[0] == "DISABLED" and not function_exists(new)
    command = text.split("start the old bot again: ", 1)[1].split()
    assert command[:2] == ["investing-algorithm-framework", "resume-aws-lambda"], text
    resumed = host_cli(command[1:], cwd=bot_project, env=aws_env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert schedule_state(old)[0] == "ENABLED"
