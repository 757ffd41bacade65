"""The dependency layer, one distribution at a time.

Each distribution (installed, slimmed, byte code compiled) becomes a *fragment*: its tar entries
(sorted, normalised like every layer of ours) compressed as gzip members of at most
:data:`MEMBER_BOUND` tar bytes each, stored as one blob and recorded (with each member's size) by a
key of its name, version, wheel hash, Python, task root and build options. The layer is the head
(the task root's folders), the fragments in name order and the tar's end, concatenated: a valid
multi-member gzip stream of one tar (RFC 1952; Go's, Python's and zlib's readers read it).

So a distribution is installed and compiled once per name, version and Python, the fragments are
compressed in parallel, and adding a package to ``requirements.txt`` builds only its fragment;
assembling a changed layer costs one pass of inflating (every member on its own, on all cores) and
hashing (its ``diff_id``)."""
from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator

from ...errors import PluginError
from .blobs import CHUNK, BlobStore
from .deflate import Codec, best
from .layers import EPOCH, Layer

FORMAT = "fragment-v4"  # v2: slim compiles no byte code for unloaded API versions; v3: members of MEMBER_BOUND;
# v4: slim compiles none for the --prune-unused list either
END_OF_ARCHIVE = b"\0" * (2 * tarfile.BLOCKSIZE)
# Tar bytes per gzip member of a fragment: a big distribution (polars, pyarrow: 100+ MB) is many
# members, so assembling a layer inflates them on every core evenly. Measured on IAF 8.10's slim
# layer (982 MB tar, 2 cores): one member per fragment (fragment-v2) 3.3-3.5 s; members of 32 MB
# 1.6-1.8 s, 16 MB 1.5-1.6 s, 2 and 4 MB 1.43-1.46 s (less fresh memory per member). Each member costs a gzip header
# and a fresh deflate window: +0.07% in all at 4 MB; compressing the fragments takes as long.
MEMBER_BOUND = 4 * 1024 * 1024
AHEAD = 128 * 1024 * 1024  # tar bytes inflated ahead of the hashing, at most (plus one member)


@dataclass(frozen=True)
class Fragment:
    key: str
    name: str
    version: str
    digest: str  # of the gzip member, a blob of the store
    size: int  # compressed
    uncompressed: int
    installed: int  # bytes of its files
    top_level: tuple[tuple[str, int], ...]  # (top-level entry, bytes)
    removed: tuple[int, int, int, int]  # slimming: tests, sources, debug symbols, files
    pruned: int = 0  # bytes --prune-unused left out of it (API versions never loaded)
    uncompiled: int = 0  # bytes of sources slim compiled no byte code for (never imported on Lambda)
    members: tuple[tuple[int, int], ...] = ()  # (compressed, uncompressed) of each gzip member of the blob

    def member_sizes(self) -> tuple[tuple[int, int], ...]:
        return self.members or ((self.size, self.uncompressed),)

    def as_record(self) -> dict[str, object]:
        return {"name": self.name, "version": self.version, "digest": self.digest, "size": self.size,
                "uncompressed": self.uncompressed, "installed": self.installed,
                "top_level": [list(t) for t in self.top_level], "removed": list(self.removed), "pruned": self.pruned,
                "uncompiled": self.uncompiled, "members": [list(m) for m in self.members]}

    @classmethod
    def from_record(cls, key: str, data: dict[str, object]) -> "Fragment":
        fragment = cls(key, str(data["name"]), str(data["version"]), str(data["digest"]),
                       int(data["size"]), int(data["uncompressed"]), int(data["installed"]),  # type: ignore[call-overload]
                       tuple((str(n), int(s)) for n, s in data["top_level"]),  # type: ignore[attr-defined]
                       tuple(int(v) for v in data["removed"]),  # type: ignore[arg-type,attr-defined]
                       int(data.get("pruned", 0)), int(data.get("uncompiled", 0)),  # type: ignore[call-overload]
                       tuple((int(c), int(u)) for c, u in data.get("members", ())))  # type: ignore[attr-defined]
        members = fragment.member_sizes()
        if (sum(c for c, _ in members), sum(u for _, u in members)) != (fragment.size, fragment.uncompressed):
            raise ValueError(f"the members of fragment {key} do not add up to its blob")
        return fragment


