"""The state handler under real faults, injected at the HTTP level by a loopback proxy in front of
the emulator (``faultproxy.py``): requests applied and then answered with a reset or a 500 (so
botocore's own retries meet their own writes), requests failed before they are applied, slowed
downloads killed mid-transfer. Nothing in the handler is patched. Each test checks what a bot
owner would check: the committed database holds the trade, the next run is not locked out, the
state folder holds exactly the snapshot's files."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from investing_algorithm_framework import OperationalException

pytestmark = pytest.mark.anyhost  # the result does not depend on the host version: CI runs it in one leg

DB = "databases/prod-database.sqlite3"
TRADE = "orders: run 2 bought 0.01 BTC"


def staging_dirs(root: Path) -> list[str]:
    return [name for name in os.listdir(root) if name.startswith(".iaf-state-tmp-")] if root.exists() else []


def load_when_free(handler, root: Path, wait: float = 10) -> None:
    """Load as soon as the lease of a crashed run has expired."""
    from iaf_aws_plugin import StateLockedError

    deadline = time.monotonic() + wait
    while True:
        try:
            handler.load(str(root))
            return
        except StateLockedError:
            assert time.monotonic() < deadline, "the lease never expired"
            time.sleep(0.25)


def committed_db(make_handler, tmp_path: Path, name: str = "reader") -> str:
    """What a new container loads: the committed database (and it is not locked out)."""
    reader, _ = make_handler()
    target = tmp_path / name
    reader.load(str(target))
    text = (target / DB).read_text()
    reader.save(str(target))
    return text


def start_run_2(make_handler, root: Path, write):
    """Run 1 commits an empty order book; run 2 (same warm container) trades."""
    write(root, DB, "orders: none")
    handler, log = make_handler()
    handler.load(str(root))
    handler.save(str(root))
    handler.load(str(root))
    write(root, DB, TRADE)
    return handler, log


class KeepsChanging:
    """A strategy's log file that is written all the time, also while the state is hashed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_bytes(os.urandom(16 * 1024 * 1024))  # hashing it takes long enough to see a write
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with open(self.path, "ab") as handle:
            while not self.stop.is_set():
                handle.write(b"x")
                handle.flush()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


@pytest.mark.parametrize("step", ["hash", "upload", "manifest", "lease", "commit"])
def test_a_failed_save_never_loses_the_trade(make_handler, fault_proxy, tmp_path, write, step):
    from iaf_aws_plugin import StateLockedError

    root = tmp_path / "container"
    handler, _ = start_run_2(make_handler, root, write)
    on = fault_proxy.on
    writer = None
    if step == "hash":
        writer = KeepsChanging(root / "strategy.log")
    else:
        where = {"upload": "/objects/", "manifest": "/snapshots/", "lease": "lease.json", "commit": "HEAD.json"}[step]
        fault_proxy.add("fail", on("PUT", where), times=None)
    with pytest.raises(OperationalException) as error:
        handler.save(str(root))
    assert handler.last_save_error is error.value and "\n" not in str(error.value)
    if writer:
        writer.close()
    fault_proxy.clear()
    other, _ = make_handler()
    with pytest.raises(StateLockedError):  # the failed save kept the lease: no one trades on older state
        other.load(str(tmp_path / "other"))
    handler.load(str(root))  # run 3, same warm container: keeps run 2's changes
    assert (root / DB).read_text() == TRADE
    handler.save(str(root))
    assert committed_db(make_handler, tmp_path) == TRADE


def test_a_failed_first_save_of_the_host_layout_keeps_the_trade(make_handler, fault_proxy, s3, bucket, tmp_path,
                                                                  write):
    s3.put_object(Bucket=bucket, Key=DB, Body=b"orders: none")  # written by the host's own handler
    root = tmp_path / "container"
    handler, _ = make_handler()
    handler.load(str(root))
    assert (root / DB).read_text() == "orders: none"
    write(root, DB, TRADE)
    fault_proxy.add("fail", fault_proxy.on("PUT", "/objects/"), times=None)
    with pytest.raises(OperationalException):
        handler.save(str(root))
    fault_proxy.clear()
    handler.load(str(root))  # must not re-apply the plain keys over the trade
    assert (root / DB).read_text() == TRADE
    handler.save(str(root))
    assert committed_db(make_handler, tmp_path) == TRADE


