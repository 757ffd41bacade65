"""invoke-aws-lambda through the real host console script.

On the emulator, Lambda's Invoke cannot run an image (moto needs Docker; it answers HTTP 500):
the remote path is tested for its request (exactly one, never retried, the live alias, the log
tail asked for) and its error paths. ``--local`` runs the scaffolded handler for real."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import boto3
import pytest

pytestmark = pytest.mark.host


@pytest.mark.anyhost  # the request our library sends (in process): nothing of the host
def test_invoke_sends_one_unretried_request_to_the_live_alias(deployed_bot, op):
    from iaf_aws_plugin.errors import PluginError
    from iaf_aws_plugin.operate.invoke import invoke_remote
    from iaf_aws_plugin.operate.target import TargetOptions, resolve_target

    sent: list[tuple[str, str, dict]] = []

    def record(request, event_name: str, **_):
        sent.append((event_name.split(".")[-1], request.url, dict(request.headers)))

    session = boto3.Session(region_name=deployed_bot.region)
    session.events.register("before-send.lambda", record)
    target = resolve_target(TargetOptions(project_dir=deployed_bot.project), session=session)
    with pytest.raises(PluginError) as failed:
        invoke_remote(target, b'{"source": "test"}', echo=lambda line: None)
    invokes = [(url, headers) for op_name, url, headers in sent if op_name == "Invoke"]
    assert len(invokes) == 1, "an invoke must never be retried (a retried run trades twice)"
    url, headers = invokes[0]
    assert url.endswith(f"/functions/{deployed_bot.function}/invocations?Qualifier=live")
    assert headers["X-Amz-Log-Type"] == b"Tail" and headers["X-Amz-Invocation-Type"] == b"RequestResponse"
    assert "HTTP 500" in str(failed.value) and "not retried" in str(failed.value)


@pytest.mark.anyhost  # our command's errors before any handler runs (in process)
def test_invoke_error_paths_are_one_line(host_cli, deployed_bot, op, aws_env, tmp_path, unique_name):
    # The emulator cannot run images: Lambda's service error, reported as "unknown, not retried".
    result = op.cli(host_cli, deployed_bot, "invoke-aws-lambda", "--event", '{"a": 1}')
    assert result.returncode == 1
    error = result.stderr.strip().splitlines()
    assert len(error) == 1 and "HTTP 500" in error[0] and "logs-aws-lambda" in error[0], result.stderr
    assert "Invoking" in result.stdout

    missing = host_cli(["invoke-aws-lambda", "--lambda-function-name", f"{unique_name}x"], cwd=tmp_path,
                       env=aws_env)
    assert missing.returncode == 1 and "is not deployed" in missing.stderr and "deploy-aws-lambda" in missing.stderr

    bad = op.cli(host_cli, deployed_bot, "invoke-aws-lambda", "--event", "{nope")
    assert bad.returncode == 1 and "--event is not valid JSON" in bad.stderr

    file_missing = op.cli(host_cli, deployed_bot, "invoke-aws-lambda", "--event", "@nothing.json")
    assert file_missing.returncode == 1 and "cannot read the --event file" in file_missing.stderr

    no_tty = op.cli(host_cli, deployed_bot, "invoke-aws-lambda", "--local")
    assert no_tty.returncode == 1 and "needs a confirmation" in no_tty.stderr and "--yes" in no_tty.stderr


def paper_project(bot, tmp_path: Path) -> dict[str, str]:
    """Copy the offline paper market (and its runner) next to the bot. Returns the extra env."""
    from ..state.test_end_to_end import install_offline_runner

    install_offline_runner(bot.project)
    shutil.copy(Path(__file__).parent / "e2e" / "paper_function.py", bot.project / "paper_function.py")
    shutil.copy(Path(__file__).parent / "e2e" / "paper_scheduled.py", bot.project / "paper_scheduled.py")
    return {}


def e2e_report(stdout: str) -> dict:
    line = next(x for x in stdout.splitlines() if x.startswith("E2E-REPORT "))
    return json.loads(line[len("E2E-REPORT "):])


def test_invoke_local_runs_the_handler_twice_and_the_second_run_sees_the_first_runs_state(
        host_cli, deployed_bot, op, tmp_path):
    bot = deployed_bot
    bot.env.update(paper_project(bot, tmp_path))
    args = ("invoke-aws-lambda", "--local", "--yes", "--handler", "paper_function.lambda_handler")
    first = op.cli(host_cli, bot, *args)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr
    print(first.stdout[-1500:])
    assert f"with the configuration of {bot.function}:live (version 1, timeout 900 s, state in s3://{bot.bucket})" \
        in first.stdout
    assert 'Result (' in first.stdout and '"remaining_ms_positive": true' in first.stdout
    report = e2e_report(first.stdout)
    assert len(report["orders"]) == 1 and " BUY BTC/EUR " in report["orders"][0], report

    second = op.cli(host_cli, bot, *args)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr
    again = e2e_report(second.stdout)
    assert set(report["orders"]) <= set(again["orders"])  # the first run's order is in the second run's state
    assert [p for p in again["positions"] if p.startswith("EUR ")] == ["EUR 750.0"]
    status = op.cli(host_cli, bot, "status-aws-lambda")
    assert "snapshot 2 saved" in status.stdout and "Lease        free" in status.stdout, status.stdout


def test_invoke_local_locked_out_by_the_lease_is_reported_as_skipped(host_cli, deployed_bot, op, tmp_path):
    from iaf_aws_plugin.state.manifest import lease_document

    bot = deployed_bot
    bot.env.update(paper_project(bot, tmp_path))
    boto3.client("s3").put_object(Bucket=bot.bucket, Key=".iaf-state/lease.json",
                                  Body=lease_document(owner="other", holder="Lambda other run", timeout=900,
                                                      state="held"))
    result = op.cli(host_cli, bot, "invoke-aws-lambda", "--local", "--yes", "--handler",
                    "paper_function.lambda_handler")
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr
    assert result.stderr.startswith("Error: skipped: another run holds the state"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.anyhost
def test_invoke_local_with_scheduled_times_10_10_11_trades_twice_and_leaves_two_snapshots(
        host_cli, deployed_bot, op, tmp_path):
    """The issue's measurement: the same scheduled time delivered twice runs once (the scaffolded
    handler answers the duplicate "already ran", a success); a manual run is never deduplicated."""
    from iaf_aws_plugin.state.snapshots import list_snapshots

    bot = deployed_bot
    bot.env.update(paper_project(bot, tmp_path))

    logged: list[str] = []

    def at(moment: str | None) -> tuple[int, str]:
        scheduled = {"source": "iaf-aws-plugin.schedule", "schedule": bot.function,
                     "scheduled_time": moment} if moment else {"source": "manual"}
        result = op.cli(host_cli, bot, "invoke-aws-lambda", "--local", "--yes", "--handler",
                        "paper_scheduled.lambda_handler", "--event", json.dumps(scheduled))
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr
        logged.extend(x for x in result.stdout.splitlines() if "already ran" in x and not x.startswith("Result ("))
        body = json.loads(next(x for x in result.stdout.splitlines() if x.startswith("Result ("))
                          .split(": ", 1)[1])["body"]
        return result.stdout.count("E2E-REPORT "), body

    assert at("2026-12-06T10:00:00Z") == (1, "Trading iteration completed.")
    iterations, body = at("2026-12-06T10:00:00Z")
    assert iterations == 0 and body.startswith("already ran for 2026-12-06 10:00 UTC"), body
    assert len(logged) == 1 and "INFO" in logged[0], logged  # one INFO line in the function's log
    assert at("2026-12-06T11:00:00Z") == (1, "Trading iteration completed.")
    snapshots = list_snapshots(bot.bucket, client=boto3.client("s3"))
    assert len(snapshots) == 2, snapshots
    assert at(None) == (1, "Trading iteration completed.")  # manual: runs even right after
    assert len(list_snapshots(bot.bucket, client=boto3.client("s3"))) == 3


def _fault_proxy_module():
    import importlib.util
    import sys

    module = sys.modules.get("_iaf_test_faultproxy")
    if module is None:
        spec = importlib.util.spec_from_file_location(
            "_iaf_test_faultproxy", Path(__file__).parent.parent / "state" / "faultproxy.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


def keepalive_timer_armed(port: int, server_port: int) -> bool:
    """Whether the loopback TCP connection from ``port`` to ``server_port`` runs its keep-alive timer (/proc/net/tcp
    ``tr`` 2) once its request is acknowledged (before that, the retransmit timer shows): the
    kernel does that only for a socket with SO_KEEPALIVE."""
    import time

    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
        timers = [fields[5].split(":")[0] for fields in rows if fields[1].endswith(f":{port:04X}")
                  and fields[2].endswith(f":{server_port:04X}") and fields[3] == "01"]  # established
        assert timers, f"no connection from port {port}"
        if timers[0] == "02":
            return True
        time.sleep(0.05)
    return False


REFUSALS = [
    ("TooManyRequestsException", 429, "Rate Exceeded.",
     "skipped: a run is in progress (one at a time); Lambda did not run this invocation "
     "(TooManyRequestsException: Rate Exceeded.)."),
    ("ResourceNotReadyException", 502, "The function is inactive and its VPC connection is no longer available.",
     "the function is initializing; Lambda did not run this invocation (ResourceNotReadyException: The function "
     "is inactive and its VPC connection is no longer available.)."),
    ("CodeArtifactUserPendingException", 409, "The function's code is being prepared.",
     "the function is initializing; Lambda did not run this invocation (CodeArtifactUserPendingException: The "
     "function's code is being prepared.)."),
    ("ResourceConflictException", 409, "The operation cannot be performed at this time. The function is currently "
     "in the following state: Pending",
     "the function is initializing; Lambda did not run this invocation (ResourceConflictException: The operation "
     "cannot be performed at this time. The function is currently in the following state: Pending)."),
]


@pytest.mark.anyhost
def test_invoke_refusals_have_their_own_line_and_the_wait_keeps_its_connection_alive(
        deployed_bot, op, monkeypatch):
    """Lambda's refusals, answered at the HTTP level by a loopback proxy in front of the emulator."""
    from iaf_aws_plugin.operate.invoke import BUSY, INITIALIZING, failure, invoke_remote
    from iaf_aws_plugin.operate.target import TargetOptions, resolve_target

    proxy = _fault_proxy_module().FaultProxy(deployed_bot.env["AWS_ENDPOINT_URL"])
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    try:
        for code, status, message, expected in REFUSALS:
            armed: list[bool] = []
            proxy.clear()
            proxy.add("answer", lambda request: request.method == "POST" and request.path.endswith("/invocations"),
                      times=None, status=status,
                      headers=[("Content-Type", "application/json"), ("x-amzn-ErrorType", code)],
                      body=json.dumps({"Type": "User", "message": message}).encode(),
                      inspect=lambda conn: armed.append(keepalive_timer_armed(conn.client_address[1],
                                                                              proxy.server.server_address[1])))
            target = resolve_target(TargetOptions(project_dir=deployed_bot.project),
                                    session=boto3.Session(region_name=deployed_bot.region))
            sent = len(proxy.seen)
            result = invoke_remote(target, b'{"source": "test"}', echo=lambda line: None)
            assert result.outcome == (BUSY if status == 429 else INITIALIZING), code
            problem = failure(result, target)
            assert problem is not None and problem.message == expected
            assert armed == [True], "the invocation's connection has TCP keep-alive on"
            assert len([s for s in proxy.seen[sent:] if s[1].endswith("/invocations")]) == 1, "never retried"
            if status == 429:  # the command: one line, exit status 3 (skipped), as a run locked out by the lease
                from click.testing import CliRunner

                from iaf_aws_plugin.commands.invoke import invoke_aws_lambda

                shown = CliRunner().invoke(invoke_aws_lambda, ["--project-dir", str(deployed_bot.project)],
                                           catch_exceptions=False)
                assert shown.exit_code == 3, shown.output
                assert f"Error: {expected} Wait for that run to end" in shown.output
                assert "Traceback" not in shown.output
    finally:
        proxy.close()
