"""The user's own tags (``--tag KEY=VALUE``, saved) on every taggable resource of the bot: the
function, its roles, the state bucket, the repository, the log group, the dead-letter queue, the
alert topic and alarms, and the SSM parameters. EventBridge Scheduler schedules take no tags.

Last in :data:`~.KINDS`: a resource created by this plan is tagged right after it. Only the
user's keys are touched: those asked for now and those an earlier deploy set (``dropped``: in the
saved settings, not asked for any more), never the deploy's ``managed-by`` nor anybody else's.
Nothing is read when no tag was ever asked for.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from ..models import UNCHANGED, UPDATE, ActionGroup, Call, DesiredState, LiveState, PlanContext, Spec, Step
from ..names import Names
from ..tagging_calls import TAG_ACTIONS
from ..tags import tag_changes

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..awsclient import AWSClient

RESOURCE = "Tags"


@dataclass(frozen=True)
class Target:
    """One taggable resource: how the plan names it, its tag calls' ``(service, ident)``, and the
    call (method, parameter, value) that creates it in a plan."""

    label: str
    service: str
    ident: str
    created_by: tuple[str, str, Any]


def targets(names: Names, *, bucket: bool, repository: bool, role: bool, scheduler_role: bool, log_group: bool,
            function: bool, queue: bool, topic: bool, alarms: Iterable[str], parameters: Iterable[str]) -> list[Target]:
    """The bot's taggable resources among those named (in the plan's order)."""
    found = []
    if bucket:
        found.append(Target(f"S3 bucket {names.bucket}", "s3", names.bucket, ("create_bucket", "bucket", names.bucket)))
    if repository:
        found.append(Target(f"ECR repository {names.repository}", "ecr", names.arn("ecr", f"repository/{names.repository}"),
                            ("create_repository", "name", names.repository)))
    if role:
        found.append(Target(f"IAM role {names.role}", "iam", names.role, ("create_role", "name", names.role)))
    if scheduler_role:
        found.append(Target(f"IAM role {names.scheduler_role}", "iam", names.scheduler_role,
                            ("create_role", "name", names.scheduler_role)))
    if log_group:
        found.append(Target(f"log group {names.log_group}", "logs", names.arn("logs", f"log-group:{names.log_group}"),
                            ("create_log_group", "name", names.log_group)))
    for parameter in sorted(set(parameters)):
        found.append(Target(f"SSM parameter {parameter}", "ssm", parameter, ("put_secure_parameter", "name", parameter)))
    if function:
        found.append(Target(f"Lambda function {names.function}", "lambda", names.function_arn,
                            ("create_function", "name", names.function)))
    if queue:
        found.append(Target(f"SQS queue {names.dead_letter_queue}", "sqs", names.dead_letter_queue,
                            ("create_queue", "queue", names.dead_letter_queue)))
    if topic:
        found.append(Target(f"SNS topic {names.alert_topic}", "sns", names.arn("sns", names.alert_topic),
                            ("create_topic", "name", names.alert_topic)))
    for alarm in sorted(alarms):
        found.append(Target(f"alarm {alarm}", "cloudwatch", names.arn("cloudwatch", f"alarm:{alarm}"),
                            ("put_metric_alarm", "name", alarm)))
    return found


def _live_targets(spec: Spec, live: LiveState) -> list[Target]:
    alerts = live.alerts
    return targets(spec.names, bucket=live.bucket is not None, repository=live.repository is not None,
                   role=live.role is not None, scheduler_role=live.scheduler_role is not None,
                   log_group=live.log_group is not None, function=live.function is not None,
                   queue=live.dead_letter is not None, topic=alerts is not None and alerts.topic_arn is not None,
                   alarms=alerts.alarms if alerts else (), parameters=live.parameters)


def _desired_targets(want: DesiredState, live: LiveState) -> list[Target]:
    alerts = want.alerts
    return targets(want.names, bucket=True, repository=True, role=want.role is not None,
                   scheduler_role=want.scheduler_role is not None, log_group=True, function=True,
                   queue=want.dead_letter is not None, topic=alerts is not None, alarms=alerts.alarms if alerts else (),
                   parameters=set(want.secrets) | set(live.parameters))


def desired(spec: Spec) -> dict[str, Any]:
    return {"tags": dict(spec.tags), "dropped_tags": tuple(spec.dropped_tags)}


def read(client: AWSClient, spec: Spec, live: LiveState) -> dict[str, Any]:
    if spec.destroy or not (spec.tags or spec.dropped_tags):
        return {}
    return {"tags": {t.ident: client.resource_tags(t.service, t.ident) for t in _live_targets(spec, live)}}


def _created(target: Target, steps: list[Step]) -> bool:
    method, key, value = target.created_by
    return any(call.method == method and (call.params.get(key) == value or getattr(call.params.get(key), "name",
                                                                                    None) == value)
               for step in steps for call in step.calls)


def plan(want: DesiredState | None, live: LiveState, ctx: PlanContext) -> list[Step]:
    if want is None or not (want.tags or want.dropped_tags):
        return []
    steps, same = [], 0
    for target in _desired_targets(want, live):
        if target.ident in live.tags:
            have = dict(live.tags[target.ident])
        elif _created(target, ctx.steps):
            have = {}
        else:  # neither there nor created by this plan
            continue
        put, remove, text = tag_changes(want.tags, have, want.dropped_tags)
        if not text:
            same += 1
            continue
        keep = {k: v for k, v in have.items() if k not in remove and k not in put}
        s3 = {"keep": keep} if target.service == "s3" else {}
        calls = ([Call("tag_resource", {"service": target.service, "ident": target.ident, "tags": put, **s3})]
                 if put else []) + ([Call("untag_resource", {"service": target.service, "ident": target.ident,
                                                             "keys": remove, **s3})] if remove else [])
        if target.service == "s3" and put and remove:  # one whole-set write does both
            calls = calls[:1]
        steps.append(Step(RESOURCE, target.label, UPDATE, tuple(text), tuple(calls)))
    if same:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(want.tags.items())) or "none of yours"
        steps.append(Step(RESOURCE, f"{same} resource(s)", UNCHANGED, (shown,)))
    return steps


def actions(spec: Spec) -> list[ActionGroup]:
    if spec.destroy or not (spec.tags or spec.dropped_tags):
        return []
    names = spec.names
    where = {"lambda": names.function_arn, "s3": f"arn:{names.partition}:s3:::{names.bucket}",
             "ecr": names.arn("ecr", f"repository/{names.repository}"),
             "logs": names.arn("logs", f"log-group:{names.log_group}:*"), "sqs": names.dead_letter_arn,
             "sns": names.arn("sns", names.alert_topic),
             "cloudwatch": names.arn("cloudwatch", f"alarm:{names.alarm_prefix}*"),
             "ssm": names.arn("ssm", f"parameter{names.ssm_path.rstrip('/')}/*")}
    groups = [ActionGroup(resource, TAG_ACTIONS[service]) for service, resource in where.items()]
    roles = ([names.role_arn] if spec.manage_role else []) + ([names.scheduler_role_arn] if spec.schedule else [])
    return groups + [ActionGroup(arn, TAG_ACTIONS["iam"]) for arn in roles]
