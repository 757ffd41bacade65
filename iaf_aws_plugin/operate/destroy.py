"""``destroy-aws-lambda``: remove everything ``deploy-aws-lambda`` made for a bot, as a plan.

The same kinds as the deploy plan it (:func:`~iaf_aws_plugin.deploy.planner.plan_destroy`, in
reverse order): the alerts (topic and alarms), the schedule, the alias and the function with
every version, the SSM parameters, the log group, the IAM roles (the function's only when the
deploy created it), the bot's ECR repository with its images. The state bucket (the trading
history) is kept unless ``delete_state``; ``iaf-aws-lambda.json`` is kept, so ``deploy-aws-lambda``
brings the bot back with its state. Each step reads what exists first: a second run has nothing to do.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..deploy.models import Plan
    from .target import Target

Echo = Callable[[str], None]


def plan_destroy(target: Target, *, delete_state: bool, keep_logs: bool = False) -> Plan:
    """``keep_logs``: the log group (the trade audit trail) stays, with its retention."""
    from dataclasses import replace

    from ..deploy.models import UNCHANGED, Spec, Step
    from ..deploy.planner import plan_destroy as plan, read_live_state
    from ..deploy.resources.log_group import RESOURCE as LOG_GROUP

    names = target.names
    own_role = target.saved.get("role_arn") in (None, names.role_arn)
    spec = Spec(names, role_arn=None if own_role else str(target.saved.get("role_arn")), destroy=True,
                delete_state=delete_state)
    planned = plan(read_live_state(target.client, spec), names, delete_state=delete_state)
    if not keep_logs:
        return planned
    return replace(planned, steps=tuple(
        Step(LOG_GROUP, step.name, UNCHANGED, ("--keep-logs",)) if step.resource == LOG_GROUP else step
        for step in planned.steps))


def render(plan: Plan, target: Target) -> list[str]:
    lines = [step.describe().replace("unchanged", "     keep", 1) for step in plan.steps]
    if plan.is_noop:
        kept = " (the state bucket is kept)" if plan.steps else ""
        lines.append(f"Nothing to destroy: no resources of {target.function} are left in {target.region}{kept}.")
    else:
        lines.append(f"Destroy: {len(plan.changes)} to delete.")
    return lines


def destroy(target: Target, plan: Plan, *, echo: Echo) -> None:
    from ..deploy.executor import Executor

    Executor(target.client, echo=echo).execute(plan)