def test_a_failed_load_with_unsaved_changes_keeps_the_lease(make_handler, fault_proxy, tmp_path, write):
    from iaf_aws_plugin import StateLockedError

    root = tmp_path / "container"
    handler, _ = start_run_2(make_handler, root, write)
    fault_proxy.add("fail", fault_proxy.on("PUT", "HEAD.json"), times=None)
    with pytest.raises(OperationalException):
        handler.save(str(root))
    fault_proxy.clear()
    fault_proxy.add("fail", fault_proxy.on("GET", "HEAD.json"), times=None)
    with pytest.raises(OperationalException):
        handler.load(str(root))
    fault_proxy.clear()
    other, _ = make_handler()
    with pytest.raises(StateLockedError):
        other.load(str(tmp_path / "other"))
    handler.load(str(root))
    assert (root / DB).read_text() == TRADE
    handler.save(str(root))
    assert committed_db(make_handler, tmp_path) == TRADE


def test_head_moved_while_unsaved_is_one_error_naming_both_snapshots(make_handler, fault_proxy, bucket, tmp_path,
                                                                    write):
    from iaf_aws_plugin import StateConflictError, StateLockedError
    from iaf_aws_plugin.state.snapshots import list_snapshots

    root = tmp_path / "container"
    write(root, DB, "orders: none")
    stale, _ = make_handler(lease_timeout=2)
    stale.load(str(root))
    stale.save(str(root))
    base = next(s.key for s in list_snapshots(bucket) if s.current)
    stale.load(str(root))
    write(root, DB, TRADE)
    fault_proxy.add("fail", fault_proxy.on("PUT", "HEAD.json"), times=None)
    with pytest.raises(OperationalException):
        stale.save(str(root))
    fault_proxy.clear()
    # Its lease expires; another container takes over and commits its own run.
    newer, _ = make_handler()
    load_when_free(newer, tmp_path / "newer")
    write(tmp_path / "newer", DB, "orders: another run's order")
    newer.save(str(tmp_path / "newer"))
    moved = next(s.key for s in list_snapshots(bucket) if s.current)
    other, _ = make_handler()

    with pytest.raises(StateConflictError) as error:
        stale.load(str(root))
    message = str(error.value)
    assert base in message and moved in message and "\n" not in message and "Fix:" in message
    assert (root / DB).read_text() == TRADE  # nothing overwritten
    stash = [s.key for s in list_snapshots(bucket) if s.key in message and s.key not in (base, moved)]
    assert stash, message  # the container's changes are also stored in S3, restorable
    with pytest.raises(StateLockedError):  # the refused load kept the lease
        other.load(str(tmp_path / "other"))


