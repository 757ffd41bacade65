"""Duplicate deliveries of a scheduled time (EventBridge Scheduler and Lambda deliver at least
once): before, during and after the first run, also when the first run's commit was applied and its
answer lost (loopback fault proxy). Each time exactly one iteration, one snapshot, no error.

Each delivery goes the way the scaffolded ``aws_function.lambda_handler`` goes: ``not_due(app,
event)`` (which tells the app's state handler the scheduled time), then ``load`` / trade / ``save``,
with ``DuplicateRunError`` answered as a success."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.anyhost  # the result does not depend on the host version: CI runs it in one leg

DB = "databases/prod-database.sqlite3"
SOURCE = "iaf-aws-plugin.schedule"


def event(hhmm: str | None) -> dict[str, Any]:
    """The schedule's event for 2026-12-06 ``hhmm`` UTC (as Scheduler fills it in); None: a manual run."""
    if hhmm is None:
        return {"source": "manual"}
    return {"source": SOURCE, "schedule": "bot", "scheduled_time": f"2026-12-06T{hhmm}:00Z"}


class App:
    """What ``not_due`` reads of the host's App: its state handler (no host schedules: always due)."""

    def __init__(self, handler: Any) -> None:
        self._state_handler = handler


def deliver(handler: Any, root: Path, hhmm: str | None, *, change: bool = True) -> str:
    """One invocation as the scaffolded handler makes it; the "trade" appends a line to the database."""
    from iaf_aws_plugin import DuplicateRunError
    from iaf_aws_plugin.schedule_gate import not_due

    skipped = not_due(App(handler), event(hhmm))
    if skipped:
        return skipped
    try:
        handler.load(str(root))
    except DuplicateRunError as duplicate:
        return str(duplicate)
    db = root / DB
    db.parent.mkdir(parents=True, exist_ok=True)
    if change:
        with db.open("a") as out:
            out.write(f"iteration for {hhmm}\n")
    handler.save(str(root))
    handler.raise_for_save_error()
    return "ran"


def committed(s3: Any, bucket: str) -> tuple[list[str], list[str], int]:
    """(iterations in the committed database, HEAD's runs, number of snapshots)."""
    head = json.loads(s3.get_object(Bucket=bucket, Key=".iaf-state/HEAD.json")["Body"].read())
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=head["manifest"])["Body"].read())
    row = manifest["files"][DB]
    if len(row) == 4:  # small files travel in packs: [sha256, size, pack, offset]
        pack = s3.get_object(Bucket=bucket, Key=f".iaf-state/objects/packs/{row[2]}")["Body"].read()
        data = pack[row[3]:row[3] + row[1]]
    else:
        data = s3.get_object(Bucket=bucket, Key=f".iaf-state/objects/{row[0]}")["Body"].read()
    found = s3.list_objects_v2(Bucket=bucket, Prefix=".iaf-state/snapshots/")
    snapshots = [o["Key"] for o in found.get("Contents", [])]
    lines = [line for line in data.decode().splitlines() if line.startswith("iteration for")]
    return lines, head.get("runs", []), len(snapshots)


def lease_record(s3: Any, bucket: str) -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket=bucket, Key=".iaf-state/lease.json")["Body"].read())


def test_a_delivery_after_the_run_committed_is_already_ran_with_one_read_and_no_lease(
        make_handler, s3, bucket, tmp_path):
    first, _ = make_handler()
    assert deliver(first, tmp_path / "a", "10:00") == "ran"
    lease_after_first = lease_record(s3, bucket)
    assert lease_after_first["state"] == "released" and lease_after_first["scheduled_for"] == "2026-12-06T10:00Z"

    # A cold container (another Lambda instance) and the same warm one get the same time again.
    cold, log = make_handler()
    answer = deliver(cold, tmp_path / "b", "10:00")
    assert answer.startswith("already ran for 2026-12-06 10:00 UTC"), answer
    assert log.calls == [("GetObject", ".iaf-state/HEAD.json")], "one read of the pointer, no lease taken"
    assert not (tmp_path / "b").exists(), "state untouched"
    assert deliver(first, tmp_path / "a", "10:00").startswith("already ran for 2026-12-06 10:00 UTC")
    assert lease_record(s3, bucket)["nonce"] == lease_after_first["nonce"], "nobody wrote the lease"

    assert deliver(cold, tmp_path / "b", "11:00") == "ran"
    iterations, runs, snapshots = committed(s3, bucket)
    assert iterations == ["iteration for 10:00", "iteration for 11:00"]
    assert runs == ["2026-12-06T11:00Z", "2026-12-06T10:00Z"] and snapshots == 2


