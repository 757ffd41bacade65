"""``AWSS3StorageStateHandler``: the bot's trading state in S3, exact, atomic, incremental and
single flight. A drop-in for the host's handler of the same name.

The host's ``App.run`` calls ``initialize()``, ``load(resource_dir)`` before the run and
``save(resource_dir)`` in a ``finally``, and only logs an exception from ``save``: the handler
keeps it in ``last_save_error`` and ``raise_for_save_error()`` (called by the scaffolded
``aws_function.py``) makes the invocation fail. The S3 layout and why it looks like it does are
described in ``iaf_aws_plugin.state``.
"""
from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor

from investing_algorithm_framework.domain import AWS_S3_STATE_BUCKET_NAME, StateHandler

from .errors import StateConflictError, StateError, StateLockedError
from .lease import Lease, LeaseManager
from .manifest import Layout, Manifest, Pointer, normalize_prefix
from .paths import check_relpath, scan_tree
from .s3 import PreconditionFailed, S3Store, make_client
from .snapshots import read_manifest, switch_head, write_manifest
from .manifest import FileEntry
from .sync import CacheEntry, RemoteFile, apply_snapshot, hash_tree, store_new_content

__all__ = ["AWSS3StorageStateHandler", "StateConflictError", "StateLockedError"]

logger = logging.getLogger("iaf_aws_plugin.state")

#: Parallel transfers on cold paths (Lambda gives at least one vCPU; S3 calls are I/O bound).
MAX_WORKERS = 16


