"""state-aws-lambda pull / push / history / restore / prune through the real host console script."""
from __future__ import annotations

import re

import boto3
import pytest

# Our state admin commands on snapshots in moto's S3 (in process). The handler that writes them runs
# per host in tests/state/test_end_to_end.py and test_migration_errors_snapshots.py.
pytestmark = [pytest.mark.host, pytest.mark.anyhost]


def snapshot_keys(bucket: str) -> list[str]:
    s3 = boto3.client("s3")
    found = s3.list_objects_v2(Bucket=bucket, Prefix=".iaf-state/snapshots/").get("Contents", [])
    return sorted(item["Key"] for item in found)


def test_pull_push_history_restore(host_cli, deployed_bot, op, tmp_path):
    bot = deployed_bot
    empty = op.cli(host_cli, bot, "state-aws-lambda", "history")
    assert empty.returncode == 0 and "No snapshots" in empty.stdout
    nothing = op.cli(host_cli, bot, "state-aws-lambda", "pull", str(tmp_path / "none"))
    assert nothing.returncode == 1 and "holds no snapshot yet" in nothing.stderr

    op.save_state(bot.bucket, {"databases/prod.sqlite3": "v1", "notes/a.txt": "first"}, tmp_path / "run1")
    op.save_state(bot.bucket, {"databases/prod.sqlite3": "v2"}, tmp_path / "run2")

    pulled = tmp_path / "pulled"
    result = op.cli(host_cli, bot, "state-aws-lambda", "pull", str(pulled))
    assert result.returncode == 0, result.stderr
    assert "Pulled snapshot 2" in result.stdout and "1 files" in result.stdout
    assert (pulled / "databases" / "prod.sqlite3").read_text() == "v2" and not (pulled / "notes").exists()
    again = op.cli(host_cli, bot, "state-aws-lambda", "pull", str(pulled))
    assert again.returncode == 1 and "is not empty" in again.stderr and "--replace" in again.stderr

    listed = op.cli(host_cli, bot, "state-aws-lambda", "history")
    assert listed.returncode == 0, listed.stderr
    print(listed.stdout)
    rows = [line for line in listed.stdout.splitlines() if re.match(r"^[ *] +\d+ ", line)]
    assert len(rows) == 2 and rows[1].startswith("*") and " 2 files " in rows[0] and " 1 files " in rows[1]

    restored = op.cli(host_cli, bot, "state-aws-lambda", "restore", "1", "--yes")
    assert restored.returncode == 0, restored.stderr
    assert "Restored snapshot 1 as snapshot 3" in restored.stdout
    op.cli(host_cli, bot, "state-aws-lambda", "pull", str(pulled), "--replace")
    assert (pulled / "databases" / "prod.sqlite3").read_text() == "v1"
    assert (pulled / "notes" / "a.txt").read_text() == "first"

    prepared = tmp_path / "prepared"
    (prepared / "databases").mkdir(parents=True)
    (prepared / "databases" / "prod.sqlite3").write_text("prepared for the bot")
    no_tty = op.cli(host_cli, bot, "state-aws-lambda", "push", str(prepared))
    assert no_tty.returncode == 1 and "--yes" in no_tty.stderr
    pushed = op.cli(host_cli, bot, "state-aws-lambda", "push", str(prepared), "--yes")
    assert pushed.returncode == 0, pushed.stderr
    assert "current snapshot 4, 1 files" in pushed.stdout
    assert len(snapshot_keys(bot.bucket)) == 4  # nothing was deleted
    same = op.cli(host_cli, bot, "state-aws-lambda", "push", str(prepared), "--yes")
    assert same.returncode == 0 and "Nothing to push" in same.stdout and len(snapshot_keys(bot.bucket)) == 4
    status = op.cli(host_cli, bot, "status-aws-lambda")
    assert "snapshot 4 saved" in status.stdout and "Lease        free" in status.stdout

    unknown = op.cli(host_cli, bot, "state-aws-lambda", "restore", "nope", "--yes")
    assert unknown.returncode == 1 and "No snapshot 'nope'" in unknown.stderr


def test_push_is_refused_while_a_run_holds_the_lease(host_cli, deployed_bot, op, tmp_path):
    from iaf_aws_plugin.state.manifest import lease_document

    bot = deployed_bot
    op.save_state(bot.bucket, {"a.txt": "kept"}, tmp_path / "run")
    boto3.client("s3").put_object(Bucket=bot.bucket, Key=".iaf-state/lease.json",
                                  Body=lease_document(owner="x", holder="Lambda run 42", timeout=900, state="held"))
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    (prepared / "a.txt").write_text("replaced")
    result = op.cli(host_cli, bot, "state-aws-lambda", "push", str(prepared), "--yes")
    assert result.returncode == 1
    assert "refused: another run holds the state" in result.stderr and "Lambda run 42" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    status = op.cli(host_cli, bot, "status-aws-lambda")
    assert "Lease        HELD by Lambda run 42" in status.stdout
    pruned = op.cli(host_cli, bot, "state-aws-lambda", "prune", "--keep", "1", "--yes")
    assert pruned.returncode == 1 and "refused: another run holds the state" in pruned.stderr


def test_prune_keeps_the_newest_snapshots_and_every_object_they_use(host_cli, deployed_bot, op, tmp_path):
    bot = deployed_bot
    big = "x" * (1024 * 1024 + 10)  # over the pack limit: stored as its own object
    op.save_state(bot.bucket, {"big.bin": big, "db": "1"}, tmp_path / "r1")
    op.save_state(bot.bucket, {"db": "2"}, tmp_path / "r2")
    op.save_state(bot.bucket, {"db": "3", "other": "o"}, tmp_path / "r3")
    before = snapshot_keys(bot.bucket)
    assert len(before) == 3

    dry = op.cli(host_cli, bot, "state-aws-lambda", "prune", "--keep", "2", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "Would delete 1 snapshots and 2 stored objects" in dry.stdout, dry.stdout
    assert snapshot_keys(bot.bucket) == before

    done = op.cli(host_cli, bot, "state-aws-lambda", "prune", "--keep", "2", "--yes")
    assert done.returncode == 0, done.stderr
    print(done.stdout)
    assert snapshot_keys(bot.bucket) == before[1:]
    s3 = boto3.client("s3")
    versions = s3.list_object_versions(Bucket=bot.bucket, Prefix=".iaf-state/objects/")
    assert not versions.get("DeleteMarkers")  # every version deleted: the bytes are gone, not hidden
    for generation in ("2", "3"):  # the kept snapshots still restore completely
        assert op.cli(host_cli, bot, "state-aws-lambda", "restore", generation, "--yes").returncode == 0
        pulled = tmp_path / f"p{generation}"
        assert op.cli(host_cli, bot, "state-aws-lambda", "pull", str(pulled)).returncode == 0
        assert (pulled / "db").read_text() == generation and not (pulled / "big.bin").exists()

    nothing = op.cli(host_cli, bot, "state-aws-lambda", "prune", "--keep", "10", "--yes")
    assert nothing.returncode == 0 and "Nothing to prune" in nothing.stdout
