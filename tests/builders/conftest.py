"""Fixtures of the builder tests: a loopback ``docker-registry`` (Debian's reference registry)
serving a tiny base image made here, a local wheel index (no internet), a stub plugin wheel."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, Iterator

import pytest

PY = f"{sys.version_info[0]}.{sys.version_info[1]}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (.ci/run installs them)")


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``127.0.0.1:PORT`` of a docker-registry with its own config (loopback only, no auth)."""
    need("docker-registry")
    root = tmp_path_factory.mktemp("registry")
    port = _free_port()
    config = root / "config.yml"
    config.write_text(f"""version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root / 'data'}
http:
  addr: 127.0.0.1:{port}
""")
    process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("docker-registry did not start")
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _blob(layout: Path, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _layer(files: dict[str, bytes], *, executable: tuple[str, ...] = ()) -> tuple[bytes, str]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for folder in ("var", "var/task", "var/runtime", "etc"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755 if name in executable else 0o644
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), "sha256:" + hashlib.sha256(tar_bytes).hexdigest()


def make_base_layout(layout: Path, tag: str, marker: str = "base") -> Path:
    """An OCI layout with an index of a linux/amd64 and a linux/arm64 image, laid out like
    Lambda's Python image (no Python in it: the fast tests never run it)."""
    manifests = []
    for arch in ("amd64", "arm64"):
        layer, diff_id = _layer({"etc/os-release": f"ID=tiny\nARCH={arch}\nMARK={marker}\n".encode(),
                                 "lambda-entrypoint.sh": b"#!/bin/sh\nexec python3 -m awslambdaric \"$@\"\n",
                                 "var/runtime/boto3.py": b"VERSION = 'old'\n"},
                                executable=("lambda-entrypoint.sh",))
        layer_ref = _blob(layout, layer)
        config = json.dumps({
            "architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/usr/bin:/bin", "LAMBDA_TASK_ROOT=/var/task", "LAMBDA_RUNTIME_DIR=/var/runtime"],
                       "Entrypoint": ["/lambda-entrypoint.sh"], "WorkingDir": "/var/task"},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "tiny base"}]}).encode()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **_blob(layout, config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer_ref}]}).encode()
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", **_blob(layout, manifest),
                          "platform": {"os": "linux", "architecture": arch}})
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": manifests}).encode()
    index_ref = _blob(layout, index)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", **index_ref,
         "annotations": {"org.opencontainers.image.ref.name": tag}}]}))
    return layout


def push_layout(layout: Path, tag: str, destination: str, *, all_images: bool = True) -> None:
    need("skopeo")
    command = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false"]
    if all_images:
        command.append("--all")
    result = subprocess.run([*command, f"oci:{layout}:{tag}", f"docker://{destination}"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="session")
def tiny_base(registry: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``127.0.0.1:PORT/lambda/python:<this Python>``: a tiny multi-arch base image."""
    layout = make_base_layout(tmp_path_factory.mktemp("base-layout"), PY)
    reference = f"{registry}/lambda/python:{PY}"
    push_layout(layout, PY, reference)
    return reference


def make_wheel(folder: Path, name: str, version: str, files: "dict[str, str | bytes]",
               requires: tuple[str, ...] = (), tag: str = "py3-none-any") -> Path:
    """A wheel (pure Python unless ``tag`` names a platform; no internet needed to install it)."""
    dist = f"{name.replace('-', '_')}-{version}"
    path = folder / f"{dist}-{tag}.whl"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + \
        "".join(f"Requires-Dist: {r}\n" for r in requires)
    entries = {**files, f"{dist}.dist-info/METADATA": metadata,
               f"{dist}.dist-info/WHEEL": f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: "
                                            f"{str(tag.endswith('-any')).lower()}\nTag: {tag}\n"}
    record = "".join(f"{n},,\n" for n in entries) + f"{dist}.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as archive:
        for n, text in {**entries, f"{dist}.dist-info/RECORD": record}.items():
            archive.writestr(zipfile.ZipInfo(n, date_time=(1980, 1, 1, 0, 0, 0)), text)
    return path


@pytest.fixture(scope="session")
def wheel_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheels")
    make_wheel(folder, "tinydep", "1.0", {"tinydep/__init__.py": "VALUE = 1\n"}, requires=("tinyleaf>=1",))
    make_wheel(folder, "tinyleaf", "1.2", {"tinyleaf.py": "LEAF = True\ndef main():\n    pass\n",
                                           "tinyleaf-1.2.dist-info/entry_points.txt":
                                               "[console_scripts]\ntinyleaf = tinyleaf:main\n"})
    make_wheel(folder, "boto3", "99.0", {"boto3/__init__.py": "VERSION = 'ours'\n"})
    return folder


@pytest.fixture
def offline_pip(wheel_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """pip sees only the local wheels; the plugin wheel is a stub without dependencies (the real
    one pulls the whole IAF requirement set: that is the acceptance test's job)."""
    stub_dir = tmp_path / "stub"
    stub_dir.mkdir()
    stub = make_wheel(stub_dir, "iaf-aws-plugin", "0.1.0.dev0", {"iaf_aws_plugin/__init__.py": "STUB = True\n"})
    env = {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheel_index),
           "IAF_AWS_PLUGIN_WHEEL": str(stub), "IAF_AWS_CACHE_DIR": str(tmp_path / "cache"),
           "PIP_CACHE_DIR": str(tmp_path / "pip-cache")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def tiny_project(tmp_path: Path) -> Path:
    project = tmp_path / "bot"
    (project / "strategies").mkdir(parents=True)
    (project / "aws_function.py").write_text("import tinydep\n\ndef lambda_handler(event, context):\n"
                                             "    return {'statusCode': 200}\n")
    (project / "strategies" / "my_strategy.py").write_text("NAME = 'v1'\n")
    (project / "requirements.txt").write_text("tinydep==1.0\nboto3\n")
    (project / ".env").write_text("BITVAVO_API_KEY=secret-in-env\n")
    (project / ".dockerignore").write_text(".env\ndata/\n**/__pycache__/\n")
    (project / "data").mkdir()
    (project / "data" / "big.csv").write_text("x\n" * 100)
    (project / "Dockerfile").write_text(
        f"FROM public.ecr.aws/lambda/python:{PY}\nCOPY requirements.txt ${{LAMBDA_TASK_ROOT}}/\n"
        "RUN pip install -r ${LAMBDA_TASK_ROOT}/requirements.txt\nCOPY . ${LAMBDA_TASK_ROOT}/\n"
        'CMD ["aws_function.lambda_handler"]\n')
    return project
