"""The documents of the S3 layout (manifest, pointer, lease) and where they live. Pure data."""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .errors import StateError
from .paths import LAYOUT_DIR, check_relpath

MANIFEST_FORMAT = "iaf-aws-plugin/state-manifest/1"
#: Written only when a name is not valid UTF-8: such names are kept, base64 of their bytes, in
#: ``files_b64`` / ``dirs_b64`` (a reader of format 1 would silently miss them, so it must refuse).
MANIFEST_FORMAT_RAW_NAMES = "iaf-aws-plugin/state-manifest/2"
POINTER_FORMAT = "iaf-aws-plugin/state-head/1"
LEASE_FORMAT = "iaf-aws-plugin/state-lease/1"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SNAPSHOT_NAME = re.compile(r"^(\d{12})-([0-9a-f]+)\.json$")


def normalize_prefix(prefix: str) -> str:
    """``"bots/a/"`` -> ``"bots/a"``; rejects prefixes that are not plain relative key paths."""
    prefix = (prefix or "").strip("/")
    if prefix:
        check_relpath(prefix, what="prefix")
    return prefix


@dataclass(frozen=True)
class Layout:
    """S3 keys of one bot's state: ``<prefix>/.iaf-state/...``."""

    prefix: str = ""

    @property
    def root(self) -> str:
        return f"{self.prefix}/" if self.prefix else ""

    @property
    def base(self) -> str:
        return f"{self.root}{LAYOUT_DIR}/"

    @property
    def head(self) -> str:
        return f"{self.base}HEAD.json"

    @property
    def lease(self) -> str:
        return f"{self.base}lease.json"

    @property
    def snapshots(self) -> str:
        return f"{self.base}snapshots/"

    def object(self, sha256: str) -> str:
        return f"{self.base}objects/{sha256}"

    def pack(self, pack_sha256: str) -> str:
        return f"{self.base}objects/packs/{pack_sha256}"

    def location_key(self, entry: "FileEntry") -> str:
        """Where an entry's bytes live: its own object, or a pack (at ``entry.offset``)."""
        return self.pack(entry.pack) if entry.pack else self.object(entry.sha256)

    def new_snapshot_key(self, generation: int) -> str:
        return f"{self.snapshots}{generation:012d}-{secrets.token_hex(6)}.json"

    def snapshot_generation(self, key: str) -> int | None:
        match = _SNAPSHOT_NAME.match(key[len(self.snapshots):]) if key.startswith(self.snapshots) else None
        return int(match.group(1)) if match else None

    def is_legacy_key(self, key: str) -> bool:
        """Whether a key under the prefix is a plain state file (the host handler's layout)."""
        if not key.startswith(self.root) or key.endswith("/"):
            return False
        return LAYOUT_DIR not in key[len(self.root):].split("/")


@dataclass(frozen=True)
class FileEntry:
    """A file's content (sha256, size) and where it is stored: its own object, or ``size``
    bytes at ``offset`` in pack ``pack`` (small files travel together)."""

    sha256: str
    size: int
    pack: str | None = None
    offset: int = 0

    def content(self) -> tuple[str, int]:
        return self.sha256, self.size


@dataclass
class Manifest:
    """One snapshot: every file's hash and size, and the folders (so empty ones survive)."""

    generation: int
    files: dict[str, FileEntry]
    dirs: set[str] = field(default_factory=set)
    parent: str | None = None
    created_at: str = ""

    def same_content(self, files: dict[str, FileEntry], dirs: set[str]) -> bool:
        return (self.dirs == dirs and self.files.keys() == files.keys()
                and all(self.files[p].content() == e.content() for p, e in files.items()))

    def locations(self) -> dict[str, FileEntry]:
        """Stored content by sha256 (to reuse instead of uploading it again)."""
        return {entry.sha256: entry for entry in self.files.values()}

    def to_json(self) -> bytes:
        def row(e: FileEntry) -> list[Any]:
            return [e.sha256, e.size] + ([e.pack, e.offset] if e.pack else [])

        files = {p: row(e) for p, e in sorted(self.files.items()) if _is_utf8(p)}
        raw_files = {_encode_name(p): row(e) for p, e in sorted(self.files.items()) if not _is_utf8(p)}
        dirs = sorted(d for d in self.dirs if _is_utf8(d))
        raw_dirs = sorted(_encode_name(d) for d in self.dirs if not _is_utf8(d))
        doc: dict[str, Any] = {
            "format": MANIFEST_FORMAT_RAW_NAMES if raw_files or raw_dirs else MANIFEST_FORMAT,
            "generation": self.generation,
            "parent": self.parent,
            "created_at": self.created_at or now_iso(),
            "files": files,
            "dirs": dirs,
        }
        if raw_files or raw_dirs:
            doc["files_b64"] = raw_files
            doc["dirs_b64"] = raw_dirs
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, *, where: str) -> "Manifest":
        try:
            doc = json.loads(data.decode("utf-8"))
            if doc.get("format") not in (MANIFEST_FORMAT, MANIFEST_FORMAT_RAW_NAMES):
                raise ValueError(f"unknown format {doc.get('format')!r}")
            raw = doc.get("format") == MANIFEST_FORMAT_RAW_NAMES
            rows = list(doc["files"].items())
            rows += [(_decode_name(k), v) for k, v in (doc.get("files_b64", {}) if raw else {}).items()]
            files = {}
            for path, value in rows:
                check_relpath(path)
                sha, size, pack, offset = (list(value) + [None, 0])[:4]
                if (not _SHA256.match(sha) or not isinstance(size, int) or size < 0
                        or (pack is not None and not _SHA256.match(pack))
                        or not isinstance(offset, int) or offset < 0):
                    raise ValueError(f"bad entry for {path!r}")
                files[path] = FileEntry(sha, size, pack, offset)
            names = list(doc.get("dirs", [])) + [_decode_name(d) for d in (doc.get("dirs_b64", []) if raw else [])]
            dirs = {check_relpath(d) for d in names}
            return cls(int(doc["generation"]), files, dirs, doc.get("parent"), doc.get("created_at", ""))
        except StateError:
            raise
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, binascii.Error) as exc:
            raise StateError(f"State manifest {where} is not readable ({exc}). Fix: restore an older "
                             "snapshot (list_snapshots/restore_snapshot).") from exc


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # a name that is not UTF-8, decoded with surrogateescape
        return False
    return True


