"""Stages (issue 22): paper and live deployed from one folder, each with its own function, resources, state
and settings section; status --all-stages; one destroyed, the other intact; a settings file of before
stages deploys unchanged (host CLI on the moto server; --image-uri: no image build)."""
from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

pytestmark = pytest.mark.anyhost

SETTINGS = "iaf-aws-lambda.json"


def _function_exists(name: str) -> bool:
    try:
        boto3.client("lambda").get_function(FunctionName=name)
    except boto3.client("lambda").exceptions.ResourceNotFoundException:
        return False
    return True


def _bucket_exists(name: str) -> bool:
    return any(b["Name"] == name for b in boto3.client("s3").list_buckets()["Buckets"])


def test_two_stages_side_by_side_then_one_destroyed(host_cli, host_console, bot_project, ecr_image, unique_name,
                                                     aws_env, op, tmp_path):
    from iaf_aws_plugin.deploy.names import Names

    image = ecr_image("v1")
    account = boto3.client("sts").get_caller_identity()["Account"]
    bot = op.Bot(bot_project, unique_name, "eu-west-1", account, "", image, aws_env)

    def run(*args: str, cwd: Path = bot_project, input: str | None = None):
        return op.cli(host_cli, bot, *args, cwd=cwd, input=input)

    names = {}
    for stage in ("paper", "live"):
        deployed = run("deploy-aws-lambda", "--stage", stage, "--lambda-function-name", unique_name,
                       "--image-uri", image, "--schedule", "rate(1 hour)", "--yes")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        function = f"{unique_name}-{stage}"
        assert f"Deploying {function} to account {account}" in deployed.stdout and f"(stage {stage})" in deployed.stdout
        names[stage] = Names.derive(account, "eu-west-1", function)

    # One file, one section per stage; today's top level untouched (there is none: no default stage deployed).
    saved = json.loads((bot_project / SETTINGS).read_text())
    assert "function_name" not in saved and set(saved["stages"]) == {"paper", "live"}
    assert {s: saved["stages"][s]["function_name"] for s in saved["stages"]} == {
        "paper": f"{unique_name}-paper", "live": f"{unique_name}-live"}
    paper, live = names["paper"], names["live"]
    # A redeploy of one stage with no flags is a no-op, reading its own section
    # (before the test lifts the buckets' TLS-only policy below).
    again = run("deploy-aws-lambda", "--stage", "live", "--dry-run", "--exit-code")
    assert again.returncode == 0, again.stdout + again.stderr

    # Each stage has its own resources (every name differs) and they all exist.
    for field in ("function", "bucket", "role", "scheduler_role", "schedule", "ssm_path", "log_group",
                  "dead_letter_queue"):
        assert getattr(paper, field) != getattr(live, field), field
    for n in (paper, live):
        assert _function_exists(n.function) and _bucket_exists(n.bucket)
        assert boto3.client("iam").get_role(RoleName=n.role)["Role"]["RoleName"] == n.role
        assert boto3.client("scheduler").get_schedule(Name=n.schedule)["Name"] == n.schedule
        op.open_bucket_over_http(n.bucket)
    # Its own state: a run of paper saves into paper's bucket only.
    op.save_state(paper.bucket, {"trades.json": "[1]"}, tmp_path / "work")

    # status --all-stages (through the real console script): one line per stage.
    every = host_console(["status-aws-lambda", "--all-stages"], cwd=bot_project, env=aws_env)
    assert every.returncode == 0, every.stderr
    print(every.stdout)
    lines = every.stdout.splitlines()
    assert len(lines) == 2, every.stdout
    assert lines[0].startswith("live ") and f"{live.function} (eu-west-1): Active" in lines[0]
    assert lines[1].startswith("paper ") and f"{paper.function} (eu-west-1): Active" in lines[1]
    assert f"s3://{live.bucket}/ no snapshot yet" in lines[0] and f"s3://{paper.bucket}/ snapshot 1" in lines[1]
    assert "schedule rate(1 hour) ENABLED" in lines[0]

    # Without --stage and without default_stage there is no default stage to target here.
    plain = run("status-aws-lambda")
    assert plain.returncode == 1 and "no Lambda function name: stage default has not been deployed" in plain.stderr
    # default_stage chooses the stage of a command without --stage (deploy and the others).
    saved["default_stage"] = "paper"
    (bot_project / SETTINGS).write_text(json.dumps(saved))
    plain = run("status-aws-lambda", "-n", "0")
    assert plain.returncode == 0 and f"Bot          {paper.function} " in plain.stdout, plain.stderr
    # Outside the folder, --lambda-function-name names the bot and --stage appends the stage, as on deploy.
    outside = run("status-aws-lambda", "--lambda-function-name", unique_name, "--stage", "live", "-n", "0",
                  cwd=tmp_path)
    assert outside.returncode == 0 and f"Bot          {live.function} " in outside.stdout, outside.stderr

    # A secret set on one stage goes to its parameters and its section only.
    secret = run("secrets-aws-lambda", "set", "EXTRA_PASS", "--stage", "paper", input="paper-only-value\n")
    assert secret.returncode == 0, secret.stderr
    ssm = boto3.client("ssm")
    assert ssm.get_parameter(Name=f"{paper.ssm_path}EXTRA_PASS", WithDecryption=True)["Parameter"]["Value"] == (
        "paper-only-value")
    live_parameters = [p["Name"] for p in ssm.get_parameters_by_path(Path=live.ssm_path)["Parameters"]]
    assert live_parameters and f"{live.ssm_path}EXTRA_PASS" not in live_parameters
    sections = json.loads((bot_project / SETTINGS).read_text())["stages"]
    assert sections["paper"]["stored_secrets"] == ["EXTRA_PASS"] and "stored_secrets" not in sections["live"]
    assert "paper-only-value" not in (bot_project / SETTINGS).read_text()

    # Destroy live: paper keeps running, with its state; the file keeps both sections.
    gone = run("destroy-aws-lambda", "--stage", "live", "--yes")
    assert gone.returncode == 0, gone.stderr
    assert f"Destroyed {live.function}." in gone.stdout
    assert not _function_exists(live.function) and _function_exists(paper.function)
    assert boto3.client("scheduler").get_schedule(Name=paper.schedule)["State"] == "ENABLED"
    every = run("status-aws-lambda", "--all-stages")
    assert every.returncode == 0, every.stderr
    live_line, paper_line = every.stdout.splitlines()
    assert live_line.endswith(f"{live.function} (eu-west-1): not deployed")
    assert f"{paper.function} (eu-west-1): Active" in paper_line and "snapshot 1" in paper_line
    assert json.loads((bot_project / SETTINGS).read_text())["stages"].keys() == {"paper", "live"}
    as_json = json.loads(run("status-aws-lambda", "--all-stages", "--json").stdout)["stages"]
    assert as_json["live"]["function"] is None and as_json["paper"]["function"]["state"] == "Active"
    twice = run("status-aws-lambda", "--all-stages", "--stage", "paper")
    assert twice.returncode == 1 and "--all-stages and --stage name the stages twice." in twice.stderr
    intact = run("deploy-aws-lambda", "--dry-run")  # default_stage: paper, as deployed (its bucket policy was lifted)
    assert intact.returncode == 0 and f"Deploying {paper.function} " in intact.stdout, intact.stderr
    assert f"unchanged  Lambda function {paper.function}\n" in intact.stdout and "Plan: 1 to update." in intact.stdout


