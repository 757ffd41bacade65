"""Administering a bot's stored state from a workstation: look, pull, push, list, restore, prune.

Built on the state handler's public pieces only: ``push`` is a load and a save of
:class:`~iaf_aws_plugin.state.handler.AWSS3StorageStateHandler` (so it takes the lease, refuses
while a run holds it, and commits atomically like a run), ``pull`` applies the current snapshot
to a folder without taking the lease (reading never blocks the bot), ``restore`` is
:func:`~iaf_aws_plugin.state.snapshots.restore_snapshot` (a new snapshot; nothing deleted), and
``prune`` deletes, under the lease, the snapshots beyond the newest N and every stored object no
kept snapshot uses (every S3 version of it: the bucket is versioned, and a delete marker alone
would free nothing).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from .errors import StateError
from .lease import LeaseManager
from .manifest import Layout, Manifest, Pointer, normalize_prefix, parse_lease
from .s3 import S3Store
from .snapshots import SnapshotInfo, list_snapshots, read_manifest, restore_snapshot
from .sync import RemoteFile, apply_snapshot

__all__ = ["NEVER_PUSHED", "CurrentState", "LeaseStatus", "PruneResult", "PushPreview", "SnapshotRow",
           "current_state", "history", "lease_status", "preview_push", "prune", "pull", "push", "restore"]

#: File names ``push`` never uploads (shell patterns on the name, at any depth): local secrets and keys.
NEVER_PUSHED: tuple[tuple[str, str], ...] = (
    (".env", "a local secrets file"), (".env.*", "a local secrets file"), ("*.pem", "a key file"),
    ("*.key", "a key file"), ("*.p12", "a key file"), ("*.pfx", "a key file"), ("id_*", "a key file"),
)
#: Files at the top of a bot's project folder (never of its state).
PROJECT_MARKERS = ("aws_function.py", "iaf-aws-lambda.json")
#: What a bot's state holds: the framework's databases.
STATE_DATABASES = "databases/*.sqlite3"
#: Shorter secret values are not looked for in the files (``x`` would be in every file).
SECRET_SCAN_MIN_LENGTH = 6


@dataclass(frozen=True)
class CurrentState:
    """The snapshot HEAD points at (``None`` fields: no snapshot yet)."""

    bucket: str
    prefix: str
    generation: int | None = None
    key: str | None = None
    saved_at: datetime | None = None
    files: int = 0
    size: int = 0
    legacy_files: int = 0  # plain keys of the host's own handler, when there is no snapshot


@dataclass(frozen=True)
class LeaseStatus:
    state: str  # "none", "free", "held" or "expired"
    holder: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class SnapshotRow:
    generation: int
    key: str
    saved_at: datetime
    current: bool
    files: int | None
    size: int | None


@dataclass
class PruneResult:
    kept: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)  # manifest keys deleted (or to delete)
    objects: list[str] = field(default_factory=list)  # object and pack keys deleted (or to delete)
    versions: int = 0
    bytes: int = 0


def _store(bucket: str, client: Any) -> S3Store:
    return S3Store(client, bucket)


def _manifest_of(store: S3Store, layout: Layout) -> tuple[Pointer | None, Manifest | None, datetime | None]:
    head = store.get(layout.head)
    if head is None:
        return None, None, None
    where = f"s3://{store.bucket}/{layout.head}"
    pointer = Pointer.from_json(head.body, where=where)
    return pointer, read_manifest(store, pointer, where=where), head.last_modified


def current_state(bucket: str, client: Any, *, prefix: str = "") -> CurrentState:
    store, layout = _store(bucket, client), Layout(normalize_prefix(prefix))
    pointer, manifest, saved_at = _manifest_of(store, layout)
    if pointer is None or manifest is None:
        legacy = sum(1 for item in store.list(layout.root) if layout.is_legacy_key(item["Key"]))
        return CurrentState(bucket, layout.prefix, legacy_files=legacy)
    return CurrentState(bucket, layout.prefix, pointer.generation, pointer.manifest_key, saved_at,
                        len(manifest.files), sum(e.size for e in manifest.files.values()))


def lease_status(bucket: str, client: Any, *, prefix: str = "", default_timeout: int = 900) -> LeaseStatus:
    store, layout = _store(bucket, client), Layout(normalize_prefix(prefix))
    found = store.get(layout.lease)
    if found is None:
        return LeaseStatus("none")
    record = parse_lease(found.body)
    holder = str(record.get("holder") or "?")
    if record.get("state") != "held":
        return LeaseStatus("free", holder, found.last_modified)
    timeout = record.get("timeout_seconds")
    until = found.last_modified + timedelta(seconds=timeout if isinstance(timeout, int) else default_timeout)
    return LeaseStatus("held" if found.server_time < until else "expired", holder, found.last_modified, until)


def pull(bucket: str, client: Any, directory: str, *, prefix: str = "", replace: bool = False) -> CurrentState:
    """Make ``directory`` a copy of the current snapshot (every file verified by its sha256)."""
    store, layout = _store(bucket, client), Layout(normalize_prefix(prefix))
    root = os.path.abspath(directory)
    if os.path.exists(root) and not os.path.isdir(root):
        raise StateError(f"{root} is not a folder. Fix: pass a folder to pull into.")
    if os.path.isdir(root) and os.listdir(root) and not replace:
        raise StateError(f"{root} is not empty: pulling would replace its files. Fix: pull into a new folder, "
                         "or pass --replace to make it equal to the stored state.")
    pointer, manifest, saved_at = _manifest_of(store, layout)
    if pointer is None or manifest is None:
        raise StateError(f"s3://{bucket}/{layout.base} holds no snapshot yet: the bot has not saved any state. "
                         "Fix: run the bot once (invoke-aws-lambda), or push a prepared state.")
    files = {rel: RemoteFile(layout.location_key(e), e.sha256, e.size, e.offset if e.pack else None)
             for rel, e in manifest.files.items()}
    os.makedirs(root, exist_ok=True)
    with ThreadPoolExecutor(8) as pool:
        apply_snapshot(store, root, files, manifest.dirs, {}, pool)
    return CurrentState(bucket, layout.prefix, pointer.generation, pointer.manifest_key, saved_at,
                        len(manifest.files), sum(e.size for e in manifest.files.values()))


@dataclass(frozen=True)
class PushPreview:
    """What ``push`` of a folder would store, against the current snapshot; nothing changed yet."""

    source: str
    files: dict[str, int]  # relative path -> size: what would be uploaded
    left_out: list[tuple[str, str]]  # (relative path, why): never uploaded
    added: list[tuple[str, int]]
    removed: list[tuple[str, int]]
    changed: list[tuple[str, int, int]]  # (path, size now stored, size pushed)
    current: CurrentState
    not_state: list[str]  # why the folder does not look like a bot's state (push refuses unless forced)

    @property
    def size(self) -> int:
        return sum(self.files.values())

    @property
    def unchanged(self) -> bool:
        return self.current.key is not None and not (self.added or self.removed or self.changed)


def _never_pushed(name: str) -> str | None:
    import fnmatch

    return next((why for pattern, why in NEVER_PUSHED if fnmatch.fnmatchcase(name, pattern)), None)


def _contains(path: str, needles: list[bytes]) -> bool:
    """True when the file holds one of ``needles`` (read in chunks that overlap by the longest one)."""
    if not needles:
        return False
    overlap = max(len(n) for n in needles) - 1
    tail = b""
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(8 << 20)
            if not chunk:
                return False
            window = tail + chunk
            if any(needle in window for needle in needles):
                return True
            tail = window[-overlap:] if overlap else b""


def _sha256(path: str) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def preview_push(bucket: str, client: Any, directory: str, *, prefix: str = "",
                 secret_values: Any = ()) -> PushPreview:
    """Which files of ``directory`` a push would store, which it leaves out and why (:data:`NEVER_PUSHED`,
    or a file holding one of ``secret_values``), the changes against the current snapshot, and why the
    folder may not be a bot's state. Raises when nothing would be left to push: an empty state would
    make the next run start from a fresh portfolio."""
    import fnmatch

    source = os.path.abspath(directory)
    if not os.path.isdir(source):
        raise StateError(f"{source} is not a folder. Fix: pass the folder holding the state to push.")
    needles = sorted({v.encode("utf-8") for v in secret_values
                      if isinstance(v, str) and len(v) >= SECRET_SCAN_MIN_LENGTH}, key=len)
    files: dict[str, int] = {}
    left_out: list[tuple[str, str]] = []
    for root, dirs, names in os.walk(source):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, source).replace(os.sep, "/")
            if not os.path.isfile(path):
                continue
            why = _never_pushed(name)
            if why is None and _contains(path, needles):
                why = "it contains one of the bot's secret values"
            if why is not None:
                left_out.append((rel, why))
            else:
                files[rel] = os.path.getsize(path)
    where = f"s3://{bucket}/{normalize_prefix(prefix)}"
    if not files:
        skipped = f" ({len(left_out)} left out: {', '.join(rel for rel, _ in left_out[:5])})" if left_out else ""
        raise StateError(f"{source} holds no file to push{skipped}: an empty state would make the next run start "
                         f"from a fresh portfolio. Nothing was changed in {where}. Fix: push the folder that holds "
                         f"the bot's state (its {STATE_DATABASES}), e.g. one made with `state-aws-lambda pull`.")
    current = current_state(bucket, client, prefix=prefix)
    stored: dict[str, Any] = {}
    if current.key is not None:
        store, layout = _store(bucket, client), Layout(normalize_prefix(prefix))
        _, manifest, _ = _manifest_of(store, layout)
        stored = dict(manifest.files) if manifest is not None else {}
    added = [(rel, size) for rel, size in files.items() if rel not in stored]
    removed = [(rel, entry.size) for rel, entry in sorted(stored.items()) if rel not in files]
    changed = [(rel, stored[rel].size, size) for rel, size in files.items() if rel in stored and (
        size != stored[rel].size or _sha256(os.path.join(source, rel)) != stored[rel].sha256)]
    not_state = []
    markers = [name for name in PROJECT_MARKERS if os.path.isfile(os.path.join(source, name))]
    if markers:
        not_state.append(f"it is a bot's project folder ({', '.join(markers)}), not its state")
    has_databases = any(fnmatch.fnmatchcase(rel, STATE_DATABASES) for rel in files)
    stored_databases = sorted(rel for rel in stored if fnmatch.fnmatchcase(rel, STATE_DATABASES))
    if stored_databases and not has_databases:
        not_state.append(f"it has no {STATE_DATABASES}, where the current snapshot has {', '.join(stored_databases)}")
    elif current.key is None and not has_databases:
        not_state.append(f"it has no {STATE_DATABASES} (the framework's databases)")
    return PushPreview(source, files, left_out, added, removed, changed, current, not_state)


def push(bucket: str, client: Any, directory: str, *, prefix: str = "", lease_timeout: int = 900,
         preview: PushPreview | None = None) -> CurrentState:
    """Store ``directory`` as the new current snapshot, as a run would: take the lease (refused
    while a run holds it), save, release. Nothing older is deleted. With ``preview``, only its
    ``files`` are stored (what it left out never is)."""
    from .handler import AWSS3StorageStateHandler

    source = os.path.abspath(directory)
    if not os.path.isdir(source):
        raise StateError(f"{source} is not a folder. Fix: pass the folder holding the state to push.")
    handler = AWSS3StorageStateHandler(bucket, prefix=prefix, lease_timeout=lease_timeout)
    handler.s3_client = client
    handler.initialize()
    staging = tempfile.mkdtemp(prefix="iaf-state-push-")
    try:
        handler.load(staging)  # takes the lease (StateLockedError while a run holds it)
        for name in os.listdir(staging):
            path = os.path.join(staging, name)
            shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.remove(path)
        if preview is None:
            shutil.copytree(source, staging, dirs_exist_ok=True)
        else:
            for root, _dirs, _names in os.walk(source):  # the folders, so empty ones survive
                os.makedirs(os.path.join(staging, os.path.relpath(root, source)), exist_ok=True)
            for rel in preview.files:
                shutil.copy2(os.path.join(source, *rel.split("/")), os.path.join(staging, *rel.split("/")))
        handler.save(staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return current_state(bucket, client, prefix=prefix)


def history(bucket: str, client: Any, *, prefix: str = "", limit: int | None = 20) -> list[SnapshotRow]:
    """The newest ``limit`` snapshots (all with ``None``), oldest first, with their file counts."""
    store, layout = _store(bucket, client), Layout(normalize_prefix(prefix))
    snapshots = list_snapshots(bucket, prefix=layout.prefix, client=client)
    if limit is not None:
        snapshots = snapshots[-limit:] if limit > 0 else []

    def row(info: SnapshotInfo) -> SnapshotRow:
        found = store.get(info.key)
        files = size = None
        if found is not None:
            try:
                manifest = Manifest.from_json(found.body, where=f"s3://{bucket}/{info.key}")
                files, size = len(manifest.files), sum(e.size for e in manifest.files.values())
            except StateError:
                pass  # shown as unreadable
        return SnapshotRow(info.generation, info.key, info.last_modified, info.current, files, size)

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(row, snapshots))


def resolve_snapshot(bucket: str, client: Any, snapshot: str, *, prefix: str = "") -> str | int:
    """A generation number, a manifest key or a manifest file name -> what restore_snapshot takes."""
    text = snapshot.strip()
    if text.isdigit():
        return int(text)
    layout = Layout(normalize_prefix(prefix))
    for info in list_snapshots(bucket, prefix=layout.prefix, client=client):
        if text in (info.key, info.key.rsplit("/", 1)[-1], info.key.rsplit("/", 1)[-1].removesuffix(".json")):
            return info.key
    raise StateError(f"No snapshot {snapshot!r} in s3://{bucket}/{layout.snapshots}. Fix: pick a generation or "
                     "a name from `state-aws-lambda history`.")


def restore(bucket: str, client: Any, snapshot: str, *, prefix: str = "", lease_timeout: int = 900) -> SnapshotInfo:
    chosen = resolve_snapshot(bucket, client, snapshot, prefix=prefix)
    return restore_snapshot(bucket, chosen, prefix=prefix, client=client, lease_timeout=lease_timeout)


def prune(bucket: str, client: Any, keep: int, *, prefix: str = "", dry_run: bool = False,
          lease_timeout: int = 900, confirm: Callable[[PruneResult], bool] | None = None) -> PruneResult:
    """Delete every snapshot but the newest ``keep`` (the current one is always kept) and every
    stored object none of the kept snapshots uses. Holds the lease throughout, so no run can be
    uploading objects its snapshot is about to use. ``confirm(result)`` false: nothing deleted."""
    if keep < 1:
        raise StateError("prune --keep must be 1 or more (the current snapshot is always kept). "
                         "Fix: pass --keep N with N >= 1.")
    store, layout = _store(bucket, client), Layout(normalize_prefix(prefix))
    leases = LeaseManager(store, layout.lease, lease_timeout)
    lease = None if dry_run else leases.acquire(None)
    try:
        snapshots = list_snapshots(bucket, prefix=layout.prefix, client=client)
        kept = {s.key for s in snapshots[-keep:]} | {s.key for s in snapshots if s.current}
        result = PruneResult(kept=sorted(kept), snapshots=[s.key for s in snapshots if s.key not in kept])
        used: set[str] = set()
        for key in sorted(kept):
            found = store.get(key)
            if found is None:
                raise StateError(f"Snapshot s3://{bucket}/{key} disappeared while pruning: nothing was deleted. "
                                 "Fix: run prune again.")
            manifest = Manifest.from_json(found.body, where=f"s3://{bucket}/{key}")
            used.update(layout.location_key(entry) for entry in manifest.files.values())
        objects_prefix = f"{layout.base}objects/"
        doomed = set(result.snapshots)
        for item in store.list(objects_prefix):
            if item["Key"] not in used:
                doomed.add(item["Key"])
                result.objects.append(item["Key"])
        versions = [v for v in _versions(client, bucket, layout.base) if v["Key"] in doomed]
        result.versions = len(versions)
        result.bytes = sum(int(v.get("Size", 0)) for v in versions)
        if dry_run or not doomed or (confirm is not None and not confirm(result)):
            return result
        for start in range(0, len(versions), 1000):
            _delete(client, bucket, versions[start:start + 1000])
    finally:
        if lease is not None:
            leases.release(lease)
    return result


def _versions(client: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    """Every version and delete marker below ``prefix`` (an unversioned bucket has version "null")."""
    from botocore.exceptions import ClientError

    found: list[dict[str, Any]] = []
    try:
        for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
            found += page.get("Versions", []) + page.get("DeleteMarkers", [])
    except ClientError as exc:
        raise StateError(f"Could not list the object versions of s3://{bucket}/{prefix}: "
                         f"{exc.response.get('Error', {}).get('Code')}. Fix: allow s3:ListBucketVersions "
                         "to the user running the command.") from None
    return found


def _delete(client: Any, bucket: str, versions: list[dict[str, Any]]) -> None:
    from botocore.exceptions import ClientError

    objects = [{"Key": v["Key"], "VersionId": v.get("VersionId") or "null"} for v in versions]
    try:
        answer = client.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
    except ClientError as exc:
        raise StateError(f"Could not delete from s3://{bucket}: {exc.response.get('Error', {}).get('Code')}. "
                         "Fix: allow s3:DeleteObject and s3:DeleteObjectVersion to the user running the "
                         "command; run prune again.") from None
    errors = answer.get("Errors") or []
    if errors:
        raise StateError(f"Could not delete {len(errors)} objects from s3://{bucket} (first: {errors[0].get('Key')}: "
                         f"{errors[0].get('Code')}). Fix: allow s3:DeleteObjectVersion; run prune again.")