def fragment_key(name: str, version: str, wheel_hash: str, *, python_version: str, task_root: str, slim: bool,
                 compile_version: str | None, prune: str = "") -> str:
    """``prune``: what --prune-unused leaves out of this distribution ("" for nothing)."""
    parts = [FORMAT, name, version, wheel_hash, python_version, task_root, f"slim={slim}",
             f"compile={compile_version or 'no'}", *([f"prune={prune}"] if prune else [])]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def cached_fragment(store: BlobStore, key: str) -> Fragment | None:
    record = store.record("fragments", key)
    if record is None or not store.has(str(record.get("digest", ""))):
        return None
    try:
        return Fragment.from_record(key, record)
    except (KeyError, TypeError, ValueError):
        return None


def _header(name: str, kind: bytes, mode: int, size: int = 0, linkname: str = "") -> bytes:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, size, linkname
    info.mtime, info.uid, info.gid, info.uname, info.gname = EPOCH, 0, 0, "", ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def tar_entries(root: Path, files: tuple[str, ...], prefix: str) -> Iterator[bytes]:
    """The tar stream (no end-of-archive blocks) of ``files`` below ``root`` and their folders,
    named ``prefix/relative``, sorted, normalised as :func:`.layers.write_layer` does."""
    entries: dict[str, str | None] = {}
    for relative in files:
        parts = PurePosixPath(relative).parts
        for depth in range(1, len(parts)):
            entries.setdefault("/".join(parts[:depth]), None)
        entries[relative] = relative
    for relative in sorted(entries):
        name = f"{prefix}/{relative}"
        if entries[relative] is None:
            yield _header(name, tarfile.DIRTYPE, 0o755)
            continue
        path = root / relative
        status = path.lstat()
        if stat.S_ISLNK(status.st_mode):
            yield _header(name, tarfile.SYMTYPE, 0o777, linkname=os.readlink(path))
            continue
        mode = 0o755 if status.st_mode & 0o111 else 0o644
        yield _header(name, tarfile.REGTYPE, mode, size=status.st_size)
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                yield chunk
        padding = -status.st_size % tarfile.BLOCKSIZE
        if padding:
            yield b"\0" * padding


def gzip_members(store: BlobStore, chunks: Iterator[bytes], bound: int | None = None, *,
                 codec: Codec | None = None) -> tuple[str, tuple[tuple[int, int], ...]]:
    """``chunks`` as gzip members (mtime 0) of ``bound`` (:data:`MEMBER_BOUND`) bytes of input each
    (the last one fewer), in one blob of the store: (digest, (compressed, uncompressed) of each member).
    ``codec``: :func:`.deflate.best` unless given."""
    bound = bound or MEMBER_BOUND
    codec = codec or best()
    members: list[tuple[int, int]] = []
    pending: list[bytes] = []
    pending_size = 0
    with store.writer() as (handle, finish):
        compressor = codec.compressor()
        written = taken = 0  # of the member being written

        def feed(data: bytes) -> None:
            nonlocal compressor, written, taken
            view = memoryview(data)
            while True:
                piece = view[:bound - taken]
                out = compressor.compress(piece)
                handle.write(out)
                written, taken, view = written + len(out), taken + len(piece), view[len(piece):]
                if taken < bound:
                    return
                out = compressor.flush()
                handle.write(out)
                members.append((written + len(out), taken))
                compressor, written, taken = codec.compressor(), 0, 0
                if not view:
                    return

        for chunk in chunks:
            pending.append(chunk)
            pending_size += len(chunk)
            if pending_size >= CHUNK:  # compress in large pieces: zlib lets other threads run meanwhile
                feed(b"".join(pending))
                pending, pending_size = [], 0
        feed(b"".join(pending))
        if taken or not members:
            out = compressor.flush()
            handle.write(out)
            members.append((written + len(out), taken))
        digest = finish()
    return digest, tuple(members)


def make_fragment(store: BlobStore, key: str, name: str, version: str, root: Path, files: tuple[str, ...],
                  task_root: str, removed: tuple[int, int, int, int], pruned: int = 0, uncompiled: int = 0, *,
                  codec: Codec | None = None) -> Fragment:
    digest, members = gzip_members(store, tar_entries(root, files, task_root.strip("/")), codec=codec)
    top: dict[str, int] = {}
    installed = 0
    for relative in files:
        path = root / relative
        length = path.lstat().st_size
        installed += length
        first = relative.split("/")[0]
        if "/" not in relative:
            first = first.removesuffix(".py") if not first.endswith(".so") else first.split(".")[0]
        if first.endswith((".dist-info", ".data")) or first == "bin":
            continue
        top[first] = top.get(first, 0) + length
    fragment = Fragment(key, name, version, digest, sum(c for c, _ in members), sum(u for _, u in members), installed,
                        tuple(sorted(top.items(), key=lambda item: (-item[1], item[0]))), removed, pruned, uncompiled,
                        members)
    store.save_record("fragments", key, fragment.as_record())
    return fragment