def test_every_linux_file_name_is_stored_and_restored_exactly(make_handler, tmp_path):
    names = [b"report\\2024.csv", b"a:b", b"-leading-dash", b"new\nline", b"caf\xe9.csv", b" spaced ",
             b"C:", b"d\xff/inner\xfe.txt", b"\xe2\x82\xac/euro.txt"]
    a, b = tmp_path / "a", tmp_path / "b"
    for i, name in enumerate(names):
        path = os.path.join(os.fsencode(a), name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(b"content %d" % i)

    def listing(root: Path) -> dict[bytes, bytes]:
        found = {}
        for current, _, files in os.walk(os.fsencode(root)):
            for name in files:
                with open(os.path.join(current, name), "rb") as handle:
                    found[os.path.relpath(os.path.join(current, name), os.fsencode(root))] = handle.read()
        return found

    saver, _ = make_handler()
    saver.load(str(a))
    saver.save(str(a))
    assert saver.last_save_error is None
    loader, _ = make_handler()
    os.makedirs(os.path.join(os.fsencode(b), b"stale\\dir"))
    with open(os.path.join(os.fsencode(b), b"stale\\dir", b"x\x80y"), "wb") as handle:
        handle.write(b"extra local file with a name that is no S3 key")
    loader.load(str(b))
    assert listing(b) == listing(a)
    loader.save(str(b))
    # Warm: a new local name of any kind is removed by the next load, never a reason to fail.
    saver.load(str(a))
    (a / "extra\\name.txt").write_text("x")
    with open(os.path.join(os.fsencode(a), b"\xfe\xfe"), "wb") as handle:
        handle.write(b"x")
    saver.save(str(a))
    loader.load(str(b))
    assert listing(b) == listing(a)
    loader.save(str(b))


# -- idempotent conditional writes under botocore's retries -----------------------------------

def _released(request) -> bool:
    return request.method == "PUT" and request.key.endswith("lease.json") and b'"released"' in request.body


def _held(request) -> bool:
    return request.method == "PUT" and request.key.endswith("lease.json") and b'"held"' in request.body


@pytest.mark.parametrize("action", ["drop", "fail_after"])
@pytest.mark.parametrize("write_", ["take lease", "manifest", "commit", "release"])
def test_a_conditional_write_applied_with_its_answer_lost_is_a_success(make_handler, fault_proxy, tmp_path,
                                                                       write, write_, action):
    root = tmp_path / "container"
    write(root, DB, "orders: none")
    handler, _ = make_handler()
    handler.load(str(root))
    handler.save(str(root))
    matcher = {"take lease": _held, "manifest": fault_proxy.on("PUT", "/snapshots/"),
               "commit": fault_proxy.on("PUT", "HEAD.json"), "release": _released}[write_]
    rule = fault_proxy.add(action, matcher)
    fresh, _ = make_handler()  # a cold container: takes a released lease with If-Match
    fresh.load(str(root))
    write(root, DB, TRADE)
    fresh.save(str(root))
    assert rule.hits == 1, fault_proxy.seen
    assert fresh.last_save_error is None
    assert committed_db(make_handler, tmp_path) == TRADE  # committed, and the lease is free again


@pytest.mark.parametrize("write_", ["take lease", "commit"])
def test_a_409_conditional_request_conflict_after_applying_is_a_success(make_handler, fault_proxy, tmp_path, write,
                                                                         write_):
    """S3 answers 409 ConditionalRequestConflict when conditional writes to a key race: the
    handler reads the key back instead of assuming it lost."""
    root = tmp_path / "container"
    write(root, DB, "orders: none")
    handler, _ = make_handler()
    handler.load(str(root))
    handler.save(str(root))
    matcher = _held if write_ == "take lease" else fault_proxy.on("PUT", "HEAD.json")
    rule = fault_proxy.add("fail_after", matcher, status=409, code="ConditionalRequestConflict")
    fresh, _ = make_handler()
    fresh.load(str(root))
    write(root, DB, TRADE)
    fresh.save(str(root))
    assert rule.hits == 1
    assert committed_db(make_handler, tmp_path) == TRADE


def test_a_warm_lease_take_over_with_its_answer_lost_is_a_success(make_handler, fault_proxy, tmp_path, write):
    root = tmp_path / "container"
    handler, _ = start_run_2(make_handler, root, write)
    handler.save(str(root))
    rule = fault_proxy.add("drop", _held)
    handler.load(str(root))  # the one-request warm path: If-Match on its own released record
    assert rule.hits == 1
    handler.save(str(root))
    assert committed_db(make_handler, tmp_path) == TRADE


# -- staging folders ------------------------------------------------------------------------------

CHILD = """
import sys
from iaf_aws_plugin import AWSS3StorageStateHandler
handler = AWSS3StorageStateHandler(sys.argv[1], lease_timeout=1, renew_lease=False)
handler.load(sys.argv[2])
"""


def test_loads_killed_mid_download_leave_nothing_behind(make_handler, fault_proxy, bucket, tmp_path, write, tree):
    source, root = tmp_path / "source", tmp_path / "container"
    for i in range(3):
        write(source, f"big/{i}.bin", os.urandom(1_500_000))
    write(source, DB, TRADE)
    saver, _ = make_handler()
    saver.load(str(source))
    saver.save(str(source))
    write(root, DB, "an older database")
    fault_proxy.add("slow", fault_proxy.on("GET", "/objects/"), times=None, chunk=32768, delay=0.05)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    for _ in range(2):
        child = subprocess.Popen([sys.executable, "-c", CHILD, bucket, str(root)], env=env)
        try:
            deadline = time.monotonic() + 30
            while not any(os.path.getsize(os.path.join(dirpath, f)) > 0
                          for name in staging_dirs(root) for dirpath, _, files in os.walk(root / name)
                          for f in files):
                assert child.poll() is None and time.monotonic() < deadline, "the child never downloaded"
                time.sleep(0.02)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        assert staging_dirs(root)  # what a killed load leaves
    fault_proxy.clear()
    loader, _ = make_handler(lease_timeout=1)
    load_when_free(loader, root)  # the killed loads' leases (1 s) expire
    assert staging_dirs(root) == []
    assert tree(root) == tree(source)
    loader.save(str(root))


def test_a_failed_download_finishes_every_transfer_before_cleaning_up(make_handler, fault_proxy, s3, bucket,
                                                                     tmp_path, write, tree):
    source, root = tmp_path / "source", tmp_path / "container"
    for i in range(4):
        write(source, f"big/{i}.bin", os.urandom(1_200_000))
    saver, _ = make_handler()
    saver.load(str(source))
    saver.save(str(source))
    objects = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"] if "/objects/" in o["Key"])
    write(root, "local.txt", "before")
    before = tree(root)
    fault_proxy.add("fail", fault_proxy.on("GET", objects[0]), times=None)
    fault_proxy.add("slow", fault_proxy.on("GET", "/objects/"), times=None, chunk=65536, delay=0.05)
    loader, _ = make_handler()
    with pytest.raises(OperationalException):
        loader.load(str(root))
    deadline = time.monotonic() + 0.05  # (the proxy's thread counts a response done after sending it)
    while fault_proxy.active and time.monotonic() < deadline:
        time.sleep(0.005)
    assert fault_proxy.active == 0  # no transfer still running after load returned
    assert staging_dirs(root) == [] and tree(root) == before
    time.sleep(0.3)
    assert staging_dirs(root) == [] and tree(root) == before


def test_not_enough_space_is_one_clear_error_naming_the_size(make_handler, s3, bucket, tmp_path, write, tree):
    import hashlib

    from iaf_aws_plugin.state.errors import StateError

    a = tmp_path / "a"
    write(a, DB, TRADE)
    saver, _ = make_handler()
    saver.load(str(a))
    saver.save(str(a))
    head = json.loads(s3.get_object(Bucket=bucket, Key=".iaf-state/HEAD.json")["Body"].read())
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=head["manifest"])["Body"].read())
    huge = 2 ** 50  # 1 PiB: more than any disk here
    manifest["files"]["huge.bin"] = [hashlib.sha256(b"huge").hexdigest(), huge]
    body = json.dumps(manifest).encode()
    s3.put_object(Bucket=bucket, Key=head["manifest"], Body=body)
    head["manifest_sha256"] = hashlib.sha256(body).hexdigest()
    s3.put_object(Bucket=bucket, Key=".iaf-state/HEAD.json", Body=json.dumps(head).encode())
    root = tmp_path / "container"
    write(root, "local.txt", "before")
    before = tree(root)
    loader, log = make_handler()
    with pytest.raises(StateError) as error:
        loader.load(str(root))
    message = str(error.value)
    assert f"({huge + len(TRADE)} bytes)" in message and "--ephemeral-storage" in message and "\n" not in message
    assert not log.ops("GetObject", "/objects/")
    assert tree(root) == before and staging_dirs(root) == []
    other, _ = make_handler()  # the failed load released its lease
    with pytest.raises(StateError, match="Not enough space"):
        other.load(str(root))