def test_a_settings_file_from_before_stages_deploys_unchanged(host_cli, bot_project, ecr_image, unique_name, aws_env,
                                                              deploy_inprocess, op):
    """Today's bots are the default stage: the file is read as it is, nothing moves, nothing is rewritten."""
    image = ecr_image("v1")
    result, _ = deploy_inprocess(bot_project, function_name=unique_name, image_uri=image)
    assert result.applied
    bot = op.Bot(bot_project, unique_name, "eu-west-1", result.names.account, result.names.bucket, image, aws_env)
    path = bot.project / SETTINGS
    before = path.read_text()
    assert "stages" not in json.loads(before) and json.loads(before)["function_name"] == bot.function
    for args in (["--dry-run", "--exit-code"], ["--stage", "default", "--dry-run", "--exit-code"], ["--yes"]):
        result = op.cli(host_cli, bot, "deploy-aws-lambda", *args)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"Deploying {bot.function} to account" in result.stdout and "(stage" not in result.stdout
    assert path.read_text() == before  # byte for byte
    status = op.cli(host_cli, bot, "status-aws-lambda", "--all-stages")
    assert status.returncode == 0 and status.stdout.startswith(f"default    {bot.function} (eu-west-1): Active")
    # A new stage next to it leaves the old bot's section and resources as they are.
    added = op.cli(host_cli, bot, "deploy-aws-lambda", "--stage", "paper", "--image-uri", bot.image, "--dry-run")
    assert added.returncode == 0 and f"Deploying {bot.function}-paper " in added.stdout, added.stderr
    assert path.read_text() == before  # a dry run writes nothing