def test_already_ran_is_logged_once_at_info(make_handler, tmp_path, caplog):
    first, _ = make_handler()
    deliver(first, tmp_path / "a", "10:00")
    second, _ = make_handler()
    with caplog.at_level("INFO", logger="iaf_aws_plugin.state"):
        deliver(second, tmp_path / "b", "10:00")
    lines = [r for r in caplog.records if "already ran" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelname == "INFO"


def test_a_delivery_during_the_run_is_a_duplicate_and_another_time_is_locked_out(
        make_handler, s3, bucket, tmp_path):
    from iaf_aws_plugin import DuplicateRunError, StateLockedError
    from iaf_aws_plugin.schedule_gate import not_due

    running, _ = make_handler()
    assert not_due(App(running), event("10:00")) is None
    running.load(str(tmp_path / "a"))  # the first delivery is trading now
    held = lease_record(s3, bucket)
    assert held["state"] == "held" and held["scheduled_for"] == "2026-12-06T10:00Z"

    duplicate, _ = make_handler()
    answer = deliver(duplicate, tmp_path / "b", "10:00")
    assert answer.startswith("duplicate of the run in progress for 2026-12-06 10:00 UTC"), answer
    assert lease_record(s3, bucket) == held, "the duplicate wrote nothing"

    other, _ = make_handler()
    with pytest.raises(StateLockedError) as locked:
        deliver(other, tmp_path / "c", "11:00")
    assert not isinstance(locked.value, DuplicateRunError)
    manual, _ = make_handler()
    with pytest.raises(StateLockedError) as locked:
        deliver(manual, tmp_path / "d", None)
    assert not isinstance(locked.value, DuplicateRunError)

    db = tmp_path / "a" / DB
    db.parent.mkdir(parents=True)
    db.write_text("iteration for 10:00\n")
    running.save(str(tmp_path / "a"))
    running.raise_for_save_error()
    assert deliver(duplicate, tmp_path / "b", "10:00").startswith("already ran for 2026-12-06 10:00 UTC")
    iterations, runs, snapshots = committed(s3, bucket)
    assert iterations == ["iteration for 10:00"] and runs == ["2026-12-06T10:00Z"] and snapshots == 1


def test_a_duplicate_that_checked_before_the_commit_and_loads_after_it_does_not_trade(
        make_handler, s3, bucket, tmp_path):
    from iaf_aws_plugin import DuplicateRunError
    from iaf_aws_plugin.schedule_gate import not_due

    first, _ = make_handler()
    deliver(first, tmp_path / "a", "09:00")
    late, _ = make_handler()
    assert not_due(App(late), event("10:00")) is None  # nothing committed for 10:00 yet
    assert deliver(first, tmp_path / "a", "10:00") == "ran"  # the other delivery commits meanwhile
    with pytest.raises(DuplicateRunError, match=r"^already ran for 2026-12-06 10:00 UTC"):
        late.load(str(tmp_path / "b"))
    assert lease_record(s3, bucket)["state"] == "released", "its lease was given back"
    assert deliver(late, tmp_path / "b", "11:00") == "ran"
    iterations, _, snapshots = committed(s3, bucket)
    assert iterations == ["iteration for 09:00", "iteration for 10:00", "iteration for 11:00"] and snapshots == 3


def test_manual_invocations_are_never_deduplicated(make_handler, s3, bucket, tmp_path):
    handler, _ = make_handler()
    assert deliver(handler, tmp_path / "a", "10:00") == "ran"
    assert deliver(handler, tmp_path / "a", None) == "ran"
    other, _ = make_handler()
    assert deliver(other, tmp_path / "b", None) == "ran"
    iterations, runs, snapshots = committed(s3, bucket)
    assert iterations == ["iteration for 10:00", "iteration for None", "iteration for None"]
    assert runs == ["2026-12-06T10:00Z"], "manual runs keep the recorded scheduled times"
    assert snapshots == 3


def test_a_run_that_changed_nothing_is_recorded_too(make_handler, s3, bucket, tmp_path):
    handler, _ = make_handler()
    deliver(handler, tmp_path / "a", "10:00")
    assert deliver(handler, tmp_path / "a", "11:00", change=False) == "ran"
    other, _ = make_handler()
    assert deliver(other, tmp_path / "b", "11:00").startswith("already ran for 2026-12-06 11:00 UTC")
    iterations, runs, snapshots = committed(s3, bucket)
    assert runs == ["2026-12-06T11:00Z", "2026-12-06T10:00Z"] and snapshots == 1


def test_restoring_a_snapshot_keeps_the_recorded_runs(make_handler, s3, bucket, tmp_path):
    from iaf_aws_plugin.state.snapshots import restore_snapshot

    handler, _ = make_handler()
    deliver(handler, tmp_path / "a", "10:00")
    deliver(handler, tmp_path / "a", "11:00")
    restore_snapshot(bucket, 1, client=s3)
    other, _ = make_handler()
    assert deliver(other, tmp_path / "b", "11:00").startswith("already ran for 2026-12-06 11:00 UTC")


@pytest.mark.parametrize("lost", ["once", "every attempt"])
def test_commit_applied_but_its_answer_lost_then_the_same_time_again(
        fault_proxy, make_handler, s3, bucket, tmp_path, lost):
    """The pointer switch reaches S3 and its answer never comes back (connection reset): once
    (botocore's retry meets its own write), or on every attempt (the save fails for the run that
    made it). The same scheduled time delivered again, to a new container and to the same one,
    never trades a second time and never fails."""
    from iaf_aws_plugin.state.errors import StateError

    first, _ = make_handler()
    fault_proxy.add("drop", fault_proxy.on("PUT", ".iaf-state/HEAD.json"), times=1 if lost == "once" else None)
    if lost == "once":
        assert deliver(first, tmp_path / "a", "10:00") == "ran"
    else:
        with pytest.raises(StateError):
            deliver(first, tmp_path / "a", "10:00")
    fault_proxy.clear()
    iterations, runs, snapshots = committed(s3, bucket)
    assert iterations == ["iteration for 10:00"] and runs == ["2026-12-06T10:00Z"] and snapshots == 1

    again, _ = make_handler()
    assert deliver(again, tmp_path / "b", "10:00").startswith("already ran for 2026-12-06 10:00 UTC")
    assert deliver(first, tmp_path / "a", "10:00").startswith("already ran for 2026-12-06 10:00 UTC")
    assert committed(s3, bucket) == (iterations, runs, snapshots)

    # The next scheduled time runs in the container that lost the answer (it holds the lease if
    # its save failed: it takes it back and finds its own commit).
    assert deliver(first, tmp_path / "a", "11:00") == "ran"
    iterations, runs, snapshots = committed(s3, bucket)
    assert iterations == ["iteration for 10:00", "iteration for 11:00"] and snapshots == 2


def test_the_scheduled_time_comes_only_from_the_schedules_event():
    from iaf_aws_plugin.schedule_gate import scheduled_time

    assert scheduled_time(event("10:00")) == datetime(2026, 12, 6, 10, 0, tzinfo=timezone.utc)
    assert scheduled_time({"source": SOURCE, "scheduled_time": "2026-12-06T10:00:37+01:00"}) == datetime(
        2026, 12, 6, 9, 0, tzinfo=timezone.utc)
    assert scheduled_time({"scheduled_time": "2026-12-06T10:00:00Z"}) is None  # not the schedule's
    assert scheduled_time({"source": SOURCE}) is None
    assert scheduled_time({"source": SOURCE, "scheduled_time": "<aws.scheduler.scheduled-time>"}) is None
    assert scheduled_time(None) is None
