"""state-aws-lambda push checks what it uploads (issue 20), in process (click's CliRunner) against the
emulator: the project folder, an empty folder, a folder with .env and key files, a folder without the
databases the current snapshot has, an oversized folder; and the changes it shows before asking."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from deploy_fixtures import SECRET_VALUES

pytestmark = pytest.mark.anyhost


def push(bot: Any, folder: Path, *args: str) -> Any:
    from iaf_aws_plugin.commands.state import state_aws_lambda

    result = CliRunner().invoke(state_aws_lambda, ["push", str(folder), *args, "--project-dir", str(bot.project)],
                                catch_exceptions=False)
    for secret in SECRET_VALUES:
        assert secret not in result.output, "a secret value leaked into the output"
    return result


def snapshots(bucket: str) -> list[str]:
    found = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=".iaf-state/snapshots/").get("Contents", [])
    return sorted(item["Key"] for item in found)


def stored_bytes(bucket: str) -> bytes:
    """Every object of the state bucket, concatenated: what an attacker with the bucket would read."""
    s3 = boto3.client("s3")
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return b"".join(s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys)


def make(folder: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def test_project_folder_empty_folder_and_secrets_are_refused_or_left_out(deployed_bot: Any, op: Any,
                                                                         tmp_path: Path) -> None:
    bot = deployed_bot
    op.save_state(bot.bucket, {"databases/prod.sqlite3": "v1", "notes.txt": "first"}, tmp_path / "run1")
    assert len(snapshots(bot.bucket)) == 1

    # `push .` from the bot's folder: it is the project, and .env is never uploaded.
    project = push(bot, bot.project, "--yes")
    assert project.exit_code == 1, project.output
    assert "does not look like a bot's state" in project.output and "project folder (aws_function.py" in project.output
    assert "no databases/*.sqlite3, where the current snapshot has databases/prod.sqlite3" in project.output
    assert "  .env: a local secrets file" in project.output and "--force" in project.output
    # An empty folder, or one holding nothing but what is never pushed: refused, even with --force.
    (tmp_path / "empty").mkdir()
    empty = push(bot, tmp_path / "empty", "--yes", "--force")
    assert empty.exit_code == 1 and "holds no file to push" in empty.output and "fresh portfolio" in empty.output
    only_env = push(bot, make(tmp_path / "only-env", {".env": "BITVAVO_API_KEY=key-123-abc\n"}), "--yes", "--force")
    assert only_env.exit_code == 1 and "holds no file to push (1 left out: .env)" in only_env.output
    assert len(snapshots(bot.bucket)) == 1  # nothing was stored

    # A state folder with a .env, key files and a file holding a secret value: those are left out.
    folder = make(tmp_path / "state", {
        "databases/prod.sqlite3": "v2 of the database", "notes.txt": "first", "report.txt": "new",
        ".env": "BITVAVO_API_KEY=key-123-abc\n", ".env.local": "X=1\n", "keys/exchange.pem": "-----BEGIN…",
        "keys/id_ed25519": "private", "exports/config.json": '{"apiKey": "key-123-abc"}',
        "exports/escaped.json": '{"secret": "s3cr3t value"}'})
    pushed = push(bot, folder, "--yes")
    assert pushed.exit_code == 0, pushed.output
    print(pushed.output)
    for line in ("Left out (never pushed): 6 files", "  .env: a local secrets file",
                 "  .env.local: a local secrets file",
                 "  keys/exchange.pem: a key file", "  keys/id_ed25519: a key file",
                 "  exports/config.json: it contains one of the bot's secret values",
                 "  exports/escaped.json: it contains one of the bot's secret values",
                 "  added    report.txt  3 B", "  changed  databases/prod.sqlite3  2 B -> 18 B"):
        assert line in pushed.output
    assert "notes.txt" not in pushed.output.split("Push ", 1)[1].split("Pushed", 1)[0]  # unchanged: not listed
    pulled = tmp_path / "pulled"
    from iaf_aws_plugin.state.admin import pull

    pull(bot.bucket, boto3.client("s3"), str(pulled))
    got = sorted(str(p.relative_to(pulled)) for p in pulled.rglob("*") if p.is_file())
    assert got == ["databases/prod.sqlite3", "notes.txt", "report.txt"]
    stored = stored_bytes(bot.bucket)
    assert all(secret.encode() not in stored for secret in SECRET_VALUES)

    # Removed files are shown too; pushing the same folder again changes nothing.
    os.remove(folder / "report.txt")
    again = push(bot, folder, "--yes")
    assert again.exit_code == 0 and "  removed  report.txt  3 B" in again.output
    same = push(bot, folder, "--yes")
    assert same.exit_code == 0 and "Nothing to push" in same.output


def test_a_folder_without_the_databases_needs_force_and_an_oversized_one_warns(deployed_bot: Any, op: Any,
                                                                               tmp_path: Path) -> None:
    bot = deployed_bot
    op.save_state(bot.bucket, {"databases/prod.sqlite3": "v1"}, tmp_path / "run1")
    other = make(tmp_path / "other", {"backtest_reports/r.json": "{}"})
    refused = push(bot, other, "--yes")
    assert refused.exit_code == 1 and "where the current snapshot has databases/prod.sqlite3" in refused.output
    forced = push(bot, other, "--yes", "--force")
    assert forced.exit_code == 0, forced.output
    assert "Warning: --force:" in forced.output and "  removed  databases/prod.sqlite3  2 B" in forced.output
    assert len(snapshots(bot.bucket)) == 2

    # 513 MB (a sparse file: no disk used) against the function's 512 MB of /tmp: a warning naming
    # --ephemeral-storage before the question; without a terminal to ask on, nothing is uploaded.
    big = make(tmp_path / "big", {"databases/prod.sqlite3": "v3"})
    with open(big / "databases" / "market.sqlite3", "wb") as handle:
        handle.truncate(513 * 1024 * 1024)
    warned = push(bot, big)
    assert warned.exit_code == 1, warned.output
    assert "more than the function's 512 MB of /tmp" in warned.output
    assert "deploy-aws-lambda --ephemeral-storage 768" in warned.output
    assert "  added    databases/market.sqlite3  513.0 MB" in warned.output
    assert "needs a confirmation but the input is not a terminal" in warned.output
    assert len(snapshots(bot.bucket)) == 2
