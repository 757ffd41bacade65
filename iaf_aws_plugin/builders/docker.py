"""The ``docker`` builder: ``docker buildx build --push`` with a login from boto3's token.

No AWS CLI and no shell: the registry password goes to ``docker login
--password-stdin`` through stdin only, and is masked in every line echoed.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections import deque
from pathlib import Path
from typing import Callable, Sequence

from ..errors import PluginError
from . import ARCHITECTURES, BuildRequest, BuiltImage, RegistryCredentials, _print

__all__ = ["DockerBuilder"]

_PLATFORMS = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_CHECK_TIMEOUT = 60
_LOGIN_TIMEOUT = 120
_MASK = "****"
WHEELS_CONTEXT = "iaf-wheels"


class DockerBuilder:
    """Builds with the local Docker engine and Buildx, pushes to the registry."""

    name = "docker"

    def check(self) -> None:
        """Raise :class:`PluginError` when Docker is not installed, its daemon is not
        reachable, or Buildx is missing."""
        docker = _docker_executable()
        info = _run([docker, "info", "--format", "{{.ServerVersion}}"], timeout=_CHECK_TIMEOUT)
        if info is None or info.returncode != 0 or not info.stdout.strip():
            detail = _last_line(info.stderr if info is not None else "") or "no answer"
            if "permission denied" in detail.lower():
                raise PluginError(
                    f"Docker is installed but this user may not use its daemon ({detail}).",
                    fix="Add yourself to the 'docker' group (then log in again), "
                        "or deploy a prebuilt image with --image-uri.")
            raise PluginError(
                f"The Docker daemon is not running or not reachable ({detail}).",
                fix="Start Docker Desktop, or the service ('sudo systemctl start docker' on Linux), "
                    "then retry; or deploy a prebuilt image with --image-uri.")
        buildx = _run([docker, "buildx", "version"], timeout=_CHECK_TIMEOUT)
        if buildx is None or buildx.returncode != 0:
            raise PluginError(
                "Docker Buildx is not installed (docker buildx version failed).",
                fix="Install the Buildx plugin (package docker-buildx-plugin, included in "
                    "Docker Desktop), or deploy a prebuilt image with --image-uri.")

    def build(self, request: BuildRequest, credentials: RegistryCredentials, *,
              echo: Callable[[str], None] = _print) -> BuiltImage:
        """Log in, build for the request's architecture and push; return the image by digest."""
        platform = _PLATFORMS.get(request.architecture)
        if platform is None:
            raise PluginError(f"Unknown architecture {request.architecture!r}.",
                              fix=f"Use one of: {', '.join(ARCHITECTURES)}.")
        if not _TAG.fullmatch(request.tag):
            raise PluginError(f"Invalid image tag {request.tag!r}.",
                              fix="Use letters, digits, '_', '.' and '-' (at most 128 characters).")
        project_dir = Path(request.project_dir)
        if not (project_dir / "Dockerfile").is_file():
            raise PluginError(
                f"No Dockerfile in {project_dir}: the docker builder needs one.",
                fix="Create it (investing-algorithm-framework init --type aws-lambda scaffolds one), "
                    "or deploy a prebuilt image with --image-uri.")
        docker = _docker_executable()
        secret = credentials.password

        def say(line: str) -> None:
            echo(line.replace(secret, _MASK) if secret else line)

        self._login(docker, credentials, say)
        image = f"{request.repository_uri}:{request.tag}"
        with tempfile.TemporaryDirectory(prefix="iaf-aws-build-") as work:
            metadata = Path(work) / "metadata.json"
            wheels = _plugin_wheel_context(Path(work) / "iaf-wheels")
            command = [
                docker, "buildx", "build",
                "--platform", platform,
                # The installed iaf-aws-plugin's wheel (the Dockerfile copies it --from=iaf-wheels).
                "--build-context", f"{WHEELS_CONTEXT}={wheels}",
                "--provenance=false",
                "--sbom=false",
                "--progress=plain",
                "--tag", image,
                "--push",
                "--metadata-file", str(metadata),
                str(project_dir),
            ]
            say(f"Building {image} for {platform} with docker buildx")
            returncode, tail = _stream(command, say)
            if returncode != 0:
                errors = [line for line in tail if "error" in line.lower()]
                detail = (errors[-1] if errors else (tail[-1] if tail else "no output")).strip()
                if secret:
                    detail = detail.replace(secret, _MASK)
                raise PluginError(f"docker buildx build failed (exit {returncode}) for {project_dir}: {detail}",
                                  fix="Fix the error shown in the build output above and deploy again.")
            digest = _digest_from(metadata)
        return BuiltImage(image_uri=f"{request.repository_uri}@{digest}", digest=digest)

    @staticmethod
    def _login(docker: str, credentials: RegistryCredentials, say: Callable[[str], None]) -> None:
        registry = _registry_host(credentials.registry)
        result = _run([docker, "login", "--username", credentials.username, "--password-stdin", registry],
                      timeout=_LOGIN_TIMEOUT, stdin=credentials.password + "\n")
        if result is None:
            raise PluginError(f"docker login to {registry} timed out.",
                              fix="Check the network connection to the registry and retry.")
        output = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
        if result.returncode != 0:
            detail = output[-1] if output else f"exit {result.returncode}"
            detail = detail.replace(credentials.password, _MASK) if credentials.password else detail
            raise PluginError(f"docker login to {registry} failed: {detail}",
                              fix="Check your AWS credentials and ecr:GetAuthorizationToken permission, "
                                  "then deploy again.")
        for line in output:
            say(line)


