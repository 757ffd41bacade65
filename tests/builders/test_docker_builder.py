"""The docker builder: its checks with the real Docker client, its commands with a fake one."""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from iaf_aws_plugin.builders import Builder, BuildRequest, BuiltImage, RegistryCredentials
from iaf_aws_plugin.builders.docker import DockerBuilder
from iaf_aws_plugin.errors import PluginError

pytestmark = pytest.mark.anyhost  # the result does not depend on the host version: CI runs it in one leg

REPOSITORY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/my-bot"
PASSWORD = "eyJwYXlsb2FkIjoiU0VDUkVULVRPS0VOLTEyMyJ9"  # what an ECR token looks like
DIGEST = "sha256:" + "ab" * 32

FAKE_DOCKER = """\
#!{python}
import json, os, sys
log = os.environ["FAKE_DOCKER_LOG"]
mode = os.environ.get("FAKE_DOCKER_MODE", "ok")
args = sys.argv[1:]
stdin = sys.stdin.read() if args[:1] == ["login"] else None
context = {{}}
if "--build-context" in args:
    name, _, folder = args[args.index("--build-context") + 1].partition("=")
    context[name] = sorted(os.listdir(folder))
with open(log, "a") as f:
    f.write(json.dumps({{"argv": args, "stdin": stdin, "context": context}}) + "\\n")
if args[:1] == ["info"]:
    print("28.2.2")
elif args[:2] == ["buildx", "version"]:
    if mode == "no-buildx":
        print("docker: unknown command: docker buildx", file=sys.stderr)
        sys.exit(1)
    print("github.com/docker/buildx v0.20.0")
elif args[:1] == ["login"]:
    if mode == "login-fails":
        print("Error response from daemon: login attempt failed with status: 400 Bad Request", file=sys.stderr)
        sys.exit(1)
    print("Login Succeeded")
elif args[:2] == ["buildx", "build"]:
    print("#1 [internal] load build definition from Dockerfile", flush=True)
    if mode == "leaky-build":
        print("#2 echo " + os.environ["FAKE_DOCKER_SECRET"], flush=True)
    if mode == "build-fails":
        print("#5 ERROR: failed to solve: process did not complete successfully: exit code: 1", file=sys.stderr)
        print("------", file=sys.stderr)
        sys.exit(1)
    metadata = args[args.index("--metadata-file") + 1]
    with open(metadata, "w") as f:
        if mode == "no-digest":
            json.dump({{"buildx.build.ref": "x"}}, f)
        else:
            json.dump({{"containerimage.digest": os.environ["FAKE_DOCKER_DIGEST"]}}, f)
    print("#9 pushing manifest done", flush=True)
else:
    sys.exit(2)
"""


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``docker`` first on PATH that records argv and stdin (one JSON line per call)."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    script = bin_dir / "docker"
    script.write_text(FAKE_DOCKER.format(python=sys.executable))
    script.chmod(0o755)
    log = tmp_path / "docker-calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(log))
    monkeypatch.setenv("IAF_AWS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FAKE_DOCKER_DIGEST", DIGEST)
    monkeypatch.setenv("FAKE_DOCKER_SECRET", PASSWORD)
    return log


