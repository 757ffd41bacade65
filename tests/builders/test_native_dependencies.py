"""The dependency layer of the native builder, on a local wheel index (no internet): pip's exact
resolution, cached; each distribution built once; slimming and pruning; the layer as gzip members."""
from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from iaf_aws_plugin.builders.native.blobs import BlobStore
from iaf_aws_plugin.builders.native.dependencies import (Interpreter, build_dependency_layer, find_interpreter,
                                                         pip_command, platform_tags)

from .conftest import PY, make_wheel

pytestmark = pytest.mark.anyhost
TAG = f"cpython-{PY.replace('.', '')}"


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A wheel index of its own: a fake host (major 8) that declares a notebook stack, a package
    with tests, stubs and C sources, and leaves; pip sees nothing else."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    make_wheel(folder, "investing-algorithm-framework", "8.1.0", {"investing_algorithm_framework/__init__.py": "V = 8\n"},
               requires=("fatpkg>=1", "debugpy", "jupyter-core", "azure-mgmt-fake", "ccxt"))
    make_wheel(folder, "ccxt", "4.0", {"ccxt/__init__.py": "X = 1\n", "ccxt/async_support/__init__.py": "A = 1\n",
                                       "ccxt/pro/__init__.py": "P = 1\n", "ccxt/base/exchange.py": "E = 1\n"})
    make_wheel(folder, "azure-mgmt-fake", "1.0", {  # a multi-API client: its default and models' versions load
        "azure/mgmt/fake/__init__.py": "from ._client import Client\n",
        "azure/mgmt/fake/_client.py": "class Client:\n    DEFAULT_API_VERSION = '2024-01-01'\n"
                                      "    def ops(self, v):\n        if v == '2019-01-01':\n"
                                      "            from .v2019_01_01 import ops\n",
        "azure/mgmt/fake/models.py": "from .v2016_01_01.models import *\nfrom .v2024_01_01.models import *\n",
        **{f"azure/mgmt/fake/{v}/{m}.py": "X = 1\n" * 100 for v in ("v2016_01_01", "v2019_01_01", "v2024_01_01")
           for m in ("__init__", "models", "ops")}})
    make_wheel(folder, "fatpkg", "1.0", {
        "fatpkg/__init__.py": "from . import core\n", "fatpkg/core.py": "X = 1\n",
        "fatpkg/tests/__init__.py": "", "fatpkg/tests/test_core.py": "def test(): pass\n" * 50,
        "fatpkg/core.pyi": "X: int\n" * 20, "fatpkg/_speed.c": "int x;\n" * 100, "fatpkg/include/a.h": "#define A\n",
        "fatpkg/_speed.pxd": "cdef int x\n", "fatpkg.libs/libfoo.so": "not an ELF file\n",
        "fatpkg/data/test/dropped.txt": "data\n", "fatpkg/testing/__init__.py": "KEEP = 1\n"}, requires=("leafpkg",))
    for version in ("1.0", "2.0"):
        make_wheel(folder, "leafpkg", version, {"leafpkg.py": f"VERSION = {version!r}\n"})
    make_wheel(folder, "debugpy", "1.8", {"debugpy/__init__.py": "X = 1\n"})
    make_wheel(folder, "jupyter-core", "5.0", {"jupyter_core/__init__.py": "X = 1\n"})
    make_wheel(folder, "extra-pkg", "0.3", {"extra_pkg.py": "Y = 2\n"}, requires=("leafpkg<2",))
    make_wheel(folder, "other-pkg", "0.1", {"other_pkg.py": "Z = 3\n"})
    stub_dir = tmp_path / "stub"
    stub_dir.mkdir()
    stub = make_wheel(stub_dir, "iaf-aws-plugin", "0.1.0.dev0", {"iaf_aws_plugin/__init__.py": "STUB = True\n"})
    for name, value in {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(folder),
                        "IAF_AWS_PLUGIN_WHEEL": str(stub), "PIP_CACHE_DIR": str(tmp_path / "pip-cache"),
                        "UV_CACHE_DIR": str(tmp_path / "uv-cache")}.items():
        monkeypatch.setenv(name, value)
    return stub


