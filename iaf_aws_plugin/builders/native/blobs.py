"""The local cache: content-addressed blobs (``blobs/sha256/<hex>``, written atomically and
verified), and small JSON records (resolved tags, built dependency layers)."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

from ...errors import PluginError

CACHE_ENV = "IAF_AWS_CACHE_DIR"
CHUNK = 1024 * 1024


def cache_root() -> Path:
    """``$IAF_AWS_CACHE_DIR``, else ``$XDG_CACHE_HOME/iaf-aws-plugin``, else ``~/.cache/iaf-aws-plugin``."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "iaf-aws-plugin"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class BlobStore:
    """Blobs by digest below ``root``; a blob is only ever visible complete and verified."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else cache_root()

    def path(self, digest: str) -> Path:
        algorithm, _, hexdigest = digest.partition(":")
        return self.root / "blobs" / algorithm / hexdigest

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def put_bytes(self, data: bytes) -> str:
        digest = sha256_bytes(data)
        if not self.has(digest):
            with self.writer() as (handle, finish):
                handle.write(data)
                finish(digest)
        return digest

    def writer(self) -> "_Writer":
        return _Writer(self)

    def tmpdir(self) -> Path:
        path = self.root / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    # small JSON records ------------------------------------------------------------------
    def record(self, kind: str, key: str) -> dict[str, Any] | None:
        path = self.root / kind / f"{key}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def save_record(self, kind: str, key: str, data: dict[str, Any]) -> None:
        folder = self.root / kind
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
        os.replace(name, folder / f"{key}.json")


class _Writer:
    """``with store.writer() as (handle, finish): …; finish(expected_digest)`` — the blob is
    hashed while written; ``finish`` checks the digest and moves it into place."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.hasher = hashlib.sha256()
        self.size = 0
        self.digest: str | None = None

    def __enter__(self) -> tuple[IO[bytes], Any]:
        folder = self.store.tmpdir()
        fd, self.name = tempfile.mkstemp(dir=folder, prefix="blob-")
        raw = os.fdopen(fd, "wb")
        writer = self

        class Hashing:
            def write(self, data: bytes) -> int:
                writer.hasher.update(data)
                writer.size += len(data)
                return raw.write(data)

            def flush(self) -> None:
                raw.flush()

        self.raw = raw
        return Hashing(), self._finish  # type: ignore[return-value]

    def _finish(self, expected: str | None = None) -> str:
        self.raw.close()
        actual = "sha256:" + self.hasher.hexdigest()
        if expected is not None and actual != expected:
            os.unlink(self.name)
            raise PluginError(f"downloaded blob has digest {actual}, expected {expected}: corrupted or tampered.",
                              fix="Retry; if it persists, the registry or a proxy alters the data.")
        target = self.store.path(actual)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.name, target)
        self.digest = actual
        return actual

    def __exit__(self, *exc: object) -> None:
        if not self.raw.closed:
            self.raw.close()
        if self.digest is None and os.path.exists(self.name):
            os.unlink(self.name)


def iter_chunks(path: Path, size: int) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(size), b""):
            yield chunk
