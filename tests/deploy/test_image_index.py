"""``--image-uri`` naming a multi-architecture index (what buildx pushes by default, with a
provenance attestation): resolved through ecr:BatchGetImage to the image for the function's
architecture, or refused in one line. Lambda itself refuses an index."""
from __future__ import annotations

import hashlib
import json
from typing import Any

import boto3
import pytest

from deploy_fixtures import push_test_image
from iaf_aws_plugin.deploy.pipeline import image_for_architecture
from iaf_aws_plugin.errors import PluginError

INDEX = "application/vnd.oci.image.index.v1+json"


def push_index(ecr: Any, repository: str, tag: str, children: dict[str, str]) -> str:
    """An OCI index of ``children`` (platform architecture -> digest) plus an attestation: its digest."""
    manifests = [{"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": digest,
                  "size": 100, "platform": {"os": "linux", "architecture": arch}} for arch, digest in children.items()]
    manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + "e" * 64,
                      "size": 100, "platform": {"os": "unknown", "architecture": "unknown"},
                      "annotations": {"vnd.docker.reference.type": "attestation-manifest"}})
    index = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests})
    digest = "sha256:" + hashlib.sha256(index.encode()).hexdigest()
    ecr.put_image(repositoryName=repository, imageManifest=index, imageManifestMediaType=INDEX, imageTag=tag,
                  imageDigest=digest)
    return digest


@pytest.mark.anyhost
def test_the_child_for_the_architecture_is_chosen_and_attestations_are_not_images():
    index = json.dumps({"manifests": [
        {"digest": "sha256:a", "platform": {"os": "linux", "architecture": "amd64"}},
        {"digest": "sha256:b", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {"digest": "sha256:c", "platform": {"os": "unknown", "architecture": "unknown"}}]})
    assert image_for_architecture(index, "x86_64") == ("sha256:a", ["linux/amd64", "linux/arm64/v8"])
    assert image_for_architecture(index, "arm64")[0] == "sha256:b"
    assert image_for_architecture("not json", "arm64") == (None, [])


@pytest.mark.anyhost  # an in-process deploy against moto: nothing of the host
def test_an_index_deploys_its_image_for_the_functions_architecture(bot_project, deploy_inprocess, unique_name):
    ecr = boto3.client("ecr")
    repository = f"idx-{unique_name}"
    uri, amd64 = push_test_image(ecr, repository, "amd64-only", b"amd64")
    index = push_index(ecr, repository, "multi", {"amd64": amd64})
    result, recorder = deploy_inprocess(bot_project, function_name=unique_name, image_uri=f"{uri}:multi")
    assert result.applied
    configured = boto3.client("lambda").get_function(FunctionName=unique_name)["Code"]["ImageUri"]
    assert configured.endswith(f"@{amd64}") and index not in configured
    assert any("multi-architecture index: deploying its linux/amd64 image" in line for line in recorder.lines)

    with pytest.raises(PluginError) as error:
        deploy_inprocess(bot_project, image_uri=f"{uri}:multi", architecture="arm64")
    message = str(error.value)
    assert "multi-architecture index with no linux/arm64 image (it has: linux/amd64)" in message
    assert "\n" not in message
