"""Moving file contents between the state folder and S3: hashing, parallel uploads, and making
the state folder equal to a snapshot (downloads verified before anything local is touched)."""
from __future__ import annotations

import os
import secrets
import shutil
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .errors import StateError
from .manifest import FileEntry
from .paths import STAGING_PREFIX, Fingerprint, LocalTree, hash_file, local_path, remove_entry, scan_tree
from .s3 import S3Store

#: A cached hash is trusted only for files last modified this long before they were hashed
#: (file systems with coarse timestamps could otherwise hide a same-size rewrite).
RACY_MARGIN_NS = 2_000_000_000


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
    """Where a snapshot's file lives in S3; ``sha256`` is None for plain (legacy) keys."""

    key: str
    sha256: str | None
    size: int


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
    for rel, (sha, size, fingerprint) in zip(todo, pool.map(lambda r: hash_file(local_path(root, r)), todo)):
        result[rel] = FileEntry(sha, size)
        new_cache[rel] = CacheEntry(fingerprint, sha, started)
    return result, new_cache


def upload_missing(store: S3Store, object_key, root: str, files: dict[str, FileEntry], present: set[str],
                   pool: ThreadPoolExecutor) -> set[str]:
    """Upload the content of every hash not in ``present``; returns the hashes uploaded."""
    todo: dict[str, tuple[str, int]] = {}
    for rel, entry in files.items():
        if entry.sha256 not in present and entry.sha256 not in todo:
            todo[entry.sha256] = (rel, entry.size)

    def upload(item: tuple[str, tuple[str, int]]) -> None:
        sha, (rel, size) = item
        path = local_path(root, rel)
        store.upload_file(path, object_key(sha), size)

    list(pool.map(upload, todo.items()))
    return set(todo)


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
            to_check, pool.map(lambda r: hash_file(local_path(root, r)), to_check)):
        if sha == files[rel].sha256:
            new_cache[rel] = CacheEntry(fingerprint, sha, started)
        else:
            needed.append(rel)

    extra_files = [rel for rel in tree.files if rel not in files] + tree.others
    extra_dirs = [rel for rel in tree.dirs if rel not in wanted_dirs]
    if not needed and not extra_files and not extra_dirs and wanted_dirs <= tree.dirs:
        return new_cache

    staging = os.path.join(root, f"{STAGING_PREFIX}{secrets.token_hex(6)}")
    os.makedirs(root, exist_ok=True)
    os.mkdir(staging)
    try:
        keys = sorted({files[rel].key for rel in needed})
        staged = {key: os.path.join(staging, str(i)) for i, key in enumerate(keys)}
        by_key = {files[rel].key: files[rel] for rel in needed}

        def download(key: str) -> tuple[str, str]:
            remote = by_key[key]
            sha, size = store.download_file(key, staged[key], remote.size)
            if (remote.sha256 is not None and sha != remote.sha256) or size != remote.size:
                raise StateError(
                    f"State object s3://{store.bucket}/{key} is corrupt (expected sha256 "
                    f"{remote.sha256 or '?'} and {remote.size} bytes, got {sha} and {size} bytes); "
                    "the local state was left unchanged. Fix: restore an older snapshot "
                    "(list_snapshots/restore_snapshot).")
            return key, sha

        hashes = dict(pool.map(download, keys))

        # Everything is verified: now change the state folder.
        for rel in sorted(extra_files, key=lambda r: -r.count("/")):
            path = local_path(root, rel)
            if os.path.lexists(path):
                remove_entry(path)
        for rel in sorted(extra_dirs, key=lambda r: r.count("/")):
            path = local_path(root, rel)
            if os.path.lexists(path):
                remove_entry(path)
        for rel in sorted(wanted_dirs, key=lambda r: r.count("/")):
            path = local_path(root, rel)
            if not os.path.isdir(path) or os.path.islink(path):
                if os.path.lexists(path):
                    remove_entry(path)
                os.mkdir(path)
        uses = Counter(files[rel].key for rel in needed)
        placed_at = time.time_ns()
        for rel in needed:
            key = files[rel].key
            path = local_path(root, rel)
            if os.path.lexists(path) and (os.path.isdir(path) or os.path.islink(path)):
                remove_entry(path)
            uses[key] -= 1
            if uses[key]:
                copy = os.path.join(staging, f"copy-{secrets.token_hex(6)}")
                shutil.copyfile(staged[key], copy)
                os.replace(copy, path)
            else:
                os.replace(staged[key], path)
            new_cache[rel] = CacheEntry(Fingerprint.of(os.stat(path)), hashes[key], placed_at)
        return new_cache
    finally:
        shutil.rmtree(staging, ignore_errors=True)