def assemble_layer(store: BlobStore, fragments: list[Fragment], task_root: str, *,
                   workers: int | None = None) -> Layer:
    """Head, fragments, end of archive: one layer (cached by its fragments). Its ``diff_id`` hashes
    the tar: every gzip member is inflated once, ahead in ``workers`` threads (members of at most
    :data:`MEMBER_BOUND` bytes share the cores evenly), while this thread hashes and writes in order."""
    key = hashlib.sha256("\n".join([FORMAT, task_root, *(f.digest for f in fragments)]).encode()).hexdigest()
    record = store.record("fragment-layers", key)
    if record is not None and store.has(str(record.get("digest", ""))):
        return Layer(str(record["digest"]), str(record["diff_id"]), int(record["size"]), int(record["uncompressed"]))
    parents = PurePosixPath(task_root.strip("/"))
    head_names = [*(str(p) for p in reversed(parents.parents) if str(p) != "."), str(parents)]
    head = b"".join(_header(n, tarfile.DIRTYPE, 0o755) for n in head_names)
    codec = best()
    members = [_Member(codec, codec.compress(head), len(head))]
    for fragment in fragments:
        path = store.path(fragment.digest)
        try:
            length = path.stat().st_size
        except OSError:
            length = -1
        if length != fragment.size:
            raise PluginError(f"the cached fragment {path} is damaged: {length} bytes, {fragment.size} expected.",
                              fix=f"Delete {path} and build again: the fragment is rebuilt.")
        offset = 0
        for compressed, uncompressed in fragment.member_sizes():
            members.append(_Member(codec, path, uncompressed, offset, compressed))
            offset += compressed
    members.append(_Member(codec, codec.compress(END_OF_ARCHIVE), len(END_OF_ARCHIVE)))
    diff = hashlib.sha256()
    uncompressed = 0
    with store.writer() as (handle, finish):
        for data, tar in _inflated(members, workers or min(8, os.cpu_count() or 1)):
            handle.write(data)  # hashed for the digest, and written, while the workers inflate
            diff.update(tar)
            uncompressed += len(tar)
        digest = finish()
    layer = Layer(digest, "sha256:" + diff.hexdigest(), store.path(digest).stat().st_size, uncompressed)
    store.save_record("fragment-layers", key, {"digest": layer.digest, "diff_id": layer.diff_id, "size": layer.size,
                                               "uncompressed": layer.uncompressed})
    return layer


@dataclass(frozen=True)
class _Member:
    codec: Codec  # any deflate implementation inflates any member
    source: bytes | Path  # one gzip member, or the fragment's blob it is in
    uncompressed: int
    offset: int = 0  # in the blob
    size: int = 0  # compressed, in the blob

    def inflate(self) -> tuple[bytes, bytes]:
        """(the gzip member, its tar bytes)."""
        data = self.source
        if isinstance(data, Path):
            with open(data, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read(self.size)
        tar = self.codec.inflate(data, self.uncompressed)  # one buffer of the known size
        if len(tar) != self.uncompressed:
            blob = self.source if isinstance(self.source, Path) else "(in memory)"
            raise PluginError(f"the cached fragment {blob} is damaged: its gzip member at byte {self.offset} does "
                              f"not inflate to its {self.uncompressed} bytes.",
                              fix=f"Delete {blob} and build again: the fragment is rebuilt.")
        return data, tar


def _inflated(members: list[_Member], workers: int) -> Iterator[tuple[bytes, bytes]]:
    """``member.inflate()`` of each member, in order; up to :data:`AHEAD` tar bytes inflated ahead
    in ``workers`` threads (zlib, zlib-ng and hashlib release the GIL for large buffers)."""
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        ahead: deque[tuple[int, Future[tuple[bytes, bytes]]]] = deque()
        pending = 0  # tar bytes submitted and not yet handed out
        for member in members:
            while ahead and pending + member.uncompressed > AHEAD:
                size, future = ahead.popleft()
                pending -= size
                yield future.result()
            ahead.append((member.uncompressed, pool.submit(member.inflate)))
            pending += member.uncompressed
        while ahead:
            yield ahead.popleft()[1].result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
