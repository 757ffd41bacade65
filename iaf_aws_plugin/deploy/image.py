"""Which builder makes the image, and building before planning.

``--builder auto`` (the default) picks ``native`` unless the project's Dockerfile does
something the native builder cannot reproduce (e.g. a ``RUN`` of a system package manager)
and Docker is available. A builder that can build locally (``prepare``, like ``native``)
builds before the plan, so the plan compares image digests: an unchanged project plans
nothing and uploads nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..errors import PluginError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..builders import Builder
    from .settings import DeploySettings

AUTO = "auto"
Echo = Callable[[str], None]


@dataclass(frozen=True)
class BuilderChoice:
    name: str
    reason: str


def choose_builder(settings: DeploySettings, factory: Callable[[str], Callable[[], Builder]]) -> BuilderChoice:
    """The builder to use and why (said in the plan)."""
    if settings.builder != AUTO:
        return BuilderChoice(settings.builder, "--builder " + settings.builder)
    from ..builders.native.dockerfile import read_dockerfile

    info = read_dockerfile(settings.project_dir)
    if info is None or not info.unsupported:
        what = "no Dockerfile" if info is None else "the Dockerfile only installs requirements.txt and copies the project"
        return BuilderChoice("native", f"auto: {what}, no Docker needed")
    step = info.unsupported[0]
    try:
        factory("docker")().check()
    except PluginError as error:
        raise PluginError(f"the Dockerfile has a step the native builder cannot reproduce ({step}) and Docker "
                          f"is not usable ({error.message.rstrip('.')}).",
                          fix="Start Docker, or pass --builder native to build without that step "
                              "(requirements.txt and the project files only).") from None
    return BuilderChoice("docker", f"auto: the Dockerfile has a step only Docker can run ({step})")


@dataclass
class PrebuiltImage:
    """An image built before planning; ``existing`` when ECR already has its digest."""

    prepared: Any
    repository_uri: str
    existing: bool

    @property
    def image_uri(self) -> str:
        return f"{self.repository_uri}@{self.prepared.digest}"


def prebuild(builder: Builder, settings: DeploySettings, repository_uri: str, tag: str, *,
             exists: Callable[[str], bool], echo: Echo) -> PrebuiltImage | None:
    """Build locally when the builder can (``prepare``); None when it builds only while pushing."""
    from ..builders import BuildRequest

    prepare = getattr(builder, "prepare", None)
    if prepare is None:
        return None
    request = BuildRequest(settings.project_dir, settings.architecture, repository_uri, tag,
                           base_image=settings.base_image, output=settings.output, profile=settings.profile,
                           slim=settings.slim, prune_unused=settings.prune_unused)
    prepared = prepare(request, echo=echo)
    if settings.output:
        builder.write_output(prepared, settings.output, tag, echo=echo)  # type: ignore[attr-defined]
    existing = exists(prepared.digest)
    echo(f"Image {prepared.digest} built locally "
         + ("(already in ECR: nothing to upload)." if existing else "(pushed to ECR when the plan is applied)."))
    if not prepared.compiled:
        echo(f"Note: {prepared.report()[-2]}")
    return PrebuiltImage(prepared, repository_uri, existing)


def push_prebuilt(builder: Builder, prebuilt: PrebuiltImage, tag: str, *, ecr: Any, profile: str | None,
                  echo: Echo) -> str:
    """Push the prebuilt image; its URI by digest. The build report follows."""
    built, _ = builder.push(prebuilt.prepared, prebuilt.repository_uri, tag,  # type: ignore[attr-defined]
                            profile=profile, ecr=ecr, echo=echo)
    for line in prebuilt.prepared.report():
        echo(line)
    return str(built.image_uri)
