"""Fixtures shared by the deploy and operate tests (a plugin of tests/conftest.py): a scaffolded bot
project, images pushed into moto's ECR, in-process deploys with the service-model contract check, and
private moto servers."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

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
    (project / ".env").write_text("BITVAVO_API_KEY=key-123-abc\nBITVAVO_SECRET_KEY='s3cr3t value'\n"
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

LEASE_OPERATIONS = ("PutObject", "DeleteObject")  # the deploy never writes other objects
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
        """The write calls, but the deploy lease's (a deploy with changes takes and releases it:
        tests/operate/test_deploy_lease.py checks those)."""
        return [op for op in self.operations if not op.startswith(READ_PREFIXES) and op not in LEASE_OPERATIONS]


# --- the service-model contract check ----------------------------------------------------------

class ContractViolation(AssertionError):
    """A request that breaks botocore's service model (moto would have accepted it; AWS would not)."""


@dataclass
class ServiceModelContract:
    """Checks every request, before it is built and sent, against botocore's service model:
    string patterns, min/max lengths, enums, numeric ranges, list sizes and required members.

    botocore itself checks types, required members and minimums only; moto checks little else.
    A violation raises :class:`ContractViolation` and the request is never sent. This is a
    check, not a stub: a valid request goes on to the emulator unchanged.
    """

    checked: list[str] = field(default_factory=list)
    Violation = ContractViolation

    def register(self, session: Any) -> Any:
        events = session.events if hasattr(session, "events") else session.get_component("event_emitter")
        events.register("before-parameter-build", self.before_parameter_build)
        return session

    def before_parameter_build(self, params: Any, model: Any, **_: Any) -> None:
        problems: list[str] = []
        if model.input_shape is not None:
            self._check(model.input_shape, params, model.name, problems)
        self.checked.append(f"{model.service_model.service_id}.{model.name}")
        if problems:
            raise ContractViolation(f"{model.service_model.service_id} {model.name}: " + "; ".join(problems))

    def _check(self, shape: Any, value: Any, where: str, problems: list[str]) -> None:
        import re

        meta = shape.metadata
        kind = shape.type_name
        if kind == "structure":
            if not isinstance(value, dict):
                return
            for name in meta.get("required", []):
                if name not in value:
                    problems.append(f"{where}.{name} is required")
            for name, member in shape.members.items():
                if name in value:
                    self._check(member, value[name], f"{where}.{name}", problems)
        elif kind == "list":
            self._length(meta, value, where, problems)
            for index, item in enumerate(value or []):
                self._check(shape.member, item, f"{where}[{index}]", problems)
        elif kind == "map":
            self._length(meta, value, where, problems)
            for key, item in (value or {}).items():
                self._check(shape.key, key, f"{where} key", problems)
                self._check(shape.value, item, f"{where}[{key!r}]", problems)
        elif kind == "string":
            text = str(value)
            self._length(meta, text, where, problems)
            if shape.enum and text not in shape.enum:
                problems.append(f"{where}={text!r} is not one of {shape.enum}")
            pattern = meta.get("pattern")
            if pattern:
                try:
                    compiled = re.compile(pattern, re.DOTALL)
                except re.error:  # a Java-only construct (\p{...}): not checkable here
                    return
                if not compiled.fullmatch(text):
                    problems.append(f"{where}={text!r} does not match {pattern!r}")
        elif kind in ("integer", "long"):
            if "min" in meta and value < meta["min"] or "max" in meta and value > meta["max"]:
                problems.append(f"{where}={value} is outside [{meta.get('min')}, {meta.get('max')}]")

    @staticmethod
    def _length(meta: dict, value: Any, where: str, problems: list[str]) -> None:
        size = len(value) if value is not None else 0
        if "min" in meta and size < meta["min"] or "max" in meta and size > meta["max"]:
            problems.append(f"{where} has length {size}, outside [{meta.get('min')}, {meta.get('max')}]")


def _run_deploy(project: Path, region: str, *, session: Any = None, contract: ServiceModelContract | None = None,
                **options: Any) -> tuple[Any, Recorder]:
    import boto3

    from iaf_aws_plugin.commands.deploy import installed_builders
    from iaf_aws_plugin.deploy.pipeline import deploy
    from iaf_aws_plugin.deploy.settings import DeployOptions

    recorder = Recorder()
    session = session or boto3.Session(region_name=region)
    # Every in-process deploy is checked against botocore's service models (issue 13).
    (contract or ServiceModelContract()).register(session)
    session.events.register("before-send", recorder.before_send)
    options.setdefault("yes", True)
    result = deploy(DeployOptions(project_dir=project, **options), echo=recorder.lines.append,
                    warn=recorder.warnings.append, confirm=None, session=session, sleep=lambda s: None,
                    builders=installed_builders())
    return result, recorder


@pytest.fixture
def contract() -> ServiceModelContract:
    """The service-model contract check of this test's in-process deploys (``contract.checked``)."""
    return ServiceModelContract()