def calls(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "bot"
    folder.mkdir()
    (folder / "Dockerfile").write_text("FROM public.ecr.aws/lambda/python:3.12\n")
    return folder


def credentials() -> RegistryCredentials:
    return RegistryCredentials(registry="https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                               username="AWS", password=PASSWORD)


def test_build_logs_in_through_stdin_and_pushes_by_digest(fake_docker: Path, project: Path) -> None:
    lines: list[str] = []
    built = DockerBuilder().build(BuildRequest(project_dir=project, architecture="x86_64",
                                               repository_uri=REPOSITORY, tag="deploy-20260101"),
                                  credentials(), echo=lines.append)

    assert built == BuiltImage(image_uri=f"{REPOSITORY}@{DIGEST}", digest=DIGEST)
    login, build = calls(fake_docker)
    assert login["argv"] == ["login", "--username", "AWS", "--password-stdin",
                             "123456789012.dkr.ecr.eu-west-1.amazonaws.com"]
    assert login["stdin"].strip() == PASSWORD
    argv = build["argv"]
    metadata = argv[argv.index("--metadata-file") + 1]
    wheels = argv[argv.index("--build-context") + 1]
    assert argv == ["buildx", "build", "--platform", "linux/amd64", "--build-context", wheels,
                    "--provenance=false", "--sbom=false",
                    "--progress=plain", "--tag", f"{REPOSITORY}:deploy-20260101", "--push",
                    "--metadata-file", metadata, str(project)]
    # The installed plugin reaches the image as a wheel in the "iaf-wheels" build context.
    from importlib.metadata import version

    assert wheels.startswith("iaf-wheels=")
    assert build["context"] == {"iaf-wheels": [f"iaf_aws_plugin-{version('iaf-aws-plugin')}-py3-none-any.whl"]}
    assert build["stdin"] is None
    assert not Path(metadata).exists()  # temporary, cleaned up
    for call in calls(fake_docker):
        assert not any(PASSWORD in arg for arg in call["argv"])
    assert "Login Succeeded" in lines and "#9 pushing manifest done" in lines  # streamed progress
    assert not any(PASSWORD in line for line in lines)


def test_arm64_builds_for_linux_arm64(fake_docker: Path, project: Path) -> None:
    DockerBuilder().build(BuildRequest(project, "arm64", REPOSITORY, "t1"), credentials(), echo=lambda _: None)
    argv = calls(fake_docker)[-1]["argv"]
    assert argv[argv.index("--platform") + 1] == "linux/arm64"


def test_password_echoed_by_the_build_is_masked(fake_docker: Path, project: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_DOCKER_MODE", "leaky-build")
    lines: list[str] = []
    DockerBuilder().build(BuildRequest(project, "x86_64", REPOSITORY, "t1"), credentials(), echo=lines.append)
    assert "#2 echo ****" in lines
    assert not any(PASSWORD in line for line in lines)


def test_failed_build_is_one_line_with_the_error(fake_docker: Path, project: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_DOCKER_MODE", "build-fails")
    with pytest.raises(PluginError, match="docker buildx build failed \\(exit 1\\)") as caught:
        DockerBuilder().build(BuildRequest(project, "x86_64", REPOSITORY, "t1"), credentials(), echo=lambda _: None)
    assert "failed to solve" in str(caught.value) and "\n" not in str(caught.value)


def test_failed_login(fake_docker: Path, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_DOCKER_MODE", "login-fails")
    with pytest.raises(PluginError, match="docker login to 123456789012.dkr.ecr.eu-west-1.amazonaws.com failed"):
        DockerBuilder().build(BuildRequest(project, "x86_64", REPOSITORY, "t1"), credentials(), echo=lambda _: None)
    assert [call["argv"][0] for call in calls(fake_docker)] == ["login"]  # no build after a failed login


def test_missing_digest_in_metadata(fake_docker: Path, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_DOCKER_MODE", "no-digest")
    with pytest.raises(PluginError, match="no image digest"):
        DockerBuilder().build(BuildRequest(project, "x86_64", REPOSITORY, "t1"), credentials(), echo=lambda _: None)


def test_missing_dockerfile(fake_docker: Path, tmp_path: Path) -> None:
    with pytest.raises(PluginError, match="No Dockerfile in") as caught:
        DockerBuilder().build(BuildRequest(tmp_path, "x86_64", REPOSITORY, "t1"), credentials(), echo=lambda _: None)
    assert "--image-uri" in str(caught.value)
    assert calls(fake_docker) == []  # nothing ran, no login


@pytest.mark.parametrize("architecture, tag, match", [
    ("amd64", "t1", "Unknown architecture 'amd64'"),
    ("x86_64", "bad tag!", "Invalid image tag"),
])
def test_bad_request(fake_docker: Path, project: Path, architecture: str, tag: str, match: str) -> None:
    with pytest.raises(PluginError, match=match):
        DockerBuilder().build(BuildRequest(project, architecture, REPOSITORY, tag), credentials(), echo=lambda _: None)
    assert calls(fake_docker) == []


def test_check_passes_with_a_working_docker(fake_docker: Path) -> None:
    DockerBuilder().check()
    assert [call["argv"][:2] for call in calls(fake_docker)] == [["info", "--format"], ["buildx", "version"]]


def test_check_without_buildx(fake_docker: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_DOCKER_MODE", "no-buildx")
    with pytest.raises(PluginError, match="Docker Buildx is not installed") as caught:
        DockerBuilder().check()
    assert "--image-uri" in str(caught.value)


def test_check_without_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no docker anywhere
    with pytest.raises(PluginError) as caught:
        DockerBuilder().check()
    assert str(caught.value) == ("Docker is not installed (no 'docker' on PATH). Install Docker (with Buildx), "
                                 "or deploy a prebuilt image with --image-uri.")


def test_build_without_docker(tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(PluginError, match="Docker is not installed"):
        DockerBuilder().build(BuildRequest(project, "x86_64", REPOSITORY, "t1"), credentials(), echo=lambda _: None)


@pytest.mark.skipif(shutil.which("docker") is None, reason="no Docker client on PATH")
def test_check_with_the_real_client_and_no_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real docker CLI, pointed at a socket nobody listens on: the daemon message."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    with pytest.raises(PluginError) as caught:
        DockerBuilder().check()
    message = str(caught.value)
    assert message.startswith("The Docker daemon is not running or not reachable (")
    assert "no-daemon.sock" in message  # the client's own explanation is kept
    assert "systemctl start docker" in message and "--image-uri" in message and "\n" not in message


def test_builder_interface_and_registry() -> None:
    from iaf_aws_plugin.commands.deploy import builder_factory

    builder = builder_factory("docker")()
    assert isinstance(builder, DockerBuilder) and isinstance(builder, Builder) and builder.name == "docker"
    with pytest.raises(PluginError, match="unknown --builder 'kaniko'.*docker"):
        builder_factory("kaniko")


def test_credentials_never_show_the_password() -> None:
    creds = credentials()
    assert PASSWORD not in repr(creds) and PASSWORD not in str(creds) and PASSWORD not in f"{[creds]}"
    assert "****" in repr(creds)
