"""The native builder against tools nobody here wrote: a loopback docker-registry serves the
base image, moto's ECR takes the push, skopeo and umoci read the OCI layout."""
from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from iaf_aws_plugin.builders import BuildRequest
from iaf_aws_plugin.builders.native import NativeBuilder
from iaf_aws_plugin.builders.native.blobs import BlobStore
from iaf_aws_plugin.errors import PluginError

from .conftest import PY, make_base_layout, need, push_layout

pytestmark = pytest.mark.anyhost  # the result does not depend on the host version: CI runs it in one leg

ACCOUNT = "123456789012"
CPTAG = f"cpython-{PY.replace('.', '')}"


def repository_uri(name: str) -> str:
    return f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/{name}"


def prepare(project: Path, base: str, cache: Path | None = None, arch: str = "x86_64") -> tuple[NativeBuilder, Any]:
    builder = NativeBuilder(BlobStore(cache) if cache else None)
    lines: list[str] = []
    prepared = builder.prepare(BuildRequest(project, arch, repository_uri("x"), "t", base_image=base),
                               echo=lines.append)
    return builder, prepared


class ByteCounter:
    """Counts the bytes sent in UploadLayerPart requests (a botocore event hook: nothing patched)."""

    def __init__(self, ecr: Any) -> None:
        self.bytes = 0
        self.parts = 0
        ecr.meta.events.register("provide-client-params.ecr.UploadLayerPart", self)

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        self.bytes += len(params["layerPartBlob"])
        self.parts += 1


@pytest.fixture
def ecr(aws_env: dict[str, str], unique_name: str) -> tuple[Any, str]:
    import boto3

    client = boto3.client("ecr")
    client.create_repository(repositoryName=unique_name)
    return client, unique_name


def test_push_to_ecr_layers_available_manifest_identical(offline_pip, tiny_project, tiny_base, ecr):
    client, name = ecr
    builder, prepared = prepare(tiny_project, tiny_base)
    built, result = builder.push(prepared, repository_uri(name), "v1", ecr=client, echo=lambda _: None)
    manifest = prepared.image.manifest
    assert prepared.digest == "sha256:" + hashlib.sha256(manifest).hexdigest() == built.digest
    assert built.image_uri == f"{repository_uri(name)}@{prepared.digest}"
    parsed = json.loads(manifest)
    digests = [parsed["config"]["digest"], *(layer["digest"] for layer in parsed["layers"])]
    answer = client.batch_check_layer_availability(repositoryName=name, layerDigests=digests)
    assert [layer["layerAvailability"] for layer in answer["layers"]] == ["AVAILABLE"] * len(digests)
    assert not answer["failures"]
    got = client.batch_get_image(repositoryName=name, imageIds=[{"imageDigest": prepared.digest}],
                                 acceptedMediaTypes=[parsed["mediaType"]])["images"][0]
    assert got["imageManifest"].encode() == manifest
    assert got["imageId"]["imageDigest"] == prepared.digest
    tags = client.describe_images(repositoryName=name)["imageDetails"][0]["imageTags"]
    assert tags == ["v1"]
    assert result.uploaded_blobs == len(digests) and result.skipped_blobs == 0
    # Base layers came from the registry and went to ECR unchanged; Cmd is the handler.
    config = json.loads(prepared.image.config)
    assert config["config"]["Entrypoint"] == ["/lambda-entrypoint.sh"]
    assert config["config"]["Cmd"] == ["aws_function.lambda_handler"]
    assert "LAMBDA_TASK_ROOT=/var/task" in config["config"]["Env"]
    assert config["created"] == "1970-01-01T00:00:00Z" and config["architecture"] == "amd64"


