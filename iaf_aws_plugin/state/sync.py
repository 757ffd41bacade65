"""Moving file contents between the state folder and S3: hashing, parallel uploads, and making
the state folder equal to a snapshot (downloads verified before anything local is touched)."""
from __future__ import annotations

import errno
import hashlib
import os
import secrets
import shutil
import time
from collections import Counter
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import IO, Any, Optional, Tuple, TypeVar

from .errors import StateError
from .manifest import FileEntry, Layout
from .paths import (CHUNK, STAGING_PREFIX, Fingerprint, LocalTree, hash_file, join_local, local_path, remove_entry,
                    scan_tree)
from .s3 import ContentChanged, S3Store

#: A cached hash is trusted only for files last modified this long before they were hashed
#: (file systems with coarse timestamps could otherwise hide a same-size rewrite).
RACY_MARGIN_NS = 2_000_000_000
#: Files up to this size are stored together in packs of about PACK_TARGET bytes: a cold load of
#: thousands of small files is then a handful of requests instead of one per file.
PACK_FILE_MAX = 1024 * 1024
PACK_TARGET = 8 * 1024 * 1024
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
T = TypeVar("T")


@dataclass(frozen=True)
class CacheEntry:
    fingerprint: Fingerprint
    sha256: str
    recorded_ns: int

    def matches(self, fingerprint: Fingerprint) -> bool:
        return (self.fingerprint == fingerprint
                and fingerprint.mtime_ns < self.recorded_ns - RACY_MARGIN_NS)


@dataclass(frozen=True)
class RemoteFile:
    """Where a snapshot's file lives in S3: a whole object (``offset`` None) or ``size`` bytes at
    ``offset`` of a pack. ``sha256`` is None for plain (legacy) keys."""

    key: str
    sha256: str | None
    size: int
    offset: int | None = None


def hash_tree(root: str, tree: LocalTree, cache: dict[str, CacheEntry],
              pool: ThreadPoolExecutor) -> tuple[dict[str, FileEntry], dict[str, CacheEntry]]:
    """Hash every file of ``tree`` whose fingerprint is not already cached and trusted."""
    started = time.time_ns()
    result: dict[str, FileEntry] = {}
    new_cache: dict[str, CacheEntry] = {}
    todo = []
    for rel, fingerprint in tree.files.items():
        cached = cache.get(rel)
        if cached is not None and cached.matches(fingerprint):
            result[rel] = FileEntry(cached.sha256, fingerprint.size)
            new_cache[rel] = cached
        else:
            todo.append(rel)
    for rel, (sha, size, fingerprint) in zip(todo, pool.map(lambda r: hash_file(join_local(root, r)), todo)):
        result[rel] = FileEntry(sha, size)
        new_cache[rel] = CacheEntry(fingerprint, sha, started)
    return result, new_cache


def store_new_content(store: S3Store, layout: Layout, root: str, files: dict[str, FileEntry],
                      present: dict[str, FileEntry], pool: ThreadPoolExecutor) -> dict[str, FileEntry]:
    """Upload the content of every file whose sha256 is not already stored (``present``): small
    files in packs, big ones as their own object. Returns ``files`` with their storage locations."""
    new_small: dict[str, tuple[str, int]] = {}
    new_big: dict[str, tuple[str, int]] = {}
    for rel, entry in sorted(files.items()):
        if entry.sha256 not in present:
            target = new_small if entry.size <= PACK_FILE_MAX else new_big
            target.setdefault(entry.sha256, (rel, entry.size))
    batches: list[list[tuple[str, str, int]]] = [[]]
    batch_size = 0
    for sha, (rel, size) in new_small.items():
        if batch_size + size > PACK_TARGET and batches[-1]:
            batches.append([])
            batch_size = 0
        batches[-1].append((sha, rel, size))
        batch_size += size

    def upload_pack(batch: list[tuple[str, str, int]]) -> dict[str, FileEntry]:
        parts, offsets, offset = [], {}, 0
        for sha, rel, size in batch:
            with open(join_local(root, rel), "rb") as handle:
                data = handle.read(size + 1)
            if hashlib.sha256(data).hexdigest() != sha:
                raise ContentChanged(f"{rel!r} in {root} changed while the state was being saved; nothing "
                                     "was committed. Fix: stop writing to the state folder after the run; "
                                     "the next save stores it.")
            parts.append(data)
            offsets[sha] = (offset, size)
            offset += size
        body = b"".join(parts)
        pack = hashlib.sha256(body).hexdigest()
        store.upload_bytes(layout.pack(pack), body, pack)
        return {sha: FileEntry(sha, size, pack, off) for sha, (off, size) in offsets.items()}

    def upload_big(item: tuple[str, tuple[str, int]]) -> dict[str, FileEntry]:
        sha, (rel, size) = item
        store.upload_file(join_local(root, rel), layout.object(sha), size, sha)
        return {sha: FileEntry(sha, size)}

    stored = dict(present)
    jobs = [pool.submit(upload_pack, batch) for batch in batches if batch]
    jobs += [pool.submit(upload_big, item) for item in new_big.items()]
    for result in finish_all(jobs):
        stored.update(result)
    return {rel: stored[entry.sha256] for rel, entry in files.items()}


