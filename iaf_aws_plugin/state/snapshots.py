"""Reading the current snapshot, committing a new one, and listing / restoring older ones."""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import StateConflictError, StateError
from .lease import LeaseManager, written_by_us
from .manifest import Layout, Manifest, Pointer, normalize_prefix, now_iso, sha256_bytes
from .s3 import PreconditionFailed, S3Store, make_client


@dataclass(frozen=True)
class SnapshotInfo:
    """One retained snapshot manifest; ``current`` is the one HEAD points at."""

    generation: int
    key: str
    last_modified: datetime
    current: bool


def read_manifest(store: S3Store, pointer: Pointer, *, where: str) -> Manifest:
    """The manifest ``pointer`` names, verified against the sha256 recorded in the pointer."""
    found = store.get(pointer.manifest_key)
    if found is None:
        raise StateError(f"State manifest s3://{store.bucket}/{pointer.manifest_key} named by {where} is "
                         "missing. Fix: restore an older snapshot (list_snapshots/restore_snapshot).")
    if sha256_bytes(found.body) != pointer.manifest_sha256:
        raise StateError(f"State manifest s3://{store.bucket}/{pointer.manifest_key} is corrupt (sha256 "
                         "does not match HEAD). Fix: restore an older snapshot (list_snapshots/restore_snapshot).")
    return Manifest.from_json(found.body, where=f"s3://{store.bucket}/{pointer.manifest_key}")


def write_manifest(store: S3Store, layout: Layout, manifest: Manifest) -> tuple[str, bytes]:
    key = layout.new_snapshot_key(manifest.generation)
    body = manifest.to_json()
    try:
        store.put(key, body, if_none_match="*")
    except PreconditionFailed as failed:
        # Our own first attempt was applied and its answer lost (botocore retried): done.
        # Otherwise a random 48-bit token collided: never overwrite a snapshot.
        if written_by_us(store, key, body, failed) is None:
            raise StateConflictError(f"Snapshot key s3://{store.bucket}/{key} already exists. Fix: retry.") from None
    return key, body


def switch_head(store: S3Store, layout: Layout, generation: int, manifest_key: str, manifest_body: bytes,
                head_etag: str | None, runs: tuple[str, ...] = ()) -> tuple[Pointer, str]:
    """Make ``manifest_key`` current, recording ``runs`` (the committed scheduled times) in the
    same conditional write."""
    return put_pointer(store, layout, Pointer(generation, manifest_key, sha256_bytes(manifest_body), runs),
                       head_etag)


def put_pointer(store: S3Store, layout: Layout, pointer: Pointer, head_etag: str | None) -> tuple[Pointer, str]:
    """Write HEAD.json conditionally (``IfMatch`` the ETag loaded, or create it); refuse if it moved."""
    manifest_key = pointer.manifest_key
    try:
        if head_etag is None:
            etag = store.put(layout.head, pointer.to_json(), if_none_match="*")
        else:
            etag = store.put(layout.head, pointer.to_json(), if_match=head_etag)
    except PreconditionFailed as failed:
        committed = _pointing_at(store, layout, pointer, failed)
        if committed is not None:  # our own first attempt was applied and its answer lost
            return pointer, committed
        raise StateConflictError(
            f"Refusing to save the state: s3://{store.bucket}/{layout.head} changed since this run "
            "loaded it (another run or a restore saved meanwhile), so saving would lose that update. "
            f"This run's files stay in the uncommitted snapshot {manifest_key}. Fix: check the bot's "
            "orders on the exchange; do not run the bot twice at the same time.") from None
    return pointer, etag


def _pointing_at(store: S3Store, layout: Layout, pointer: Pointer, failed: PreconditionFailed) -> str | None:
    """After a failed conditional switch: the ETag of HEAD if it names this save's manifest
    (the manifest key carries a random token, so no other save can have written it) and its runs
    (a commit without new content re-points HEAD at the same manifest, recording a run)."""
    for attempt in range(3 if failed.status == 409 else 1):
        if attempt:
            time.sleep(0.2 * attempt)
        current = store.get(layout.head)
        if current is None:
            continue
        try:
            found = Pointer.from_json(current.body, where=layout.head)
        except StateError:
            continue
        if (found.manifest_key, found.manifest_sha256, found.runs) == (
                pointer.manifest_key, pointer.manifest_sha256, pointer.runs):
            return current.etag
    return None


def _store(bucket: str, client: Any | None) -> S3Store:
    return S3Store(client if client is not None else make_client(4), bucket)


def list_snapshots(bucket: str, *, prefix: str = "", client: Any | None = None) -> list[SnapshotInfo]:
    """Every retained snapshot of the bot at ``s3://bucket/prefix``, oldest first.

    Snapshots of saves that were refused or killed before their commit are listed too (their
    generation may repeat a committed one); each is complete and can be restored.
    """
    store = _store(bucket, client)
    layout = Layout(normalize_prefix(prefix))
    head = store.get(layout.head)
    current = Pointer.from_json(head.body, where=layout.head).manifest_key if head else None
    found = []
    for item in store.list(layout.snapshots):
        generation = layout.snapshot_generation(item["Key"])
        if generation is not None:
            found.append(SnapshotInfo(generation, item["Key"], item["LastModified"], item["Key"] == current))
    return sorted(found, key=lambda s: (s.generation, s.last_modified, s.key))


def restore_snapshot(bucket: str, snapshot: str | int, *, prefix: str = "", client: Any | None = None,
                     lease_timeout: int = 900) -> SnapshotInfo:
    """Make an older snapshot current again, as a new generation (nothing is overwritten).

    ``snapshot`` is a manifest key or a generation number (the committed one, or the newest with
    that number). Takes the bot's lease, so it refuses while a run is in progress.
    """
    store = _store(bucket, client)
    layout = Layout(normalize_prefix(prefix))
    snapshots = list_snapshots(bucket, prefix=layout.prefix, client=store.client)
    if isinstance(snapshot, int):
        matching = [s for s in snapshots if s.generation == snapshot]
        matching.sort(key=lambda s: (s.current, s.last_modified))
        chosen = matching[-1].key if matching else None
    else:
        chosen = snapshot if any(s.key == snapshot for s in snapshots) else None
    if chosen is None:
        raise StateError(f"No snapshot {snapshot!r} in s3://{bucket}/{layout.snapshots}. Fix: pick one "
                         "from list_snapshots.")
    leases = LeaseManager(store, layout.lease, lease_timeout)
    lease = leases.acquire(None)
    try:
        head = store.get(layout.head)
        pointer = Pointer.from_json(head.body, where=layout.head) if head else None
        source = store.get(chosen)
        if source is None:
            raise StateError(f"Snapshot s3://{bucket}/{chosen} disappeared. Fix: pick another one.")
        old = Manifest.from_json(source.body, where=f"s3://{bucket}/{chosen}")
        generation = (pointer.generation if pointer else 0) + 1
        restored = Manifest(generation, old.files, old.dirs, parent=pointer.manifest_key if pointer else None,
                            created_at=now_iso())
        key, body = write_manifest(store, layout, restored)
        lease = leases.renew(lease)
        # The runs stay recorded: a restore does not undo their trades on the exchange.
        switch_head(store, layout, generation, key, body, head.etag if head else None,
                    pointer.runs if pointer else ())
    except BaseException:
        with contextlib.suppress(Exception):  # the original error matters more
            leases.release(lease)
        raise
    leases.release(lease)
    written = store.get(key)
    return SnapshotInfo(generation, key, written.last_modified if written else datetime.now(), True)
