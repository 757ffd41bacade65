"""End to end with the real host: the scaffolded ``aws_function.lambda_handler`` runs twice, each
time in a fresh Python process with an empty resource folder (a cold Lambda container), against
the S3 emulator and an offline paper market. What the first invocation stored is in the second."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).parent / "e2e" / "run_offline.py"
QUICKSTART = Path(__file__).parents[2] / "quickstart"
# The quick start's bundled hourly BTC/EUR candles: a slow decline, then a jump on the last one, so
# the example strategy's fast average crosses above the slow one (a buy); replayed up to now.
CANDLES = QUICKSTART / "data" / "BTC-EUR-1h.csv"

pytestmark = pytest.mark.host


def install_offline_runner(project: Path) -> None:
    """``run_offline.py`` and the quick start's offline paper market it runs the bot on, with its
    candles in ``data/`` (an image leaves ``data/`` out: point ``OHLCV_CSV`` at a copy instead)."""
    shutil.copy(RUNNER, project / "run_offline.py")
    shutil.copy(QUICKSTART / "paper_market.py", project / "paper_market.py")
    (project / "data").mkdir(exist_ok=True)
    shutil.copy(CANDLES, project / "data" / CANDLES.name)


def invoke(project: Path, env: dict[str, str], resources: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    full.update(env)
    full.update(extra)
    full["RESOURCE_DIRECTORY"] = str(resources)
    return subprocess.run([sys.executable, "run_offline.py"], cwd=project, env=full, capture_output=True,
                          text=True, timeout=300)


def report(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr[-4000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("E2E-REPORT "))
    return json.loads(line[len("E2E-REPORT "):])


def test_scaffolded_lambda_handler_keeps_its_trading_state_between_cold_invocations(
        host_cli, aws_env, bucket, s3, tmp_path):
    project = tmp_path / "bot"
    scaffold = host_cli(["init-aws-lambda", "--path", str(project)])
    assert scaffold.returncode == 0, scaffold.stderr
    install_offline_runner(project)
    env = dict(aws_env, AWS_S3_STATE_BUCKET_NAME=bucket, BITVAVO_API_KEY="paper-key",
               BITVAVO_SECRET_KEY="paper-secret")

    first = report(invoke(project, env, tmp_path / "container-1", IAF_FUNCTION_TIMEOUT="120"))
    assert first["result"]["statusCode"] == 200
    lease = json.loads(s3.get_object(Bucket=bucket, Key=".iaf-state/lease.json")["Body"].read())
    assert lease["timeout_seconds"] == 180  # the deploy's function timeout + the margin
    assert len(first["orders"]) == 1 and " BUY BTC/EUR " in first["orders"][0], first
    assert s3.get_object(Bucket=bucket, Key=".iaf-state/HEAD.json")

    second = report(invoke(project, env, tmp_path / "container-2", IAF_FUNCTION_TIMEOUT="120",
                           E2E_REMAINING_MS="299500"))
    lease = json.loads(s3.get_object(Bucket=bucket, Key=".iaf-state/lease.json")["Body"].read())
    assert lease["timeout_seconds"] == 360  # the invocation's remaining time counts (timeout raised)
    # A trade exists once the order is known (8.x) or filled (9.x: the second run syncs the fill).
    assert second["trades"], second
    assert set(first["orders"]) <= set(second["orders"]), (first, second)
    assert set(first["trades"]) <= set(second["trades"]), (first, second)
    eur = [p for p in second["positions"] if p.startswith("EUR ")]
    assert eur == ["EUR 750.0"], second  # the cash spent by the first run stays spent
    # The second run saw the first run's open order and synced it as filled.
    assert any(s.endswith(" CLOSED") for s in second["order_status"]), second
    assert any(p.startswith("BTC ") and float(p.split()[1]) > 0 for p in second["positions"]), second

    # A save refused because another writer moved the snapshot fails the invocation.
    third = invoke(project, env, tmp_path / "container-3", E2E_OVERWRITE_HEAD="1")
    assert third.returncode != 0
    assert "StateConflictError" in third.stderr and "changed since this run loaded" in third.stderr