def _plugin_wheel_context(folder: Path) -> Path:
    """A folder holding only the installed iaf-aws-plugin's wheel: the build context
    ``iaf-wheels`` (the same wheel the native builder installs)."""
    from .native.blobs import BlobStore
    from .native.plugin_wheel import plugin_wheel

    wheel = plugin_wheel(BlobStore())
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(wheel, folder / wheel.name)
    return folder


def _docker_executable() -> str:
    """``docker`` found on PATH now (not at import), so PATH changes take effect."""
    docker = shutil.which("docker")
    if docker is None:
        raise PluginError("Docker is not installed (no 'docker' on PATH).",
                          fix="Install Docker (with Buildx), or deploy a prebuilt image with --image-uri.")
    return docker


def _registry_host(registry: str) -> str:
    """``https://123.dkr.ecr.eu-west-1.amazonaws.com/`` → ``123.dkr.ecr.eu-west-1.amazonaws.com``."""
    host = re.sub(r"^[a-z]+://", "", registry.strip())
    return host.rstrip("/")


def _run(command: Sequence[str], *, timeout: float,
         stdin: str | None = None) -> subprocess.CompletedProcess[str] | None:
    """Run without a shell, capture text output; None on timeout."""
    try:
        return subprocess.run(list(command), input=stdin, capture_output=True, text=True,
                              timeout=timeout, stdin=None if stdin is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None
    except OSError as error:
        raise PluginError(f"Cannot run {command[0]}: {error}.",
                          fix="Check the Docker installation, or deploy a prebuilt image with --image-uri.") from None


def _stream(command: Sequence[str], say: Callable[[str], None]) -> tuple[int, list[str]]:
    """Run ``command``, pass each output line to ``say``; return the exit code and last lines."""
    tail: deque[str] = deque(maxlen=40)
    try:
        process = subprocess.Popen(list(command), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1)
    except OSError as error:
        raise PluginError(f"Cannot run {command[0]}: {error}.",
                          fix="Check the Docker installation, or deploy a prebuilt image with --image-uri.") from None
    try:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\r\n")
            tail.append(line)
            say(line)
        return process.wait(), list(tail)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _digest_from(metadata: Path) -> str:
    try:
        data = json.loads(metadata.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise PluginError(f"docker buildx wrote no readable metadata file ({error}).",
                          fix="Update Docker Buildx (0.9 or newer writes --metadata-file) and deploy again.") from None
    digest = data.get("containerimage.digest") if isinstance(data, dict) else None
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise PluginError(f"docker buildx reported no image digest (containerimage.digest: {digest!r}).",
                          fix="Update Docker Buildx and deploy again.")
    return digest


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""
