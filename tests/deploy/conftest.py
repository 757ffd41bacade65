"""Fixtures of the deploy tests: a scaffolded bot project and images pushed into moto's ECR."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest


def _upload_blob(ecr: Any, repository: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    upload = ecr.initiate_layer_upload(repositoryName=repository)
    ecr.upload_layer_part(repositoryName=repository, uploadId=upload["uploadId"], partFirstByte=0,
                          partLastByte=len(data) - 1, layerPartBlob=data)
    done = ecr.complete_layer_upload(repositoryName=repository, uploadId=upload["uploadId"],
                                     layerDigests=[digest])
    assert done["layerDigest"] == digest, "moto computed another digest than ours"
    return digest


def push_test_image(ecr: Any, repository: str, tag: str, payload: bytes = b"bot") -> tuple[str, str]:
    """Push a small image manifest (config + one layer) through the ECR API: (repository URI, digest)."""
    try:
        uri = ecr.create_repository(repositoryName=repository)["repository"]["repositoryUri"]
    except ecr.exceptions.RepositoryAlreadyExistsException:
        uri = ecr.describe_repositories(repositoryNames=[repository])["repositories"][0]["repositoryUri"]
    config = json.dumps({"architecture": "amd64", "os": "linux", "payload": payload.decode()}).encode()
    layer = b"layer-" + payload
    config_digest = _upload_blob(ecr, repository, config)
    layer_digest = _upload_blob(ecr, repository, layer)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config),
                   "digest": config_digest},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(layer),
                    "digest": layer_digest}],
    })
    digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
    ecr.put_image(repositoryName=repository, imageManifest=manifest, imageTag=tag, imageDigest=digest)
    return uri, digest


SECRET_VALUES = ("key-123-abc", "s3cr3t value")


@pytest.fixture
def bot_project(tmp_path: Path) -> Path:
    """A project scaffolded by the plugin's own templates (what `init-aws-lambda` writes, without
    paying for a host CLI start-up), with a .env holding two secrets and one plain value."""
    from iaf_aws_plugin.scaffold import scaffold

    project = tmp_path / "bot"
    scaffold(project)
    (project / ".env").write_text("BITVAVO_API_KEY=key-123-abc\nBITVAVO_API_SECRET='s3cr3t value'\n"
                                  "# a comment\nexport LOG_LEVEL=INFO\n")
    return project


@pytest.fixture
def ecr_image(aws_env: dict[str, str], unique_name: str) -> Callable[..., str]:
    """``ecr_image(tag, region=None)`` pushes an image into moto's ECR and returns ``repo:tag``."""
    import boto3

    def push(tag: str = "v1", region: str | None = None) -> str:
        ecr = boto3.client("ecr", region_name=region or aws_env["AWS_REGION"])
        uri, _ = push_test_image(ecr, f"prebuilt-{unique_name}", tag, tag.encode())
        return f"{uri}:{tag}"

    return push


# --- in-process deploys, requests counted by botocore's before-send event -------------------

READ_PREFIXES = ("Get", "List", "Describe", "Head", "BatchGet", "BatchCheck", "Simulate")


@dataclass
class Recorder:
    operations: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def before_send(self, request: Any, event_name: str, **_: Any) -> None:
        # event_name: before-send.<service>.<Operation>
        self.operations.append(event_name.split(".", 2)[2])

    @property
    def writes(self) -> list[str]:
        return [op for op in self.operations if not op.startswith(READ_PREFIXES)]


def _run_deploy(project: Path, region: str, *, session: Any = None, **options: Any) -> tuple[Any, Recorder]:
    import boto3

    from iaf_aws_plugin.deploy.pipeline import deploy
    from iaf_aws_plugin.deploy.settings import DeployOptions

    recorder = Recorder()
    session = session or boto3.Session(region_name=region)
    session.events.register("before-send", recorder.before_send)
    options.setdefault("yes", True)
    result = deploy(DeployOptions(project_dir=project, **options), echo=recorder.lines.append,
                    warn=recorder.warnings.append, confirm=None, session=session, sleep=lambda s: None)
    return result, recorder


@pytest.fixture
def deploy_inprocess(aws_env: dict[str, str]) -> Callable[..., tuple[Any, Recorder]]:
    """``deploy_inprocess(project, region=..., **options)`` -> (DeployResult, Recorder)."""

    def run(project: Path, region: str | None = None, **options: Any) -> tuple[Any, Recorder]:
        return _run_deploy(project, region or aws_env["AWS_REGION"], **options)

    return run
