"""Reproducible layers: a tar with sorted entries, owner root, fixed mtime and modes, in a
gzip stream with a fixed header, so the same files always give the same digests. And the
``.dockerignore`` rules, as Docker applies them to a build context."""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Iterable, Iterator

from .blobs import BlobStore

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
EPOCH = 0  # every entry's mtime; the image's "created" is the same instant
GZIP_LEVEL = 6


@dataclass(frozen=True)
class Layer:
    digest: str  # of the gzip stream (the blob)
    diff_id: str  # of the tar
    size: int  # compressed bytes
    uncompressed: int
    media_type: str = LAYER_MEDIA_TYPE


class _Tee(io.RawIOBase):
    """Hash (and count) what tarfile writes, and pass it on to the gzip stream."""

    def __init__(self, sink: "IO[bytes] | gzip.GzipFile") -> None:
        self.sink = sink
        self.hasher = hashlib.sha256()
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.hasher.update(data)
        self.count += len(data)
        self.sink.write(data)
        return len(data)


def _info(name: str, kind: bytes, mode: int, size: int = 0, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.linkname = linkname
    info.mtime = EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _parents(path: PurePosixPath) -> list[str]:
    return [str(p) for p in reversed(path.parents) if str(p) != "."]


def write_layer(store: BlobStore, entries: Iterable[tuple[str, Path]]) -> Layer:
    """A layer of ``(path in the image, file on disk)`` entries (directories are implied and
    also listed explicitly); written into the blob store, its digests returned."""
    files: dict[str, Path | None] = {}
    for image_path, source in entries:
        clean = PurePosixPath(image_path.lstrip("/"))
        for parent in _parents(clean):
            files.setdefault(parent, None)
        files[str(clean)] = source
    with store.writer() as (handle, finish):
        gz = gzip.GzipFile(filename="", mode="wb", fileobj=handle, mtime=0, compresslevel=GZIP_LEVEL)
        tee = _Tee(gz)
        with tarfile.open(fileobj=tee, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(files):
                entry = files[name]
                if entry is None or (entry.is_dir() and not entry.is_symlink()):
                    tar.addfile(_info(name, tarfile.DIRTYPE, 0o755))
                    continue
                status = entry.lstat()
                if stat.S_ISLNK(status.st_mode):
                    tar.addfile(_info(name, tarfile.SYMTYPE, 0o777, linkname=os.readlink(entry)))
                    continue
                mode = 0o755 if status.st_mode & 0o111 else 0o644
                with open(entry, "rb") as data:
                    tar.addfile(_info(name, tarfile.REGTYPE, mode, size=status.st_size), data)
        gz.close()
        diff_id = "sha256:" + tee.hasher.hexdigest()
        digest = finish()
        writer_size = store.path(digest).stat().st_size
    return Layer(digest=digest, diff_id=diff_id, size=writer_size, uncompressed=tee.count)


def tree_entries(root: Path, prefix: str, *, skip: "DockerIgnore | None" = None) -> Iterator[tuple[str, Path]]:
    """``(prefix/relative, path)`` for every file, symlink and directory below ``root``."""
    root = Path(root)
    for folder, dirs, names in os.walk(root):
        relative_folder = Path(folder).relative_to(root).as_posix()
        kept_dirs = []
        for name in sorted(dirs):
            relative = name if relative_folder == "." else f"{relative_folder}/{name}"
            if skip is not None and skip.excluded(relative) and not skip.may_include_below(relative):
                continue
            kept_dirs.append(name)
            path = Path(folder) / name
            if path.is_symlink():
                if skip is None or not skip.excluded(relative):
                    yield f"{prefix}/{relative}", path
                continue
            if skip is None or not skip.excluded(relative):
                yield f"{prefix}/{relative}", path
        dirs[:] = [d for d in kept_dirs if not (Path(folder) / d).is_symlink()]
        for name in sorted(names):
            relative = name if relative_folder == "." else f"{relative_folder}/{name}"
            if skip is not None and skip.excluded(relative):
                continue
            yield f"{prefix}/{relative}", Path(folder) / name


# --- .dockerignore ------------------------------------------------------------------------

def _translate(pattern: str) -> re.Pattern[str]:
    """Go's filepath.Match plus ``**`` (as moby/patternmatcher): ``*`` and ``?`` stay within a
    path segment, ``**`` crosses them."""
    out = ""
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            if pattern[i:i + 2] == "**":
                i += 2
                if pattern[i:i + 1] == "/":
                    out += "(?:.*/)?"
                    i += 1
                else:
                    out += ".*"
                continue
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.find("]", i)
            if end == -1:
                out += re.escape(char)
            else:
                body = pattern[i + 1:end].replace("\\", "\\\\")
                if body.startswith("^") or body.startswith("!"):
                    body = "^" + body[1:]
                out += f"[{body}]"
                i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(char)
        i += 1
    return re.compile(f"^{out}$")


class DockerIgnore:
    """The rules of a ``.dockerignore`` file: the last matching pattern wins, ``!`` re-includes,
    a pattern matching a folder excludes everything below it."""

    def __init__(self, lines: Iterable[str], always: Iterable[str] = ()) -> None:
        self.rules: list[tuple[bool, re.Pattern[str], str]] = []
        for raw in [*lines, *always]:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            if negate:
                line = line[1:].strip()
            line = os.path.normpath(line.lstrip("/")).replace(os.sep, "/") if line.strip("/") else line
            line = line.rstrip("/")
            if line in (".", ""):
                continue
            self.rules.append((negate, _translate(line), line))

    @classmethod
    def for_project(cls, project_dir: Path, always: Iterable[str] = ()) -> "DockerIgnore":
        path = Path(project_dir) / ".dockerignore"
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
        return cls(lines, always)

    def excluded(self, relative: str) -> bool:
        parts = relative.split("/")
        candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
        result = False
        for negate, regex, _ in self.rules:
            if any(regex.match(c) for c in candidates):
                result = not negate
        return result

    def may_include_below(self, relative: str) -> bool:
        """A ``!`` rule may re-include something below an excluded folder: walk it then."""
        return any(negate and (text.startswith(relative + "/") or "*" in text) for negate, _, text in self.rules)
