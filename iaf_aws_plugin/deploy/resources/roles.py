"""The IAM roles: the function's execution role (unless ``--role-arn`` brings one) and, with a
schedule, the role EventBridge Scheduler invokes the alias with. Each has one inline
least-privilege policy."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...function_env import STATE_PREFIX
from ..models import (CREATE, DELETE, UNCHANGED, UPDATE, ActionGroup, Call, DesiredState, LiveState, PlanContext,
                      Role, Spec, Step)
from ..names import ALIAS, Names
from .common import policy_equal

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..awsclient import AWSClient

FUNCTION_ROLE, SCHEDULER_ROLE = "IAM role", "Scheduler IAM role"
#: The service each role is passed to (iam:PassRole is allowed for it only, e.g. by AWSLambda_FullAccess).
LAMBDA_SERVICE, SCHEDULER_SERVICE = "lambda.amazonaws.com", "scheduler.amazonaws.com"
_ROLE_ACTIONS = ("iam:GetRole", "iam:CreateRole", "iam:TagRole", "iam:GetRolePolicy", "iam:PutRolePolicy",
                 "iam:UpdateAssumeRolePolicy")


def lambda_trust_policy(names: Names) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": LAMBDA_SERVICE}, "Action": "sts:AssumeRole"}]}


def scheduler_trust_policy(names: Names) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": SCHEDULER_SERVICE}, "Action": "sts:AssumeRole",
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
    """The schedule may invoke the ``live`` alias of this one function and park an undeliverable
    run in the bot's dead-letter queue, nothing else."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "InvokeLiveAlias", "Effect": "Allow", "Action": ["lambda:InvokeFunction"],
        "Resource": [names.alias_arn]}, {
        "Sid": "SendToOwnDeadLetterQueue", "Effect": "Allow", "Action": ["sqs:SendMessage"],
        "Resource": [names.dead_letter_arn]}]}


def desired_role(names: Names) -> Role:
    return Role(name=names.role, arn=names.role_arn, trust_policy=lambda_trust_policy(names),
                policy_name=names.role_policy, policy=function_policy(names),
                description=f"Execution role of the trading bot {names.function} (deploy-aws-lambda).")


def desired_scheduler_role(names: Names) -> Role:
    return Role(name=names.scheduler_role, arn=names.scheduler_role_arn, trust_policy=scheduler_trust_policy(names),
                policy_name=names.scheduler_policy, policy=scheduler_policy(names),
                description=f"Lets EventBridge Scheduler invoke {names.function}:{ALIAS} (deploy-aws-lambda).")


def desired(spec: Spec) -> dict[str, Any]:
    return {"role": desired_role(spec.names) if spec.manage_role else None,
            "scheduler_role": desired_scheduler_role(spec.names) if spec.schedule else None}


def _exists(client: AWSClient, name: str, policy: str) -> Role | None:
    found = client.get_role(name)
    return None if found is None else Role(name, str(found["Arn"]), None, policy, None)


def read(client: AWSClient, spec: Spec, live: LiveState) -> dict[str, Any]:
    names = spec.names
    if spec.destroy:  # the scheduler role whatever the settings: a removed schedule leaves it
        return {"role": _exists(client, names.role, names.role_policy) if spec.manage_role else None,
                "scheduler_role": _exists(client, names.scheduler_role, names.scheduler_policy)}
    return {"role": client.role(names.role, names.role_policy) if spec.manage_role else None,
            "scheduler_role": client.role(names.scheduler_role, names.scheduler_policy) if spec.schedule else None}


def plan_role(resource: str, want: Role, have: Role | None) -> Step:
    put_policy = Call("put_role_policy", {"role": want.name, "policy": want.policy_name, "document": want.policy})
    if have is None:
        return Step(resource, want.name, CREATE, ("inline least-privilege policy",),
                    (Call("create_role", {"name": want.name, "trust_policy": want.trust_policy,
                                          "description": want.description}),
                     put_policy))
    changes, calls = [], []
    if not policy_equal(have.trust_policy, want.trust_policy):
        changes.append("trust policy")
        calls.append(Call("update_assume_role_policy", {"name": want.name, "trust_policy": want.trust_policy}))
    if not policy_equal(have.policy, want.policy):
        changes.append("inline policy")
        calls.append(put_policy)
    return Step(resource, want.name, UPDATE if calls else UNCHANGED, tuple(changes), tuple(calls))


def plan(want: DesiredState | None, live: LiveState, ctx: PlanContext) -> list[Step]:
    if want is None:
        return [Step(resource, role.name, DELETE, (), (Call("delete_role", {"name": role.name}),))
                for resource, role in ((SCHEDULER_ROLE, live.scheduler_role), (FUNCTION_ROLE, live.role))
                if role is not None]
    steps = []
    if want.role is not None:
        steps.append(plan_role(FUNCTION_ROLE, want.role, live.role))
    if want.scheduler_role is not None:
        steps.append(plan_role(SCHEDULER_ROLE, want.scheduler_role, live.scheduler_role))
    return steps


def actions(spec: Spec) -> list[ActionGroup]:
    names = spec.names
    if spec.destroy:
        delete = ("iam:GetRole", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:DeleteRolePolicy",
                  "iam:DetachRolePolicy", "iam:DeleteRole")
        return [ActionGroup(names.scheduler_role_arn, delete)] + (
            [ActionGroup(names.role_arn, delete)] if spec.manage_role else [])
    groups = []
    function_role = names.role_arn if spec.manage_role else spec.role_arn
    if spec.manage_role:
        groups.append(ActionGroup(names.role_arn, _ROLE_ACTIONS))
    if function_role:  # passed to Lambda by CreateFunction / UpdateFunctionConfiguration
        groups.append(ActionGroup(function_role, ("iam:PassRole",), {"iam:PassedToService": LAMBDA_SERVICE}))
    if spec.schedule:
        groups.append(ActionGroup(names.scheduler_role_arn, _ROLE_ACTIONS))
        groups.append(ActionGroup(names.scheduler_role_arn, ("iam:PassRole",),
                                  {"iam:PassedToService": SCHEDULER_SERVICE}))
    return groups
