"""The schedule's dead-letter SQS queue: a run EventBridge Scheduler could not deliver (after its
retries) is parked here instead of being lost. Encrypted (SQS-managed keys), kept 14 days, and
only the bot's scheduler role may send to it. It exists with a schedule only; without one (and on
destroy) it is removed. ``status-aws-lambda`` shows its depth, and with ``--alert-email`` an alarm
fires as soon as it holds a message (:mod:`.alerts`)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..models import (CREATE, DELETE, UNCHANGED, UPDATE, ActionGroup, Call, DesiredState, LiveState, PlanContext,
                      Queue, Spec, Step)
from ..names import Names
from .common import policy_equal

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..awsclient import AWSClient

RESOURCE = "Dead-letter queue"
#: SQS's longest retention: two weeks to notice and replay an undelivered run.
RETENTION_SECONDS = 1209600


def queue_policy(names: Names) -> dict[str, Any]:
    """Only the bot's scheduler role may send to the queue."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "OnlyTheBotsScheduler", "Effect": "Allow", "Principal": {"AWS": names.scheduler_role_arn},
        "Action": "sqs:SendMessage", "Resource": names.dead_letter_arn}]}


def desired_queue(names: Names) -> Queue:
    return Queue(name=names.dead_letter_queue, arn=names.dead_letter_arn, retention_seconds=RETENTION_SECONDS,
                 sse=True, policy=queue_policy(names))


def desired(spec: Spec) -> dict[str, Any]:
    return {"dead_letter": desired_queue(spec.names) if spec.schedule else None}


def read(client: AWSClient, spec: Spec, live: LiveState) -> dict[str, Any]:
    return {"dead_letter": client.queue(spec.names.dead_letter_queue, spec.names.dead_letter_arn,
                                        attributes=not spec.destroy and bool(spec.schedule))}


def plan(want_state: DesiredState | None, live: LiveState, ctx: PlanContext) -> list[Step]:
    have = live.dead_letter
    want = None if want_state is None else want_state.dead_letter
    if want is None:
        if have is None:
            return []
        return [Step(RESOURCE, have.name, DELETE, ("no schedule",) if want_state is not None else (),
                     (Call("delete_queue", {"name": have.name, "url": have.url}),))]
    if have is None:
        return [Step(RESOURCE, want.name, CREATE, ("encrypted, only the scheduler role may send",),
                     (Call("create_queue", {"queue": want}),))]
    changes = []
    if have.sse != want.sse:
        changes.append("encryption")
    if have.retention_seconds != want.retention_seconds:
        changes.append(f"retention {want.retention_seconds // 86400 if want.retention_seconds else 0} days")
    if not policy_equal(have.policy, want.policy):
        changes.append("queue policy")
    if not changes:
        return [Step(RESOURCE, want.name, UNCHANGED)]
    return [Step(RESOURCE, want.name, UPDATE, tuple(changes),
                 (Call("set_queue_attributes", {"queue": want, "url": have.url}),))]


def actions(spec: Spec) -> list[ActionGroup]:
    queue = spec.names.dead_letter_arn
    if spec.schedule and not spec.destroy:
        return [ActionGroup(queue, ("sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:CreateQueue", "sqs:TagQueue",
                                    "sqs:SetQueueAttributes"))]
    return [ActionGroup(queue, ("sqs:GetQueueUrl", "sqs:DeleteQueue"))]
