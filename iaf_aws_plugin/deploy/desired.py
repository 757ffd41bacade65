"""The desired resources of one deployed bot, as plain data (no AWS call here).

Names are derived from the account, the region and the function name, so that a second
deploy (or one interrupted half-way) finds the same resources again.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..function_env import (FUNCTION_TIMEOUT_ENV, MANAGED_ENV_NAMES, SSM_PARAMETER_PATH_ENV, STATE_BUCKET_ENV,
                            STATE_PREFIX, STATE_PREFIX_ENV, ssm_parameter_path)
from .alerts import Alerts
from .environment import Placement
from .settings import DEFAULT_EPHEMERAL_STORAGE, DEFAULT_LOG_RETENTION_DAYS, DEFAULT_ROLLBACK_WINDOW
from .models import Bucket, EventInvokeConfig, FunctionConfig, LogGroup, Repository, Role, Schedule

ALIAS = "live"
SCHEDULE_GROUP = "default"
RESERVED_CONCURRENCY = 1
MAX_RETRY_ATTEMPTS = 0
MAX_EVENT_AGE_SECONDS = 60  # the smallest value Lambda accepts
UNTAGGED_IMAGE_DAYS = 1  # untagged images (superseded pushes, build leftovers) expire after a day
NONCURRENT_STATE_DAYS = 30  # older versions of state objects (lease, pointer, snapshots) expire
ABORT_UPLOAD_DAYS = 1  # multipart uploads cut off by a timeout are aborted
#: Rule IDs of the state bucket's lifecycle rules the deploy owns (others are never touched).
STATE_LIFECYCLE_RULE_IDS = ("iaf-expire-noncurrent-versions", "iaf-abort-incomplete-uploads")


class Secret(str):
    """A secret value: prints as ``***`` wherever a plan or a repr shows it."""

    def __repr__(self) -> str:
        return "'***'"

    @property
    def value(self) -> str:
        return str.__str__(self)


def _short_hash(text: str, length: int = 6) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def bounded(base: str, suffix: str, limit: int, original: str) -> str:
    """``base + suffix`` within ``limit`` characters; shortened with a hash of ``original`` if needed."""
    if len(base) + len(suffix) <= limit and base == original:
        return base + suffix
    keep = max(1, limit - len(suffix) - 7)
    return f"{base[:keep].rstrip('-_.')}-{_short_hash(original)}{suffix}"


def bucket_name(account: str, region: str, function: str) -> str:
    """Globally unique, DNS-compliant (3-63 chars of a-z 0-9 '-'), starts and ends alphanumeric."""
    slug = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", function.lower())).strip("-") or "bot"
    suffix = f"-{account}-{region}"
    prefix = "iaf-"
    budget = 63 - len(prefix) - len(suffix)
    if slug != function or len(slug) > budget:
        slug = f"{slug[:max(1, budget - 7)].strip('-')}-{_short_hash(function)}"
    return f"{prefix}{slug}{suffix}"


def repository_name(function: str) -> str:
    """A valid ECR name for any Lambda name: lowercase, runs of separators collapsed to one '-',
    no separator at either end (ECR: ``[a-z0-9]+(?:[._-][a-z0-9]+)*``). When the name had to
    change, a short hash of the original keeps two functions (``Bot``/``bot``, ``a_-b``/``a-b``)
    from sharing a repository. No '/' in it: a flat name is the most portable (moto's Lambda,
    for one, reads only the last segment)."""
    lowered = function.lower()
    slug = re.sub(r"[^a-z0-9]*[._-][^a-z0-9]*", lambda m: m.group(0) if len(m.group(0)) == 1 else "-", lowered)
    slug = re.sub(r"[^a-z0-9._-]", "", slug).strip("-_.") or "bot"
    name = f"iaf-{slug}"
    return name if slug == function else f"{name}-{_short_hash(function)}"


@dataclass(frozen=True)
class Names:
    account: str
    region: str
    partition: str
    function: str
    bucket: str
    repository: str
    role: str
    role_policy: str
    scheduler_role: str
    scheduler_policy: str
    schedule: str
    ssm_path: str
    log_group: str

    @classmethod
    def derive(cls, account: str, region: str, function: str) -> "Names":
        partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
        return cls(
            account=account, region=region, partition=partition, function=function,
            bucket=bucket_name(account, region, function),
            repository=repository_name(function),
            role=bounded(function, "-iaf-lambda", 64, function),
            role_policy="iaf-deploy-least-privilege",
            scheduler_role=bounded(function, "-iaf-scheduler", 64, function),
            scheduler_policy="iaf-invoke-live-alias",
            schedule=bounded(function, "-iaf", 64, function),
            ssm_path=ssm_parameter_path(function),
            log_group=f"/aws/lambda/{function}",
        )

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (f"arn:{self.partition}:{service}:{self.region if region else ''}:"
                f"{self.account if account else ''}:{resource}")

    @property
    def role_arn(self) -> str:
        return self.arn("iam", f"role/{self.role}", region=False)

    @property
    def scheduler_role_arn(self) -> str:
        return self.arn("iam", f"role/{self.scheduler_role}", region=False)

    @property
    def function_arn(self) -> str:
        return self.arn("lambda", f"function:{self.function}")

    @property
    def alias_arn(self) -> str:
        return f"{self.function_arn}:{ALIAS}"

    @property
    def registry(self) -> str:
        suffix = "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"
        return f"{self.account}.dkr.ecr.{self.region}.{suffix}"


# --- policy documents ----------------------------------------------------------------------

def lambda_trust_policy(names: Names) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def scheduler_trust_policy(names: Names) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": names.account}}}]}


def function_policy(names: Names, prefix: str = STATE_PREFIX) -> dict[str, Any]:
    """Least privilege: its own bucket (and prefix), its own log group, its own SSM path."""
    bucket_arn = f"arn:{names.partition}:s3:::{names.bucket}"
    list_statement: dict[str, Any] = {"Sid": "ListOwnStateBucket", "Effect": "Allow",
                                      "Action": ["s3:ListBucket"], "Resource": [bucket_arn]}
    if prefix:
        list_statement["Condition"] = {"StringLike": {"s3:prefix": [f"{prefix}*"]}}
    log_group_arn = names.arn("logs", f"log-group:{names.log_group}")
    ssm_path = names.ssm_path.rstrip("/")
    return {"Version": "2012-10-17", "Statement": [
        list_statement,
        # No s3:DeleteObject: the state handler never deletes, so a bot cannot lose its history.
        {"Sid": "ReadWriteOwnState", "Effect": "Allow",
         "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
         "Resource": [f"{bucket_arn}/{prefix}*"]},
        # CloudWatch Logs matches IAM resources in these forms only: "log-group:NAME:*" for the
        # group (a bare "log-group:NAME" never matches) and "...:log-stream:*" for its streams.
        {"Sid": "OwnLogGroup", "Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream"],
         "Resource": [f"{log_group_arn}:*"]},
        {"Sid": "OwnLogStreams", "Effect": "Allow", "Action": ["logs:PutLogEvents"],
         "Resource": [f"{log_group_arn}:log-stream:*"]},
        {"Sid": "OwnSecrets", "Effect": "Allow", "Action": ["ssm:GetParametersByPath", "ssm:GetParameters",
                                                             "ssm:GetParameter"],
         "Resource": [names.arn("ssm", f"parameter{ssm_path}"), names.arn("ssm", f"parameter{ssm_path}/*")]},
        {"Sid": "DecryptOwnSecrets", "Effect": "Allow", "Action": ["kms:Decrypt"],
         "Resource": [names.arn("kms", "key/*")],
         "Condition": {"StringEquals": {"kms:ViaService": f"ssm.{names.region}.amazonaws.com"}}},
    ]}


def scheduler_policy(names: Names) -> dict[str, Any]:
    """The schedule may invoke the ``live`` alias of this one function, nothing else."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "InvokeLiveAlias", "Effect": "Allow", "Action": ["lambda:InvokeFunction"],
        "Resource": [names.alias_arn]}]}


