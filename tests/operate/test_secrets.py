"""Credentials never leave SSM (issue 20), the whole path on the emulator: deploy with a .env and -e holding
the credentials a trading bot has, then read back the function's variables, the settings file, SSM and
everything the commands printed; then change secrets with secrets-aws-lambda (in process, click's
CliRunner) and check that the next deploy agrees with what it published."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from secret_corpus import (DISCORD_WEBHOOK, DSN, EXCHANGE_PASS, EXTRA_PASS, NEW_EXTRA_PASS, SLACK_WEBHOOK, SMTP_LOGIN,
                           TELEGRAM_TOKEN)

pytestmark = [pytest.mark.anyhost, pytest.mark.usefixtures("aws_env")]

SECRETS = {  # name -> value; the names of the first five carry no secret marker
    "TELEGRAM_BOT": TELEGRAM_TOKEN, "SLACK_URL": SLACK_WEBHOOK, "DISCORD_URL": DISCORD_WEBHOOK,
    "SMTP_LOGIN": SMTP_LOGIN, "DATABASE_URL": DSN, "EXCHANGE_PASS": EXCHANGE_PASS,
    "BITVAVO_API_KEY": "key-123-abc", "BITVAVO_SECRET_KEY": "s3cr3t value",
}
PLAIN = {"LOG_LEVEL": "INFO", "SYMBOLS": "BTC/EUR,ETH/EUR", "API_URL": "https://api.bitvavo.com/v2",
         "MARKET": "bitvavo"}
ALL_SECRET_VALUES = (*SECRETS.values(), EXTRA_PASS, NEW_EXTRA_PASS)


def write_env(project: Path) -> None:
    lines = [f"{name}='{value}'" for name, value in SECRETS.items()]
    lines += [f"{name}={value}" for name, value in PLAIN.items() if name != "MARKET"]
    (project / ".env").write_text("\n".join(lines) + "\n")


def function_env(function: str) -> dict[str, str]:
    config = boto3.client("lambda").get_function_configuration(FunctionName=function)
    return dict(config["Environment"]["Variables"])


def ssm_values(function: str) -> dict[str, tuple[str, int]]:
    path = f"/iaf-aws/{function}/"
    found = boto3.client("ssm").get_parameters_by_path(Path=path, WithDecryption=True)["Parameters"]
    return {p["Name"][len(path):]: (p["Value"], p["Version"]) for p in found}


def no_secret_in(text: str) -> None:
    for value in ALL_SECRET_VALUES:
        assert value not in text, f"a secret value leaked: {value[:4]}…"


def run(command: Any, *args: str, input: str | None = None) -> Any:
    result = CliRunner().invoke(command, list(args), input=input, catch_exceptions=False)
    no_secret_in(result.output)
    return result


def test_credentials_never_leave_ssm(bot_project: Path, ecr_image: Any, unique_name: str,
                                     deploy_inprocess: Any) -> None:
    from iaf_aws_plugin.commands.secrets import secrets_aws_lambda
    from iaf_aws_plugin.commands.status import status_aws_lambda

    write_env(bot_project)
    image = ecr_image("v1")
    result, recorder = deploy_inprocess(bot_project, function_name=unique_name, image_uri=image,
                                        env=(("EXTRA_PASS", EXTRA_PASS), ("MARKET", "bitvavo")))
    assert result.applied
    output = "\n".join(recorder.lines + recorder.warnings)
    no_secret_in(output)
    # The plan says where each variable went and why.
    for line in ("TELEGRAM_BOT: SSM SecureString (value is a bot token (digits:token))",
                 "SLACK_URL: SSM SecureString (value is a URL with a secret in its path (a webhook))",
                 "DISCORD_URL: SSM SecureString (value is a URL with a secret in its path (a webhook))",
                 "SMTP_LOGIN: SSM SecureString (value is user:password)",
                 "DATABASE_URL: SSM SecureString (value is a URL with a password)",
                 "EXCHANGE_PASS: SSM SecureString (name contains PASS)",
                 "EXTRA_PASS: SSM SecureString (name contains PASS)",
                 "SYMBOLS: plain variable (no secret marker in name or value)",
                 "API_URL: plain variable (no secret marker in name or value)"):
        assert f"    {line}" in recorder.lines, output

    # The function's plain variables: no secret, by name or by value.
    env = function_env(unique_name)
    assert not set(SECRETS) & set(env) and "EXTRA_PASS" not in env
    no_secret_in(json.dumps(env))
    assert {k: env[k] for k in PLAIN} == PLAIN
    # SSM holds every secret, the -e one included.
    stored = ssm_values(unique_name)
    assert {name: value for name, (value, _) in stored.items()} == {**SECRETS, "EXTRA_PASS": EXTRA_PASS}
    # The settings file: the -e secret's name only, the plain -e value as before.
    settings_text = (bot_project / "iaf-aws-lambda.json").read_text()
    no_secret_in(settings_text)
    settings = json.loads(settings_text)
    assert settings["env"] == {"MARKET": "bitvavo"} and settings["stored_secrets"] == ["EXTRA_PASS"]

    # A redeploy without -e keeps the secret only SSM holds: nothing to change.
    again, recorder = deploy_inprocess(bot_project)
    assert again.plan.is_noop, again.plan.render()
    assert "    EXTRA_PASS: SSM SecureString (kept in SSM: given earlier with -e or secrets-aws-lambda set)" \
        in recorder.lines
    no_secret_in("\n".join(recorder.lines + recorder.warnings))

    status = run(status_aws_lambda, "--project-dir", str(bot_project))
    assert status.exit_code == 0, status.output

    # secrets-aws-lambda: list shows names and versions, never values.
    listed = run(secrets_aws_lambda, "list", "--project-dir", str(bot_project))
    assert listed.exit_code == 0, listed.output
    assert "EXTRA_PASS" in listed.output and "TELEGRAM_BOT" in listed.output and "VERSION" in listed.output
    before = boto3.client("lambda").get_alias(FunctionName=unique_name, Name="live")["FunctionVersion"]
    digest = function_env(unique_name)["IAF_SECRETS_DIGEST"]

    # set reads the value from stdin (not a terminal here), writes SSM, publishes a version.
    changed = run(secrets_aws_lambda, "set", "EXTRA_PASS", "--project-dir", str(bot_project),
                  input=NEW_EXTRA_PASS + "\n")
    assert changed.exit_code == 0, changed.output
    assert ssm_values(unique_name)["EXTRA_PASS"] == (NEW_EXTRA_PASS, 2)
    after = boto3.client("lambda").get_alias(FunctionName=unique_name, Name="live")["FunctionVersion"]
    assert int(after) == int(before) + 1 and f"Published version {after}" in changed.output
    assert function_env(unique_name)["IAF_SECRETS_DIGEST"] != digest
    # The deploy computes the same digest: nothing to change afterwards.
    third, recorder = deploy_inprocess(bot_project)
    assert third.plan.is_noop, third.plan.render()
    no_secret_in((bot_project / "iaf-aws-lambda.json").read_text())

    # A plain variable cannot be shadowed by a secret; an argument is no way to pass a value.
    refused = run(secrets_aws_lambda, "set", "LOG_LEVEL", "--project-dir", str(bot_project), input="DEBUG\n")
    assert refused.exit_code == 1 and "plain environment variable" in refused.output
    assert "LOG_LEVEL" not in ssm_values(unique_name)
    no_argument = run(secrets_aws_lambda, "set", "EXTRA_PASS", "some-value", "--project-dir", str(bot_project))
    assert no_argument.exit_code == 2
    empty = run(secrets_aws_lambda, "set", "NEW_ONE", "--project-dir", str(bot_project), input="")
    assert empty.exit_code == 1 and "no value" in empty.output

    # rm: asks (refused without a terminal), then deletes and publishes without it.
    unconfirmed = run(secrets_aws_lambda, "rm", "EXTRA_PASS", "--project-dir", str(bot_project))
    assert unconfirmed.exit_code == 1 and "--yes" in unconfirmed.output
    removed = run(secrets_aws_lambda, "rm", "EXTRA_PASS", "--yes", "--project-dir", str(bot_project))
    assert removed.exit_code == 0, removed.output
    assert "EXTRA_PASS" not in ssm_values(unique_name)
    assert "stored_secrets" not in json.loads((bot_project / "iaf-aws-lambda.json").read_text())
    missing = run(secrets_aws_lambda, "rm", "EXTRA_PASS", "--yes", "--project-dir", str(bot_project))
    assert missing.exit_code == 1 and "has no secret EXTRA_PASS" in missing.output


def test_plain_override_of_a_credential_is_deployed_but_never_saved(bot_project: Path, ecr_image: Any,
                                                                    unique_name: str, deploy_inprocess: Any) -> None:
    result, recorder = deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"),
                                        env=(("NOTIFY_URL", SLACK_WEBHOOK),), plain_names=("NOTIFY_URL",))
    assert result.applied
    assert function_env(unique_name)["NOTIFY_URL"] == SLACK_WEBHOOK  # as asked
    assert any("NOTIFY_URL: plain variable (--plain; value is a URL with a secret in its path" in line
               for line in recorder.lines)
    assert any("-e NOTIFY_URL is deployed as a plain variable" in line for line in recorder.warnings)
    settings = json.loads((bot_project / "iaf-aws-lambda.json").read_text())
    assert SLACK_WEBHOOK not in json.dumps(settings) and settings["plain_names"] == ["NOTIFY_URL"]


def test_a_secret_saved_in_the_settings_by_an_older_version_moves_to_ssm(bot_project: Path, ecr_image: Any,
                                                                         unique_name: str,
                                                                         deploy_inprocess: Any) -> None:
    """iaf-aws-lambda.json written before this fix held `-e EXTRA_PASS`'s value: the next deploy moves it."""
    first, _ = deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"))
    path = bot_project / "iaf-aws-lambda.json"
    settings = json.loads(path.read_text())
    path.write_text(json.dumps({**settings, "env": {"EXTRA_PASS": EXTRA_PASS}}))
    second, recorder = deploy_inprocess(bot_project)
    assert second.applied
    assert ssm_values(unique_name)["EXTRA_PASS"][0] == EXTRA_PASS
    assert "EXTRA_PASS" not in function_env(unique_name)
    saved = path.read_text()
    assert EXTRA_PASS not in saved and json.loads(saved)["stored_secrets"] == ["EXTRA_PASS"]
    no_secret_in("\n".join(recorder.lines + recorder.warnings))


def test_after_a_rollback_set_stores_but_does_not_roll_forward(bot_project: Path, ecr_image: Any, unique_name: str,
                                                               deploy_inprocess: Any) -> None:
    from iaf_aws_plugin.commands.secrets import secrets_aws_lambda

    deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"))
    deploy_inprocess(bot_project, memory_size=1024)
    lam = boto3.client("lambda")
    lam.update_alias(FunctionName=unique_name, Name="live", FunctionVersion="1")  # what rollback-aws-lambda does
    result = run(secrets_aws_lambda, "set", "BITVAVO_SECRET_KEY", "--project-dir", str(bot_project),
                 input=NEW_EXTRA_PASS)
    assert result.exit_code == 0, result.output
    assert "runs version 1, which differs from the function's latest configuration" in result.output
    assert lam.get_alias(FunctionName=unique_name, Name="live")["FunctionVersion"] == "1"
    assert ssm_values(unique_name)["BITVAVO_SECRET_KEY"] == (NEW_EXTRA_PASS, 2)
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=unique_name)["Versions"]] == [
        "$LATEST", "1", "2"]
