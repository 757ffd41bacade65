"""The function's CloudWatch log group, with a retention period (Lambda would create one kept forever)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..models import (CREATE, DELETE, UNCHANGED, UPDATE, ActionGroup, Call, DesiredState, LiveState, LogGroup,
                      PlanContext, Spec, Step)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..awsclient import AWSClient

RESOURCE = "Log group"


def desired(spec: Spec) -> dict[str, Any]:
    return {"log_group": LogGroup(spec.names.log_group, spec.log_retention_days)}


def read(client: AWSClient, spec: Spec, live: LiveState) -> dict[str, Any]:
    return {"log_group": client.log_group(spec.names.log_group)}


def plan(want: DesiredState | None, live: LiveState, ctx: PlanContext) -> list[Step]:
    have = live.log_group
    if want is None:
        return [] if have is None else [Step(RESOURCE, have.name, DELETE, (),
                                             (Call("delete_log_group", {"name": have.name}),))]
    goal = want.log_group
    retention = f"{goal.retention_days} days" if goal.retention_days else "kept forever"
    if have is None:
        return [Step(RESOURCE, goal.name, CREATE, (f"retention {retention}",),
                     (Call("create_log_group", {"name": goal.name, "retention_days": goal.retention_days}),))]
    if have.retention_days == goal.retention_days:
        return [Step(RESOURCE, goal.name, UNCHANGED, (f"retention {retention}",))]
    was = f"{have.retention_days} days" if have.retention_days else "forever"
    return [Step(RESOURCE, goal.name, UPDATE, (f"retention {was} -> {retention}",),
                 (Call("put_retention_policy", {"name": goal.name, "retention_days": goal.retention_days}),))]


def actions(spec: Spec) -> list[ActionGroup]:
    group = spec.names.arn("logs", f"log-group:{spec.names.log_group}:*")
    if spec.destroy:
        return [ActionGroup(group, ("logs:DescribeLogGroups", "logs:DeleteLogGroup"))]
    # The cost estimate reads the durations of the last runs (DescribeLogStreams, GetLogEvents).
    return [ActionGroup(group, ("logs:DescribeLogGroups", "logs:CreateLogGroup", "logs:TagResource",
                                "logs:PutRetentionPolicy", "logs:DescribeLogStreams", "logs:GetLogEvents"))]