# -- big files, missing pointer, server time -----------------------------------------------------

def test_a_big_file_changed_after_hashing_is_never_stored_under_the_old_hash(make_handler, fault_proxy, s3, bucket,
                                                                            tmp_path, write):
    import hashlib

    from iaf_aws_plugin.state.snapshots import list_snapshots

    root = tmp_path / "container"
    handler, _ = start_run_2(make_handler, root, write)
    big = root / "big.bin"
    with open(big, "wb") as handle:  # over the multipart threshold (sparse: cheap to create)
        handle.seek(20 * 1024 * 1024 - 4)
        handle.write(b"tail")
    hashed = hashlib.sha256(big.read_bytes()).hexdigest()

    def rewrite(_request) -> None:  # the strategy rewrites the file as its upload starts
        with open(big, "r+b") as handle:
            handle.write(b"rewritten")

    rule = fault_proxy.add("hook", fault_proxy.on("POST", "/objects/", query="uploads"), fn=rewrite)
    snapshots = len(list_snapshots(bucket))
    with pytest.raises(Exception, match="changed while the state was being saved"):
        handler.save(str(root))
    assert rule.hits == 1
    assert len(list_snapshots(bucket)) == snapshots  # aborted before the manifest
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert f".iaf-state/objects/{hashed}" not in keys
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    fault_proxy.clear()
    handler.load(str(root))
    handler.save(str(root))
    reader, _ = make_handler()
    reader.load(str(tmp_path / "reader"))
    assert (tmp_path / "reader" / "big.bin").read_bytes() == big.read_bytes()
    assert (tmp_path / "reader" / DB).read_text() == TRADE


