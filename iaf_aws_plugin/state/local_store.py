"""The state store in a local folder: what :class:`~.s3.S3Store` does against a bucket, on disk,
so ``invoke-aws-lambda --local --offline`` runs the state handler's own snapshot, pointer and
lease code with no AWS at all. Objects are files under the folder (the key is the relative
path); an ETag is the quoted sha256 of the content; conditional writes hold a lock on the folder
(``fcntl`` where the platform has it) and are checked as S3 checks them (412).

:data:`OFFLINE_STATE_ENV` names the folder; :class:`~.handler.AWSS3StorageStateHandler` uses this
store instead of S3 when it is set (only the offline run sets it).
"""
from __future__ import annotations

import hashlib
import io
import os
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, TypeVar

from ..function_env import OFFLINE_STATE_ENV
from .errors import StateError
from .s3 import ContentChanged, PreconditionFailed, S3Object, _changed_message, _copy_hashing

__all__ = ["LOCK_FILE", "LocalStore", "OFFLINE_STATE_ENV"]

LOCK_FILE = ".lock"
T = TypeVar("T")
_THREAD_LOCK = threading.Lock()


def _etag(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()}"'


class LocalStore:
    """S3Store's methods (get, put, list, upload/download) over the folder ``root``."""

    client: Any = None  # no S3 client: nothing here talks to AWS

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.bucket = str(self.root)  # what messages name ("s3://" + this is the folder)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"Could not create the offline state folder {self.root}: {exc.strerror}. Fix: pass "
                             "another --state-dir.") from None

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if path == self.root or self.root not in path.parents or path.name == LOCK_FILE:
            raise StateError(f"state key {key!r} is outside the offline state folder {self.root}.")
        return path

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with _THREAD_LOCK, open(self.root / LOCK_FILE, "a+b") as handle:
            try:
                import fcntl
            except ImportError:  # pragma: no cover - Windows: one process at a time is the user's part
                yield
                return
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _write(self, path: Path, body: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        with open(temporary, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    # -- small objects -------------------------------------------------------------------------
    def get(self, key: str, *, if_none_match: str | None = None) -> S3Object | None:
        path = self._path(key)
        try:
            body = path.read_bytes()
            modified = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
        except FileNotFoundError:
            return None
        etag = _etag(body)
        if if_none_match and if_none_match == etag:
            raise PreconditionFailed(f"{self.root}/{key}", 304)
        return S3Object(body, etag, modified, datetime.now(timezone.utc))

    def put(self, key: str, body: bytes, *, if_match: str | None = None, if_none_match: str | None = None) -> str:
        path = self._path(key)
        with self._locked():
            current = _etag(path.read_bytes()) if path.is_file() else None
            if if_none_match == "*" and current is not None or if_match and if_match != current:
                raise PreconditionFailed(f"{self.root}/{key}", 412)
            self._write(path, body)
        return _etag(body)

    def list(self, prefix: str) -> Iterator[dict[str, Any]]:
        found = []
        for path in self.root.rglob("*"):
            if not path.is_file() or path.name == LOCK_FILE or path.name.endswith(".tmp"):
                continue
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix):
                stat = path.stat()
                found.append({"Key": key, "Size": stat.st_size, "ETag": _etag(path.read_bytes()),
                              "LastModified": datetime.fromtimestamp(stat.st_mtime, timezone.utc)})
        yield from sorted(found, key=lambda item: str(item["Key"]))

    # -- files ---------------------------------------------------------------------------------
    def upload_file(self, path: str, key: str, size: int, sha256: str) -> None:
        with open(path, "rb") as handle:
            data = handle.read(size + 1)
        if len(data) != size or hashlib.sha256(data).hexdigest() != sha256:
            raise ContentChanged(_changed_message(path))
        self.upload_bytes(key, data, sha256)

    def upload_bytes(self, key: str, body: bytes, sha256: str) -> None:
        if hashlib.sha256(body).hexdigest() != sha256:
            raise ContentChanged(_changed_message(key))
        self._write(self._path(key), body)

    def read_range(self, key: str, start: int, length: int, consume: Callable[[BinaryIO], T]) -> T:
        with open(self._missing_is_error(key), "rb") as handle:
            handle.seek(start)
            return consume(io.BytesIO(handle.read(length)))

    def download_file(self, key: str, path: str, size: int | None) -> tuple[str, int]:
        with open(self._missing_is_error(key), "rb") as source, open(path, "wb") as target:
            return _copy_hashing(source, target)

    def _missing_is_error(self, key: str) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise StateError(f"Could not download {self.root}/{key}: it does not exist. Fix: the offline state "
                             f"folder {self.root} was changed by hand; delete it to start afresh.")
        return path