def build(store: BlobStore, project: Path, wheel: Path, **options: Any) -> Any:
    interpreter = options.pop("interpreter", None) or find_interpreter(PY)
    return build_dependency_layer(store, project, wheel, python_version=PY, architecture="x86_64", glibc=(2, 34),
                                  task_root="/var/task", interpreter=interpreter, echo=lambda _: None, **options)


def members(store: BlobStore, digest: str) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(store.path(digest)) as tar:  # a multi-member gzip stream reads as one
        return {m.name: m for m in tar.getmembers()}


def project_with(tmp_path: Path, requirements: str) -> Path:
    project = tmp_path / "bot"
    project.mkdir(exist_ok=True)
    (project / "requirements.txt").write_text(requirements)
    return project


def test_the_resolution_is_the_one_pip_install_target_makes(index: Path, tmp_path: Path) -> None:
    """Same distributions and versions as ``pip install --target`` (the Dockerfile way, and this
    builder before it resolved separately), for the same platform tags."""
    project = project_with(tmp_path, "investing-algorithm-framework==8.1.0\nextra-pkg\n")
    layer = build(BlobStore(tmp_path / "cache"), project, index)
    target = tmp_path / "pip-target"
    command = [*pip_command(), "install", "--quiet", "--target", str(target), "--only-binary=:all:", "--no-compile",
               "--implementation", "cp", "--python-version", PY, "-r", str(project / "requirements.txt"), str(index)]
    for tag in platform_tags("x86_64", (2, 34)):
        command += ["--platform", tag]
    subprocess.run(command, check=True, capture_output=True)
    by_pip = sorted(p.name[:-len(".dist-info")].lower().replace("_", "-") for p in target.glob("*.dist-info"))
    by_pip.remove("iaf-aws-plugin-0.1.0.dev0")
    names = {m.split("/")[2] for m in members(BlobStore(tmp_path / "cache"), layer.layer.digest)
             if m.endswith(".dist-info") and m.count("/") == 2}
    assert sorted(n[:-len(".dist-info")].lower().replace("_", "-") for n in names) == by_pip
    assert "leafpkg-1.0" in by_pip  # extra-pkg's bound: the newest leaf (2.0) does not fit
    # On a glibc 2.34 base (Python 3.12+) uv resolved that, where the build machine has uv and tomllib.
    from iaf_aws_plugin.builders.native.uv_resolve import uv_resolver

    resolver = "uv" if uv_resolver(platform_tags("x86_64", (2, 34))) else "pip"
    assert f"resolve ({resolver})" in [name for name, _, _ in layer.phases]
    if sys.version_info >= (3, 11) and os.environ.get("IAF_CI_DIR"):
        assert resolver == "uv"  # .ci/run installs uv: the comparison above is uv's against pip's