def test_snapshots_without_head_are_refused_with_a_restore_hint(make_handler, s3, bucket, tmp_path, write, tree):
    from iaf_aws_plugin.state.errors import StateError
    from iaf_aws_plugin.state.snapshots import restore_snapshot

    a = tmp_path / "a"
    handler, _ = make_handler()
    for text in ("orders: none", TRADE):
        handler.load(str(a))
        write(a, DB, text)
        handler.save(str(a))
    s3.delete_object(Bucket=bucket, Key=".iaf-state/HEAD.json")
    root = tmp_path / "container"
    write(root, "local.txt", "before")
    before = tree(root)
    for who in (make_handler()[0], handler):  # a cold and a warm container
        target = root if who is not handler else a
        was = tree(target)
        with pytest.raises(StateError, match="restore_snapshot") as error:
            who.load(str(target))
        assert "HEAD.json is missing" in str(error.value) and "\n" not in str(error.value)
        assert tree(target) == was
    assert tree(root) == before
    restore_snapshot(bucket, 2, client=s3)
    assert committed_db(make_handler, tmp_path) == TRADE


@pytest.mark.parametrize("date", ["Sun, 29 Nov 2026 22:00:00 -0000", "not a date"])
def test_an_unreadable_date_header_never_raises(make_handler, fault_proxy, tmp_path, write, date):
    from iaf_aws_plugin import StateLockedError

    a = tmp_path / "a"
    write(a, DB, "orders: none")
    holder, _ = make_handler()
    holder.load(str(a))  # holds the lease
    fault_proxy.add("date", fault_proxy.on("GET", "lease.json"), times=None, value=date)
    other, _ = make_handler()
    with pytest.raises(StateLockedError):
        other.load(str(tmp_path / "b"))
    holder.save(str(a))
    other.load(str(tmp_path / "b"))  # released: taken, whatever the Date header says
    other.save(str(tmp_path / "b"))
