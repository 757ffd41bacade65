"""The resources of one deployed bot as plain data, the same types for desired and live state.

:mod:`.desired` fills these from the settings; :mod:`.awsclient` parses AWS's answers into
them (and nowhere else); :mod:`.remote` gathers the live ones into a ``LiveState``; the
planner compares a desired object with its live twin field by field. Documents (policies,
lifecycle rules) are plain JSON-like mappings in the form AWS takes them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

__all__ = [
    "AccountConcurrency",
    "Bucket",
    "EventInvokeConfig",
    "FunctionConfig",
    "LogGroup",
    "Parameter",
    "RegistryScanning",
    "Repository",
    "Role",
    "Schedule",
]

Document = Mapping[str, Any]


@dataclass(frozen=True)
class Bucket:
    """The S3 state bucket and its documents (``None``: not configured)."""

    name: str
    public_access_block: Mapping[str, bool] | None = None
    encryption: Document | None = None  # ServerSideEncryptionConfiguration
    versioning: str | None = None  # "Enabled", "Suspended" or None (never enabled)
    policy: Document | None = None
    lifecycle_rules: tuple[Document, ...] = ()  # LifecycleConfiguration.Rules


@dataclass(frozen=True)
class Repository:
    """The ECR repository of the bot's images and its documents."""

    name: str
    uri: str | None = None  # known once it exists
    scan_on_push: bool = False
    lifecycle_policy: Document | None = None
    policy: Document | None = None  # the repository policy (who may pull)


@dataclass(frozen=True)
class RegistryScanning:
    """The account's registry scanning configuration (``ecr:GetRegistryScanningConfiguration``).

    ``scans_repository``: a registry rule scans this repository (on push or continuously).
    """

    scan_type: str  # "BASIC" or "ENHANCED"
    governs: bool  # registry rules (or enhanced scanning) are in effect: a repository's own setting is ignored
    scans_repository: bool


@dataclass(frozen=True)
class Role:
    """An IAM role with one inline policy."""

    name: str
    arn: str
    trust_policy: Document | None
    policy_name: str
    policy: Document | None
    description: str = ""  # set when the role is created; not compared


@dataclass(frozen=True)
class Parameter:
    """An SSM SecureString parameter: its (decrypted) value and version."""

    value: str
    version: int = 0  # 0: not known (desired: written during apply)


@dataclass(frozen=True)
class LogGroup:
    name: str
    retention_days: int | None = None  # None: kept forever


@dataclass(frozen=True)
class FunctionConfig:
    """The configuration of a Lambda function (``$LATEST`` or a published version).

    ``image_uri`` is ``None`` in a desired state whose image is built during apply.
    """

    image_uri: str | None
    memory_size: int
    timeout: int
    architecture: str
    environment: Mapping[str, str]
    role_arn: str
    package_type: str = "Image"
    ephemeral_storage: int = 512  # MB of /tmp


@dataclass(frozen=True)
class AccountConcurrency:
    """The account's Lambda concurrency quota and the part not reserved by any function."""

    limit: int
    unreserved: int

    def can_reserve(self, reserved: int, already: int = 0) -> bool:
        """Whether reserving ``reserved`` (the function holds ``already``) keeps Lambda's unreserved
        minimum: 100, or the whole quota on accounts below 100 (new accounts: 10)."""
        minimum = min(100, self.limit)
        return self.unreserved + already - reserved >= minimum


@dataclass(frozen=True)
class EventInvokeConfig:
    """Asynchronous invocation settings (of the alias)."""

    retries: int | None
    max_event_age: int | None


@dataclass(frozen=True)
class Schedule:
    """An EventBridge Scheduler schedule invoking one target with one role."""

    name: str
    group: str
    expression: str | None
    timezone: str
    target_arn: str | None
    role_arn: str | None
    enabled: bool = True
    retries: int | None = None
    max_event_age: int | None = None