def test_uv_resolves_for_the_glibc_it_knows_or_the_next_one_and_is_told_pip_s_own_settings(
        index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from iaf_aws_plugin.builders.native.pip_config import pip_settings
    from iaf_aws_plugin.builders.native.resolve import resolution_key
    from iaf_aws_plugin.builders.native.uv_binary import find_uv
    from iaf_aws_plugin.builders.native.uv_resolve import uv_index_options, uv_platform_for, uv_resolver, why_not_uv

    assert uv_platform_for(platform_tags("x86_64", (2, 34))) == "x86_64-manylinux_2_34"
    assert uv_platform_for(platform_tags("arm64", (2, 34))) == "aarch64-manylinux_2_34"
    # Lambda's Python <= 3.11 (glibc 2.26): the next glibc uv knows, every pin checked against 2.26
    assert uv_platform_for(platform_tags("x86_64", (2, 26))) == "x86_64-manylinux_2_28"
    assert uv_platform_for(platform_tags("x86_64", (2, 41))) is None
    tags = platform_tags("x86_64", (2, 34))
    if find_uv() is None or sys.version_info < (3, 11):
        pytest.skip("uv or tomllib missing: pip resolves everything")
    assert uv_resolver(tags) is not None and uv_resolver(platform_tags("x86_64", (2, 26))) is not None
    before = resolution_key(b"x", [], PY, tags)
    constraints = index.parent / "constraints.txt"
    constraints.write_text("leafpkg<2\n")
    monkeypatch.setenv("PIP_CONSTRAINT", str(constraints))  # told to uv as --constraint
    monkeypatch.setenv("PIP_TRUSTED_HOST", "mirror.example other.example")
    assert why_not_uv(tags) is None
    options = uv_index_options(pip_settings())
    assert options[:2] == ["--index-strategy", "unsafe-best-match"]  # pip compares every index's releases
    assert ["--constraint", str(constraints)] == options[options.index("--constraint"):][:2]
    assert options.count("--allow-insecure-host") == 2
    constrained = resolution_key(b"x", [], PY, tags)
    assert constrained != before  # pip's settings are part of the cache key
    constraints.write_text("leafpkg<1.5\n")
    assert resolution_key(b"x", [], PY, tags) != constrained  # and so is what a constraints file says
    monkeypatch.setenv("PIP_NO_BINARY", ":all:")  # uv cannot be told: pip resolves
    assert "no-binary" in str(why_not_uv(tags)) and uv_resolver(tags) is None
    monkeypatch.delenv("PIP_NO_BINARY")
    config = index.parent / "pip.conf"
    config.write_text("[global]\nno-index = false\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    monkeypatch.delenv("PIP_NO_INDEX")  # PyPI besides the find-links folder: pip merges the two, uv would not
    assert "several package indexes" in str(why_not_uv(tags)) and uv_resolver(tags) is None


def test_pip_settings_merge_files_sections_and_variables_as_pip_does(tmp_path: Path) -> None:
    from iaf_aws_plugin.builders.native.pip_config import pip_settings, values

    system = tmp_path / "xdg"
    (system / "pip").mkdir(parents=True)
    (system / "pip" / "pip.conf").write_text("[global]\nindex-url = https://system.example/simple\ntimeout = 5\n")
    home = tmp_path / "home"
    (home / ".config" / "pip").mkdir(parents=True)
    (home / ".config" / "pip" / "pip.conf").write_text(
        "[global]\nindex-url = https://user.example/simple\n[install]\nfind_links = /wheels-a\n  /wheels-b\n")
    environ = {"HOME": str(home), "XDG_CONFIG_DIRS": str(system), "PIP_PRE": "yes"}
    settings = pip_settings(environ)
    assert settings["index-url"] == "https://user.example/simple"  # the user's file over the system's
    assert values(settings, "find-links") == ["/wheels-a", "/wheels-b"]  # [install], a list split as pip splits
    assert settings["pre"] == "yes" and settings["timeout"] == "5"
    explicit = tmp_path / "explicit.conf"
    explicit.write_text("[install]\nindex-url = https://explicit.example/simple\n[global]\nindex-url = https://no\n")
    settings = pip_settings({**environ, "PIP_CONFIG_FILE": str(explicit)})
    assert settings["index-url"] == "https://explicit.example/simple"  # [install] over [global]
    assert "find-links" not in settings  # PIP_CONFIG_FILE set: the user's files are not read
    settings = pip_settings({**environ, "PIP_CONFIG_FILE": str(explicit), "PIP_INDEX_URL": "https://env.example"})
    assert settings["index-url"] == "https://env.example"  # variables over every file
    assert pip_settings({"HOME": str(home), "XDG_CONFIG_DIRS": str(system), "PIP_CONFIG_FILE": os.devnull}) \
        == {"config-file": os.devnull}  # no file at all


def test_below_a_glibc_uv_knows_each_release_without_a_wheel_for_the_target_is_capped_as_pip_would(
        index: Path, tmp_path: Path) -> None:
    """Lambda's Python <= 3.11 base runs glibc 2.26, which uv has no platform for: uv resolves for
    manylinux_2_28, and a release whose wheels all need a newer glibc (numpy 2.4, pyarrow 26) is capped
    at the newest one that has a wheel for 2.26, so the pins are pip's: same versions, same wheels."""
    from iaf_aws_plugin.builders.native.pip_run import pip_resolve_command
    from iaf_aws_plugin.builders.native.resolve import resolve
    from iaf_aws_plugin.builders.native.uv_resolve import uv_resolver

    folder = Path(os.environ["PIP_FIND_LINKS"])
    cp = f"cp{PY.replace('.', '')}"
    for version, platforms in (("3.0", ["manylinux_2_28_x86_64"]),
                               ("2.5", ["manylinux_2_27_x86_64.manylinux_2_28_x86_64"]),
                               ("2.0", ["manylinux2014_x86_64.manylinux_2_17_x86_64", "manylinux_2_28_x86_64"]),
                               ("1.5", ["manylinux_2_28_x86_64"]), ("1.0", ["manylinux_2_17_x86_64"])):
        for platform in platforms:
            make_wheel(folder, "nativepkg", version, {"nativepkg/__init__.py": f"V = {version!r}\n"},
                       tag=f"{cp}-{cp}-{platform}")
    make_wheel(folder, "usespkg", "1.0", {"usespkg.py": "U = 1\n"}, requires=("nativepkg<2",))
    tags = platform_tags("x86_64", (2, 26))
    for requirement, expected in (("nativepkg", "2.0"), ("usespkg", "1.0")):
        (tmp_path / requirement).mkdir()
        project = project_with(tmp_path / requirement, f"{requirement}\n")
        said: list[str] = []
        resolution = resolve(BlobStore(tmp_path / requirement / "cache"), project, index, python_version=PY,
                             architecture="x86_64", tags=tags, echo=said.append)
        report = tmp_path / requirement / "pip.json"
        subprocess.run(pip_resolve_command(pip_command(), report, tmp_path / "t", PY, tags,
                                           project / "requirements.txt", index), check=True, capture_output=True)
        by_pip = {p["metadata"]["name"]: (p["metadata"]["version"], p["download_info"]["url"].rsplit("/", 1)[-1])
                  for p in __import__("json").loads(report.read_text())["install"]}
        by_pip.pop("iaf-aws-plugin")
        assert {p.name: (p.version, p.url.rsplit("/", 1)[-1]) for p in resolution.pins} == by_pip
        assert by_pip["nativepkg"] == (expected, f"nativepkg-{expected}-{cp}-{cp}-manylinux"
                                       + ("2014_x86_64.manylinux_2_17_x86_64.whl" if expected == "2.0"
                                          else "_2_17_x86_64.whl"))
        if uv_resolver(tags) is not None:
            assert resolution.resolver == "uv"
            assert any(f"capped at nativepkg {expected}" in line for line in said), said
        elif sys.version_info >= (3, 11) and os.environ.get("IAF_CI_DIR"):
            pytest.fail("CI installs uv: uv resolves below the glibc it knows")


def test_an_unchanged_requirements_file_does_not_resolve_and_an_addition_builds_only_what_it_adds(
        index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = BlobStore(tmp_path / "cache")
    project = project_with(tmp_path, "investing-algorithm-framework==8.1.0\n")
    first = build(store, project, index)
    assert not first.cached and set(first.built) == {"investing-algorithm-framework", "fatpkg", "leafpkg",
                                                     "debugpy", "jupyter-core", "azure-mgmt-fake", "ccxt"}
    path, executable = os.environ["PATH"], sys.executable
    monkeypatch.setenv("PATH", "")  # no pip (nor uv) could run now: everything must come from the cache
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    again = build(store, project, index, interpreter=Interpreter("/nonexistent/python", PY, "test"))
    assert again.cached and again.built == () and again.layer == first.layer
    assert [name for name, _, _ in again.phases] == ["resolve (cached)", "assemble layer"]
    monkeypatch.setenv("PATH", path)
    monkeypatch.setattr(sys, "executable", executable)
    (project / "requirements.txt").write_text("investing-algorithm-framework==8.1.0\nother-pkg\n")
    added = build(store, project, index)
    assert added.built == ("other-pkg",)  # every other distribution: installed and compiled before
    names = members(store, added.layer.digest)
    assert "var/task/other_pkg.py" in names and f"var/task/__pycache__/other_pkg.{TAG}.pyc" in names
    assert f"var/task/fatpkg/__pycache__/core.{TAG}.pyc" in names
    # The same set resolved from scratch (another cache) gives the same layer, byte for byte.
    fresh = build(BlobStore(tmp_path / "fresh"), project, index)
    assert fresh.layer == added.layer


def test_a_cold_build_in_two_batches_gives_the_layer_of_one(index: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The pure-Python wheels are installed and compiled first, the wheels with compiled code install
    meanwhile: the layer is the same, byte for byte, as when everything is installed at once."""
    from iaf_aws_plugin.builders.native import install

    make_wheel(tmp_path / "wheels", "nativeleaf", "1.0", {"nativeleaf/__init__.py": "N = 1\n",
                                                          "nativeleaf/_core.so": b"\x7fELF not really\n"},
               tag="py3-none-manylinux_2_17_x86_64")
    project = project_with(tmp_path, "investing-algorithm-framework==8.1.0\nnativeleaf\n")
    assert install.BATCH_MINIMUM > 8  # the real threshold: these 8 distributions install at once
    at_once = build(BlobStore(tmp_path / "one"), project, index)
    assert not any("batches" in name for name, _, _ in at_once.phases)
    monkeypatch.setattr(install, "BATCH_MINIMUM", 2)
    batched = build(BlobStore(tmp_path / "two"), project, index)
    assert any("2 batches" in name for name, _, _ in batched.phases)
    assert batched.layer == at_once.layer and set(batched.built) == set(at_once.built)
    names = members(BlobStore(tmp_path / "two"), batched.layer.digest)
    assert "var/task/nativeleaf/_core.so" in names and f"var/task/nativeleaf/__pycache__/__init__.{TAG}.pyc" in names
    assert f"var/task/fatpkg/__pycache__/core.{TAG}.pyc" in names
    stems = ("a-1.0-py3-none-any", "b-2-cp312-cp312-manylinux_2_17_x86_64", "c-1-py2.py3-none-any")
    batches = install.install_batches([_pin(s) for s in stems])
    assert [[p.name for p in batch] for batch in batches] == [["a", "c"], ["b"]]


def _pin(stem: str) -> Any:
    from iaf_aws_plugin.builders.native.pins import Pin

    return Pin(stem.split("-")[0], stem.split("-")[1], f"https://files.example/{stem}.whl?x=1", "")


def test_slim_drops_tests_stubs_and_c_sources_and_no_slim_keeps_them(index: Path, tmp_path: Path) -> None:
    project = project_with(tmp_path, "fatpkg\n")
    store = BlobStore(tmp_path / "cache")
    slim = build(store, project, index)
    full = build(store, project, index, slim=False)
    kept = members(store, slim.layer.digest)
    everything = members(store, full.layer.digest)
    dropped = {"var/task/fatpkg/tests/test_core.py", "var/task/fatpkg/core.pyi", "var/task/fatpkg/_speed.c",
               "var/task/fatpkg/include/a.h", "var/task/fatpkg/_speed.pxd"}
    assert dropped <= set(everything) and not dropped & set(kept)
    assert not [n for n in kept if "/tests/" in n]
    assert "var/task/fatpkg/data/test/dropped.txt" in everything and "var/task/fatpkg/data/test/dropped.txt" not in kept
    assert "var/task/fatpkg/testing/__init__.py" in kept  # only folders named tests/ or test/
    assert "var/task/fatpkg.libs/libfoo.so" in kept and "var/task/fatpkg/core.py" in kept
    tests, sources, _, files = slim.removed
    assert files == 7 and tests == len("def test(): pass\n" * 50) + len("data\n") and sources > 0
    assert full.removed == (0, 0, 0, 0) and not full.slim
    # RECORD names exactly the files that are there.
    record = next(n for n in kept if n.endswith("fatpkg-1.0.dist-info/RECORD"))
    with tarfile.open(store.path(slim.layer.digest)) as tar:
        extracted = tar.extractfile(record)
        assert extracted is not None
        listed = {line.split(",")[0] for line in extracted.read().decode().splitlines()}
    assert {f"var/task/{name}" for name in listed} == {n for n in kept if kept[n].isfile() and "fatpkg" in n}


def test_prune_unused_leaves_out_the_listed_packages_of_that_host_major(index: Path, tmp_path: Path) -> None:
    project = project_with(tmp_path, "investing-algorithm-framework==8.1.0\n")
    store = BlobStore(tmp_path / "cache")
    pruned = build(store, project, index, prune_unused=True)
    assert pruned.pruned == ("debugpy", "jupyter-core") and "8.x" in pruned.pruned_note
    names = members(store, pruned.layer.digest)
    assert "var/task/fatpkg/__init__.py" in names and not [n for n in names if "debugpy" in n or "jupyter" in n]
    # azure-mgmt-*: kept (the framework's create_app imports it) without the API versions it never loads.
    versions = {n.split("/")[5] for n in names if n.startswith("var/task/azure/mgmt/fake/v")}
    assert versions == {"v2016_01_01", "v2024_01_01"} and "azure-mgmt-fake" in pruned.trimmed_note
    # ccxt: kept (the framework imports it) without its asyncio and websocket copies (UNUSED_PATHS).
    assert "var/task/ccxt/base/exchange.py" in names and not [n for n in names if "/async_support" in n or
                                                                "/ccxt/pro" in n]
    plain = build(store, project, index)
    everything = members(store, plain.layer.digest)
    assert "var/task/ccxt/async_support/__init__.py" in everything and "var/task/ccxt/pro/__init__.py" in everything
    assert plain.pruned == () and "var/task/debugpy/__init__.py" in everything
    assert "var/task/azure/mgmt/fake/v2019_01_01/ops.py" in everything and not plain.trimmed_note
    # Slim keeps what --prune-unused leaves out importable, but compiles no byte code for it: the API versions,
    # the listed distributions, the listed paths. Next to them, the rest is compiled; --no-slim compiles all.
    cached = f"var/task/azure/mgmt/fake/{{}}/__pycache__/ops.{TAG}.pyc"
    uncompiled = {cached.format("v2019_01_01"), f"var/task/debugpy/__pycache__/__init__.{TAG}.pyc",
                  f"var/task/ccxt/async_support/__pycache__/__init__.{TAG}.pyc",
                  f"var/task/ccxt/pro/__pycache__/__init__.{TAG}.pyc"}
    compiled = {cached.format("v2024_01_01"), f"var/task/ccxt/base/__pycache__/exchange.{TAG}.pyc",
                f"var/task/fatpkg/__pycache__/__init__.{TAG}.pyc"}
    assert compiled <= set(everything) and not uncompiled & set(everything)
    assert "never imports" in plain.uncompiled_note and "in 4 distributions" in plain.uncompiled_note
    full = members(store, build(store, project, index, slim=False).layer.digest)
    assert uncompiled | compiled <= set(full)


def test_prune_unused_prunes_nothing_for_a_host_major_it_has_no_list_for(tmp_path: Path, monkeypatch) -> None:
    from iaf_aws_plugin.builders.native.slim import pruned

    assert pruned(["debugpy", "azure-mgmt-web", "numpy", "ipython", "azure-storage-blob"], 8) == \
        ["debugpy"]  # IPython, azure-storage-blob, azure-mgmt-* are imported by the framework 8.x
    assert pruned(["debugpy", "azure-mgmt-web"], 9) == [] and pruned(["debugpy"], 42) == []
    assert pruned(["debugpy"], None) == []


def test_the_layer_is_gzip_members_of_one_tar_whose_diff_id_is_its_uncompressed_hash(index: Path,
                                                                                      tmp_path: Path) -> None:
    project = project_with(tmp_path, "fatpkg\nother-pkg\n")
    store = BlobStore(tmp_path / "cache")
    layer = build(store, project, index).layer
    blob = store.path(layer.digest).read_bytes()
    assert "sha256:" + hashlib.sha256(blob).hexdigest() == layer.digest and len(blob) == layer.size
    raw = gzip.decompress(blob)
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == layer.diff_id and len(raw) == layer.uncompressed
    assert raw.endswith(b"\0" * 1024)
    names = list(members(store, layer.digest))
    assert names[:2] == ["var", "var/task"]
    infos = members(store, layer.digest).values()
    assert {(m.uid, m.gid, m.mtime, m.uname) for m in infos} == {(0, 0, 0, "")}
    pyc = [m for m in infos if m.name.endswith(f"core.{TAG}.pyc")]
    with tarfile.open(store.path(layer.digest)) as tar:
        handle = tar.extractfile(pyc[0])
        assert handle is not None
        assert int.from_bytes(handle.read()[4:8], "little") == 0b01  # unchecked hash: valid with mtime 0


def test_uv_hardlinks_from_its_cache_and_the_build_never_writes_into_a_cached_file(index: Path,
                                                                                   tmp_path: Path) -> None:
    """The build rewrites RECORD, scripts and shared objects: as new files, never through uv's links."""
    import zipfile

    from iaf_aws_plugin.builders.native.uv_binary import find_uv

    if find_uv() is None:
        pytest.skip("uv is not installed (.ci/run installs it)")
    import importlib.util

    # a real shared object: strip rewrites it, and GNU strip writes through hard links
    specs = [importlib.util.find_spec(name) for name in ("_json", "_csv", "_struct", "math", "select")]
    shared = [s.origin for s in specs if s is not None and s.origin and s.origin.endswith(".so")]
    if not shared:
        pytest.skip("no shared object in this Python's lib-dynload")
    make_wheel(tmp_path / "wheels", "elfpkg", "1.0", {"elfpkg/__init__.py": "",
                                                        "elfpkg/_native.so": Path(shared[0]).read_bytes()})
    project = project_with(tmp_path, "fatpkg\nextra-pkg\nelfpkg\n")
    built = build(BlobStore(tmp_path / "cache"), project, index)
    assert built.installer == "uv" and built.removed[2] > 0  # the shared object was stripped
    wheels = {"-".join(p.name.split("-")[:2]): p for p in (tmp_path / "wheels").glob("*.whl")}
    checked = 0
    for record in (tmp_path / "uv-cache").rglob("*.dist-info/RECORD"):
        root = record.parent.parent
        name = record.parent.name[:-len(".dist-info")]
        if name not in wheels:
            continue  # the plugin's stub wheel, resolved from elsewhere
        with zipfile.ZipFile(wheels[name]) as archive:
            for member in archive.namelist():
                assert (root / member).read_bytes() == archive.read(member), member
                checked += 1
    assert checked >= 10  # fatpkg's and extra-pkg's files, the RECORDs included


def test_the_layer_is_the_same_whether_uv_or_pip_installs_and_a_failing_uv_falls_back_to_pip(
        index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from iaf_aws_plugin.builders.native.uv_binary import find_uv

    if find_uv() is None:
        pytest.skip("uv is not installed (.ci/run installs it)")
    project = project_with(tmp_path, "fatpkg\nextra-pkg\n")
    by_uv = build(BlobStore(tmp_path / "uv"), project, index)
    monkeypatch.setenv("IAF_AWS_NO_UV", "1")
    by_pip = build(BlobStore(tmp_path / "pip"), project, index)
    monkeypatch.delenv("IAF_AWS_NO_UV")
    broken = tmp_path / "broken-bin"
    broken.mkdir()
    (broken / "uv").write_text("#!/bin/sh\necho 'error: unexpected argument' >&2\nexit 2\n")
    (broken / "uv").chmod(0o755)
    monkeypatch.setenv("PATH", f"{broken}{os.pathsep}{os.environ['PATH']}")
    fallback = build(BlobStore(tmp_path / "fallback"), project, index)
    assert (by_uv.installer, by_pip.installer, fallback.installer) == ("uv", "pip", "pip")
    assert by_uv.layer == by_pip.layer == fallback.layer


def test_of_the_wheels_uv_lists_the_one_pip_would_install_is_chosen() -> None:
    """uv's pylock lists every wheel of a version that installs on the platform; pip takes the one
    whose best tag comes first in its order (checked against pip on IAF 8.10's 155 distributions)."""
    from iaf_aws_plugin.builders.native.uv_resolve import best_wheel, wheel_rank

    tags = platform_tags("x86_64", (2, 34))
    names = ["cryptography-50.0.2-cp311-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
             "cryptography-50.0.2-cp311-abi3-manylinux_2_28_x86_64.whl",
             "cryptography-50.0.2-cp311-abi3-manylinux_2_34_x86_64.whl",
             "cryptography-50.0.2-cp39-abi3-manylinux_2_34_x86_64.whl"]
    wheels = [{"url": f"https://files.example/{n}"} for n in names]
    assert best_wheel(wheels, "3.12", tags) == wheels[2]
    pure = {"url": "https://files.example/aiohttp-3.14.5-py3-none-any.whl"}
    native = {"url": "https://files.example/aiohttp-3.14.5-cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64."
                     "manylinux_2_28_x86_64.whl"}
    assert best_wheel([pure, native], "3.12", tags) == native
    assert wheel_rank("numpy-2.5-cp312-cp312-manylinux_2_39_x86_64.whl", "3.12", tags) is None  # newer glibc
    assert wheel_rank("numpy-2.5-cp311-cp311-manylinux_2_28_x86_64.whl", "3.12", tags) is None  # another Python
    assert best_wheel([pure], "3.12", tags) == pure


def use_resolver(resolver: str, tags: list[str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make ``resolver`` ("uv" or "pip") resolve (skip when uv cannot); the test index's folder."""
    from iaf_aws_plugin.builders.native.uv_resolve import uv_resolver

    if resolver == "pip":
        monkeypatch.setenv("IAF_AWS_NO_UV", "1")
    elif uv_resolver(tags) is None:
        pytest.skip("uv or tomllib missing: pip resolves everything")
    return Path(os.environ["PIP_FIND_LINKS"])


@pytest.mark.parametrize("resolver", ["uv", "pip"])
def test_python_version_markers_are_evaluated_for_the_target_python_not_the_one_deploying(
        index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, resolver: str) -> None:
    """A dependency behind ``python_version < "3.12"`` is installed for a 3.11 base even when the
    deploy runs on 3.12: pip's ``--python-version`` alone evaluates markers for the running Python,
    so pip runs under a Python of the target's version; uv is told the version."""
    from iaf_aws_plugin.builders.native.resolve import resolve

    target = next((v for v in ("3.11", "3.12", "3.10") if v != PY and find_interpreter(v).path), None)
    if target is None:
        pytest.skip("no CPython of another minor version on this machine")
    tags = platform_tags("x86_64", (2, 34))
    folder = use_resolver(resolver, tags, monkeypatch)
    make_wheel(folder, "markerpkg", "1.0", {"markerpkg.py": ""},
               requires=(f'onlyold; python_version < "{target}"', f'onlytarget; python_version == "{target}"'))
    make_wheel(folder, "onlyold", "1.0", {"onlyold.py": ""})
    make_wheel(folder, "onlytarget", "1.0", {"onlytarget.py": ""})
    project = project_with(tmp_path, "markerpkg\n")
    resolution = resolve(BlobStore(tmp_path / "cache"), project, index, python_version=target, architecture="x86_64",
                         tags=tags, echo=lambda _: None, python=find_interpreter(target).path)
    assert resolution.resolver == resolver
    assert [p.name for p in resolution.pins] == ["markerpkg", "onlytarget"]


@pytest.mark.parametrize("resolver", ["uv", "pip"])
def test_platform_markers_are_evaluated_for_lambda_s_linux_and_machine_not_the_one_deploying(
        index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, resolver: str) -> None:
    """Deploying to arm64 from an x86_64 machine (or from macOS or Windows): a dependency behind
    ``platform_machine == "aarch64"`` or ``sys_platform == "linux"`` is installed, one behind
    ``platform_machine == "x86_64"`` or ``sys_platform == "win32"`` is not. pip evaluates markers for
    the machine it runs on whatever ``--platform`` says, so it is told Lambda's; uv is told the platform."""
    from iaf_aws_plugin.builders.native.resolve import resolve

    tags = platform_tags("arm64", (2, 34))
    folder = use_resolver(resolver, tags, monkeypatch)
    make_wheel(folder, "markerpkg", "1.0", {"markerpkg.py": ""},
               requires=('onarm; platform_machine == "aarch64"', 'onintel; platform_machine == "x86_64"',
                         'onlinux; sys_platform == "linux" and platform_system == "Linux"',
                         'onwindows; sys_platform == "win32"'))
    for name in ("onarm", "onintel", "onlinux", "onwindows"):
        make_wheel(folder, name, "1.0", {f"{name}.py": ""})
    project = project_with(tmp_path, "markerpkg\n")
    resolution = resolve(BlobStore(tmp_path / "cache"), project, index, python_version=PY, architecture="arm64",
                         tags=tags, echo=lambda _: None, python=find_interpreter(PY).path)
    assert resolution.resolver == resolver
    assert [p.name for p in resolution.pins] == ["markerpkg", "onarm", "onlinux"]
