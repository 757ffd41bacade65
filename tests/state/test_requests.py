"""Incremental: a warm instance with nothing changed barely talks to S3; changes upload only themselves.

Requests are counted with botocore's ``before-send`` event on the handler's own client."""
from __future__ import annotations

import os
import time

import pytest

pytestmark = pytest.mark.anyhost  # the result does not depend on the host version: CI runs it in one leg


def prepare(make_handler, root, write, files=50):
    for i in range(files):
        write(root, f"data/f{i}.txt", f"content {i}")
    write(root, "databases/prod-database.sqlite3", os.urandom(200_000))
    handler, log = make_handler()
    handler.load(str(root))
    handler.save(str(root))
    log.reset()
    return handler, log


def test_warm_unchanged_load_and_save_make_one_request_each(make_handler, tmp_path, write):
    """The physical floor: taking the lease back from our own released record (one conditional
    PUT) proves nobody saved since, so the pointer is not read; the save only releases."""
    root = tmp_path / "a"
    handler, log = prepare(make_handler, root, write)
    for _ in range(3):
        handler.load(str(root))
        assert log.sends == 1, log.calls
        assert log.calls == [("PutObject", ".iaf-state/lease.json")], log.calls
        log.reset()
        handler.save(str(root))
        assert log.sends == 1, log.calls
        assert not log.ops("PutObject", "/objects/") and not log.ops("PutObject", "/snapshots/")
        log.reset()


def test_one_changed_file_uploads_only_that_file(make_handler, tmp_path, write):
    root = tmp_path / "a"
    handler, log = prepare(make_handler, root, write)
    handler.load(str(root))
    time.sleep(0.01)
    write(root, "data/f7.txt", "changed content")
    log.reset()
    handler.save(str(root))
    assert len(log.ops("PutObject", "/objects/")) == 1, log.calls
    assert not log.ops("CreateMultipartUpload")


def test_same_size_rewrite_right_after_load_is_still_saved(make_handler, tmp_path, write, tree):
    """A rewrite within the file system's timestamp granularity must not be mistaken for 'unchanged'."""
    root, other = tmp_path / "a", tmp_path / "b"
    handler, _ = prepare(make_handler, root, write)
    handler.load(str(root))
    path = root / "data" / "f1.txt"
    stat = path.stat()
    path.write_text("content X")  # same size as "content 1"
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with the old mtime
    handler.save(str(root))
    reader, _ = make_handler()
    reader.load(str(other))
    assert (other / "data" / "f1.txt").read_text() == "content X"


def test_warm_load_repairs_local_edits_from_the_snapshot(make_handler, tmp_path, write, tree):
    root = tmp_path / "a"
    handler, log = prepare(make_handler, root, write)
    expected = tree(root)
    handler.load(str(root))
    handler.save(str(root))
    write(root, "data/f3.txt", "edited outside a run")
    write(root, "intruder.txt", "extra")
    log.reset()
    handler.load(str(root))
    assert tree(root) == expected
    assert len(log.ops("GetObject", "/objects/")) == 1
    handler.save(str(root))


def test_cold_paths_transfer_in_parallel(make_handler, tmp_path, write, tree):
    a, b = tmp_path / "a", tmp_path / "b"
    for i in range(6):
        write(a, f"big/{i}.bin", os.urandom(1_200_000))  # over the pack limit: one object each
    saver, saves = make_handler()
    saver.load(str(a))
    saves.reset()
    saver.save(str(a))
    assert len(saves.ops("PutObject", "/objects/")) == 6
    assert len(saves.threads) >= 2, "uploads did not run in parallel"
    loader, loads = make_handler()
    loader.load(str(b))
    assert tree(b) == tree(a)
    assert len(loads.threads) >= 2, "downloads did not run in parallel"