def test_same_inputs_same_digests_even_from_an_empty_cache_and_nothing_uploaded_twice(
        offline_pip, tiny_project, tiny_base, ecr, tmp_path):
    client, name = ecr
    builder, first = prepare(tiny_project, tiny_base, tmp_path / "cache-a")
    _, again = prepare(tiny_project, tiny_base, tmp_path / "cache-a")
    _, cold = prepare(tiny_project, tiny_base, tmp_path / "cache-b")  # pip runs again, no cache
    assert first.digest == again.digest == cold.digest
    assert first.image.manifest == cold.image.manifest and first.image.config == cold.image.config
    assert not first.dependencies_cached and again.dependencies_cached and not cold.dependencies_cached
    counter = ByteCounter(client)
    _, pushed = builder.push(first, repository_uri(name), "v1", ecr=client, echo=lambda _: None)
    sent = counter.bytes
    assert sent == pushed.uploaded_bytes > 0
    _, repeat = builder.push(again, repository_uri(name), "v2", ecr=client, echo=lambda _: None)
    assert repeat.uploaded_bytes == 0 and repeat.uploaded_blobs == 0 and counter.bytes == sent


def test_changing_one_source_file_uploads_only_the_app_layer(offline_pip, tiny_project, tiny_base, ecr):
    client, name = ecr
    builder, first = prepare(tiny_project, tiny_base)
    builder.push(first, repository_uri(name), "v1", ecr=client, echo=lambda _: None)
    (tiny_project / "strategies" / "my_strategy.py").write_text("NAME = 'v2'\n")
    _, second = prepare(tiny_project, tiny_base)
    assert second.digest != first.digest
    changed = [(a.origin, b.origin) for a, b in zip(first.image.layers, second.image.layers) if a.digest != b.digest]
    assert changed == [("app", "app")]
    counter = ByteCounter(client)
    _, result = builder.push(second, repository_uri(name), "v2", ecr=client, echo=lambda _: None)
    app = next(layer for layer in second.image.layers if layer.origin == "app")
    assert counter.bytes == result.uploaded_bytes == app.size + len(second.image.config)
    assert result.uploaded_blobs == 2  # the app layer and the new config


def test_oci_output_is_read_by_skopeo_and_unpacked_by_umoci(offline_pip, tiny_project, tiny_base, tmp_path):
    need("skopeo", "umoci")
    builder, prepared = prepare(tiny_project, tiny_base)
    layout = tmp_path / "oci"
    builder.write_output(prepared, f"oci:{layout}", "v1", echo=lambda _: None)
    inspect = subprocess.run(["skopeo", "inspect", f"oci:{layout}:v1"], capture_output=True, text=True)
    assert inspect.returncode == 0, inspect.stderr
    assert json.loads(inspect.stdout)["Digest"] == prepared.digest
    config = subprocess.run(["skopeo", "inspect", "--config", f"oci:{layout}:v1"], capture_output=True, text=True)
    assert json.loads(config.stdout)["config"]["Cmd"] == ["aws_function.lambda_handler"]
    bundle = tmp_path / "bundle"
    unpack = subprocess.run(["umoci", "unpack", "--rootless", "--image", f"{layout}:v1", str(bundle)],
                            capture_output=True, text=True)
    assert unpack.returncode == 0, unpack.stderr  # umoci checks every layer against its diff_id
    root = bundle / "rootfs"
    task = root / "var" / "task"
    assert (root / "etc" / "os-release").read_text().startswith("ID=tiny")  # base layer
    assert (task / "tinydep" / "__init__.py").is_file() and (task / "tinyleaf.py").is_file()
    assert (task / "iaf_aws_plugin" / "__init__.py").read_text() == "STUB = True\n"  # the plugin wheel
    # Dependencies in LAMBDA_TASK_ROOT: our boto3 wins over the base image's /var/runtime one.
    assert (task / "boto3" / "__init__.py").read_text() == "VERSION = 'ours'\n"
    assert (task / "aws_function.py").is_file() and (task / "strategies" / "my_strategy.py").is_file()
    assert not (task / ".env").exists() and not (task / "data").exists()  # .dockerignore
    # Byte code for the target Python, valid without checking the (read-only) sources.
    pyc = task / "tinydep" / "__pycache__" / f"__init__.{CPTAG}.pyc"
    assert pyc.is_file() and int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b01  # hash-based, unchecked
    assert (task / "__pycache__" / f"aws_function.{CPTAG}.pyc").is_file()
    assert not [p for p in task.rglob("*.pyc") if CPTAG not in p.name]
    assert not list(task.glob("*.dist-info/direct_url.json"))
    # pip's console script points at no interpreter of this machine.
    assert (task / "bin" / "tinyleaf").read_text().splitlines()[0] == "#!/usr/bin/env python3"


