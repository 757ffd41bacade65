"""Atomic snapshots and verified content: a save killed between any two requests leaves exactly the
old or the new snapshot; corrupt objects or manifests are errors, and the local folder stays as it was."""
from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.anyhost  # the result does not depend on the host version: CI runs it in one leg


class Killed(BaseException):
    """Stands for the process dying (Lambda timeout, OOM): nothing in the handler may catch it."""


def kill_after(log, count: int):
    def on_send(**_):
        if log.sends > count:
            raise Killed()
    return on_send


def test_save_killed_at_any_request_leaves_old_or_new_snapshot(make_handler, tmp_path, write, tree):
    # How many requests does this save make when nothing kills it?
    def run(prefix: str, kill_at: int | None):
        root = tmp_path / prefix
        write(root, "databases/prod-database.sqlite3", "old database")
        write(root, "keep.txt", "kept")
        write(root, "gone.txt", "deleted by the new snapshot")
        handler, log = make_handler(prefix=prefix, lease_timeout=1)
        handler.load(str(root))
        handler.save(str(root))
        old = tree(root)
        handler.load(str(root))
        write(root, "databases/prod-database.sqlite3", "new database, longer than the old one")
        write(root, "added/new.txt", "new file")
        (root / "gone.txt").unlink()
        new = tree(root)
        log.reset()
        if kill_at is not None:
            handler.s3_client.meta.events.register("before-send", kill_after(log, kill_at))
            with pytest.raises(Killed):
                handler.save(str(root))
        else:
            handler.save(str(root))
        return old, new, log.sends

    _, _, total = run("measure", None)
    assert total >= 5
    results = {n: run(f"kill{n}", n) for n in range(total)}
    time.sleep(2.2)  # the killed runs' leases (lease_timeout=1) expire
    outcomes = []
    for n, (old, new, _) in results.items():
        reader, _ = make_handler(prefix=f"kill{n}")
        target = tmp_path / f"read{n}"
        reader.load(str(target))
        got = tree(target)
        assert got in (old, new), f"killed after {n} requests: a mix of snapshots"
        outcomes.append("new" if got == new else "old")
        reader.save(str(target))
    assert outcomes[0] == "old" and "new" in outcomes, outcomes
    assert outcomes == sorted(outcomes, key=["old", "new"].index), outcomes  # commit is one point


def test_corrupt_object_is_an_error_and_leaves_the_folder_untouched(make_handler, s3, bucket, tmp_path,
                                                                    write, tree):
    from iaf_aws_plugin.state.errors import StateError

    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "databases/prod-database.sqlite3", "the real database")
    saver, _ = make_handler()
    saver.load(str(a))
    saver.save(str(a))
    key = next(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"] if "/objects/" in o["Key"])
    s3.put_object(Bucket=bucket, Key=key, Body=b"the fake database")  # same size, other bytes
    write(b, "local.txt", "what was here before")
    before = tree(b)
    loader, _ = make_handler()
    with pytest.raises(StateError, match="corrupt") as error:
        loader.load(str(b))
    assert key in str(error.value)
    assert tree(b) == before
    # The failed load released its lease: after fixing the object, the next run loads.
    s3.put_object(Bucket=bucket, Key=key, Body=b"the real database")
    loader.load(str(b))
    assert tree(b) == tree(a)


def test_corrupt_manifest_is_an_error(make_handler, s3, bucket, tmp_path, write):
    from iaf_aws_plugin.state.errors import StateError

    a = tmp_path / "a"
    write(a, "x.txt", "x")
    saver, _ = make_handler()
    saver.load(str(a))
    saver.save(str(a))
    key = next(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"] if "/snapshots/" in o["Key"])
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    s3.put_object(Bucket=bucket, Key=key, Body=body.replace(b'"x.txt"', b'"y.txt"'))
    loader, _ = make_handler()
    with pytest.raises(StateError, match="corrupt"):
        loader.load(str(tmp_path / "b"))