def apply_snapshot(store: S3Store, root: str, files: dict[str, RemoteFile], dirs: set[str],
                   cache: dict[str, CacheEntry], pool: ThreadPoolExecutor) -> dict[str, CacheEntry]:
    """Make ``root`` equal to the snapshot: download what differs, remove what is extra.

    Every download is verified and staged inside ``root`` first; if any fails, nothing in ``root``
    was changed. Returns the fingerprint cache of the resulting tree.
    """
    tree = scan_tree(root)
    wanted_dirs = set(dirs)
    for rel in files:
        parts = rel.split("/")
        wanted_dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
    for rel in list(files) + list(wanted_dirs):
        local_path(root, rel)  # reject unsafe names before touching anything

    # Which files already have the right content?
    new_cache: dict[str, CacheEntry] = {}
    to_check: list[str] = []
    needed: list[str] = []
    for rel, remote in files.items():
        fingerprint = tree.files.get(rel)
        cached = cache.get(rel)
        if fingerprint is None or remote.sha256 is None or fingerprint.size != remote.size:
            needed.append(rel)
        elif cached is not None and cached.matches(fingerprint) and cached.sha256 == remote.sha256:
            new_cache[rel] = cached
        else:
            to_check.append(rel)
    started = time.time_ns()
    for rel, (sha, _size, fingerprint) in zip(
            to_check, pool.map(lambda r: hash_file(join_local(root, r)), to_check)):
        if sha == files[rel].sha256:
            new_cache[rel] = CacheEntry(fingerprint, sha, started)
        else:
            needed.append(rel)

    extra_files = [rel for rel in tree.files if rel not in files] + tree.others
    extra_dirs = [rel for rel in tree.dirs if rel not in wanted_dirs]
    if not needed and not extra_files and not extra_dirs and wanted_dirs <= tree.dirs:
        return new_cache

    # One unit per distinct content; units in the same pack come in one ranged request.
    units: dict[Unit, RemoteFile] = {}
    for rel in needed:
        units.setdefault(_unit(files[rel]), files[rel])
    check_free_space(root, needed_bytes(files, needed))
    staging = os.path.join(root, f"{STAGING_PREFIX}{secrets.token_hex(6)}")
    os.makedirs(root, exist_ok=True)
    os.mkdir(staging)
    try:
        staged = {unit: os.path.join(staging, str(i)) for i, unit in enumerate(sorted(units, key=str))}
        by_key: dict[str, list[Unit]] = {}
        for unit in units:
            by_key.setdefault(unit[0], []).append(unit)

        def corrupt(key: str, remote: RemoteFile, sha: str, size: int) -> StateError:
            return StateError(
                f"State object s3://{store.bucket}/{key} is corrupt (expected sha256 "
                f"{remote.sha256 or '?'} and {remote.size} bytes, got {sha} and {size} bytes); "
                "the local state was left unchanged. Fix: restore an older snapshot "
                "(list_snapshots/restore_snapshot).")

        def fetch(key: str) -> dict[Unit, str]:
            wanted = sorted(by_key[key], key=lambda u: u[1] or 0)
            result = {}
            if wanted[0][1] is None:  # a whole object
                remote = units[wanted[0]]
                sha, size = store.download_file(key, staged[wanted[0]], remote.size)
                if (remote.sha256 is not None and sha != remote.sha256) or size != remote.size:
                    raise corrupt(key, remote, sha, size)
                return {wanted[0]: sha}
            for unit in wanted:
                if units[unit].size == 0:
                    open(staged[unit], "wb").close()
                    result[unit] = EMPTY_SHA256
            wanted = [u for u in wanted if units[u].size]
            if not wanted:
                return result
            start = wanted[0][1] or 0
            end = max((u[1] or 0) + units[u].size for u in wanted)

            def consume(body: IO[bytes]) -> None:
                position = start
                for unit in wanted:
                    remote, offset = units[unit], unit[1] or 0
                    if offset < position:
                        raise corrupt(key, remote, "overlapping entries", 0)
                    _skip(body, offset - position)
                    with open(staged[unit], "wb") as handle:
                        sha, size = _copy_exactly(body, handle, remote.size)
                    if sha != remote.sha256 or size != remote.size:
                        raise corrupt(key, remote, sha, size)
                    result[unit] = sha
                    position = offset + remote.size

            store.read_range(key, start, end - start, consume)
            return result

        hashes: dict[Unit, str] = {}
        try:
            for found in finish_all([pool.submit(fetch, key) for key in sorted(by_key)]):
                hashes.update(found)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise StateError(
                    f"No space left in {root} while loading the state (it needs {_mb(needed_bytes(files, needed))} "
                    "free); the local state was left unchanged. Fix: give the function more ephemeral "
                    "storage (deploy-aws-lambda --ephemeral-storage MB) or keep fewer files in "
                    "the state folder.") from None
            raise

        # Everything is verified: now change the state folder.
        # Extra entries are names read from the local folder: removed as they are, never key-checked.
        for rel in sorted(extra_files, key=lambda r: -r.count("/")):
            path = join_local(root, rel)
            if os.path.lexists(path):
                remove_entry(path)
        for rel in sorted(extra_dirs, key=lambda r: r.count("/")):
            path = join_local(root, rel)
            if os.path.lexists(path):
                remove_entry(path)
        for rel in sorted(wanted_dirs, key=lambda r: r.count("/")):
            path = local_path(root, rel)
            if not os.path.isdir(path) or os.path.islink(path):
                if os.path.lexists(path):
                    remove_entry(path)
                os.mkdir(path)
        uses = Counter(_unit(files[rel]) for rel in needed)
        placed_at = time.time_ns()
        for rel in needed:
            unit = _unit(files[rel])
            path = local_path(root, rel)
            if os.path.lexists(path) and (os.path.isdir(path) or os.path.islink(path)):
                remove_entry(path)
            uses[unit] -= 1
            if uses[unit]:
                copy = os.path.join(staging, f"copy-{secrets.token_hex(6)}")
                shutil.copyfile(staged[unit], copy)
                os.replace(copy, path)
            else:
                os.replace(staged[unit], path)
            new_cache[rel] = CacheEntry(Fingerprint.of(os.stat(path)), hashes[unit], placed_at)
        return new_cache
    finally:
        shutil.rmtree(staging, ignore_errors=True)


