"""The bot's databases as its state snapshots hold them, read from S3 without taking the lease.

Only the database file of a snapshot is downloaded (one object, or one range of a pack), verified
by its sha256 through the state package's own download code, into a temporary folder, and read
there. The figures of every snapshot are cached locally under its id (the manifest's name, which
never changes: a snapshot is immutable), so a second report downloads only the new snapshots.
Snapshots whose database has a content already read (same sha256) are not downloaded again.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from ..errors import PluginError
from ..state.errors import StateError
from ..state.manifest import Layout, Manifest, Pointer, normalize_prefix
from ..state.s3 import S3Store
from ..state.snapshots import SnapshotInfo, list_snapshots, read_manifest
from ..state.sync import RemoteFile, apply_snapshot
from .database import Cash, DatabaseError, Holding, OpenOrder, PortfolioView, Trade, read_database

#: Bump when what is cached per snapshot changes: older entries are then read again.
CACHE_FORMAT = 1
#: Downloads in flight at once.
WORKERS = 8
_DB_SUFFIXES = (".sqlite3", ".sqlite", ".db")

Progress = Callable[[int, int], None]


class NoSnapshotsError(PluginError):
    """The bot has not saved any state yet."""


@dataclass(frozen=True)
class SnapshotPoint:
    """One snapshot's figures: a point of the chart."""

    id: str
    generation: int
    saved_at: str  # ISO 8601, UTC
    current: bool
    view: PortfolioView | None  # None: the snapshot holds no database, or it could not be read (error)
    database: str | None = None  # its path inside the snapshot
    database_sha256: str | None = None
    error: str | None = None  # why its database could not be read


@dataclass(frozen=True)
class CurrentView:
    url: str
    generation: int
    snapshot: str
    saved_at: str
    database: str
    view: PortfolioView


def snapshot_id(key: str) -> str:
    return key.rsplit("/", 1)[-1].removesuffix(".json")


def database_path(manifest: Manifest) -> str | None:
    """The host's database in a snapshot: ``databases/prod-database.sqlite3`` (the host's name in
    production), else another SQLite file under ``databases/`` (not a backtest's), else any."""
    names = sorted(p for p in manifest.files if p.lower().endswith(_DB_SUFFIXES))
    if not names:
        return None

    def rank(name: str) -> tuple[int, str]:
        lower = name.lower()
        if lower.endswith("databases/prod-database.sqlite3"):
            return 0, name
        if "databases/" in lower and "backtest" not in lower:
            return 1, name
        return (3 if "backtest" in lower else 2), name

    return min(names, key=rank)


def _url(bucket: str, layout: Layout) -> str:
    return f"s3://{bucket}/{layout.root}"


def _no_snapshots(bucket: str, layout: Layout) -> NoSnapshotsError:
    return NoSnapshotsError(f"No snapshots in {_url(bucket, layout)} yet: the bot has not saved any state.",
                            fix="Fix: run the bot once (invoke-aws-lambda), or wait for its schedule.")


def _download_database(store: S3Store, layout: Layout, manifest: Manifest, rel: str, folder: str) -> PortfolioView:
    entry = manifest.files[rel]
    remote = RemoteFile(layout.location_key(entry), entry.sha256, entry.size, entry.offset if entry.pack else None)
    os.makedirs(folder, exist_ok=True)
    with ThreadPoolExecutor(1) as pool:
        apply_snapshot(store, folder, {rel: remote}, set(), {}, pool)
    return read_database(os.path.join(folder, *rel.split("/")))


