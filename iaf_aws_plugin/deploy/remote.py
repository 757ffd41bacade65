"""The live state of a deployed bot, read from AWS (read calls only) into the models of
:mod:`.models`. AWS's answers are parsed in :mod:`.awsclient`; this module only gathers them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

from .alerts import Alerts
from .desired import ALIAS, SCHEDULE_GROUP, Names
from .models import (AccountConcurrency, Bucket, EventInvokeConfig, FunctionConfig, LogGroup, Parameter,
                     RegistryScanning, Repository, Role, Schedule)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .awsclient import AWSClient

__all__ = ["LiveFunction", "LiveRole", "LiveState", "LiveVersions", "read_live_state", "read_versions"]

# The live twins of the desired models (same types; kept as names for readers of the planner).
LiveFunction = FunctionConfig
LiveRole = Role


@dataclass(frozen=True)
class LiveState:
    """Everything the planner compares with; ``None`` means "does not exist"."""

    bucket: Bucket | None = None
    repository: Repository | None = None
    role: Role | None = None
    scheduler_role: Role | None = None
    parameters: Mapping[str, Parameter] = field(default_factory=dict)  # full name -> value and version
    function: FunctionConfig | None = None
    alias_version: str | None = None
    alias_function: FunctionConfig | None = None  # the configuration of the version the alias points at
    latest_version: str | None = None  # the highest published version
    latest_function: FunctionConfig | None = None
    reserved_concurrency: int | None = None
    event_invoke: EventInvokeConfig | None = None
    schedule: Schedule | None = None
    log_group: LogGroup | None = None
    registry_scanning: RegistryScanning | None = None  # None: not readable (the repository's own setting counts)
    account_concurrency: AccountConcurrency | None = None  # None: not readable
    alerts: Alerts | None = None  # the alert topic and alarms (alerts.py); None: none exist
    provisioned_concurrency: int = 0  # on the alias (read only when the settings manage it)


@dataclass(frozen=True)
class LiveVersions:
    """The function's versions with the digests of their images, its aliases, and the digests
    of the images in the bot's own repository."""

    digests: Mapping[str, str]  # version ("$LATEST" included) -> image digest
    aliases: Mapping[str, str]  # alias -> version
    repository_digests: frozenset[str] = frozenset()


def read_live_state(client: AWSClient, names: Names, *, manage_role: bool) -> LiveState:
    """Read the live state of every resource the deploy manages (no write call)."""
    function = client.function_config(names.function)
    alias_version = client.alias_version(names.function, ALIAS) if function else None
    alias_function = None
    if alias_version and alias_version != "$LATEST":
        alias_function = client.function_config(names.function, alias_version)
    # A run stopped between publishing and moving the alias left a version nobody uses yet:
    # the planner points the alias at it instead of publishing a duplicate.
    latest_version = client.latest_published_version(names.function) if function else None
    reserved_concurrency = client.get_function_concurrency(names.function) if function else None
    latest_function = alias_function if latest_version == alias_version else (
        client.function_config(names.function, latest_version) if latest_version else None)
    return LiveState(
        bucket=client.bucket(names.bucket, names.account),
        repository=client.repository(names.repository),
        role=client.role(names.role, names.role_policy) if manage_role else None,
        scheduler_role=client.role(names.scheduler_role, names.scheduler_policy),
        parameters=client.parameters_by_path(names.ssm_path),
        function=function,
        alias_version=alias_version,
        alias_function=alias_function,
        latest_version=latest_version,
        latest_function=latest_function,
        reserved_concurrency=reserved_concurrency,
        event_invoke=client.event_invoke_config(names.function, ALIAS) if alias_version else None,
        schedule=client.schedule(names.schedule, SCHEDULE_GROUP),
        log_group=client.log_group(names.log_group),
        registry_scanning=client.registry_scanning(names.repository),
        account_concurrency=client.account_concurrency() if reserved_concurrency is None else None,
        alerts=client.live_alerts(names),
    )


def read_versions(client: AWSClient, names: Names) -> LiveVersions:
    """What pruning needs: every version's image digest, the aliases, the repository's images."""
    return LiveVersions(digests=client.version_digests(names.function), aliases=client.aliases(names.function),
                        repository_digests=frozenset(client.repository_digests(names.repository, names.account)))
