"""README's first command, the quick start (quickstart/run.py).

In each host leg its flow runs here in the test environment (the built wheel, the real host, moto)
exactly as run.py runs it in its own virtual environment, offline, with the stand-in image. On a full
run .ci/run first runs the README's command itself (run.py: its own virtual environment from the
lock); in the leg of the same host version this test then checks that run's output
(``IAF_QUICKSTART_LOG``; its exit code in ``IAF_QUICKSTART_LOG.exit``, waited for) instead of running the
flow a second time.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

FLOW = Path(__file__).parents[2] / "quickstart" / "flow.py"

pytestmark = pytest.mark.host


def run_flow(work_dir: Path) -> tuple[int, str, str]:
    """The flow in this environment; or, where .ci/run ran the README's command for this host
    version, that run's exit code and output."""
    log = os.environ.get("IAF_QUICKSTART_LOG")
    if log:
        # .ci/run starts the leg without waiting for that run (tests/conftest.py runs this test last):
        # its exit code lands in LOG.exit when it ends.
        exit_file = Path(f"{log}.exit")
        deadline = time.monotonic() + 1800
        while not exit_file.is_file() or not exit_file.read_text().strip():
            assert time.monotonic() < deadline, f"the README's quick start has not ended: {log}"
            time.sleep(2)
        return int(exit_file.read_text()), Path(log).read_text(), ""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_"))}
    env["AWS_PROFILE"] = "must-not-be-read"  # the flow drops every AWS_ setting it inherits
    done = subprocess.run([sys.executable, str(FLOW), "--image", "standin", "--work-dir", str(work_dir)],
                          env=env, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    return done.returncode, done.stdout, done.stderr


def test_quick_start_runs_the_whole_flow_offline_and_each_step_shows(tmp_path) -> None:
    sys.path.insert(0, str(FLOW.parent))
    try:
        from flow import PAPER_KEYS
    finally:
        sys.path.remove(str(FLOW.parent))
    work_dir = FLOW.parent.parent / ".quickstart" if os.environ.get("IAF_QUICKSTART_LOG") else tmp_path
    code, out, err = run_flow(work_dir)
    assert code == 0, out[-6000:] + err[-3000:]
    assert "Traceback" not in out + err

    headers = re.findall(r"^Step (\d) of 9: ", out, re.MULTILINE)
    assert headers == [str(n) for n in range(1, 10)], headers
    assert "Stand-in image (--image standin)" in out
    assert "Pushed to the emulated ECR as 123456789012.dkr.ecr.eu-west-1.amazonaws.com/quickstart-standin:bot" in out
    plan = out.split("Step 3 of 9:")[1].split("Step 4 of 9:")[0]
    assert "Estimated monthly cost (eu-west-1" in plan and "Dry run: nothing was changed." in plan
    assert "Deployed quickstart-bot: alias arn:aws:lambda:eu-west-1:123456789012:function:quickstart-bot:live" in out
    status = out.split("Step 5 of 9:")[1].split("Step 6 of 9:")[0]
    assert "live -> version 1" in status and "Concurrency  reserved 1" in status

    first = out.split("Step 6 of 9:")[1].split("Step 7 of 9:")[0]
    assert re.search(r"^=> orders: BUY 0\.006250 BTC/EUR at 40,000 \(\w+\); positions: .*\"EUR\": 750\.0", first,
                     re.MULTILINE), first[-3000:]
    second = out.split("Step 7 of 9:")[1].split("Step 8 of 9:")[0]
    assert "loaded the first run's state from S3: it knows the order BUY 0.006250 BTC/EUR at 40,000 and the " \
           "cash it spent (EUR 750.0)" in second, second[-3000:]
    history = out.split("Step 8 of 9:")[1].split("Step 9 of 9:")[0]
    assert re.search(r"^\s+1\s+\d{4}-\d\d-\d\d .*\n\*\s+2\s+", history, re.MULTILINE), history
    from iaf_aws_plugin.scaffold import NEXT_STEPS  # run by tests/operate/test_next_steps.py

    assert all(line in out.split("Step 9 of 9:")[1] for line in NEXT_STEPS)
    assert re.search(r"^Quick start completed in \d+ s\.$", out, re.MULTILINE)

    for value in PAPER_KEYS.values():  # the secrets went to SSM and were masked everywhere
        assert value not in out + err
    port = int(re.search(r"at http://127\.0\.0\.1:(\d+), region", out).group(1))
    with pytest.raises(OSError):  # the emulator is stopped
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert (work_dir / "quickstart-bot" / "iaf-aws-lambda.json").is_file()  # the bot stays for the user


def test_quick_start_refuses_a_work_dir_that_is_a_file_in_one_line(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = subprocess.run([sys.executable, str(FLOW), "--image", "standin", "--work-dir", str(blocker)],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith(f"Quick start stopped: ")
    assert str(blocker) in done.stdout