@pytest.mark.parametrize("stage", ["Paper", "paper_1", "-x", "x-", "a--b", "1st", "", "p" * 17])
def test_bad_stage_names_are_refused_in_one_line(host_cli, bot_project, aws_env, stage):
    result = host_cli(["status-aws-lambda", "--stage", stage], cwd=bot_project, env=aws_env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"invalid --stage {stage!r}: use 1 to 16 lowercase letters" in result.stderr


def test_a_too_long_stage_function_name_is_refused_in_one_line(host_cli, bot_project, aws_env):
    result = host_cli(["deploy-aws-lambda", "--stage", "paper", "--lambda-function-name", "b" * 60, "--dry-run"],
                      cwd=bot_project, env=aws_env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"the function name '{'b' * 60}-paper' of stage paper has 66 characters; Lambda allows 64." in result.stderr
    assert "at most 58 characters" in result.stderr and not (bot_project / SETTINGS).exists()


def test_the_length_limit_is_lambdas() -> None:
    import botocore.session

    from iaf_aws_plugin.deploy.stages import FUNCTION_NAME_MAX

    shape = botocore.session.get_session().get_service_model("lambda").operation_model(
        "CreateFunction").input_shape.members["FunctionName"]
    assert f"limited to {FUNCTION_NAME_MAX} characters" in shape.documentation


def test_sections_round_trip_and_keep_the_other_stages() -> None:
    from iaf_aws_plugin.deploy.stages import section, stage_function, stages_of, with_section

    old = {"version": 1, "function_name": "bot", "region": "eu-west-1"}
    assert with_section(old, "default", old) == old and section(old, "default") == old
    assert stage_function(old, "default", None) == "bot" and stage_function(old, "paper", None) == "bot-paper"
    assert stage_function(old, "paper", "other") == "other-paper" and stage_function({}, "paper", None) is None
    both = with_section(old, "paper", {"version": 1, "function_name": "bot-paper"})
    assert both == {**old, "stages": {"paper": {"function_name": "bot-paper"}}}
    both = with_section({**both, "default_stage": "paper"}, "default", {"version": 1, "function_name": "bot2"})
    assert both == {"version": 1, "function_name": "bot2", "default_stage": "paper",
                    "stages": {"paper": {"function_name": "bot-paper"}}}
    assert stages_of(both) == ["default", "paper"] and section(both, "paper") == {"function_name": "bot-paper"}


@pytest.mark.parametrize("data, message", [
    ({"default_stage": "Live"}, "invalid default_stage in"),
    ({"stages": {"default": {}}}, "has a section named 'default'"),
    ({"stages": {"paper": {"colour": "red"}}}, "stage paper in"),
    ({"stages": ["paper"]}, "'stages' in"),
])
def test_bad_stage_sections_are_refused(tmp_path: Path, data: dict, message: str) -> None:
    from iaf_aws_plugin.deploy.settings import load_saved
    from iaf_aws_plugin.errors import PluginError

    (tmp_path / SETTINGS).write_text(json.dumps({"version": 1, "function_name": "bot", **data}))
    with pytest.raises(PluginError, match=message.replace("(", r"\(")):
        load_saved(tmp_path)


def test_every_command_that_targets_a_bot_has_stage() -> None:
    """One shared option (commands/_target.py): every command with --lambda-function-name has --stage."""
    import click

    from iaf_aws_plugin.commands import _target

    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("generate", Path(__file__).parents[2] / "docs" / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    sys.modules["generate"] = generate
    spec.loader.exec_module(generate)

    def walk(command: click.Command):
        yield command
        for sub in getattr(command, "commands", {}).values():
            yield from walk(sub)

    targeting = [c for top in generate.plugin_commands() for c in walk(top)
                 if any("--lambda-function-name" in p.opts for p in c.params)]
    assert len(targeting) >= 15
    for command in targeting:
        assert any(p.opts == ["--stage"] for p in command.params), command.name
    assert _target.current_stage() is None  # outside a command: not given


def test_a_fresh_folder_names_a_stage_after_itself(host_cli, bot_project, ecr_image, aws_env):
    result = host_cli(["deploy-aws-lambda", "--stage", "paper", "--image-uri", ecr_image("v1"), "--dry-run"],
                      cwd=bot_project, env=aws_env)
    assert result.returncode == 0, result.stderr
    assert "Function name: bot-paper, the folder's name and the stage (saved by the deploy" in result.stdout
    assert "Deploying bot-paper to account" in result.stdout and not (bot_project / SETTINGS).exists()


def test_the_longest_stage_function_deploys_within_every_services_limits(deploy_inprocess, bot_project, ecr_image,
                                                                         contract):
    """A 64-character stage function (the most a stage allows): every request of its deploy is checked against
    botocore's service models (lengths, patterns) by the contract of the in-process deploys."""
    base = "b" * (64 - len("-prod-eu-west"))
    result, _ = deploy_inprocess(bot_project, function_name=base, stage="prod-eu-west", image_uri=ecr_image("v1"),
                                 schedule="rate(1 hour)", alert_email="me@example.com")
    assert result.applied and result.names.function == f"{base}-prod-eu-west" and len(result.names.function) == 64
    assert {"Lambda.CreateFunction", "IAM.CreateRole", "Scheduler.CreateSchedule", "SQS.CreateQueue",
            "SNS.CreateTopic", "S3.CreateBucket"} <= set(contract.checked)
    saved = json.loads((bot_project / SETTINGS).read_text())
    assert saved["stages"]["prod-eu-west"]["function_name"] == result.names.function


def test_all_stages_json_is_masked_like_the_text_lines(host_cli, bot_project, ecr_image, unique_name, aws_env,
                                                       deploy_inprocess):
    """A secret value of the project (here one that the function's name happens to spell) is masked in
    --json as it is in the text lines."""
    result, _ = deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"))
    assert result.applied
    (bot_project / ".env").write_text(f"MY_API_TOKEN={unique_name}\n")
    text = host_cli(["status-aws-lambda", "--all-stages"], cwd=bot_project, env=aws_env)
    assert text.returncode == 0 and unique_name not in text.stdout and "****" in text.stdout, text.stdout
    as_json = host_cli(["status-aws-lambda", "--all-stages", "--json"], cwd=bot_project, env=aws_env)
    assert as_json.returncode == 0, as_json.stderr
    assert unique_name not in as_json.stdout and json.loads(as_json.stdout)["stages"]["default"]["function_name"] \
        == "****", as_json.stdout


PAPER_ENV = "BITVAVO_API_KEY=paper-key-5d1e\nBITVAVO_SECRET_KEY=paper-secret-5d1e\n"
LIVE_ENV = "BITVAVO_API_KEY=live-key-9c4a\nBITVAVO_SECRET_KEY=live-secret-9c4a\nLIVE_ONLY_TOKEN=tok-live-9c4a77\n"


def _ssm_values(path: str) -> dict[str, str]:
    found = boto3.client("ssm").get_parameters_by_path(Path=path, WithDecryption=True)["Parameters"]
    return {parameter["Name"].rsplit("/", 1)[1]: parameter["Value"] for parameter in found}


def test_each_stage_reads_its_own_env_file_and_ships_only_its_own_keys(deploy_inprocess, bot_project, ecr_image,
                                                                       unique_name, aws_env):
    """.env.<stage> when it exists, else .env (as the Serverless Framework does): the live keys never reach the
    paper stage's SSM, and the market-keys check asks the stage's own file."""
    from iaf_aws_plugin.deploy.names import Names
    from iaf_aws_plugin.errors import PluginError
    from iaf_aws_plugin.operate.target import TargetOptions, resolve_target

    (bot_project / ".env.paper").write_text(PAPER_ENV)
    (bot_project / ".env.live").write_text(LIVE_ENV)
    image = ecr_image("v1")
    account = boto3.client("sts").get_caller_identity()["Account"]
    values = {}
    for stage in ("paper", "live"):
        result, recorder = deploy_inprocess(bot_project, function_name=unique_name, stage=stage, image_uri=image)
        assert result.applied
        said = "\n".join(recorder.lines)
        assert f"Variables of stage {stage}: .env.{stage} (only this file: .env is not read)." in said, said
        for secret in ("paper-secret-5d1e", "live-secret-9c4a", "key-123-abc", "s3cr3t value"):
            assert secret not in said + "\n".join(recorder.warnings)
        names = Names.derive(account, aws_env["AWS_REGION"], f"{unique_name}-{stage}")
        values[stage] = _ssm_values(names.ssm_path)
        variables = boto3.client("lambda").get_function_configuration(
            FunctionName=names.function)["Environment"]["Variables"]
        assert "LOG_LEVEL" not in variables  # .env's plain value: not read for a stage with its own file
    assert values["paper"] == {"BITVAVO_API_KEY": "paper-key-5d1e", "BITVAVO_SECRET_KEY": "paper-secret-5d1e"}
    assert values["live"] == {"BITVAVO_API_KEY": "live-key-9c4a", "BITVAVO_SECRET_KEY": "live-secret-9c4a",
                              "LIVE_ONLY_TOKEN": "tok-live-9c4a77"}

    # The operate commands mask the stage's own file's values too.
    target = resolve_target(TargetOptions(project_dir=bot_project, stage="live"))
    assert "tok-live-9c4a77" not in target.masker.mask("token tok-live-9c4a77")

    # A stage whose own file lacks a key is refused before any change, naming that file (.env has the key).
    (bot_project / ".env.demo").write_text("BITVAVO_API_KEY=demo-key-77aa\n")
    with pytest.raises(PluginError) as refused:
        deploy_inprocess(bot_project, function_name=unique_name, stage="demo", image_uri=image)
    assert "Put BITVAVO_SECRET_KEY in .env.demo" in str(refused.value), str(refused.value)
    assert not _function_exists(f"{unique_name}-demo")

    # A stage without its own file reads .env, and says so.
    result, recorder = deploy_inprocess(bot_project, function_name=unique_name, stage="qa", image_uri=image,
                                        dry_run=True)
    assert "Variables of stage qa: .env (there is no .env.qa; create it to give this stage its own keys)." in (
        recorder.lines)


def test_stage_env_files_never_ship(tmp_path):
    """Wherever .env never goes, .env.<stage> never goes either: the image (even when a .dockerignore
    re-includes it), git (the scaffolded .gitignore; .env.example stays), and state-aws-lambda push."""
    import subprocess

    from iaf_aws_plugin.builders.native import ALWAYS_EXCLUDED
    from iaf_aws_plugin.builders.native.layers import DockerIgnore
    from iaf_aws_plugin.scaffold import scaffold
    from iaf_aws_plugin.state.admin import _never_pushed

    project = tmp_path / "bot"
    scaffold(project)
    for name in (".env", ".env.paper", ".env.live", ".env.example"):
        (project / name).write_text("X=1\n")
    ignore = DockerIgnore.for_project(project, ALWAYS_EXCLUDED)
    assert [ignore.excluded(n) for n in (".env", ".env.paper", ".env.live")] == [True, True, True]
    reincluding = DockerIgnore(["!.env.live"], ALWAYS_EXCLUDED)
    assert reincluding.excluded(".env.live")
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    ignored = subprocess.run(["git", "-C", str(project), "check-ignore", ".env", ".env.paper", ".env.live",
                              ".env.example"], capture_output=True, text=True)
    assert ignored.stdout.split() == [".env", ".env.paper", ".env.live"], ignored.stdout + ignored.stderr
    assert all(_never_pushed(name) for name in (".env", ".env.paper", ".env.live"))
