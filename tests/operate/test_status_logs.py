"""status-aws-lambda and logs-aws-lambda through the real host console script, on the moto server.

The log tests read events the test writes into the emulator's CloudWatch Logs in the form
Lambda's Python runtime writes them (START / lines / END / REPORT per invocation)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import boto3
import pytest


# Our status and logs commands against moto; the console script is only the vehicle (proven per host by
# tests/plugin/test_host_cli.py, the first deploy in tests/deploy/test_deploy_cli.py and the quick start,
# whose flow runs status in every leg).
pytestmark = [pytest.mark.host, pytest.mark.anyhost]


def write_two_runs(op, bot) -> tuple[str, str]:
    start = op.now_ms() - 600_000
    ok_id, locked_id = "11111111-aaaa-4bbb-8ccc-000000000001", "22222222-aaaa-4bbb-8ccc-000000000002"
    op.put_log_events(bot.log_group, "2024/01/01/[1]abc", [
        (start - 5, "INIT_START Runtime Version: python:3.12.v30\n"),
        *op.invocation_lines(ok_id, start, [f"[INFO]\t2024\t{ok_id}\tbought 0.01 BTC at 40000\n"],
                          duration_ms=2345.6, init_ms=2100.5),
        *op.invocation_lines(locked_id, start + 60_000,
                          [f"[ERROR] StateLockedError: State s3://b/.iaf-state/lease.json is leased by x\n"
                           f"Traceback (most recent call last):\n  File \"/var/task/aws_function.py\"\n"],
                          duration_ms=300.0),
    ])
    return ok_id, locked_id


def test_status_shows_every_part_and_json(host_console, deployed_bot, op):
    host_cli = host_console  # status through the real console script
    bot = deployed_bot
    ok_id, locked_id = write_two_runs(op, bot)
    result = op.cli(host_cli, bot, "status-aws-lambda")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    print(out)
    assert f"Bot          {bot.function} (account {bot.account}, region {bot.region})" in out
    assert "Function     Active, last update Successful" in out
    assert "memory 3000 MB, timeout 900 s, x86_64" in out
    assert "Alias        live -> version 1" in out and "kept versions: 1" in out
    assert "Concurrency  reserved 1" in out
    # Derived from the scaffolded hourly strategy: on the hour, UTC (8.x and 9.x alike).
    expression = json.loads((bot.project / "iaf-aws-lambda.json").read_text())["schedule"]
    assert expression == "cron(0 * * * ? *)"
    assert re.search(r"Schedule     cron\(0 \* \* \* \? \*\) \(UTC\), ENABLED; next run 20\d\d-\d\d-\d\d \d\d:00 UTC",
                     out), out
    assert f"Undelivered  0 run(s) in the dead-letter queue {bot.function}-iaf-dlq" in out
    assert re.search(rf"UTC  ok +2,346 ms  cold start 2,100 ms  request {ok_id}", out), out
    assert re.search(rf"UTC  skipped +300 ms  request {locked_id}", out), out
    assert f"State        s3://{bot.bucket}/: no snapshot yet" in out
    assert "Lease        never taken" in out
    assert "Alerts       missing (deploy-aws-lambda --alert-email ADDRESS sets them up)" in out

    as_json = op.cli(host_cli, bot, "status-aws-lambda", "--json", "--invocations", "1")
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["function"]["image_digest"].startswith("sha256:")
    assert data["alias"]["version"] == "1" and data["concurrency"]["reserved"] == 1
    assert [i["request_id"] for i in data["invocations"]] == [locked_id]
    assert data["invocations"][0]["outcome"] == "skipped"
    next_run = data["schedule"]["next_run"]
    assert next_run and 0 < (time.mktime(time.strptime(next_run[:19], "%Y-%m-%dT%H:%M:%S")) - time.time()
                             + time.timezone) <= 3600 + 60


def test_status_of_a_bot_that_is_not_deployed_shows_missing_parts(host_cli, aws_env, tmp_path, unique_name):
    result = host_cli(["status-aws-lambda", "--lambda-function-name", unique_name], cwd=tmp_path, env=aws_env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "Function     missing (not deployed: run deploy-aws-lambda)" in result.stdout
    assert "Schedule     missing" in result.stdout
    assert "does not exist" in result.stdout  # the state bucket


def test_commands_outside_a_project_need_a_function_name(host_cli, aws_env, tmp_path):
    result = host_cli(["status-aws-lambda"], cwd=tmp_path, env=aws_env)
    assert result.returncode == 1
    assert "no Lambda function name" in result.stderr and "--lambda-function-name" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_logs_groups_each_invocation_and_filters(host_cli, deployed_bot, op):
    bot = deployed_bot
    ok_id, locked_id = write_two_runs(op, bot)
    result = op.cli(host_cli, bot, "logs-aws-lambda", "--since", "1h")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    print(out)
    blocks = out.split("=== ")[1:]
    assert len(blocks) == 2
    assert ok_id in blocks[0].splitlines()[0] and "ok" in blocks[0].splitlines()[0]
    assert "INIT_START" in blocks[0] and "bought 0.01 BTC" in blocks[0]  # the cold start belongs to its run
    assert "StateLockedError" in blocks[1] and "skipped" in blocks[1].splitlines()[0]
    assert " UTC " in blocks[0].splitlines()[0]  # readable timestamps

    filtered = op.cli(host_cli, bot, "logs-aws-lambda", "--filter", "bought")
    assert filtered.returncode == 0, filtered.stderr
    assert ok_id in filtered.stdout and locked_id not in filtered.stdout
    assert "START" not in filtered.stdout  # only the matching lines of the matching invocation

    old = op.cli(host_cli, bot, "logs-aws-lambda", "--since", "1m")
    assert old.returncode == 0 and "No invocations" in old.stdout

    bad = op.cli(host_cli, bot, "logs-aws-lambda", "--since", "yesterday")
    assert bad.returncode == 1 and "invalid --since" in bad.stderr


def test_logs_follow_prints_new_lines_and_stops_cleanly_on_ctrl_c(deployed_bot, op):
    bot = deployed_bot
    write_two_runs(op, bot)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(bot.env)
    process = subprocess.Popen([str(op.HOST_CONSOLE_SCRIPT), "logs-aws-lambda", "--follow"], cwd=bot.project, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:
            seen.append(line)
            if line.startswith("--- following"):
                break
        new_id = "33333333-aaaa-4bbb-8ccc-000000000003"
        op.put_log_events(bot.log_group, "2024/01/01/[1]def",
                       op.invocation_lines(new_id, op.now_ms(), ["a line written while following\n"]))
        for line in process.stdout:
            seen.append(line)
            if "REPORT RequestId: " + new_id in line:
                break
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    text = "".join(seen)
    assert f"request {new_id}" in text and "a line written while following" in text
    assert process.returncode == 0, err
    assert "Traceback" not in err and "stopped" in err


def test_logs_of_a_bot_that_never_ran(host_cli, deployed_bot, op):
    # The deploy creates the log group (with its retention): empty, not missing.
    result = op.cli(host_cli, deployed_bot, "logs-aws-lambda")
    assert result.returncode == 0 and f"No invocations in {deployed_bot.log_group} since " in result.stdout
    boto3.client("logs").delete_log_group(logGroupName=deployed_bot.log_group)
    gone = op.cli(host_cli, deployed_bot, "logs-aws-lambda")
    assert gone.returncode == 1 and f"log group {deployed_bot.log_group} does not exist" in gone.stderr


def test_logs_mask_a_secret_that_is_only_in_ssm(host_cli, deployed_bot, op):
    """A secret given once with ``-e`` is in SSM only (never in .env or the saved settings): when the
    function prints it, ``logs-aws-lambda`` still masks it (it reads the bot's SSM parameters)."""
    bot = deployed_bot
    only_in_ssm = "ssm-only-7Qx2vN9pLk4sW8aZ"
    boto3.client("ssm").put_parameter(Name=f"/iaf-aws/{bot.function}/EXCHANGE_TOKEN", Value=only_in_ssm,
                                      Type="SecureString")
    run_id = "33333333-aaaa-4bbb-8ccc-000000000003"
    op.put_log_events(bot.log_group, "2024/01/01/[1]ssm", op.invocation_lines(
        run_id, op.now_ms() - 60_000, [f"[INFO]\t2024\t{run_id}\tconnecting with token={only_in_ssm}\n"],
        duration_ms=100.0))
    result = op.cli(host_cli, bot, "logs-aws-lambda", "--since", "1h")
    assert result.returncode == 0, result.stderr
    assert "connecting with token=****" in result.stdout
    assert only_in_ssm not in result.stdout + result.stderr
