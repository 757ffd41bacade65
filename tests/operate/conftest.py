"""Fixtures of the operate tests: a bot deployed to the moto server (in process, fast), whose
commands then run through the real host console script.

The deploy fixtures (``bot_project``, ``ecr_image``, ``deploy_inprocess``) are the deploy tests'
own (tests/deploy_fixtures.py, a plugin of tests/conftest.py).
"""
from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
from deploy_fixtures import SECRET_VALUES  # the deploy fixtures themselves come from tests/conftest.py


@dataclass
class Bot:
    project: Path
    function: str
    region: str
    account: str
    bucket: str
    image: str
    env: dict[str, str]

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.function}"


def open_bucket_over_http(bucket: str) -> None:
    """The deploy gives the state bucket a TLS-only policy, which moto enforces; the emulator
    speaks plain HTTP, so tests that touch state objects lift it (AWS is reached over HTTPS)."""
    import boto3

    boto3.client("s3").delete_bucket_policy(Bucket=bucket)


@pytest.fixture
def deployed_bot(aws_env: dict[str, str], bot_project: Path, ecr_image: Callable[..., str], unique_name: str,
                 deploy_inprocess: Callable[..., Any]) -> Bot:
    """A bot deployed with a prebuilt image (version 1 behind the alias), state bucket open over HTTP."""
    image = ecr_image("v1")
    result, _ = deploy_inprocess(bot_project, function_name=unique_name, image_uri=image)
    assert result.applied
    names = result.names
    open_bucket_over_http(names.bucket)
    return Bot(bot_project, unique_name, names.region, names.account, names.bucket, image, aws_env)


def cli(host_cli: Callable[..., subprocess.CompletedProcess[str]], bot: Bot, *args: str,
        input: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command in the bot's project folder; no secret may ever appear, nor a traceback."""
    result = host_cli(list(args), cwd=cwd or bot.project, env=bot.env, input=input)
    for secret in SECRET_VALUES:
        assert secret not in result.stdout and secret not in result.stderr, "a secret leaked into the output"
    assert "Traceback" not in result.stderr, result.stderr
    return result


def put_log_events(group: str, stream: str, lines: list[tuple[int, str]]) -> None:
    """Write events into the emulator's CloudWatch Logs, as Lambda would."""
    import boto3

    logs = boto3.client("logs")
    try:
        logs.create_log_group(logGroupName=group)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    try:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": ts, "message": message} for ts, message in lines])


def invocation_lines(request_id: str, start_ms: int, body: list[str], *, duration_ms: float = 1234.5,
                     init_ms: float | None = None) -> list[tuple[int, str]]:
    """What Lambda's Python runtime writes for one invocation (text log format)."""
    lines = [(start_ms, f"START RequestId: {request_id} Version: 1\n")]
    lines += [(start_ms + 10 + i, text) for i, text in enumerate(body)]
    end = start_ms + int(duration_ms)
    init = f"\tInit Duration: {init_ms} ms" if init_ms else ""
    lines += [(end, f"END RequestId: {request_id}\n"),
              (end, f"REPORT RequestId: {request_id}\tDuration: {duration_ms} ms\tBilled Duration: "
                    f"{int(duration_ms) + 1} ms\tMemory Size: 3000 MB\tMax Memory Used: 210 MB{init}\t\n")]
    return lines


def now_ms() -> int:
    return int(time.time() * 1000)


def saved_settings(project: Path) -> dict[str, Any]:
    return json.loads((project / "iaf-aws-lambda.json").read_text())


HOST_CONSOLE_SCRIPT = Path(__import__("sys").executable).parent / "investing-algorithm-framework"


@pytest.fixture
def op() -> Any:
    """This module's helpers (test modules cannot import conftest under --import-mode=importlib)."""
    import sys

    return sys.modules[__name__]


def save_state(bucket: str, files: dict[str, str], workdir: Path) -> None:
    """One run's save through the real state handler: the bucket then holds a snapshot of exactly ``files``."""
    import shutil

    from iaf_aws_plugin import AWSS3StorageStateHandler

    handler = AWSS3StorageStateHandler(bucket)
    handler.initialize()
    if workdir.exists():
        shutil.rmtree(workdir)
    handler.load(str(workdir))
    for entry in workdir.iterdir():
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for rel, text in files.items():
        (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
        (workdir / rel).write_text(text)
    handler.save(str(workdir))
