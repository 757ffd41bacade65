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
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from investing_algorithm_framework.domain import AWS_S3_STATE_BUCKET_NAME, StateHandler

from ..function_env import FUNCTION_TIMEOUT_ENV
from .errors import DuplicateRunError, StateConflictError, StateError, StateLockedError
from .lease import LAMBDA_MAX_TIMEOUT, LEASE_MARGIN, Lease, LeaseManager
from .manifest import (FileEntry, Layout, Manifest, Pointer, describe_scheduled_time, normalize_prefix,
                       scheduled_time_id)
from .paths import check_relpath, remove_staging_leftovers, scan_tree
from .s3 import PreconditionFailed, S3Store, make_client
from .snapshots import put_pointer, read_manifest, switch_head, write_manifest
from .sync import CacheEntry, RemoteFile, apply_snapshot, hash_tree, store_new_content

__all__ = ["AWSS3StorageStateHandler", "DuplicateRunError", "StateConflictError", "StateLockedError"]

logger = logging.getLogger("iaf_aws_plugin.state")
# The host's AWS_LAMBDA_LOGGING_CONFIG leaves the root logger at WARNING: "already ran" is INFO and
# must still reach the function's log.
if logger.level == logging.NOTSET:
    logger.setLevel(logging.INFO)

#: Parallel transfers on cold paths (Lambda gives at least one vCPU; S3 calls are I/O bound).
MAX_WORKERS = 16