class AWSS3StorageStateHandler(StateHandler):
    """Keeps the state folder (``RESOURCE_DIRECTORY``) in ``s3://bucket_name/prefix``.

    Args:
        bucket_name: the S3 bucket; defaults to the ``AWS_S3_STATE_BUCKET_NAME`` environment variable.
        prefix: key prefix, so several bots can share a bucket.
        lease_timeout: seconds after which a run's lease counts as abandoned (crashed run);
            keep it at least the Lambda function's timeout (900 s is Lambda's maximum).
    """

    def __init__(self, bucket_name: str | None = None, *, prefix: str = "", lease_timeout: int = 900) -> None:
        if not isinstance(lease_timeout, int) or lease_timeout <= 0:
            raise ValueError("lease_timeout must be a positive number of seconds")
        self.bucket_name = bucket_name
        self.prefix = normalize_prefix(prefix)
        self.lease_timeout = lease_timeout
        self.last_save_error: Exception | None = None
        self.s3_client = None  # same attribute as the host's handler; set by initialize()
        self._layout = Layout(self.prefix)
        self._store: S3Store | None = None
        self._leases: LeaseManager | None = None
        # What this instance knows from its last load/save (kept across warm Lambda invocations).
        self._lease: Lease | None = None
        self._root: str | None = None
        self._head_etag: str | None = None
        self._pointer: Pointer | None = None
        self._manifest: Manifest | None = None
        self._legacy = False  # the loaded snapshot came from the host handler's plain keys
        self._present: dict[str, FileEntry] = {}  # stored content by sha256 (from the manifest)
        self._cache: dict[str, CacheEntry] = {}
        self._loaded = False
        self._unsaved = False  # a failed save left local changes that are not in S3

    # -- StateHandler --------------------------------------------------------------------------
    def initialize(self) -> None:
        """Resolve the bucket and create the S3 client (once; warm invocations reuse it)."""
        self.bucket_name = self.bucket_name or os.environ.get(AWS_S3_STATE_BUCKET_NAME)
        if not self.bucket_name:
            raise StateError(
                "The S3 state handler has no bucket. Fix: set the "
                f"{AWS_S3_STATE_BUCKET_NAME} environment variable or pass bucket_name.")
        if self._store is None or self._store.bucket != self.bucket_name:
            if self.s3_client is None:
                self.s3_client = make_client(MAX_WORKERS)
            self._store = S3Store(self.s3_client, self.bucket_name)
            self._leases = LeaseManager(self._store, self._layout.lease, self.lease_timeout)
            self._forget()

    def load(self, target_directory: str) -> None:
        """Take the lease, then make ``target_directory`` equal to the current snapshot.

        Raises ``StateLockedError`` (touching nothing) while another run holds the lease. With
        no state in S3 at all (first run) the folder is left as it is, to be saved by ``save``.
        """
        self.last_save_error = None
        self._loaded = False
        store, leases = self._ready()
        root = os.path.abspath(target_directory)
        if root != self._root:
            self._forget()
        self._lease = leases.acquire(self._lease)
        try:
            os.makedirs(root, exist_ok=True)
            self._load(store, root)
        except BaseException:
            self._release_quietly()
            raise
        self._root = root
        self._loaded = True

    def save(self, target_directory: str) -> None:
        """Store ``target_directory`` as a new snapshot (only new content is uploaded), then
        release the lease. Refuses (``StateConflictError``) if the lease was lost or the snapshot
        changed since ``load``. The error is also kept in ``last_save_error``."""
        self.last_save_error = None
        try:
            self._save(os.path.abspath(target_directory))
        except Exception as exc:
            self.last_save_error = exc
            logger.error("Saving the trading state failed: %s", exc)
            raise

    def raise_for_save_error(self) -> None:
        """Raise the error of the last ``save`` (the host's ``App.run`` only logs it)."""
        if self.last_save_error is not None:
            raise self.last_save_error

    # -- internals -----------------------------------------------------------------------------
    def _ready(self) -> tuple[S3Store, LeaseManager]:
        if self._store is None or self._leases is None:
            self.initialize()
        assert self._store is not None and self._leases is not None
        return self._store, self._leases

    def _forget(self) -> None:
        """Drop everything cached about the remote state and the local folder."""
        self._root = None
        self._head_etag = None
        self._pointer = None
        self._manifest = None
        self._legacy = False
        self._present = {}
        self._cache = {}
        self._unsaved = False

    def _load(self, store: S3Store, root: str) -> None:
        layout = self._layout
        try:
            head = store.get(layout.head, if_none_match=self._head_etag if self._manifest else None)
        except PreconditionFailed:  # 304: the snapshot this instance saved or loaded is still current
            assert self._manifest is not None
            if self._unsaved:
                logger.warning("Keeping local state changes that the previous save could not store; "
                               "the next save stores them.")
                return
            manifest = self._manifest
        else:
            if head is None:
                self._load_legacy(store, root)
                return
            pointer = Pointer.from_json(head.body, where=f"s3://{store.bucket}/{layout.head}")
            manifest = read_manifest(store, pointer, where=f"s3://{store.bucket}/{layout.head}")
            self._head_etag, self._pointer, self._manifest, self._legacy = head.etag, pointer, manifest, False
            self._present = manifest.locations()
            self._unsaved = False
        files = {rel: RemoteFile(layout.location_key(e), e.sha256, e.size, e.offset if e.pack else None)
                 for rel, e in manifest.files.items()}
        with ThreadPoolExecutor(MAX_WORKERS) as pool:
            self._cache = apply_snapshot(store, root, files, manifest.dirs, self._cache, pool)

    def _load_legacy(self, store: S3Store, root: str) -> None:
        """No snapshot yet: plain keys written by the host's handler, or nothing at all."""
        layout = self._layout
        files = {}
        for item in store.list(layout.root):
            key = item["Key"]
            if layout.is_legacy_key(key):
                rel = check_relpath(key[len(layout.root):])
                files[rel] = RemoteFile(key, None, int(item["Size"]))
        self._head_etag, self._pointer, self._manifest = None, None, None
        self._present, self._unsaved = {}, False
        self._legacy = bool(files)
        if not files:
            logger.info("No state in s3://%s/%s yet: keeping the local folder; save stores it",
                        store.bucket, layout.root)
            return
        with ThreadPoolExecutor(MAX_WORKERS) as pool:
            self._cache = apply_snapshot(store, root, files, set(), {}, pool)

    def _save(self, root: str) -> None:
        store, leases = self._ready()
        if not self._loaded or self._lease is None or not self._lease.held or root != self._root:
            raise StateError(
                f"Refusing to save {root} to s3://{store.bucket}/{self._layout.root}: this handler did "
                "not load it (save needs the lease and the snapshot taken by load). Fix: call load() "
                "first, as App.run does.")
        with ThreadPoolExecutor(MAX_WORKERS) as pool:
            tree = scan_tree(root, follow_inner_file_links=True)
            files, cache = hash_tree(root, tree, self._cache, pool)
            self._cache = cache
            dirs = set(tree.dirs)
            base = self._manifest
            if (base is not None and base.same_content(files, dirs)) or (
                    base is None and not self._legacy and not files and not dirs):
                self._lease = leases.release(self._lease)
                self._unsaved = False
                return
            self._unsaved = True
            files = store_new_content(store, self._layout, root, files, self._present, pool)
        generation = (self._pointer.generation if self._pointer else 0) + 1
        manifest = Manifest(generation, files, dirs, parent=self._pointer.manifest_key if self._pointer else None)
        key, body = write_manifest(store, self._layout, manifest)
        self._lease = leases.renew(self._lease)  # raises if another run took the lease over
        pointer, etag = switch_head(store, self._layout, generation, key, body, self._head_etag)
        self._head_etag, self._pointer, self._manifest, self._legacy = etag, pointer, manifest, False
        self._present = manifest.locations()
        self._unsaved = False
        self._lease = leases.release(self._lease)

    def _release_quietly(self) -> None:
        if self._lease is not None and self._lease.held and self._leases is not None:
            try:
                self._lease = self._leases.release(self._lease)
            except Exception as exc:  # the original error matters more
                logger.warning("Could not release the state lease: %s", exc)