@pytest.fixture
def deploy_inprocess(aws_env: dict[str, str], contract: ServiceModelContract) -> Callable[..., tuple[Any, Recorder]]:
    """``deploy_inprocess(project, region=..., **options)`` -> (DeployResult, Recorder), with the
    service-model contract check on every request."""

    def run(project: Path, region: str | None = None, **options: Any) -> tuple[Any, Recorder]:
        return _run_deploy(project, region or aws_env["AWS_REGION"], contract=contract, **options)

    return run


# --- a builder without Docker: pushes a small image through the ECR API ----------------------

@dataclass
class ApiBuilder:
    """An image builder for tests: pushes a fresh small image with the ECR API (no Docker) and
    reports its digest, or ``lie`` (a wrong digest) to test that the deploy checks ECR's."""

    session: Any
    name: str = "ecr-api"
    lie: bool = False
    builds: list[str] = field(default_factory=list)

    def check(self) -> None:
        return None

    def build(self, request: Any, credentials: Any, *, echo: Callable[[str], None] = print) -> Any:
        from iaf_aws_plugin.builders import BuiltImage

        ecr = self.session.client("ecr")
        repository = request.repository_uri.rsplit("/", 1)[1]
        payload = f"{request.tag}-{len(self.builds)}".encode()
        uri, digest = push_test_image(ecr, repository, request.tag, payload)
        self.builds.append(digest)
        echo(f"pushed {uri}:{request.tag}")
        reported = "sha256:" + "0" * 64 if self.lie else digest
        return BuiltImage(f"{request.repository_uri}@{reported}", reported)


@pytest.fixture
def api_builder(aws_env: dict[str, str]) -> Any:
    """Registers the ``ecr-api`` builder with the plugin manager for this test (then removes it)."""
    import boto3

    from iaf_aws_plugin.hookspecs import hookimpl
    from iaf_aws_plugin.plugin_manager import get_plugin_manager

    builder = ApiBuilder(boto3.Session(region_name=aws_env["AWS_REGION"]))

    class Plugin:
        @hookimpl
        def register_builders(self, register: Any) -> None:
            register("ecr-api", lambda: builder)

    pm = get_plugin_manager()
    plugin = Plugin()
    pm.register(plugin, name="test-ecr-api-builder")
    try:
        yield builder
    finally:
        pm.unregister(plugin)


# --- moto servers of our own (own process, own state) ----------------------------------------------

#: moto 5.2 numbers a new Lambda version len(versions) + 1, so after a version is deleted it
#: publishes a number that already exists (two "6"s); AWS never reuses a version number. The
#: server that runs pruning tests gets AWS's numbering: this wraps moto's own publish_version
#: (nothing of ours, nothing of boto3 or botocore) and is stated in the report.
_AWS_VERSION_NUMBERS = """
import moto.awslambda.models as models
_publish = models.LambdaStorage.publish_version
def publish_version(self, name_or_arn, description=''):
    function = self.get_function_by_name_or_arn_forbid_qualifier(name_or_arn)
    before = list(self._functions.get(function.function_name, {}).get('versions', []))
    fn = _publish(self, name_or_arn, description)
    if fn is None or any(fn is old for old in before):
        return fn
    highest = max([int(old.version) for old in before], default=0)
    if int(fn.version) != highest + 1:
        fn.set_version(highest + 1)
        self._arns[fn.function_arn] = fn
        for old in before:  # the entry the duplicate number overwrote
            self._arns[old.function_arn] = old
    return fn
models.LambdaStorage.publish_version = publish_version
"""


def private_moto_server(extra_env: dict[str, str] | None = None, preamble: str = "") -> Iterator[str]:
    """A moto server of its own (own process, own state, its own environment) on 127.0.0.1; yields its
    endpoint and stops it afterwards. ``preamble`` runs in the server's process before it starts."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_"))}
    env.update(MOTO_LAMBDA_STUB_ECR="false", **(extra_env or {}))
    code = preamble + f"\nfrom moto.server import main\nmain(['-H', '127.0.0.1', '-p', '{port}'])\n"
    process = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the private moto server did not start")
                time.sleep(0.1)
        yield endpoint
    finally:
        stop_process(process)


def stop_process(process: Any) -> None:
    """Stop a child process: SIGTERM, then SIGKILL if it is still there after 10 s."""
    import subprocess

    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def quota_moto() -> Any:
    """A private moto server whose process has ``MOTO_LAMBDA_CONCURRENCY_QUOTA=100``: a
    reservation that leaves fewer than 100 unreserved is refused with AWS's own message."""
    yield from private_moto_server({"MOTO_LAMBDA_CONCURRENCY_QUOTA": "100"})


@pytest.fixture(scope="session")
def versioned_moto() -> Any:
    """A private moto server that numbers Lambda versions as AWS does (see _AWS_VERSION_NUMBERS)."""
    yield from private_moto_server({}, _AWS_VERSION_NUMBERS)


@pytest.fixture
def versioned_env(aws_env: dict[str, str], versioned_moto: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``aws_env``, pointed at the private server with AWS's version numbering."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", versioned_moto)
    return {**aws_env, "AWS_ENDPOINT_URL": versioned_moto}


@pytest.fixture
def quota_env(aws_env: dict[str, str], quota_moto: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``aws_env``, pointed at the quota-limited private moto server instead of the shared one."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", quota_moto)
    return {**aws_env, "AWS_ENDPOINT_URL": quota_moto}
