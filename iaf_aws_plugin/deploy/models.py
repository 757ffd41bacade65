"""The deploy's data, in one place: the resources of one bot (the same types for desired and live
state), :class:`Spec` (what a deploy or destroy asks for), :class:`DesiredState` /
:class:`LiveState`, and the plan vocabulary (:class:`Call`, :class:`Step`, :class:`Plan`,
``CREATE``...).

Each kind in :mod:`.resources` fills its part of a ``DesiredState`` from the spec and of a
``LiveState`` through :mod:`.awsclient` (which parses AWS's answers into these types, and
nowhere else); the planner compares a desired object with its live twin field by field.
Documents (policies, lifecycle rules, a schedule's input) are plain JSON-like mappings in the
form AWS takes them. No I/O here, and no import of another deploy module except the names.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping

from .environment import Placement
from .names import ALIAS, Names
from .settings import (DEFAULT_ARCHITECTURE, DEFAULT_EPHEMERAL_STORAGE, DEFAULT_LOG_RETENTION_DAYS, DEFAULT_MEMORY_SIZE,
                       DEFAULT_ROLLBACK_WINDOW, DEFAULT_TIMEOUT, DEFAULT_TIMEZONE)

__all__ = [
    "AccountConcurrency",
    "ActionGroup",
    "Alerts",
    "BUILD",
    "Bucket",
    "CREATE",
    "Call",
    "DELETE",
    "DesiredState",
    "EventInvokeConfig",
    "FunctionConfig",
    "LiveState",
    "LiveVersions",
    "LogGroup",
    "Parameter",
    "Plan",
    "Prune",
    "Queue",
    "Ref",
    "RegistryScanning",
    "Repository",
    "Role",
    "Schedule",
    "Secret",
    "SecretsDigest",
    "Spec",
    "Step",
    "UNCHANGED",
    "UPDATE",
    "secrets_digest",
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
    input: Document | None = None  # the event the target gets (desired; not compared)
    description: str = ""  # set when written; not compared
    dead_letter_arn: str | None = None  # the SQS queue undeliverable runs go to


@dataclass(frozen=True)
class Queue:
    """An SQS queue (the schedule's dead-letter queue) with the attributes the deploy sets."""

    name: str
    arn: str
    url: str | None = None  # live: known once it exists
    retention_seconds: int | None = None
    sse: bool = False  # SqsManagedSseEnabled
    policy: Document | None = None


@dataclass(frozen=True)
class Alerts:
    """The topic, the e-mail subscriptions and the alarms (by name, in PutMetricAlarm's form)."""

    topic_name: str
    topic_arn: str | None  # live: None when the topic does not exist
    emails: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()  # live: e-mail subscriptions not confirmed yet
    alarms: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    subscriptions: Mapping[str, str] = field(default_factory=dict)  # live: confirmed e-mail -> subscription ARN
    user_topic: str | None = None  # desired: the user's own topic (--alert-topic), never created nor deleted


class Secret(str):
    """A secret value: prints as ``***`` wherever a plan or a repr shows it."""

    def __repr__(self) -> str:
        return "'***'"

    @property
    def value(self) -> str:
        return str.__str__(self)


# --- what a deploy asks for ----------------------------------------------------------------

#: The trading safety of the function: one run at a time, never retried by Lambda.
RESERVED_CONCURRENCY = 1
MAX_RETRY_ATTEMPTS = 0
MAX_EVENT_AGE_SECONDS = 60  # the smallest value Lambda accepts
#: EventBridge Scheduler retries a delivery Lambda did not accept (it cannot run twice) until the
#: event is as old as the schedule's period (at most an hour; 60..86400 s is what Scheduler takes),
#: then parks it in the dead-letter queue.
SCHEDULE_RETRY_ATTEMPTS = 185  # Scheduler's maximum: the event age is the bound that matters
SCHEDULE_MAX_EVENT_AGE = 3600


@dataclass(frozen=True)
class Spec:
    """What one deploy (or destroy) asks for, resolved from the settings: the input of every kind.

    ``schedule`` is the EventBridge expression (None: no schedule); ``alert_email`` None means
    alerts were never asked for, ``"none"`` that they are being removed; ``provisioned_concurrency``
    None means not managed (never read or changed). ``builds``: the image is pushed by this deploy;
    ``image_repository``: the ARN of a prebuilt image's repository (the preflight checks it).
    """

    names: Names
    memory_size: int = DEFAULT_MEMORY_SIZE
    timeout: int = DEFAULT_TIMEOUT
    architecture: str = DEFAULT_ARCHITECTURE
    plain_env: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)  # short name -> value
    image_uri: str | None = None
    role_arn: str | None = None  # the user's own execution role; None: the deploy manages one
    schedule: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    builder: str | None = None  # builder name when the image is built during apply
    with_secrets: bool = True  # SSM parameters exist (or will): only then the function loads them
    log_retention_days: int = DEFAULT_LOG_RETENTION_DAYS
    rollback_window: int = DEFAULT_ROLLBACK_WINDOW
    placements: tuple[Placement, ...] = ()
    ephemeral_storage: int = DEFAULT_EPHEMERAL_STORAGE
    alert_email: str | None = None
    provisioned_concurrency: int | None = None
    builds: bool = False
    image_repository: str | None = None
    destroy: bool = False  # read for (and plan) a destroy: every kind plans its removal
    answers_keep_active: bool = True  # the handler answers a keep-active ping without trading (aws_function.py)
    delete_state: bool = False  # destroy: the state bucket goes too
    tags: Mapping[str, str] = field(default_factory=dict)  # --tag KEY=VALUE: the user's own, on every resource
    alert_topic: str | None = None  # --alert-topic: the user's SNS topic ARN ("none": being removed)
    dropped_tags: tuple[str, ...] = ()  # keys an earlier deploy set that are no longer asked for
    paused: str | None = None  # the pause marker (schedules/pause.py) a new schedule is created DISABLED with

    @property
    def manage_role(self) -> bool:
        return self.role_arn is None

    @property
    def alerts(self) -> bool:
        return self.alert_email not in (None, "none")


