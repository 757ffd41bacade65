"""The dependency layer assembled from fragments split into gzip members of a bounded size: one
valid tar (Python's and the OS's gzip and tar read it), whose diff_id is the hash of the plain tar,
the same whichever way its fragments were split, cached or reused."""
from __future__ import annotations

import gzip
import hashlib
import io
import random
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from iaf_aws_plugin.builders.native import fragments
from iaf_aws_plugin.builders.native.blobs import BlobStore
from iaf_aws_plugin.builders.native.fragments import (END_OF_ARCHIVE, Fragment, assemble_layer, cached_fragment,
                                                      make_fragment, tar_entries)
from iaf_aws_plugin.errors import PluginError

pytestmark = pytest.mark.anyhost  # the result does not depend on the host version: CI runs it in one leg
TASK = "/var/task"


def tree(root: Path) -> dict[str, tuple[str, ...]]:
    """Three distributions: one far larger than a member, with data that compresses and data that
    does not, a small one, and one with a symlink and an empty file."""
    rng = random.Random(21)
    files = {
        "bigpkg": {"bigpkg/__init__.py": b"from . import core\n",
                   "bigpkg/core.py": b"".join(b"def f%d(x):\n    return x * %d\n" % (i, i) for i in range(40_000)),
                   "bigpkg/blob.bin": rng.randbytes(700_000),
                   "bigpkg-1.0.dist-info/RECORD": b"bigpkg/__init__.py,,\n"},
        "small": {"small.py": b"X = 1\n", "small-0.1.dist-info/METADATA": b"Name: small\n"},
        "linky": {"linky/__init__.py": b"", "linky/data/empty.txt": b""},
    }
    for names in files.values():
        for relative, data in names.items():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_bytes(data)
    (root / "linky" / "alias.py").symlink_to("__init__.py")
    return {name: (*sorted(names), *(("linky/alias.py",) if name == "linky" else ())) for name, names in files.items()}


def built(store: BlobStore, root: Path, lists: dict[str, tuple[str, ...]]) -> dict[str, Fragment]:
    return {name: make_fragment(store, f"key-{name}", name, "1.0", root, files, TASK, (0, 0, 0, 0))
            for name, files in lists.items()}


def plain_tar(root: Path, lists: dict[str, tuple[str, ...]], names: list[str]) -> bytes:
    """The layer's tar, written plainly in one piece: the task root's folders (``var``, ``var/task``),
    each distribution's entries, the end of archive."""
    head = b""
    for name in ("var", "var/task"):
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime, info.uname, info.gname = tarfile.DIRTYPE, 0o755, 0, "", ""
        head += info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    return head + b"".join(b"".join(tar_entries(root, lists[name], "var/task")) for name in names) + END_OF_ARCHIVE


