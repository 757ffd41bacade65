"""Templates per host major: the scaffold writes a project in the installed host's own style,
and that project imports and runs on it; a scheduled run the host's ``is_due`` rejects is
skipped (a success), not failed."""
from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from iaf_aws_plugin.scaffold import iter_templates, major_of, output_name, scaffold, templates_root

from ..state.test_end_to_end import install_offline_runner

HOST_MAJOR = major_of(importlib.metadata.version("investing-algorithm-framework"))
RUNNER = Path(__file__).parent / "e2e" / "run_event.py"


def rendered(host_major: int | None) -> dict[str, str]:
    return {relative: template.name for relative, template in iter_templates(templates_root(), host_major=host_major)}


@pytest.mark.parametrize("name, expected", [
    ("my_strategy.py@iaf9.tmpl", "my_strategy.py"), ("dot-env@iaf9", ".env"), ("x@iaf10.tmpl", "x"),
])
def test_variant_names(name: str, expected: str) -> None:
    assert output_name(name) == expected


def test_each_major_gets_its_own_strategy_and_nothing_else_differs() -> None:
    eight, nine, base = rendered(8), rendered(9), rendered(None)
    assert eight == base
    assert set(eight) == set(nine)  # the same files, no "@iaf" name written
    assert not any("@" in relative for relative in nine)
    assert eight["strategies/my_strategy.py"] == "my_strategy.py.tmpl"
    assert nine["strategies/my_strategy.py"] == "my_strategy.py@iaf9.tmpl"
    assert {rel for rel in nine if nine[rel] != eight[rel]} == {"strategies/my_strategy.py"}


def test_strategy_styles(tmp_path: Path) -> None:
    scaffold(tmp_path / "eight", host_major=8)
    scaffold(tmp_path / "nine", host_major=9)
    eight = (tmp_path / "eight" / "strategies" / "my_strategy.py").read_text()
    nine = (tmp_path / "nine" / "strategies" / "my_strategy.py").read_text()
    assert "time_unit = TimeUnit.HOUR" in eight and "interval = 1" in eight and "Schedule" not in eight
    assert "schedule = Schedule.every(1, TimeUnit.HOUR)" in nine and "time_unit =" not in nine
    assert "def generate_signals(" in nine and "def generate_buy_signals(" not in nine
    for project in ("eight", "nine"):
        requirement = (tmp_path / project / "requirements.txt").read_text().splitlines()[0]
        assert requirement.startswith("investing-algorithm-framework>=") and "[" not in requirement


def test_requirements_fit_the_installed_host(tmp_path: Path) -> None:
    version = importlib.metadata.version("investing-algorithm-framework")
    scaffold(tmp_path)
    first = (tmp_path / "requirements.txt").read_text().splitlines()[0]
    assert first == f"investing-algorithm-framework>={version},<{HOST_MAJOR + 1}"  # no extras


