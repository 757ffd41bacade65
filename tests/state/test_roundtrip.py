"""Exact round trips: save(A) then load(B) on another handler reproduces A, and only A."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.anyhost  # the result does not depend on the host version: CI runs it in one leg


def populate(root: Path, write) -> None:
    write(root, "databases/prod-database.sqlite3", os.urandom(300_000))
    write(root, "deeply/nested/folder/tree/file.json", '{"a": 1}')
    write(root, "empty-file", b"")
    write(root, "Ünïcødé €/日本語 name.txt", "non-ascii ✓")
    write(root, "same-1.txt", "duplicate content")
    write(root, "same-2.txt", "duplicate content")
    (root / "empty-folder" / "inner-empty").mkdir(parents=True)


def test_save_then_load_elsewhere_reproduces_the_folder_exactly(make_handler, tmp_path, write, tree):
    a, b = tmp_path / "a", tmp_path / "b"
    populate(a, write)
    write(b, "stale/extra.txt", "not in the snapshot")
    write(b, "databases/prod-database.sqlite3", "an old database")
    (b / "stale-empty").mkdir()

    saver, _ = make_handler()
    saver.load(str(a))  # empty bucket: the local folder is kept
    assert tree(a) != {}
    saver.save(str(a))
    assert saver.last_save_error is None

    loader, _ = make_handler()
    loader.load(str(b))
    assert tree(b) == tree(a)
    loader.save(str(b))


def test_deleted_files_and_folders_disappear_after_save_and_load(make_handler, tmp_path, write, tree):
    a, b = tmp_path / "a", tmp_path / "b"
    populate(a, write)
    one, _ = make_handler()
    two, _ = make_handler()
    one.load(str(a))
    one.save(str(a))
    two.load(str(b))
    two.save(str(b))
    assert tree(b) == tree(a)

    one.load(str(a))
    (a / "same-2.txt").unlink()
    (a / "deeply/nested/folder/tree/file.json").unlink()
    (a / "empty-folder" / "inner-empty").rmdir()
    write(a, "databases/prod-database.sqlite3", b"changed")
    one.save(str(a))

    two.load(str(b))  # warm instance, snapshot changed underneath: follows it
    assert tree(b) == tree(a)
    assert not (b / "same-2.txt").exists() and not (b / "empty-folder" / "inner-empty").exists()
    two.save(str(b))


def test_more_than_5000_files_round_trip(make_handler, tmp_path, write, tree):
    a, b = tmp_path / "a", tmp_path / "b"
    for i in range(5_001):
        write(a, f"d{i % 7}/f{i:05d}.txt", f"file {i}")
    saver, _ = make_handler()
    saver.load(str(a))
    saver.save(str(a))
    loader, log = make_handler()
    loader.load(str(b))
    assert tree(b) == tree(a)
    # Small files travel in packs: a cold load is a handful of requests, not one per file.
    assert 1 <= len(log.ops("GetObject", "/objects/")) <= 2, log.calls[:20]
    assert log.sends < 10


def test_file_over_100_mb_goes_multipart_and_round_trips(make_handler, tmp_path, write):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    big = a / "big.bin"
    with open(big, "wb") as handle:  # sparse: cheap to create, still 101 MiB to transfer
        handle.seek(101 * 1024 * 1024 - 5)
        handle.write(b"tail!")
    write(a, "small.txt", "small")
    saver, saves = make_handler()
    saver.load(str(a))
    saver.save(str(a))
    assert saves.ops("CreateMultipartUpload"), saves.calls
    assert len(saves.ops("UploadPart")) >= 2

    loader, _ = make_handler()
    loader.load(str(b))
    assert (b / "big.bin").stat().st_size == big.stat().st_size
    with open(b / "big.bin", "rb") as handle:
        handle.seek(-5, os.SEEK_END)
        assert handle.read() == b"tail!"
    assert (b / "small.txt").read_text() == "small"
    loader.save(str(b))


def test_prefixes_keep_bots_apart(make_handler, tmp_path, write, tree):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write(a, "who.txt", "bot one")
    write(b, "who.txt", "bot two")
    one, _ = make_handler(prefix="bots/one")
    two, _ = make_handler(prefix="bots/two/")
    for handler, root in ((one, a), (two, b)):
        handler.load(str(root))
        handler.save(str(root))
    reader, _ = make_handler(prefix="bots/one")
    reader.load(str(c))
    assert tree(c) == tree(a)


def test_first_run_without_state_keeps_local_files(make_handler, tmp_path, write):
    a = tmp_path / "a"
    write(a, "local.txt", "made before any state existed")
    handler, _ = make_handler()
    handler.load(str(a))
    assert (a / "local.txt").read_text() == "made before any state existed"


@pytest.mark.parametrize("name", ["bucket_name", "env"])
def test_bucket_from_argument_or_environment(bucket, monkeypatch, tmp_path, write, name):
    from investing_algorithm_framework import AWS_S3_STATE_BUCKET_NAME, OperationalException
    from iaf_aws_plugin import AWSS3StorageStateHandler

    monkeypatch.delenv(AWS_S3_STATE_BUCKET_NAME, raising=False)
    with pytest.raises(OperationalException, match=AWS_S3_STATE_BUCKET_NAME):
        AWSS3StorageStateHandler().initialize()
    if name == "env":
        monkeypatch.setenv(AWS_S3_STATE_BUCKET_NAME, bucket)
        handler = AWSS3StorageStateHandler()
    else:
        handler = AWSS3StorageStateHandler(bucket)
    write(tmp_path / "a", "x.txt", "x")
    handler.initialize()
    handler.load(str(tmp_path / "a"))
    handler.save(str(tmp_path / "a"))
    assert handler.bucket_name == bucket
