"""``destroy-aws-lambda``: remove everything ``deploy-aws-lambda`` made for a bot, as a plan.

Removed: the schedule and its IAM role, the alias, the function with every version, the
function's IAM role (only the one the deploy created), the bot's ECR repository with its images,
the log group, the SSM parameters and the alerts (topic and alarms). The state bucket (the trading history) is kept unless
``delete_state``; ``iaf-aws-lambda.json`` is kept, so ``deploy-aws-lambda`` brings the bot back
with its state. Each step checks what exists first: a second run has nothing to do.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..deploy.planner import Plan
    from .target import Target

Echo = Callable[[str], None]


def plan_destroy(target: Target, *, delete_state: bool) -> Plan:
    from ..deploy.desired import ALIAS, SCHEDULE_GROUP
    from ..deploy.planner import DELETE, UNCHANGED, Call, Plan, Step
    from .state import human_size

    client, names = target.client, target.names
    steps: list[Step] = []
    if client.schedule(names.schedule, SCHEDULE_GROUP) is not None:
        steps.append(Step("Schedule", names.schedule, DELETE, (),
                          (Call("delete_schedule", {"name": names.schedule, "group": SCHEDULE_GROUP}),)))
    if client.get_role(names.scheduler_role) is not None:
        steps.append(Step("Scheduler IAM role", names.scheduler_role, DELETE, (),
                          (Call("delete_role", {"name": names.scheduler_role}),)))
    function = client.get_function(names.function)
    if function is not None:
        if client.get_alias(names.function, ALIAS) is not None:
            steps.append(Step("Lambda alias", f"{names.function}:{ALIAS}", DELETE, (),
                              (Call("delete_alias", {"function": names.function, "alias": ALIAS}),)))
        versions = [str(v["Version"]) for v in client.list_versions(names.function)]
        steps.append(Step("Lambda function", names.function, DELETE,
                          (f"versions {', '.join(versions)}" if versions else "no published version",),
                          (Call("delete_function", {"function": names.function}),)))
    own_role = target.saved.get("role_arn") in (None, names.role_arn)
    if own_role and client.get_role(names.role) is not None:
        steps.append(Step("IAM role", names.role, DELETE, (), (Call("delete_role", {"name": names.role}),)))
    if client.repository_exists(names.repository):
        steps.append(Step("ECR repository", names.repository, DELETE, ("with its images",),
                          (Call("delete_repository", {"name": names.repository}),)))
    if client.log_group_exists(names.log_group):
        steps.append(Step("Log group", names.log_group, DELETE, (),
                          (Call("delete_log_group", {"name": names.log_group}),)))
    parameters = client.parameter_names(names.ssm_path)
    if parameters:
        short = [p[len(names.ssm_path):] for p in parameters]
        steps.append(Step("SSM secrets", names.ssm_path, DELETE, tuple(short),
                          (Call("delete_parameters", {"names": parameters}),)))
    alerts = client.live_alerts(names)
    if alerts is not None:
        calls = []
        if alerts.alarms:
            calls.append(Call("delete_alarms", {"names": sorted(alerts.alarms)}))
        if alerts.topic_arn:
            calls.append(Call("delete_topic", {"arn": alerts.topic_arn}))
        steps.append(Step("Alerts", alerts.topic_name, DELETE,
                          (f"{len(alerts.alarms)} alarms" + (", SNS topic" if alerts.topic_arn else ""),), tuple(calls)))
    if client.bucket_exists(names.bucket, names.account):
        if delete_state:
            count, size = client.count_object_versions(names.bucket)
            steps.append(Step("S3 state bucket", names.bucket, DELETE,
                              (f"TRADING STATE: {count} object versions, {human_size(size)}",),
                              (Call("delete_bucket", {"bucket": names.bucket, "account": names.account}),)))
        else:
            steps.append(Step("S3 state bucket", names.bucket, UNCHANGED,
                              ("kept: the trading state; --delete-state removes it",)))
    return Plan(tuple(steps))


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