def running_in_lambda() -> bool:
    """Whether this process is a Lambda function (its run time is then bounded by the timeout)."""
    return bool(os.environ.get("AWS_LAMBDA_RUNTIME_API") or os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def _function_timeout(value: int | None) -> int | None:
    if value is None:
        raw = os.environ.get(FUNCTION_TIMEOUT_ENV, "").strip()
        if not raw:
            return None
        try:
            value = int(raw)
        except ValueError:
            raise StateError(f"{FUNCTION_TIMEOUT_ENV}={raw!r} is not a number of seconds. Fix: redeploy "
                             "with deploy-aws-lambda (it sets the function timeout there).") from None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise StateError(f"function_timeout={value!r} is not a positive number of seconds. Fix: pass the "
                         "Lambda function's timeout in seconds.")
    return value


class AWSS3StorageStateHandler(StateHandler):  # type: ignore[misc]  # the host ships no types
    """Keeps the state folder (``RESOURCE_DIRECTORY``) in ``s3://bucket_name/prefix``.

    Args:
        bucket_name: the S3 bucket; defaults to the ``AWS_S3_STATE_BUCKET_NAME`` environment variable.
        prefix: key prefix, so several bots can share a bucket.
        function_timeout: the Lambda function's timeout in seconds; defaults to the
            ``IAF_FUNCTION_TIMEOUT`` environment variable that ``deploy-aws-lambda`` sets.
        lease_timeout: seconds after which a run's lease counts as abandoned (crashed run). It must
            be at least ``function_timeout``; the lease always lasts at least the function timeout
            plus ``LEASE_MARGIN`` (60 s), and 960 s when the timeout is unknown.
        renew_lease: renew the lease in the background while a run is in progress (a run with no
            iteration limit can last longer than any lease). Default: when not running in Lambda,
            where the function timeout bounds every run.
    """

    def __init__(self, bucket_name: str | None = None, *, prefix: str = "", lease_timeout: int | None = None,
                 function_timeout: int | None = None, renew_lease: bool | None = None) -> None:
        if lease_timeout is not None and (isinstance(lease_timeout, bool) or not isinstance(lease_timeout, int)
                                          or lease_timeout <= 0):
            raise ValueError("lease_timeout must be a positive number of seconds")
        self.bucket_name = bucket_name
        self.prefix = normalize_prefix(prefix)
        self.function_timeout = _function_timeout(function_timeout)
        if lease_timeout is not None and self.function_timeout is not None and lease_timeout < self.function_timeout:
            raise StateError(
                f"lease_timeout={lease_timeout}s is below the function timeout ({self.function_timeout}s): a "
                "run could outlive its lease and overlap the next one. Fix: leave lease_timeout out (the "
                f"lease then lasts the timeout + {LEASE_MARGIN}s) or set it to at least "
                f"{self.function_timeout + LEASE_MARGIN}.")
        floor = (self.function_timeout if self.function_timeout is not None
                 else None if lease_timeout is not None else LAMBDA_MAX_TIMEOUT)
        #: How long a lease taken by this handler lasts (seconds).
        self.lease_timeout = max(lease_timeout or 0, floor + LEASE_MARGIN if floor is not None else 0)
        self.renew_lease = (not running_in_lambda()) if renew_lease is None else bool(renew_lease)
        self.last_save_error: Exception | None = None
        self.s3_client = None  # same attribute as the host's handler; set by initialize()
        self._layout = Layout(self.prefix)
        self._store: S3Store | None = None
        self._leases: LeaseManager | None = None
        self._time_limit: float | None = None
        self._lease_lock = threading.Lock()
        self._renewal: tuple[threading.Event, threading.Thread] | None = None
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
        # The local folder holds changes that are not committed: from the start of a save until
        # it commits (or finds nothing to commit), whatever step fails.
        self._unsaved = False
        # The lease was released by this instance right after HEAD was known current: taking it
        # back with one conditional write proves nobody saved since (the warm fast path).
        self._fresh = False
        self._own_snapshots: dict[str, Manifest] = {}  # manifests written by saves that did not commit
        self._refused: tuple[str, str | None] | None = None  # (HEAD ETag a load refused, stash key)
        self._scheduled_for: str | None = None  # the scheduled time of this invocation (None: manual)

    # -- StateHandler --------------------------------------------------------------------------
    def initialize(self) -> None:
        """Resolve the bucket and create the S3 client (once; warm invocations reuse it)."""
        from ..function_env import OFFLINE_STATE_ENV

        if os.environ.get(OFFLINE_STATE_ENV):  # invoke-aws-lambda --local --offline: a local folder, no AWS
            if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
                # On Lambda a local folder is lost at every cold start: never trade on it.
                raise StateError(
                    f"{OFFLINE_STATE_ENV} is set on the Lambda function "
                    f"{os.environ['AWS_LAMBDA_FUNCTION_NAME']}: the offline state folder is for "
                    "invoke-aws-lambda --local --offline only, and on Lambda it would lose the state at every "
                    f"cold start; nothing was loaded or traded. Fix: remove {OFFLINE_STATE_ENV} from the "
                    "function's environment (deploy-aws-lambda does not deploy it).")
            self._use_local_folder(os.environ[OFFLINE_STATE_ENV])
            return
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

    def set_time_limit(self, seconds: float) -> None:
        """This invocation may run ``seconds`` more (in Lambda: ``context.get_remaining_time_in_millis()
        / 1000``): the next lease lasts at least that plus the margin, even if the function's
        timeout was changed without a redeploy."""
        self._time_limit = float(seconds)

    def set_scheduled_time(self, scheduled_for: datetime | None) -> str | None:
        """This invocation is the schedule's delivery for ``scheduled_for`` (None: a manual run,
        never deduplicated). Its commit records that time in ``HEAD.json``, its lease carries it.

        Returns "already ran for <time>" (and logs it at INFO) when that time's run is already
        committed, decided with one read of ``HEAD.json`` and no lease: the caller answers
        success and does not run. Otherwise None; ``load`` then raises ``DuplicateRunError``
        if a run for the same time holds the lease (or committed meanwhile).
        """
        self._scheduled_for = None if scheduled_for is None else scheduled_time_id(scheduled_for)
        if self._scheduled_for is None:
            return None
        store, _ = self._ready()
        pointer = self._pointer
        try:
            head = store.get(self._layout.head, if_none_match=self._head_etag if self._manifest else None)
            pointer = Pointer.from_json(head.body, where=f"s3://{store.bucket}/{self._layout.head}") if head else None
        except PreconditionFailed:  # 304: the pointer this instance knows is current
            pass
        if pointer is None or not pointer.ran(self._scheduled_for):
            return None
        return self._already_ran(store)

    def _already_ran(self, store: S3Store) -> str:
        assert self._scheduled_for is not None
        reason = (f"already ran for {describe_scheduled_time(self._scheduled_for)} (committed in "
                  f"s3://{store.bucket}/{self._layout.head}): duplicate delivery, nothing done")
        self._scheduled_for = None
        logger.info(reason)
        return reason

    def load(self, target_directory: str) -> None:
        """Take the lease, then make ``target_directory`` equal to the current snapshot.

        Raises ``StateLockedError`` (touching nothing) while another run holds the lease, and
        ``DuplicateRunError`` (touching nothing) when the scheduled time given to
        ``set_scheduled_time`` is being run or already committed. With
        no state in S3 at all (first run) the folder is left as it is, to be saved by ``save``.
        A folder holding changes of a failed save is kept as it is (the next save stores it) when
        the snapshot did not move, and refused (``StateConflictError``) when it did.
        """
        self.last_save_error = None
        self._loaded = False
        store, leases = self._ready()
        root = os.path.abspath(target_directory)
        if root != self._root:
            self._forget()
        self._stop_renewal()
        leases.timeout = self._lease_seconds()
        fresh, self._fresh = self._fresh, False
        try:
            self._lease = leases.acquire(self._lease, self._scheduled_for)
        except BaseException:
            self._scheduled_for = None
            raise
        try:
            os.makedirs(root, exist_ok=True)
            removed = remove_staging_leftovers(root)
            if removed:
                logger.warning("Removed %s left in %s by an interrupted load", ", ".join(removed), root)
            if fresh and self._lease.continued and not self._unsaved and self._manifest is not None:
                # Nobody wrote the lease since this instance released it with HEAD current, and
                # every writer of HEAD holds the lease: the snapshot did not move (1 request).
                self._apply(store, root, self._manifest)
            else:
                self._load(store, root)
            if self._pointer is not None and self._pointer.ran(self._scheduled_for):
                raise DuplicateRunError(self._already_ran(store))  # committed since set_scheduled_time
        except BaseException:
            self._scheduled_for = None
            if self._unsaved:  # the folder holds the only copy of a run's trades: no one else may trade
                logger.error("Keeping the state lease %s: this container holds unsaved changes", leases.key)
            else:
                self._release_quietly()
            raise
        self._root = root
        self._loaded = True
        self._start_renewal()

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
        finally:
            self._scheduled_for = None

    def _use_local_folder(self, folder: str) -> None:
        from .local_store import LocalStore

        store = LocalStore(folder)
        if self._store is None or self._store.bucket != store.bucket:
            self._store = store  # type: ignore[assignment]  # S3Store's methods, on disk
            self._leases = LeaseManager(store, self._layout.lease, self.lease_timeout)  # type: ignore[arg-type]
            self.bucket_name = store.bucket
            self._forget()

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

    def _lease_seconds(self) -> int:
        if self._time_limit is None:
            return self.lease_timeout
        return max(self.lease_timeout, math.ceil(self._time_limit) + LEASE_MARGIN)

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
        self._fresh = False
        self._own_snapshots = {}
        self._refused = None

    def _keep_local(self, root: str) -> None:
        logger.warning("Keeping the local state in %s: it holds changes a previous save could not store; "
                       "this run's save stores them.", root)

    def _base_name(self) -> str:
        if self._pointer is not None:
            return self._pointer.manifest_key
        return "the host handler's plain keys" if self._legacy else "no snapshot (the first save)"

    def _load(self, store: S3Store, root: str) -> None:
        layout = self._layout
        try:
            head = store.get(layout.head, if_none_match=self._head_etag if self._manifest else None)
        except PreconditionFailed:  # 304: the snapshot this instance saved or loaded is still current
            assert self._manifest is not None
            if self._unsaved:
                self._keep_local(root)
                return
            self._apply(store, root, self._manifest)
            return
        if head is None:
            self._load_without_head(store, root)
            return
        where = f"s3://{store.bucket}/{layout.head}"
        pointer = Pointer.from_json(head.body, where=where)
        if self._unsaved:
            own = self._own_snapshots.get(pointer.manifest_key)
            if own is not None:  # a save of ours committed, but its answer never arrived
                self._adopt(head.etag, pointer, own)
                self._keep_local(root)
                return
            refused = self._refused
            if refused is None or refused[0] == head.etag or refused[1] is None:
                self._refuse_moved(store, root, pointer, head.etag)
                return  # pragma: no cover (it raises)
            # HEAD moved again after this container refused and stored its changes as a snapshot:
            # someone resolved the conflict (e.g. restore_snapshot). Follow them.
            logger.warning("s3://%s/%s moved after the conflict reported earlier; loading it (this "
                           "container's changes are in snapshot %s)", store.bucket, layout.head, refused[1])
            self._unsaved = False
            self._refused = None
        manifest = read_manifest(store, pointer, where=where)
        self._adopt(head.etag, pointer, manifest)
        self._own_snapshots = {}
        self._apply(store, root, manifest)

    def _adopt(self, etag: str, pointer: Pointer, manifest: Manifest) -> None:
        self._head_etag, self._pointer, self._manifest, self._legacy = etag, pointer, manifest, False
        self._present = manifest.locations()

    def _apply(self, store: S3Store, root: str, manifest: Manifest) -> None:
        layout = self._layout
        files = {rel: RemoteFile(layout.location_key(e), e.sha256, e.size, e.offset if e.pack else None)
                 for rel, e in manifest.files.items()}
        with ThreadPoolExecutor(MAX_WORKERS) as pool:
            self._cache = apply_snapshot(store, root, files, manifest.dirs, self._cache, pool)

    def _refuse_moved(self, store: S3Store, root: str, pointer: Pointer, etag: str) -> None:
        """HEAD moved while this container holds unsaved changes: refuse, overwriting nothing."""
        stash = self._refused[1] if self._refused is not None else None
        if stash is None:
            try:
                stash = self._stash(store, root)
            except Exception as exc:  # the refusal matters more; the folder is kept anyway
                logger.error("Could not store this container's unsaved state as a snapshot: %s", exc)
        self._refused = (etag, stash)
        kept = (f"they are kept in {root} and stored as the uncommitted snapshot {stash}" if stash
                else f"they are kept in {root} only")
        raise StateConflictError(
            f"Refusing to load the state into {root}: this container holds changes of a run whose save "
            f"failed (based on snapshot {self._base_name()}), and s3://{store.bucket}/{self._layout.head} "
            f"has moved to snapshot {pointer.manifest_key} since (another run committed after this "
            f"run's lease was taken over). Nothing was overwritten: {kept}. Fix: check the bot's orders "
            "on the exchange, then make the right snapshot current with restore_snapshot (the next load "
            "follows it).")

    def _stash(self, store: S3Store, root: str) -> str:
        """Store the local folder as a snapshot that HEAD does not point at (restorable)."""
        with ThreadPoolExecutor(MAX_WORKERS) as pool:
            manifest = self._snapshot_of(store, root, pool)
        key, _ = write_manifest(store, self._layout, manifest)
        return key

    def _snapshot_of(self, store: S3Store, root: str, pool: ThreadPoolExecutor) -> Manifest:
        tree = scan_tree(root, follow_inner_file_links=True)
        files, self._cache = hash_tree(root, tree, self._cache, pool)
        files = store_new_content(store, self._layout, root, files, self._present, pool)
        return Manifest((self._pointer.generation if self._pointer else 0) + 1, files, set(tree.dirs),
                        parent=self._pointer.manifest_key if self._pointer else None)

    def _load_without_head(self, store: S3Store, root: str) -> None:
        """No snapshot pointer: plain keys written by the host's handler, or nothing at all. If
        snapshots exist without a pointer, refuse: loading nothing would trade on an empty state."""
        layout = self._layout
        files = {}
        snapshots = []
        for item in store.list(layout.root):
            key = item["Key"]
            if layout.snapshot_generation(key) is not None:
                snapshots.append(key)
            elif layout.is_legacy_key(key):
                rel = check_relpath(key[len(layout.root):])
                files[rel] = RemoteFile(key, None, int(item["Size"]))
        if snapshots and not (self._unsaved and set(snapshots) <= set(self._own_snapshots)):
            raise StateError(
                f"s3://{store.bucket}/{layout.head} is missing but {len(snapshots)} snapshot(s) exist under "
                f"s3://{store.bucket}/{layout.snapshots} (newest: {max(snapshots)}); loading without it "
                f"could trade on an empty or older state, so nothing in {root} was changed. Fix: make a "
                "snapshot current with iaf_aws_plugin.state.snapshots.restore_snapshot(bucket, generation"
                f"{', prefix=' + repr(layout.prefix) if layout.prefix else ''}) (list_snapshots shows them).")
        if self._unsaved:  # the base had no pointer either (host layout or first save): keep ours
            self._keep_local(root)
            return
        self._head_etag, self._pointer, self._manifest = None, None, None
        self._present = {}
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
        self._stop_renewal()
        self._unsaved = True  # until this save commits or finds nothing to commit
        with ThreadPoolExecutor(MAX_WORKERS) as pool:
            tree = scan_tree(root, follow_inner_file_links=True)
            files, cache = hash_tree(root, tree, self._cache, pool)
            self._cache = cache
            dirs = set(tree.dirs)
            base = self._manifest
            if (base is not None and base.same_content(files, dirs)) or (
                    base is None and not self._legacy and not files and not dirs):
                if self._scheduled_for is not None and self._pointer is not None and base is not None:
                    # Nothing changed, but the run happened (it may have decided not to trade):
                    # record its scheduled time, or a duplicate delivery would run it again.
                    self._commit(store, leases, self._pointer.generation, self._pointer.manifest_key, None, base)
                    return
                self._unsaved = False
                self._own_snapshots = {}
                self._lease = leases.release(self._lease)
                self._fresh = base is not None
                return
            files = store_new_content(store, self._layout, root, files, self._present, pool)
        generation = (self._pointer.generation if self._pointer else 0) + 1
        manifest = Manifest(generation, files, dirs, parent=self._pointer.manifest_key if self._pointer else None)
        key, body = write_manifest(store, self._layout, manifest)
        self._own_snapshots[key] = manifest
        self._commit(store, leases, generation, key, body, manifest)

    def _commit(self, store: S3Store, leases: LeaseManager, generation: int, key: str, body: bytes | None,
                manifest: Manifest) -> None:
        """Switch HEAD to ``key`` (recording this run's scheduled time), then release the lease.
        ``body`` None: HEAD already names ``key`` (a run that changed nothing)."""
        assert self._lease is not None
        runs = self._pointer.with_run(self._scheduled_for) if self._pointer is not None else (
            (self._scheduled_for,) if self._scheduled_for else ())
        self._lease = leases.renew(self._lease)  # raises if another run took the lease over
        if body is None:
            assert self._pointer is not None
            current = self._pointer
            pointer, etag = put_pointer(store, self._layout, Pointer(
                current.generation, current.manifest_key, current.manifest_sha256, runs), self._head_etag)
        else:
            pointer, etag = switch_head(store, self._layout, generation, key, body, self._head_etag, runs)
        self._adopt(etag, pointer, manifest)
        self._unsaved = False
        self._own_snapshots = {}
        self._refused = None
        self._lease = leases.release(self._lease)
        self._fresh = True

    def _release_quietly(self) -> None:
        if self._lease is not None and self._lease.held and self._leases is not None:
            try:
                self._lease = self._leases.release(self._lease)
            except Exception as exc:  # the original error matters more
                logger.warning("Could not release the state lease: %s", exc)

    # -- background renewal (runs outside Lambda, whose timeout bounds every run) --------------
    def _start_renewal(self) -> None:
        if not self.renew_lease or self._leases is None:
            return
        leases, stop = self._leases, threading.Event()
        interval = max(leases.timeout / 3, 0.2)

        def renew() -> None:
            while not stop.wait(interval):
                with self._lease_lock:
                    if stop.is_set() or self._lease is None or not self._lease.held:
                        return
                    try:
                        self._lease = leases.renew(self._lease)
                    except Exception as exc:  # the save reports a lost lease
                        logger.error("Could not renew the state lease: %s", exc)
                        return

        thread = threading.Thread(target=renew, name="iaf-state-lease", daemon=True)
        self._renewal = (stop, thread)
        thread.start()

    def _stop_renewal(self) -> None:
        if self._renewal is not None:
            stop, thread = self._renewal
            stop.set()
            with self._lease_lock:
                pass  # a renewal in progress has finished
            thread.join(timeout=30)
            self._renewal = None