@dataclass(frozen=True)
class DesiredState:
    """Every resource the deploy manages, with its documents; compared field by field with a LiveState."""

    names: Names
    bucket: Bucket
    repository: Repository
    role: Role | None  # None: the user brings their own (--role-arn)
    function: FunctionConfig
    log_group: LogGroup
    secrets: Mapping[str, Secret] = field(default_factory=dict)  # full parameter name -> value
    schedule: Schedule | None = None  # None: no schedule (removed if it exists)
    scheduler_role: Role | None = None  # with a schedule only
    dead_letter: Queue | None = None  # the schedule's dead-letter queue (with a schedule only)
    keep_active: Schedule | None = None  # the weekly ping of a schedule whose runs are over 7 days apart
    alias: str = ALIAS
    reserved_concurrency: int = RESERVED_CONCURRENCY
    event_invoke: EventInvokeConfig = EventInvokeConfig(MAX_RETRY_ATTEMPTS, MAX_EVENT_AGE_SECONDS)
    build_with: str | None = None  # builder name when the image is built during apply
    rollback_window: int = DEFAULT_ROLLBACK_WINDOW  # published versions kept (with their images)
    placements: tuple[Placement, ...] = ()  # where each user variable went (SSM or plain) and why
    alerts: Alerts | None = None  # None: no alerts (existing ones are removed)
    provisioned_concurrency: int | None = None  # on the alias; None: not managed (never set)
    tags: Mapping[str, str] = field(default_factory=dict)  # the user's own tags (resources/tags.py)
    dropped_tags: tuple[str, ...] = ()

    @property
    def manage_role(self) -> bool:
        return self.role is not None


@dataclass(frozen=True)
class LiveState:
    """Everything the planner compares with; ``None`` means "does not exist" (or was not read)."""

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
    dead_letter: Queue | None = None
    keep_active: Schedule | None = None
    log_group: LogGroup | None = None
    registry_scanning: RegistryScanning | None = None  # None: not readable (the repository's own setting counts)
    account_concurrency: AccountConcurrency | None = None  # None: not readable
    alerts: Alerts | None = None  # the alert topic and alarms; None: none exist
    provisioned_concurrency: int = 0  # on the alias (read only when the settings manage it)
    versions: tuple[str, ...] = ()  # destroy: the published versions
    state_objects: tuple[int, int] | None = None  # destroy --delete-state: (object versions, bytes)
    tags: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # resource ident -> its tags (read with --tag)


