"""Single flight: one run at a time holds the lease; a lost lease or a moved snapshot refuses the save."""
from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.anyhost  # the result does not depend on the host version: CI runs it in one leg


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


def lease_record(s3, bucket, prefix=""):
    import json

    return json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}.iaf-state/lease.json")["Body"].read())


def test_the_lease_outlives_the_function_timeout_by_a_margin(make_handler, s3, bucket, tmp_path, monkeypatch):
    from iaf_aws_plugin.function_env import FUNCTION_TIMEOUT_ENV

    cases = [({}, None, 960), ({"function_timeout": 300}, None, 360), ({}, "120", 180),
             ({"function_timeout": 300, "lease_timeout": 1000}, None, 1000)]
    for i, (kwargs, env, expected) in enumerate(cases):
        if env is None:
            monkeypatch.delenv(FUNCTION_TIMEOUT_ENV, raising=False)
        else:
            monkeypatch.setenv(FUNCTION_TIMEOUT_ENV, env)
        handler, _ = make_handler(prefix=f"case{i}", **kwargs)
        handler.load(str(tmp_path / f"case{i}"))
        assert lease_record(s3, bucket, f"case{i}/")["timeout_seconds"] == expected, (kwargs, env)
        handler.save(str(tmp_path / f"case{i}"))
    # In Lambda the remaining time of the invocation counts too (a timeout changed without redeploy).
    monkeypatch.delenv(FUNCTION_TIMEOUT_ENV, raising=False)
    handler, _ = make_handler(prefix="remaining", function_timeout=60)
    handler.set_time_limit(899.2)
    handler.load(str(tmp_path / "remaining"))
    assert lease_record(s3, bucket, "remaining/")["timeout_seconds"] == 960


def test_lease_timeout_below_the_function_timeout_is_refused_in_one_line(bucket, monkeypatch):
    from investing_algorithm_framework import OperationalException

    from iaf_aws_plugin import AWSS3StorageStateHandler
    from iaf_aws_plugin.function_env import FUNCTION_TIMEOUT_ENV

    with pytest.raises(OperationalException) as error:
        AWSS3StorageStateHandler(bucket, lease_timeout=100, function_timeout=300)
    message = str(error.value)
    assert "lease_timeout=100s" in message and "300s" in message and "Fix:" in message and "\n" not in message
    monkeypatch.setenv(FUNCTION_TIMEOUT_ENV, "600")
    with pytest.raises(OperationalException, match="600s"):
        AWSS3StorageStateHandler(bucket, lease_timeout=599)


def test_expiry_is_judged_with_a_one_second_guard(make_handler, s3, bucket, tmp_path):
    """S3 times are whole seconds: a lease that expires 'now' is still held for one more second."""
    import json

    from iaf_aws_plugin import StateLockedError

    handler, _ = make_handler()  # (creating a client can take a second on a busy machine)
    locked = 0
    for attempt in range(5):
        s3.put_object(Bucket=bucket, Key=".iaf-state/lease.json", Body=json.dumps({
            "format": "iaf-aws-plugin/state-lease/1", "state": "held", "owner": f"crashed{attempt}",
            "holder": "a crashed run", "timeout_seconds": 0}).encode())
        try:
            handler.load(str(tmp_path / "a"))
        except StateLockedError:
            locked += 1
        else:
            handler.save(str(tmp_path / "a"))
    # Without the guard, a lease whose expiry second has come is always taken over (S3's Date is
    # never before LastModified); with it, it is held until the next second.
    assert locked >= 1, "a lease at its expiry second was taken over"


def test_a_long_run_outside_lambda_renews_its_lease_in_the_background(make_handler, tmp_path, write, monkeypatch):
    from iaf_aws_plugin import StateLockedError

    for name in ("AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_FUNCTION_NAME"):
        monkeypatch.delenv(name, raising=False)
    a = tmp_path / "a"
    write(a, "db.sqlite3", "v1")
    long_run, _ = make_handler(lease_timeout=1, renew_lease=None)  # auto: outside Lambda, renew
    assert long_run.renew_lease
    long_run.load(str(a))
    time.sleep(3.2)  # three lease lengths
    other, _ = make_handler()
    with pytest.raises(StateLockedError):
        other.load(str(tmp_path / "b"))
    write(a, "db.sqlite3", "v2")
    long_run.save(str(a))  # still its own lease
    other.load(str(tmp_path / "b"))
    assert (tmp_path / "b" / "db.sqlite3").read_text() == "v2"
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "bot")
    assert not make_handler(renew_lease=None)[0].renew_lease  # in Lambda the timeout bounds a run