def test_layer_tar_is_normalised(offline_pip, tiny_project, tiny_base):
    builder, prepared = prepare(tiny_project, tiny_base)
    app = next(layer for layer in prepared.image.layers if layer.origin == "app")
    with tarfile.open(builder.store.path(app.digest)) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names) and "var/task/aws_function.py" in names
    assert {(m.uid, m.gid, m.mtime, m.uname) for m in members} == {(0, 0, 0, "")}
    assert not any(".env" in n for n in names)


def test_platform_comes_from_the_index(offline_pip, tiny_project, tiny_base):
    _, arm = prepare(tiny_project, tiny_base, arch="arm64")
    _, amd = prepare(tiny_project, tiny_base)
    assert json.loads(arm.image.config)["architecture"] == "arm64"
    assert arm.image.layers[0].digest != amd.image.layers[0].digest


def test_a_moved_base_tag_is_followed(offline_pip, tiny_project, registry, tmp_path):
    reference = f"{registry}/moving/python:{PY}"
    push_layout(make_base_layout(tmp_path / "one", PY, marker="one"), PY, reference)
    _, first = prepare(tiny_project, reference)
    push_layout(make_base_layout(tmp_path / "two", PY, marker="two"), PY, reference)
    _, second = prepare(tiny_project, reference)
    assert first.image.layers[0].digest != second.image.layers[0].digest
    pinned = f"{registry}/moving/python@{first.image.base.manifest_digest}"
    _, again = prepare(tiny_project, pinned)
    assert again.image.layers[0].digest == first.image.layers[0].digest


def test_packages_without_a_wheel_are_named_in_one_error(offline_pip, tiny_project, tiny_base):
    (tiny_project / "requirements.txt").write_text("tinydep==1.0\nno-such-package==1.0\n")
    with pytest.raises(PluginError) as error:
        prepare(tiny_project, tiny_base)
    assert "no-such-package" in error.value.message and "\n" not in error.value.message


def test_a_base_image_that_does_not_exist_is_one_line(offline_pip, tiny_project, registry):
    with pytest.raises(PluginError, match=r"not found in 127\.0\.0\.1"):
        prepare(tiny_project, f"{registry}/nope/python:{PY}")


def test_report_names_size_packages_and_phases(offline_pip, tiny_project, tiny_base):
    _, prepared = prepare(tiny_project, tiny_base)
    text = "\n".join(prepared.report())
    assert prepared.digest in text and "MB compressed" in text
    assert "Largest packages" in text and "tinydep" in text
    assert "dependencies" in text and "app" in text and "Byte code: compiled" in text


def test_a_new_plugin_release_changes_only_its_own_small_layer(offline_pip, tiny_project, tiny_base, tmp_path,
                                                               monkeypatch):
    from .conftest import make_wheel

    _, first = prepare(tiny_project, tiny_base)
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv("IAF_AWS_PLUGIN_WHEEL", str(make_wheel(
        other, "iaf-aws-plugin", "0.1.0.dev1", {"iaf_aws_plugin/__init__.py": "STUB = 2\n"})))
    _, second = prepare(tiny_project, tiny_base)
    assert second.dependencies_cached  # same requirements: no pip run
    changed = [a.origin for a, b in zip(first.image.layers, second.image.layers) if a.digest != b.digest]
    assert changed == ["iaf-aws-plugin"]
