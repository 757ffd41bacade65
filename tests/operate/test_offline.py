"""``invoke-aws-lambda --local --offline`` (issue 22, item 6): a freshly scaffolded bot runs one
iteration on this machine with no deploy, no AWS (no endpoint, no credentials, HOME without
~/.aws) and no exchange keys; its state stays in a local folder and the next run continues from it.
Through the host's real console script, in a subprocess with a clean environment."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from iaf_aws_plugin.errors import PluginError

CONSOLE = Path(sys.executable).parent / "investing-algorithm-framework"


def run(args: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_"))}
    env["HOME"] = str(home)  # no ~/.aws/config or credentials
    return subprocess.run([str(CONSOLE), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def result_of(stdout: str) -> dict:
    line = next(line for line in stdout.splitlines() if line.startswith("Result ("))
    return json.loads(line.split("): ", 1)[1])


def test_a_fresh_bot_runs_offline_twice_and_keeps_its_state(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    init = run(["init-aws-lambda", "--path", "bot"], tmp_path, home)
    assert init.returncode == 0, init.stderr
    bot = tmp_path / "bot"
    assert not (bot / ".env").exists()
    assert "invoke-aws-lambda --local --offline" in (bot / "README.md").read_text()
    assert "/.iaf-offline/" in (bot / ".gitignore").read_text() and ".iaf-offline/" in (bot / ".dockerignore").read_text()

    first = run(["invoke-aws-lambda", "--local", "--offline"], bot, home)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr
    assert "Traceback" not in first.stdout + first.stderr
    assert f"state in {bot / '.iaf-offline'} (new)" in first.stdout
    one = result_of(first.stdout)
    assert one["body"] == "Trading iteration completed."
    assert one["orders"] == ["BUY 0.006250 BTC/EUR at 40,000 (OPEN)"], one  # the paper market's candles: a buy
    assert (bot / ".iaf-offline" / ".iaf-state" / "HEAD.json").is_file()

    second = run(["invoke-aws-lambda", "--local", "--offline"], bot, home)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr
    assert "(from the last offline run)" in second.stdout
    two = result_of(second.stdout)
    # The first run's order is in the state the second run loaded; the paper account filled it.
    assert two["orders"] == ["BUY 0.006250 BTC/EUR at 40,000 (CLOSED)"], two
    assert two["positions"]["BTC"] == pytest.approx(0.00625)
    head = json.loads((bot / ".iaf-offline" / ".iaf-state" / "HEAD.json").read_text())
    assert head != {}


@pytest.mark.anyhost
def test_offline_flags_are_checked_in_one_line(tmp_path, host_cli):
    from iaf_aws_plugin.scaffold import scaffold

    scaffold(tmp_path / "bot")
    alone = host_cli(["invoke-aws-lambda", "--offline"], cwd=tmp_path / "bot")
    assert alone.returncode == 1 and "both need --local --offline" in alone.stderr, alone.stderr
    named = host_cli(["invoke-aws-lambda", "--local", "--offline", "--region", "eu-west-1"], cwd=tmp_path / "bot")
    assert named.returncode == 1 and "--offline uses no AWS" in named.stderr, named.stderr
    assert "Traceback" not in alone.stderr + named.stderr


@pytest.mark.anyhost
def test_the_offline_environment_holds_nothing_of_aws(tmp_path):
    from iaf_aws_plugin.operate.offline import offline_environment

    env = offline_environment({"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_PROFILE": "prod",
                               "AWS_ACCESS_KEY_ID": "AKIA", "PATH": "/bin"}, tmp_path, "/tmp/r", 900)
    assert {k for k in env if k.startswith("AWS_")} == {"AWS_EC2_METADATA_DISABLED", "AWS_S3_STATE_BUCKET_NAME"}
    assert env["AWS_S3_STATE_BUCKET_NAME"] == "" and env["IAF_SSM_PARAMETER_PATH"] == ""
    assert env["IAF_OFFLINE_STATE_DIR"] == str(tmp_path) and env["PATH"] == "/bin"


@pytest.mark.anyhost
def test_the_local_store_checks_conditions_as_s3_does(tmp_path):
    from iaf_aws_plugin.state.errors import StateError
    from iaf_aws_plugin.state.local_store import LocalStore
    from iaf_aws_plugin.state.s3 import PreconditionFailed

    store = LocalStore(tmp_path / "state")
    tag = store.put(".iaf-state/lease.json", b"a", if_none_match="*")
    with pytest.raises(PreconditionFailed) as taken:
        store.put(".iaf-state/lease.json", b"b", if_none_match="*")
    assert taken.value.status == 412
    with pytest.raises(PreconditionFailed):
        store.put(".iaf-state/lease.json", b"b", if_match='"stale"')
    assert store.put(".iaf-state/lease.json", b"b", if_match=tag) != tag
    found = store.get(".iaf-state/lease.json")
    assert found is not None and found.body == b"b"
    with pytest.raises(PreconditionFailed) as same:
        store.get(".iaf-state/lease.json", if_none_match=found.etag)
    assert same.value.status == 304
    assert store.get(".iaf-state/missing.json") is None
    assert [item["Key"] for item in store.list(".iaf-state/")] == [".iaf-state/lease.json"]
    with pytest.raises(StateError):
        store.put("../outside.json", b"x")
    with pytest.raises(PluginError):
        from iaf_aws_plugin.operate.offline import invoke_offline

        invoke_offline(tmp_path, b"{}", echo=print)  # not a bot project: one line


@pytest.mark.anyhost
def test_env_keys_are_masked_and_replaced_and_the_state_dir_is_chosen(tmp_path, host_cli):
    from iaf_aws_plugin.scaffold import scaffold

    bot = tmp_path / "bot"
    scaffold(bot)
    (bot / ".env").write_text("BITVAVO_API_KEY=key-123-abc\n")
    handler = bot / "aws_function.py"
    handler.write_text(handler.read_text() + "\nprint('key at import:', os.environ.get('BITVAVO_API_KEY'))\n"
                       "_original = lambda_handler\n\n\ndef lambda_handler(event, context):\n"
                       "    print('key at run:', os.environ.get('BITVAVO_API_KEY'))\n"
                       "    return _original(event, context)\n")
    ran = host_cli(["invoke-aws-lambda", "--local", "--offline", "--state-dir", str(tmp_path / "elsewhere")],
                   cwd=bot)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr
    assert "key-123-abc" not in ran.stdout + ran.stderr
    assert "key at import: ***" in ran.stdout  # .env's value, masked
    assert "key at run: offline-paper-market" in ran.stdout  # the run itself never has it
    assert f"state in {tmp_path / 'elsewhere'} (new)" in ran.stdout
    assert (tmp_path / "elsewhere" / ".iaf-state" / "HEAD.json").is_file() and not (bot / ".iaf-offline").exists()


# --- the offline variables never reach Lambda or a real local run (review fix) ---------------------

@pytest.mark.anyhost
def test_offline_variables_are_never_deployed_nor_passed_to_a_real_local_run(
        deployed_bot, deploy_inprocess, monkeypatch, tmp_path):
    import boto3

    from iaf_aws_plugin.operate.invoke import local_environment
    from iaf_aws_plugin.operate.target import TargetOptions, resolve_target

    bot = deployed_bot
    (bot.project / ".env").write_text(f"IAF_OFFLINE_STATE_DIR={tmp_path / 'x'}\nIAF_OFFLINE_CANDLES=c.csv\n")
    result, recorder = deploy_inprocess(bot.project)
    assert result.applied
    assert any("IAF_OFFLINE_CANDLES, IAF_OFFLINE_STATE_DIR in .env: not deployed" in w for w in recorder.warnings), \
        recorder.warnings
    variables = boto3.client("lambda").get_function(FunctionName=bot.function)["Configuration"]["Environment"]
    assert not {"IAF_OFFLINE_STATE_DIR", "IAF_OFFLINE_CANDLES"} & set(variables["Variables"])
    with pytest.raises(PluginError, match="belongs to invoke-aws-lambda --local --offline only"):
        deploy_inprocess(bot.project, env=(("IAF_OFFLINE_STATE_DIR", "/tmp/state"),))

    # invoke-aws-lambda --local (it trades for real): exported in the shell, or on an older function: dropped.
    monkeypatch.setenv("IAF_OFFLINE_STATE_DIR", str(tmp_path / "x"))
    monkeypatch.setenv("IAF_OFFLINE_CANDLES", "c.csv")
    target = resolve_target(TargetOptions(project_dir=bot.project))
    env = local_environment(target, {"Environment": {"Variables": {"IAF_OFFLINE_STATE_DIR": "/tmp/y",
                                                                    "KEEP": "1"}}}, str(tmp_path / "r"))
    assert env["KEEP"] == "1" and not {"IAF_OFFLINE_STATE_DIR", "IAF_OFFLINE_CANDLES"} & set(env)


@pytest.mark.anyhost
def test_the_state_handler_refuses_the_offline_folder_on_lambda(monkeypatch, tmp_path):
    from iaf_aws_plugin import AWSS3StorageStateHandler
    from iaf_aws_plugin.state.errors import StateError

    monkeypatch.setenv("IAF_OFFLINE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "bot")
    with pytest.raises(StateError, match=r"IAF_OFFLINE_STATE_DIR is set on the Lambda function bot: .* nothing was "
                                         r"loaded or traded\. Fix: remove IAF_OFFLINE_STATE_DIR"):
        AWSS3StorageStateHandler("bucket").initialize()
    assert not (tmp_path / "state").exists()
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    AWSS3StorageStateHandler("bucket").initialize()  # the offline run: the local folder, no AWS


SECRET = "s3cr3t-Token-0123456789abcdef"
ECHO_HANDLER = '''import os

from aws_function import app  # noqa: F401  (the offline run adds its paper market to it)


def ok(event, context):
    return ["echo", os.environ["MY_API_TOKEN"]]


def fail(event, context):
    raise RuntimeError("the exchange refused key " + os.environ["MY_API_TOKEN"])
'''


@pytest.mark.anyhost
def test_offline_result_and_error_are_masked_and_stage_picks_the_timeout(tmp_path, host_cli):
    """The handler's load_dotenv() loads every .env secret: what it returns or raises is masked too.
    --stage names the settings section whose timeout the offline run uses."""
    from iaf_aws_plugin.scaffold import scaffold

    bot = tmp_path / "bot"
    scaffold(bot)
    (bot / ".env").write_text(f"MY_API_TOKEN={SECRET}\n")
    (bot / "echo_function.py").write_text(ECHO_HANDLER)
    (bot / "iaf-aws-lambda.json").write_text(json.dumps(
        {"default_stage": "paper", "stages": {"paper": {"timeout": 600}, "live": {"timeout": 120}}}))
    ok = host_cli(["invoke-aws-lambda", "--local", "--offline", "--stage", "live", "--handler", "echo_function.ok"],
                  cwd=bot)
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr
    assert "; timeout 120 s..." in ok.stdout, ok.stdout
    assert "Result (" in ok.stdout and SECRET not in ok.stdout + ok.stderr, ok.stdout
    failed = host_cli(["invoke-aws-lambda", "--local", "--offline", "--handler", "echo_function.fail"], cwd=bot)
    assert failed.returncode == 1 and "the offline run failed (RuntimeError: the exchange refused key" in failed.stderr
    assert "; timeout 600 s..." in failed.stdout, failed.stdout
    assert SECRET not in failed.stdout + failed.stderr, failed.stdout + failed.stderr