def bucket_policy(names: Names) -> dict[str, Any]:
    bucket_arn = f"arn:{names.partition}:s3:::{names.bucket}"
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}


PUBLIC_ACCESS_BLOCK = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                       "RestrictPublicBuckets": True}
ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                         "BucketKeyEnabled": True}]}


def lifecycle_policy() -> dict[str, Any]:
    """The repository's only lifecycle rule: untagged images expire after a day.

    Never a count rule over all images: it would expire the image of a version still in the
    rollback window (Lambda then marks that version Failed). Tagged images of old versions are
    pruned by the deploy itself, which knows which versions are kept.
    """
    return {"rules": [{"rulePriority": 1, "description": f"Expire untagged images after {UNTAGGED_IMAGE_DAYS} day",
                       "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
                                     "countNumber": UNTAGGED_IMAGE_DAYS},
                       "action": {"type": "expire"}}]}


def repository_policy(names: Names) -> dict[str, Any]:
    """Lambda may pull the bot's images, for this account's functions only (AWS's documented form)."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "LambdaECRImageRetrievalPolicy", "Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
        "Condition": {"StringLike": {"aws:sourceArn": names.arn("lambda", "function:*")},
                      "StringEquals": {"aws:sourceAccount": names.account}}}]}


def state_lifecycle_rules() -> tuple[dict[str, Any], ...]:
    """The state bucket's own lifecycle rules (merged with any a reused bucket already has)."""
    expire, abort = STATE_LIFECYCLE_RULE_IDS
    return (
        {"ID": expire, "Status": "Enabled", "Filter": {},
         "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_STATE_DAYS}},
        {"ID": abort, "Status": "Enabled", "Filter": {},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_UPLOAD_DAYS}},
    )


