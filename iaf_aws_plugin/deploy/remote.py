"""The live state of a deployed bot, read from AWS (read calls only) into plain data."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from .desired import ALIAS, SCHEDULE_GROUP, Names

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .awsclient import AWSClient


@dataclass(frozen=True)
class LiveFunction:
    image_uri: str
    memory_size: int
    timeout: int
    architecture: str
    environment: Mapping[str, str]
    role_arn: str
    package_type: str = "Image"


@dataclass(frozen=True)
class LiveRole:
    arn: str
    trust_policy: Mapping[str, Any] | None
    policy: Mapping[str, Any] | None


@dataclass(frozen=True)
class LiveState:
    """Everything the planner compares with; ``None`` means "does not exist"."""

    bucket: Mapping[str, Any] | None = None
    repository: Mapping[str, Any] | None = None
    role: LiveRole | None = None
    scheduler_role: LiveRole | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    function: LiveFunction | None = None
    alias_version: str | None = None
    alias_function: LiveFunction | None = None  # the configuration of the version the alias points at
    latest_version: str | None = None  # the highest published version
    latest_function: LiveFunction | None = None
    reserved_concurrency: int | None = None
    event_invoke_config: Mapping[str, Any] | None = None
    schedule: Mapping[str, Any] | None = None


def _function(found: Mapping[str, Any] | None) -> LiveFunction | None:
    if not found:
        return None
    config = found["Configuration"]
    return LiveFunction(
        image_uri=str(found.get("Code", {}).get("ImageUri", "")),
        memory_size=int(config.get("MemorySize", 0)),
        timeout=int(config.get("Timeout", 0)),
        architecture=(config.get("Architectures") or ["x86_64"])[0],
        environment=dict(config.get("Environment", {}).get("Variables", {})),
        role_arn=str(config.get("Role", "")),
        package_type=str(config.get("PackageType") or "Zip"),
    )


def _role(client: AWSClient, name: str, policy_name: str) -> LiveRole | None:
    role = client.get_role(name)
    if role is None:
        return None
    from .awsclient import _as_document

    trust = role.get("AssumeRolePolicyDocument")
    return LiveRole(arn=str(role["Arn"]), trust_policy=_as_document(trust) if trust else None,
                    policy=client.get_role_policy(name, policy_name))


def read_live_state(client: AWSClient, names: Names, *, manage_role: bool) -> LiveState:
    """Read the live state of every resource the deploy manages (no write call)."""
    function = _function(client.get_function(names.function))
    alias = client.get_alias(names.function, ALIAS) if function else None
    alias_version = str(alias["FunctionVersion"]) if alias else None
    alias_function = None
    if alias_version and alias_version != "$LATEST":
        alias_function = _function(client.get_function(names.function, alias_version))
    # A run stopped between publishing and moving the alias left a version nobody uses yet:
    # the planner points the alias at it instead of publishing a duplicate.
    latest_version = client.latest_published_version(names.function) if function else None
    latest_function = alias_function if latest_version == alias_version else (
        _function(client.get_function(names.function, latest_version)) if latest_version else None)
    return LiveState(
        bucket=client.bucket_state(names.bucket, names.account),
        repository=client.repository_state(names.repository),
        role=_role(client, names.role, names.role_policy) if manage_role else None,
        scheduler_role=_role(client, names.scheduler_role, names.scheduler_policy),
        parameters=client.parameters_by_path(names.ssm_path),
        function=function,
        alias_version=alias_version,
        alias_function=alias_function,
        latest_version=latest_version,
        latest_function=latest_function,
        reserved_concurrency=client.get_function_concurrency(names.function) if function else None,
        event_invoke_config=client.get_event_invoke_config(names.function, ALIAS) if alias else None,
        schedule=client.get_schedule(names.schedule, SCHEDULE_GROUP),
    )