@pytest.mark.host
def test_scaffolded_strategy_imports_on_the_installed_host(host_cli, tmp_path: Path) -> None:
    project = tmp_path / "bot"
    assert host_cli(["init-aws-lambda", "--path", str(project)]).returncode == 0
    probe = ("from strategies.my_strategy import MyTradingStrategy as S; s = S(); "
             "print(getattr(s, 'schedule', None) or (s.time_unit, s.interval))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    result = subprocess.run([sys.executable, "-c", probe], cwd=project, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    if HOST_MAJOR >= 9:
        assert "Schedule(time_unit=<TimeUnit.HOUR: 'HOUR'>, interval=1" in result.stdout, result.stdout
    else:
        assert "HOUR" in result.stdout and "1)" in result.stdout, result.stdout


@pytest.fixture
def s3(aws_env: dict[str, str]):  # type: ignore[no-untyped-def]
    import boto3

    return boto3.client("s3")


@pytest.fixture
def bucket(s3, unique_name: str) -> str:  # type: ignore[no-untyped-def]
    s3.create_bucket(Bucket=unique_name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return unique_name


def run_event(project: Path, env: dict[str, str], event: dict[str, object], resources: Path) -> dict:
    full = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    full.update(env, E2E_EVENT=json.dumps(event), RESOURCE_DIRECTORY=str(resources))
    result = subprocess.run([sys.executable, "run_event.py"], cwd=project, env=full, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("E2E-REPORT "))
    return dict(json.loads(line[len("E2E-REPORT "):]), log=result.stdout + result.stderr)


@pytest.mark.host
def test_one_offline_iteration_and_a_run_that_is_not_due_is_skipped(host_cli, aws_env, bucket, s3, tmp_path):
    """The scaffolded handler on the installed host: a scheduled run at a time the strategy is
    due trades; on 9.x one at a time it is not due (the cron fires more often than the
    strategy) succeeds without loading or saving state; a manual invocation always runs."""
    from iaf_aws_plugin.schedule_gate import SCHEDULE_EVENT_SOURCE

    project = tmp_path / "bot"
    assert host_cli(["init-aws-lambda", "--path", str(project)]).returncode == 0
    install_offline_runner(project)
    shutil.copy(RUNNER, project / "run_event.py")
    env = dict(aws_env, AWS_S3_STATE_BUCKET_NAME=bucket, BITVAVO_API_KEY="paper-key",
               BITVAVO_SECRET_KEY="paper-secret")

    off_the_hour = {"source": SCHEDULE_EVENT_SOURCE, "scheduled_time": "2026-03-29T01:30:00Z"}
    skipped = run_event(project, env, off_the_hour, tmp_path / "c1")
    if HOST_MAJOR >= 9:
        assert skipped["result"]["statusCode"] == 200
        assert skipped["result"]["body"].startswith("not due: no schedule of MyTradingStrategy fires at "
                                                    "2026-03-29 01:30 UTC"), skipped
        assert skipped["orders"] is None  # the app never started
        assert "INFO - not due: no schedule of MyTradingStrategy fires at" in skipped["log"]  # in the function's log
        assert "Contents" not in s3.list_objects_v2(Bucket=bucket)  # no lease, no state touched
    else:  # 8.x strategies have no Schedule: every scheduled run goes ahead
        assert skipped["orders"] == ["BUY BTC/EUR"], skipped

    if HOST_MAJOR >= 9:
        on_the_hour = {"source": SCHEDULE_EVENT_SOURCE, "scheduled_time": "2026-03-29T02:00:00Z"}
        ran = run_event(project, env, on_the_hour, tmp_path / "c2")
        assert ran["result"] == {"statusCode": 200, "body": "Trading iteration completed."}, ran
        assert ran["orders"] == ["BUY BTC/EUR"], ran
        assert s3.get_object(Bucket=bucket, Key=".iaf-state/HEAD.json")
        # A manual invocation (not the schedule's event) is never skipped.
        manual = run_event(project, env, {"note": "by hand"}, tmp_path / "c3")
        assert manual["result"]["body"] == "Trading iteration completed.", manual


def test_env_example_names_are_the_ones_the_host_reads_for_the_scaffolded_market(tmp_path, monkeypatch) -> None:
    """A user fills ``.env.example`` in: the host's own credential reader must find both keys
    (IAF reads ``{MARKET}_API_KEY`` and ``{MARKET}_SECRET_KEY``; a wrong name trades without a secret)."""
    from dotenv import dotenv_values
    from investing_algorithm_framework import MarketCredential

    scaffold(tmp_path / "bot", replace=False)
    names = [name for name in dotenv_values(tmp_path / "bot" / ".env.example")]
    market = next(name[:-len("_API_KEY")] for name in names if name.endswith("_API_KEY"))
    assert f'add_market(market="{market}"' in (tmp_path / "bot" / "aws_function.py").read_text()
    for name in names:
        monkeypatch.setenv(name, f"value-of-{name}")
    credential = MarketCredential(market=market.lower())
    credential.initialize()
    assert credential.get_api_key() == f"value-of-{market}_API_KEY"
    assert credential.get_secret_key() == f"value-of-{market}_SECRET_KEY"
