"""Local side of the state: safe relative paths, scanning the state folder, hashing files.

Pure functions on the file system; no S3 here.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
from dataclasses import dataclass

from .errors import StateError, UnsafePathError

logger = logging.getLogger("iaf_aws_plugin.state")

#: Temporary folders the handler creates inside the state folder while loading:
#: ``STAGING_PREFIX`` + 12 hex digits (``STAGING_NAME``); leftovers of a killed load are removed
#: by the next load.
STAGING_PREFIX = ".iaf-state-tmp-"
STAGING_NAME = re.compile(r"^\.iaf-state-tmp-[0-9a-f]{12}$")
#: Folder name reserved for the plugin's own S3 layout.
LAYOUT_DIR = ".iaf-state"
CHUNK = 1024 * 1024


def check_relpath(relpath: str, *, what: str = "key") -> str:
    """Return ``relpath`` if it names a place inside the state folder, else raise naming it.

    Every name a Linux file system allows is accepted (backslashes, colons, leading dashes,
    names that are not UTF-8, held as ``os.fsdecode`` strings); refused is only what could land
    outside the folder or is not a file name at all: empty, absolute, a NUL character, or an
    empty, ``.`` or ``..`` component.
    """
    problem = None
    if not relpath:
        problem = "is empty"
    elif "\x00" in relpath:
        problem = "contains a NUL character"
    elif relpath.startswith("/"):
        problem = "is absolute"
    elif any(part in ("", ".", "..") for part in relpath.split("/")):
        problem = "has an empty, '.' or '..' component"
    if problem:
        raise UnsafePathError(
            f"Refusing state {what} {relpath!r}: it {problem} and could land outside the state "
            f"folder; nothing was written. Fix: remove or rename that {what}.")
    return relpath


def join_local(root: str, relpath: str) -> str:
    """The path of a name found by :func:`scan_tree` (components of real directory entries,
    which cannot contain ``/``): no key check, so any local name can be hashed or removed."""
    return os.path.join(root, *relpath.split("/"))


def local_path(root: str, relpath: str) -> str:
    """The absolute path of ``relpath`` below ``root``, checked to stay inside ``root``."""
    check_relpath(relpath)
    path = os.path.join(root, *relpath.split("/"))
    if os.path.commonpath([root, os.path.abspath(path)]) != root:
        raise UnsafePathError(f"Refusing state key {relpath!r}: it resolves outside {root}; "
                              "nothing was written. Fix: remove or rename that key.")
    return path


@dataclass(frozen=True)
class Fingerprint:
    """What a file looked like when it was last hashed: unchanged fingerprint, unchanged content."""

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int

    @classmethod
    def of(cls, st: os.stat_result) -> "Fingerprint":
        return cls(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


@dataclass
class LocalTree:
    """A scan of the state folder: regular files, folders, and entries that are not ours to follow."""

    files: dict[str, Fingerprint]
    dirs: set[str]
    others: list[str]  # symlinks, sockets, ...: never followed, removed by a load


def remove_staging_leftovers(root: str) -> list[str]:
    """Remove staging folders that a killed load left in ``root``; returns their names."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return removed
    for entry in entries:
        if STAGING_NAME.match(entry.name) and entry.is_dir(follow_symlinks=False):
            remove_entry(entry.path)
            removed.append(entry.name)
    return removed


def scan_tree(root: str, *, follow_inner_file_links: bool = False) -> LocalTree:
    """Walk ``root`` without following symlinks out of it.

    With ``follow_inner_file_links`` (used by save), a symlink to a regular file that stays
    inside ``root`` counts as that file's content; any other symlink is reported in ``others``
    and skipped with a warning. Staging folders of an interrupted load are ignored.
    """
    files: dict[str, Fingerprint] = {}
    dirs: set[str] = set()
    others: list[str] = []
    real_root = os.path.realpath(root)
    stack = [("", root)]
    while stack:
        rel_dir, abs_dir = stack.pop()
        with os.scandir(abs_dir) as entries:
            for entry in entries:
                if not rel_dir and STAGING_NAME.match(entry.name) and entry.is_dir(follow_symlinks=False):
                    continue
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                try:
                    check_relpath(rel, what="file name")
                except UnsafePathError as exc:  # cannot happen for names a file system returns
                    logger.warning("Not saving %s", exc)
                    others.append(rel)
                    continue
                if entry.is_dir(follow_symlinks=False):
                    dirs.add(rel)
                    stack.append((rel, entry.path))
                elif entry.is_file(follow_symlinks=False):
                    files[rel] = Fingerprint.of(entry.stat(follow_symlinks=False))
                elif entry.is_symlink() and follow_inner_file_links:
                    target = os.path.realpath(entry.path)
                    inside = os.path.commonpath([real_root, target]) == real_root
                    if inside and os.path.isfile(target):
                        files[rel] = Fingerprint.of(os.stat(entry.path))
                    else:
                        logger.warning("Not saving symlink %s: it points outside the state folder "
                                       "or to a folder", rel)
                        others.append(rel)
                else:
                    others.append(rel)
    return LocalTree(files, dirs, others)


def hash_file(path: str) -> tuple[str, int, Fingerprint]:
    """sha256 and size of a file, and its fingerprint; re-read if it changed while hashing."""
    for _ in range(3):
        before = os.stat(path)
        digest = hashlib.sha256()
        size = 0
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        after = os.stat(path)
        if Fingerprint.of(before) == Fingerprint.of(after) and after.st_size == size:
            return digest.hexdigest(), size, Fingerprint.of(after)
    raise StateError(f"{path} keeps changing while the state is being saved; nothing was committed. Fix: stop "
                     "writing to the state folder after the run (the next save stores it).")


def remove_entry(path: str) -> None:
    """Remove a file, symlink or folder tree without following any symlink."""
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        with os.scandir(path) as entries:
            for entry in entries:
                remove_entry(entry.path)
        os.rmdir(path)
    else:
        os.unlink(path)