@pytest.mark.parametrize("bound", [None, 100_003])  # the real bound; one that cuts through tar blocks and chunks
def test_a_layer_of_split_fragments_is_one_tar_whose_diff_id_hashes_the_plain_tar(tmp_path: Path, bound, monkeypatch):
    if bound:
        monkeypatch.setattr(fragments, "MEMBER_BOUND", bound)
    bound = bound or fragments.MEMBER_BOUND
    root = tmp_path / "target"
    lists = tree(root)
    if bound == fragments.MEMBER_BOUND:  # a distribution larger than the real bound, too
        (root / "bigpkg" / "large.bin").write_bytes(random.Random(3).randbytes(1000) * (bound // 900))
        lists["bigpkg"] = tuple(sorted((*lists["bigpkg"], "bigpkg/large.bin")))
    store = BlobStore(tmp_path / "cache")
    made = built(store, root, lists)
    big = made["bigpkg"]
    assert big.uncompressed > bound and len(big.members) == -(-big.uncompressed // bound) > 1
    assert all(u == bound for _, u in big.members[:-1]) and 0 < big.members[-1][1] <= bound
    assert cached_fragment(store, big.key) == big  # the members are in its record
    fragment_blob = store.path(big.digest).read_bytes()
    assert len(fragment_blob) == sum(c for c, _ in big.members) == big.size
    assert fragment_blob.count(b"\x1f\x8b\x08") >= len(big.members)  # a gzip header per member

    order = ["bigpkg", "linky", "small"]
    layer = assemble_layer(store, [made[n] for n in order], TASK)
    path = store.path(layer.digest)
    blob = path.read_bytes()
    assert "sha256:" + hashlib.sha256(blob).hexdigest() == layer.digest and len(blob) == layer.size
    raw = gzip.decompress(blob)  # Python's own reader, member after member
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == layer.diff_id and len(raw) == layer.uncompressed
    assert raw == plain_tar(root, lists, order)  # the same tar as written in one piece
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        names = tar.getnames()
        assert names[:2] == ["var", "var/task"] and "var/task/bigpkg/blob.bin" in names
        assert tar.getmember("var/task/linky/alias.py").linkname == "__init__.py"
        handle = tar.extractfile("var/task/bigpkg/core.py")
        assert handle is not None and handle.read() == (root / "bigpkg" / "core.py").read_bytes()
    with tarfile.open(path) as tar:  # tarfile's gzip reader straight from the blob
        assert tar.getnames() == names
    for tool, args in (("gzip", ["-t"]), ("tar", ["-tzf"])):
        if shutil.which(tool) is None:
            pytest.skip(f"no {tool} on this machine")
        result = subprocess.run([tool, *args, str(path)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        if tool == "tar":
            assert [line.rstrip("/") for line in result.stdout.splitlines()] == names


def test_fragments_reused_across_assemblies_give_the_same_layer(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(fragments, "MEMBER_BOUND", 65_536)
    root = tmp_path / "target"
    lists = tree(root)
    store = BlobStore(tmp_path / "cache")
    made = built(store, root, lists)
    everything = [made[n] for n in ("bigpkg", "linky", "small")]
    first = assemble_layer(store, everything, TASK)
    without = assemble_layer(store, [made["bigpkg"], made["small"]], TASK)  # one distribution less
    assert without.diff_id == "sha256:" + hashlib.sha256(plain_tar(root, lists, ["bigpkg", "small"])).hexdigest()
    # no record of the first layer: assembled again from the same cached fragments, with other thread counts
    for workers in (1, 3):
        shutil.rmtree(store.root / "fragment-layers")
        again = assemble_layer(store, everything, TASK, workers=workers)
        assert again == first
    assert first.diff_id == "sha256:" + hashlib.sha256(plain_tar(root, lists, ["bigpkg", "linky", "small"])).hexdigest()
    # fragments built again (another store, the same files) split alike: the same blobs, the same layer
    other = BlobStore(tmp_path / "other")
    rebuilt = built(other, root, lists)
    assert [rebuilt[n].digest for n in made] == [made[n].digest for n in made]
    assert assemble_layer(other, [rebuilt[n] for n in ("bigpkg", "linky", "small")], TASK) == first


def test_a_damaged_fragment_is_named_with_how_to_fix_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(fragments, "MEMBER_BOUND", 65_536)
    root = tmp_path / "target"
    store = BlobStore(tmp_path / "cache")
    made = built(store, root, tree(root))
    blob = store.path(made["bigpkg"].digest)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    with pytest.raises(PluginError, match="is damaged") as error:
        assemble_layer(store, list(made.values()), TASK)
    assert str(blob) in str(error.value) and "Delete" in error.value.fix
    blob.write_bytes(bytes(data[:-10]))
    with pytest.raises(PluginError, match="is damaged"):
        assemble_layer(store, list(made.values()), TASK)



def test_fragments_of_zlib_and_zlib_ng_mix_in_one_valid_layer(tmp_path: Path, monkeypatch) -> None:
    """A cache made with Python's zlib stays valid once zlib-ng is installed (and back): any reader
    inflates any member, so a layer of both is one tar, the same as written plainly."""
    pytest.importorskip("zlib_ng", reason="zlib-ng is not installed (IAF 8.x installs it; the [fast] extra does)")
    from iaf_aws_plugin.builders.native.deflate import ZLIB, best

    monkeypatch.setattr(fragments, "MEMBER_BOUND", 65_536)
    assert best().name == "zlib-ng"
    root = tmp_path / "target"
    lists = tree(root)
    store = BlobStore(tmp_path / "cache")
    old = make_fragment(store, "key-old", "bigpkg", "1.0", root, lists["bigpkg"], TASK, (0, 0, 0, 0), codec=ZLIB)
    new = make_fragment(store, "key-new", "bigpkg", "1.0", root, lists["bigpkg"], TASK, (0, 0, 0, 0))
    assert old.digest != new.digest and old.members != new.members  # other compressed bytes
    assert [u for _, u in old.members] == [u for _, u in new.members]  # the same tar, split alike
    small = make_fragment(store, "key-small", "small", "0.1", root, lists["small"], TASK, (0, 0, 0, 0), codec=ZLIB)
    for big in (old, new):
        layer = assemble_layer(store, [big, small], TASK)
        raw = gzip.decompress(store.path(layer.digest).read_bytes())
        assert raw == plain_tar(root, lists, ["bigpkg", "small"])
        assert layer.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
        if shutil.which("gzip"):
            result = subprocess.run(["gzip", "-t", str(store.path(layer.digest))], capture_output=True, timeout=60)
            assert result.returncode == 0, result.stderr