# --- desired state -------------------------------------------------------------------------

# The desired function configuration (the same type as the live one).
DesiredFunction = FunctionConfig


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
    alias: str = ALIAS
    reserved_concurrency: int = RESERVED_CONCURRENCY
    event_invoke: EventInvokeConfig = EventInvokeConfig(MAX_RETRY_ATTEMPTS, MAX_EVENT_AGE_SECONDS)
    build_with: str | None = None  # builder name when the image is built during apply
    rollback_window: int = DEFAULT_ROLLBACK_WINDOW  # published versions kept (with their images)
    placements: tuple[Placement, ...] = ()  # where each user variable went (SSM or plain) and why
    alerts: Alerts | None = None  # None: no alerts (existing ones are removed); see alerts.py
    provisioned_concurrency: int | None = None  # on the alias; None: not managed (never set)

    @property
    def manage_role(self) -> bool:
        return self.role is not None


def desired_bucket(names: Names) -> Bucket:
    return Bucket(name=names.bucket, public_access_block=PUBLIC_ACCESS_BLOCK, encryption=ENCRYPTION,
                  versioning="Enabled", policy=bucket_policy(names), lifecycle_rules=state_lifecycle_rules())


def desired_repository(names: Names) -> Repository:
    return Repository(name=names.repository, uri=f"{names.registry}/{names.repository}", scan_on_push=True,
                      lifecycle_policy=lifecycle_policy(), policy=repository_policy(names))


def desired_role(names: Names) -> Role:
    return Role(name=names.role, arn=names.role_arn, trust_policy=lambda_trust_policy(names),
                policy_name=names.role_policy, policy=function_policy(names),
                description=f"Execution role of the trading bot {names.function} (deploy-aws-lambda).")


def desired_scheduler_role(names: Names) -> Role:
    return Role(name=names.scheduler_role, arn=names.scheduler_role_arn, trust_policy=scheduler_trust_policy(names),
                policy_name=names.scheduler_policy, policy=scheduler_policy(names),
                description=f"Lets EventBridge Scheduler invoke {names.function}:{ALIAS} (deploy-aws-lambda).")


def build_desired(names: Names, *, memory_size: int, timeout: int, architecture: str,
                  plain_env: Mapping[str, str], secrets: Mapping[str, str], image_uri: str | None,
                  role_arn: str | None, schedule: str | None, timezone: str, builder: str | None,
                  with_secrets: bool = True, log_retention_days: int = DEFAULT_LOG_RETENTION_DAYS,
                  rollback_window: int = DEFAULT_ROLLBACK_WINDOW,
                  placements: tuple[Placement, ...] = (),
                  ephemeral_storage: int = DEFAULT_EPHEMERAL_STORAGE, alerts: Alerts | None = None) -> DesiredState:
    """``with_secrets``: SSM parameters exist (or will): only then the function loads them."""
    environment = {k: v for k, v in plain_env.items() if k not in MANAGED_ENV_NAMES}
    # The timeout lets the handler size its state lease to outlive a run.
    environment.update({STATE_BUCKET_ENV: names.bucket, STATE_PREFIX_ENV: STATE_PREFIX,
                        FUNCTION_TIMEOUT_ENV: str(timeout)})
    if with_secrets:
        environment[SSM_PARAMETER_PATH_ENV] = names.ssm_path
    function = FunctionConfig(
        image_uri=image_uri, memory_size=memory_size, timeout=timeout,
        architecture=architecture, environment=dict(sorted(environment.items())),
        role_arn=role_arn or names.role_arn, ephemeral_storage=ephemeral_storage)
    desired_schedule = None
    if schedule:
        desired_schedule = Schedule(name=names.schedule, group=SCHEDULE_GROUP, expression=schedule, timezone=timezone,
                                    target_arn=names.alias_arn, role_arn=names.scheduler_role_arn, enabled=True,
                                    retries=MAX_RETRY_ATTEMPTS, max_event_age=MAX_EVENT_AGE_SECONDS)
    return DesiredState(
        names=names, bucket=desired_bucket(names), repository=desired_repository(names),
        role=desired_role(names) if role_arn is None else None, function=function,
        log_group=LogGroup(names.log_group, log_retention_days),
        secrets={f"{names.ssm_path}{k}": Secret(v) for k, v in sorted(secrets.items())},
        schedule=desired_schedule, scheduler_role=desired_scheduler_role(names) if schedule else None,
        build_with=None if image_uri else builder, rollback_window=rollback_window, placements=placements,
        alerts=alerts)