def _encode_name(name: str) -> str:
    """A local name (``os.fsdecode`` form) as base64 of its exact bytes."""
    return base64.b64encode(name.encode("utf-8", "surrogateescape")).decode("ascii")


def _decode_name(encoded: str) -> str:
    if not isinstance(encoded, str):
        raise ValueError(f"bad name {encoded!r}")
    return base64.b64decode(encoded.encode("ascii"), validate=True).decode("utf-8", "surrogateescape")


#: How many scheduled times HEAD.json remembers (newest first): a duplicate delivery of any of
#: them is answered "already ran" (EventBridge Scheduler redelivers within minutes, not days).
RUN_HISTORY = 48


@dataclass(frozen=True)
class Pointer:
    """Contents of HEAD.json: which manifest is current, and its sha256.

    ``runs`` are the scheduled times (``scheduled_time_id`` form) whose runs committed, newest
    first: recorded by the same conditional write that makes the snapshot current, so a
    scheduled time is "already ran" exactly when its trades are in the current state."""

    generation: int
    manifest_key: str
    manifest_sha256: str
    runs: tuple[str, ...] = ()

    def ran(self, scheduled_for: str | None) -> bool:
        return scheduled_for is not None and scheduled_for in self.runs

    def with_run(self, scheduled_for: str | None) -> tuple[str, ...]:
        """The run history after a commit for ``scheduled_for`` (None: a manual run, kept as is)."""
        if scheduled_for is None:
            return self.runs
        return ((scheduled_for,) + tuple(r for r in self.runs if r != scheduled_for))[:RUN_HISTORY]

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {"format": POINTER_FORMAT, "generation": self.generation,
                               "manifest": self.manifest_key, "manifest_sha256": self.manifest_sha256,
                               "updated_at": now_iso()}
        if self.runs:
            doc["runs"] = list(self.runs)
        return json.dumps(doc).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, *, where: str) -> "Pointer":
        try:
            doc = json.loads(data.decode("utf-8"))
            if doc.get("format") != POINTER_FORMAT:
                raise ValueError(f"unknown format {doc.get('format')!r}")
            if not _SHA256.match(doc["manifest_sha256"]):
                raise ValueError("bad manifest_sha256")
            runs = doc.get("runs", [])
            if not isinstance(runs, list) or not all(isinstance(r, str) for r in runs):
                raise ValueError("bad runs")
            return cls(int(doc["generation"]), str(doc["manifest"]), doc["manifest_sha256"], tuple(runs))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise StateError(f"State pointer {where} is not readable ({exc}). Fix: restore a "
                             "snapshot with restore_snapshot.") from exc


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def lease_document(*, owner: str, holder: str, timeout: int, state: str,
                   scheduled_for: str | None = None) -> bytes:
    """A lease record; ``owner`` is a fresh random token per run and ``nonce`` one per write, so
    every record (and its ETag) differs and a write can recognize itself when read back.
    ``scheduled_for``: the scheduled time the run is for (absent for a manual run)."""
    doc: dict[str, Any] = {"format": LEASE_FORMAT, "state": state, "owner": owner, "holder": holder,
                           "timeout_seconds": timeout, "written_at": now_iso(), "nonce": secrets.token_hex(8)}
    if scheduled_for is not None:
        doc["scheduled_for"] = scheduled_for
    return json.dumps(doc).encode("utf-8")


def scheduled_time_id(moment: datetime) -> str:
    """A scheduled time as recorded in HEAD.json and the lease: its whole UTC minute, ISO 8601."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def describe_scheduled_time(scheduled_for: str) -> str:
    """``2026-12-06T10:00Z`` -> ``2026-12-06 10:00 UTC`` (for messages)."""
    return scheduled_for.replace("T", " ").replace("Z", " UTC")


def parse_lease(data: bytes) -> dict[str, Any]:
    """A lease record, or a "held" placeholder for unreadable content (fails safe: locked until it expires)."""
    try:
        doc = json.loads(data.decode("utf-8"))
        if isinstance(doc, dict) and doc.get("format") == LEASE_FORMAT:
            return doc
    except (ValueError, UnicodeDecodeError):
        pass
    return {"state": "held", "owner": "", "holder": "an unreadable lease record", "timeout_seconds": None}