@dataclass(frozen=True)
class LiveVersions:
    """The function's versions with the digests of their images, its aliases, and the digests
    of the images in the bot's own repository."""

    digests: Mapping[str, str]  # version ("$LATEST" included) -> image digest
    aliases: Mapping[str, str]  # alias -> version
    repository_digests: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ActionGroup:
    """IAM actions on one resource, with the request context AWS evaluates them in (the
    permission preflight simulates them so)."""

    resource: str
    actions: tuple[str, ...]
    context: Mapping[str, str] = field(default_factory=dict)  # e.g. iam:PassedToService


# --- the plan vocabulary ----------------------------------------------------------------------

CREATE, UPDATE, DELETE, BUILD, UNCHANGED = "create", "update", "delete", "build", "unchanged"


@dataclass(frozen=True)
class Ref:
    """The output of an earlier call of the same plan (e.g. the published version)."""

    name: str


#: Length of the digest value (known before apply, for the environment size check).
SECRETS_DIGEST_LENGTH = 16


def secrets_digest(versions: Mapping[str, int]) -> str:
    """A digest of the SSM parameter names and versions the function loads at cold start: a
    changed (or rotated) secret changes it, so a new version is published and warm instances
    holding the old value are replaced."""
    text = "\n".join(f"{name}={versions[name]}" for name in sorted(versions))
    return hashlib.sha256(text.encode()).hexdigest()[:SECRETS_DIGEST_LENGTH]


@dataclass(frozen=True)
class SecretsDigest:
    """The value of :data:`~iaf_aws_plugin.function_env.SECRETS_DIGEST_ENV` once the versions of the
    parameters written during apply are known (``versions``: name -> version or :class:`Ref`)."""

    versions: Mapping[str, Any]

    def resolve(self, versions: Mapping[str, int]) -> str:
        return secrets_digest(versions)


@dataclass(frozen=True)
class Prune:
    """Versions (and images) to delete after an apply; ``kept``: the versions of the rollback window."""

    versions: tuple[str, ...]
    digests: tuple[str, ...]
    kept: tuple[str, ...]
    alias_version: str | None = None


@dataclass(frozen=True)
class Call:
    """One call of :class:`~iaf_aws_plugin.deploy.awsclient.AWSClient` (or ``build_image``)."""

    method: str
    params: Mapping[str, Any]
    output: str | None = None


@dataclass(frozen=True)
class Step:
    resource: str
    name: str
    action: str
    changes: tuple[str, ...] = ()
    calls: tuple[Call, ...] = ()

    @property
    def subject(self) -> str:
        """What the step is about, with what changes: ``IAM role x (inline policy)``."""
        detail = f" ({', '.join(self.changes)})" if self.changes else ""
        return f"{self.resource} {self.name}{detail}"

    def describe(self) -> str:
        return f"{self.action:>9}  {self.subject}"


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = field(default=())
    environment: tuple[str, ...] = field(default=())  # where each user variable goes, and why

    @property
    def changes(self) -> tuple[Step, ...]:
        return tuple(step for step in self.steps if step.action != UNCHANGED)

    @property
    def is_noop(self) -> bool:
        return not self.changes

    def render(self) -> list[str]:
        lines = [step.describe() for step in self.steps]
        if self.environment:
            lines.append("Environment variables:")
            lines += [f"    {line}" for line in self.environment]
        if self.is_noop:
            lines.append("Nothing to change: the deployed bot already matches (same image digest, same settings).")
        else:
            counts: dict[str, int] = {}
            for step in self.changes:
                counts[step.action] = counts.get(step.action, 0) + 1
            lines.append("Plan: " + ", ".join(f"{n} to {a}" for a, n in counts.items()) + ".")
        return lines


@dataclass
class PlanContext:
    """What the kinds of one plan share while it is built: the steps planned so far (a later kind
    may use an earlier one's output, e.g. the function the versions of the secrets written) and notes."""

    names: Names
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    delete_state: bool = False  # destroy: remove the state bucket too