def read_current(bucket: str, client: Any, *, prefix: str = "") -> CurrentView:
    """The committed snapshot's database (what HEAD points at), read in a temporary folder."""
    store, layout = S3Store(client, bucket), Layout(normalize_prefix(prefix))
    head = store.get(layout.head)
    if head is None:
        raise _no_snapshots(bucket, layout)
    where = f"s3://{bucket}/{layout.head}"
    pointer = Pointer.from_json(head.body, where=where)
    manifest = read_manifest(store, pointer, where=where)
    rel = database_path(manifest)
    if rel is None:
        raise _no_database(bucket, pointer.manifest_key)
    folder = tempfile.mkdtemp(prefix="iaf-portfolio-")
    try:
        view = _download_database(store, layout, manifest, rel, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    saved = manifest.created_at or head.last_modified.isoformat()
    return CurrentView(_url(bucket, layout), pointer.generation, snapshot_id(pointer.manifest_key), saved, rel, view)


def _no_database(bucket: str, key: str) -> PluginError:
    return PluginError(f"Snapshot s3://{bucket}/{key} holds no SQLite database (no *.sqlite3 file).",
                       fix="Fix: check that the bot saves its databases/ folder (state-aws-lambda pull).")


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "iaf-aws-plugin" / "snapshots"


@dataclass
class ReadStats:
    snapshots: int = 0
    cached: int = 0
    downloaded: int = 0  # databases downloaded
    reused: int = 0  # snapshots whose database content was already read in this run


def read_all(bucket: str, client: Any, *, prefix: str = "", cache_dir: Path | None = None,
             progress: Progress | None = None, stats: ReadStats | None = None) -> list[SnapshotPoint]:
    """Every snapshot's figures, oldest first; only snapshots not in the cache are read from S3."""
    store, layout = S3Store(client, bucket), Layout(normalize_prefix(prefix))
    snapshots = list_snapshots(bucket, prefix=layout.prefix, client=client)
    if not snapshots:
        raise _no_snapshots(bucket, layout)
    folder = (cache_dir or default_cache_dir()) / _safe(bucket) / (_safe(layout.prefix) or "_")
    folder.mkdir(parents=True, exist_ok=True)
    stats = stats if stats is not None else ReadStats()
    stats.snapshots = len(snapshots)
    points: dict[str, SnapshotPoint] = {}
    todo: list[SnapshotInfo] = []
    for info in snapshots:
        cached = _load(folder / f"{snapshot_id(info.key)}.json")
        if cached is None:
            todo.append(info)
        else:
            points[info.key] = dataclasses.replace(cached, current=info.current)
    stats.cached = len(points)
    by_sha: dict[str, PortfolioView] = {p.database_sha256: p.view for p in points.values()
                                        if p.database_sha256 and p.view is not None}
    lock = threading.Lock()
    done = [len(points)]
    if progress is not None:
        progress(done[0], len(snapshots))
    work = tempfile.mkdtemp(prefix="iaf-report-")

    def read_one(info: SnapshotInfo) -> SnapshotPoint:
        found = store.get(info.key)
        if found is None:
            raise StateError(f"Snapshot s3://{bucket}/{info.key} disappeared while reading (pruned?). "
                             "Fix: run the command again.")
        manifest = Manifest.from_json(found.body, where=f"s3://{bucket}/{info.key}")
        saved = manifest.created_at or info.last_modified.isoformat()
        rel = database_path(manifest)
        sid = snapshot_id(info.key)
        if rel is None:
            point = SnapshotPoint(sid, info.generation, saved, info.current, None)
        else:
            sha = manifest.files[rel].sha256
            with lock:
                view = by_sha.get(sha)
            error = None
            if view is None:
                target = os.path.join(work, sid)
                try:
                    view = _download_database(store, layout, manifest, rel, target)
                except DatabaseError as exc:  # one unreadable database does not hide the others
                    error = str(exc)
                finally:
                    shutil.rmtree(target, ignore_errors=True)
                with lock:
                    if view is not None:
                        by_sha[sha] = view
                    stats.downloaded += 1
            else:
                with lock:
                    stats.reused += 1
            point = SnapshotPoint(sid, info.generation, saved, info.current, view, rel, sha, error)
        _save(folder / f"{sid}.json", point)
        with lock:
            done[0] += 1
            if progress is not None:
                progress(done[0], len(snapshots))
        return point

    try:
        with ThreadPoolExecutor(WORKERS) as pool:
            for info, point in zip(todo, pool.map(read_one, todo)):
                points[info.key] = point
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [points[info.key] for info in snapshots]


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


# -- the cache: one JSON file per snapshot -------------------------------------------------------

def _save(path: Path, point: SnapshotPoint) -> None:
    body = json.dumps({"format": CACHE_FORMAT, "point": dataclasses.asdict(point)}, separators=(",", ":"))
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    temporary.write_text(body, encoding="utf-8")
    os.replace(temporary, path)  # a reader never sees half a file


def _load(path: Path) -> SnapshotPoint | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != CACHE_FORMAT:
            return None
        return point_from_dict(doc["point"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # not cached, or unreadable: read it again


def point_from_dict(data: dict[str, Any]) -> SnapshotPoint:
    view = data.get("view")
    return SnapshotPoint(str(data["id"]), int(data["generation"]), str(data["saved_at"]), bool(data["current"]),
                         None if view is None else view_from_dict(view), data.get("database"),
                         data.get("database_sha256"), data.get("error"))


def view_from_dict(data: dict[str, Any]) -> PortfolioView:
    return PortfolioView(
        str(data["trading_symbol"]), [Cash(**c) for c in data["cash"]], [Holding(**h) for h in data["positions"]],
        [OpenOrder(**o) for o in data["open_orders"]], [Trade(**t) for t in data["trades"]],
        int(data["trade_count"]), int(data["closed_trade_count"]), float(data["realized_pnl"]),
        float(data["value"]), float(data["in_orders"]), list(data.get("estimated", [])))


def parse_time(text: str) -> datetime:
    from datetime import timezone

    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
