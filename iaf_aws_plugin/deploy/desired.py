"""Moved: names are in :mod:`.names`, the models in :mod:`.models`, each resource's documents in its
kind module under :mod:`.resources`, and the desired state is built by
:func:`~.planner.desired_state`. These names are kept for old imports."""
from __future__ import annotations

from dataclasses import replace
from typing import Mapping

from .environment import Placement
from .models import (MAX_EVENT_AGE_SECONDS, MAX_RETRY_ATTEMPTS, RESERVED_CONCURRENCY, Alerts, Bucket, DesiredState,
                     EventInvokeConfig, FunctionConfig, LogGroup, Repository, Role, Schedule, Secret, Spec)
from .names import ALIAS, SCHEDULE_GROUP, Names, bounded, bucket_name, repository_name
from .planner import desired_state
from .resources.bucket import (ABORT_UPLOAD_DAYS, ENCRYPTION, NONCURRENT_STATE_DAYS, PUBLIC_ACCESS_BLOCK,
                               STATE_LIFECYCLE_RULE_IDS, bucket_policy, desired_bucket, state_lifecycle_rules)
from .resources.repository import UNTAGGED_IMAGE_DAYS, desired_repository, lifecycle_policy, repository_policy
from .resources.roles import (desired_role, desired_scheduler_role, function_policy, lambda_trust_policy,
                              scheduler_policy, scheduler_trust_policy)
from .settings import DEFAULT_EPHEMERAL_STORAGE, DEFAULT_LOG_RETENTION_DAYS, DEFAULT_ROLLBACK_WINDOW

__all__ = [
    "ABORT_UPLOAD_DAYS", "ALIAS", "Bucket", "DesiredFunction", "DesiredState", "ENCRYPTION", "EventInvokeConfig",
    "FunctionConfig", "LogGroup", "MAX_EVENT_AGE_SECONDS", "MAX_RETRY_ATTEMPTS", "NONCURRENT_STATE_DAYS",
    "Names", "PUBLIC_ACCESS_BLOCK", "RESERVED_CONCURRENCY", "Repository", "Role", "SCHEDULE_GROUP", "STATE_LIFECYCLE_RULE_IDS",
    "Schedule", "Secret", "UNTAGGED_IMAGE_DAYS", "bounded", "bucket_name", "bucket_policy", "build_desired",
    "desired_bucket", "desired_repository", "desired_role", "desired_scheduler_role", "function_policy",
    "lambda_trust_policy", "lifecycle_policy", "repository_name", "repository_policy", "scheduler_policy",
    "scheduler_trust_policy", "state_lifecycle_rules",
]

# The desired function configuration (the same type as the live one).
DesiredFunction = FunctionConfig


def build_desired(names: Names, *, memory_size: int, timeout: int, architecture: str,
                  plain_env: Mapping[str, str], secrets: Mapping[str, str], image_uri: str | None,
                  role_arn: str | None, schedule: str | None, timezone: str, builder: str | None,
                  with_secrets: bool = True, log_retention_days: int = DEFAULT_LOG_RETENTION_DAYS,
                  rollback_window: int = DEFAULT_ROLLBACK_WINDOW,
                  placements: tuple[Placement, ...] = (),
                  ephemeral_storage: int = DEFAULT_EPHEMERAL_STORAGE, alerts: Alerts | None = None) -> DesiredState:
    """The desired state of these settings (``alerts`` as built by ``desired_alerts``)."""
    spec = Spec(names, memory_size=memory_size, timeout=timeout, architecture=architecture, plain_env=plain_env,
                secrets=secrets, image_uri=image_uri, role_arn=role_arn, schedule=schedule, timezone=timezone,
                builder=builder, with_secrets=with_secrets, log_retention_days=log_retention_days,
                rollback_window=rollback_window, placements=placements, ephemeral_storage=ephemeral_storage)
    return replace(desired_state(spec), alerts=alerts)
