"""Settings -> desired state; AWS -> live state; both -> a :class:`Plan` of plain-data calls.

Every function here loops over :data:`~.resources.KINDS`; what a resource is, how it is read and
how it changes is in its kind module. Planning makes no AWS call: it is a pure function of two
data structures, tested on in-memory data. Each resource gets steps: ``create``, ``update``
(with what changes), ``delete``, ``build`` or ``unchanged``; only the first four carry calls.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .models import (BUILD, CREATE, DELETE, SECRETS_DIGEST_LENGTH, UNCHANGED, UPDATE, Call, DesiredState,
                     LiveState, Plan, PlanContext, Prune, Ref, SecretsDigest, Spec, Step, secrets_digest)
from .names import Names
from .resources import KINDS
from .resources.bucket import merged_lifecycle_rules
from .resources.common import canonical, merged_policy, same_image
from .resources.function import (check_size, env_changes, function_code_changes, function_config_changes,
                                 plan_prune, with_secrets_digest)
from .resources.provisioned import plan as _plan_provisioned
from .resources.roles import plan_role
from .resources.schedule import schedule_changes
from .resources.secrets import version_output

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .awsclient import AWSClient

__all__ = [
    "BUILD", "CREATE", "Call", "DELETE", "Plan", "Prune", "Ref", "SECRETS_DIGEST_LENGTH", "SecretsDigest", "Step",
    "UNCHANGED", "UPDATE", "canonical", "check_size", "dependency_order", "desired_state", "env_changes",
    "function_code_changes", "function_config_changes", "merged_lifecycle_rules", "merged_policy", "plan_deploy",
    "plan_destroy",
    "plan_provisioned_concurrency", "plan_prune", "plan_role", "read_live_state", "same_image", "schedule_changes",
    "secrets_digest", "version_output", "with_secrets_digest",
]


def desired_state(spec: Spec) -> DesiredState:
    """Every kind's desired resources for ``spec``."""
    fields: dict[str, Any] = {}
    for kind in KINDS:
        fields.update(kind.desired(spec))
    return DesiredState(names=spec.names, **fields)


def read_live_state(client: AWSClient, spec: Spec) -> LiveState:
    """Every kind's live resources, in order (read calls only); for a destroy with ``spec.destroy``."""
    live = LiveState()
    for kind in KINDS:
        live = replace(live, **kind.read(client, spec, live))
    return live


def dependency_order(per_kind: list[list[Step]]) -> tuple[Step, ...]:
    """The steps of each kind (given in :data:`KINDS` order) as they run: creations and updates in
    dependency order, then every deletion in the reverse order, so nothing is removed while a
    resource that uses it still exists (a schedule before its dead-letter queue and its role)."""
    forward = [step for steps in per_kind for step in steps if step.action != DELETE]
    backward = [step for steps in reversed(per_kind) for step in steps if step.action == DELETE]
    return tuple(forward + backward)


def plan_deploy(desired: DesiredState, live: LiveState) -> Plan:
    """The whole plan, in dependency order (what the function needs comes first; deletions last,
    backwards)."""
    ctx = PlanContext(desired.names)
    per_kind = []
    for kind in KINDS:
        steps = kind.plan(desired, live, ctx)
        ctx.steps += steps
        per_kind.append(steps)
    return Plan(dependency_order(per_kind), tuple(ctx.notes), tuple(p.describe() for p in desired.placements))


def plan_destroy(live: LiveState, names: Names, *, delete_state: bool) -> Plan:
    """Removal of every resource that exists, in reverse dependency order (the state bucket only
    with ``delete_state``)."""
    ctx = PlanContext(names, delete_state=delete_state)
    for kind in reversed(KINDS):
        ctx.steps += kind.plan(None, live, ctx)
    return Plan(tuple(ctx.steps))


def plan_provisioned_concurrency(desired: DesiredState, live: LiveState) -> list[Step]:
    """Provisioned concurrency on the alias (0 or 1): kept warm, paid for every second."""
    return _plan_provisioned(desired, live, PlanContext(desired.names))