#: (key, offset or None, sha256 or None): one distinct stored content
Unit = Tuple[str, Optional[int], Optional[str]]


def finish_all(jobs: list[Future[T]]) -> list[T]:
    """The results of ``jobs``, after every one of them has finished (none is still writing),
    or the first error. Jobs not started yet when one fails are cancelled."""
    _, pending = wait(jobs, return_when=FIRST_EXCEPTION)
    for job in pending:
        job.cancel()
    wait(pending)
    for job in jobs:
        error = None if job.cancelled() else job.exception()
        if error is not None:
            raise error
    return [job.result() for job in jobs]


def needed_bytes(files: dict[str, RemoteFile], needed: list[str]) -> int:
    """Bytes a load writes into its staging folder: every file to download or copy."""
    return sum(files[rel].size for rel in needed)


def check_free_space(root: str, needed: int) -> None:
    """Refuse before downloading when the file system of ``root`` cannot hold ``needed`` bytes."""
    probe = root
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    free = shutil.disk_usage(probe).free
    if needed > free:
        raise StateError(
            f"Not enough space to load the state into {root}: it needs {_mb(needed)} free, "
            f"{_mb(free)} is free; nothing was changed. Fix: give the function more ephemeral storage "
            "(deploy-aws-lambda --ephemeral-storage MB, up to 10240) or free space in that file system.")


def _mb(count: int) -> str:
    return f"{count / (1024 * 1024):.1f} MB ({count} bytes)"


def _unit(remote: RemoteFile) -> Unit:
    return (remote.key, remote.offset, remote.sha256)


def _skip(body: IO[bytes], count: int) -> None:
    while count > 0:
        chunk = body.read(min(count, CHUNK))
        if not chunk:
            return
        count -= len(chunk)


def _copy_exactly(body: IO[bytes], handle: IO[bytes], count: int) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while size < count:
        chunk = body.read(min(count - size, CHUNK))
        if not chunk:
            break
        digest.update(chunk)
        handle.write(chunk)
        size += len(chunk)
    return digest.hexdigest(), size
