"""Single flight: one run at a time holds the lease; a lost lease or a moved snapshot refuses the save."""
from __future__ import annotations

import time

import pytest


def test_second_run_is_locked_out_and_touches_nothing(make_handler, tmp_path, write, tree):
    from investing_algorithm_framework import OperationalException
    from iaf_aws_plugin import StateLockedError

    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "db.sqlite3", "state")
    first, _ = make_handler()
    first.load(str(a))
    first.save(str(a))
    first.load(str(a))  # holds the lease now
    write(b, "mine.txt", "local")
    before = tree(b)
    second, log = make_handler()
    with pytest.raises(StateLockedError, match="another run") as error:
        second.load(str(b))
    assert isinstance(error.value, OperationalException)
    assert tree(b) == before
    assert not log.ops("PutObject") and not log.ops("DeleteObject")
    with pytest.raises(StateLockedError):
        second.load(str(tmp_path / "not-created"))
    assert not (tmp_path / "not-created").exists()
    first.save(str(a))
    second.load(str(b))  # released: now it loads
    assert tree(b) == tree(a)


def test_expired_lease_is_taken_over_and_the_late_save_is_refused(make_handler, tmp_path, write, tree):
    from iaf_aws_plugin import StateConflictError

    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write(a, "db.sqlite3", "v1")
    crashed, _ = make_handler(lease_timeout=1)
    crashed.load(str(a))
    crashed.save(str(a))
    crashed.load(str(a))
    time.sleep(2.2)
    second, _ = make_handler()
    second.load(str(b))  # the lease expired: taken over
    write(b, "db.sqlite3", "v2 from the second run")
    write(a, "db.sqlite3", "v2 from the late run")
    with pytest.raises(StateConflictError, match="taken over"):
        crashed.save(str(a))
    assert isinstance(crashed.last_save_error, StateConflictError)
    with pytest.raises(StateConflictError):
        crashed.raise_for_save_error()
    second.save(str(b))
    reader, _ = make_handler()
    reader.load(str(c))
    assert (c / "db.sqlite3").read_text() == "v2 from the second run"


def test_save_refused_when_snapshot_changed_underneath(make_handler, s3, bucket, tmp_path, write):
    from iaf_aws_plugin import StateConflictError

    a = tmp_path / "a"
    write(a, "db.sqlite3", "v1")
    handler, _ = make_handler()
    handler.load(str(a))
    handler.save(str(a))
    handler.load(str(a))
    head = ".iaf-state/HEAD.json"
    body = s3.get_object(Bucket=bucket, Key=head)["Body"].read()
    s3.put_object(Bucket=bucket, Key=head, Body=body + b" ")  # someone wrote HEAD behind our back
    write(a, "db.sqlite3", "v2")
    with pytest.raises(StateConflictError, match="changed since this run loaded"):
        handler.save(str(a))
    assert handler.last_save_error is not None
    assert s3.get_object(Bucket=bucket, Key=head)["Body"].read() == body + b" "


def test_save_without_load_is_refused(make_handler, tmp_path, write):
    from investing_algorithm_framework import OperationalException

    write(tmp_path / "a", "x.txt", "x")
    handler, log = make_handler()
    with pytest.raises(OperationalException, match="call load"):
        handler.save(str(tmp_path / "a"))
    assert log.sends == 0


def test_warm_instance_keeps_changes_of_a_failed_save(make_handler, bucket, s3, tmp_path, write, tree):
    """The local folder holds the only record of what a run did when its save failed: the next
    warm run keeps it (the snapshot did not move) and its save stores it."""
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "db.sqlite3", "v1")
    handler, _ = make_handler()
    handler.load(str(a))
    handler.save(str(a))
    handler.load(str(a))
    write(a, "db.sqlite3", "v2 with a trade")

    def network_down(**_):
        raise RuntimeError("network down")

    handler.s3_client.meta.events.register("before-send", network_down)
    with pytest.raises(RuntimeError, match="network down"):
        handler.save(str(a))
    assert isinstance(handler.last_save_error, RuntimeError)
    handler.s3_client.meta.events.unregister("before-send", network_down)
    handler.load(str(a))
    assert (a / "db.sqlite3").read_text() == "v2 with a trade"
    handler.save(str(a))
    reader, _ = make_handler()
    reader.load(str(b))
    assert (b / "db.sqlite3").read_text() == "v2 with a trade"
