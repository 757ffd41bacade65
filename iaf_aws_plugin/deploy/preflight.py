"""Permission preflight: simulate every action the deploy will use before changing anything.

Works for IAM users and for assumed-role / SSO sessions (the session ARN is mapped to its
role, with the role's path when ``iam:GetRole`` tells it). When the simulation itself is
denied or unsupported, it warns once and the deploy continues; missing actions are listed
in one message.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from ..errors import PluginError
from .desired import ALIAS, SCHEDULE_GROUP, Names

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .awsclient import AWSClient

_ASSUMED_ROLE = re.compile(r"^arn:(?P<partition>[\w-]+):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/.+$")


@dataclass(frozen=True)
class ActionGroup:
    resource: str
    actions: tuple[str, ...]


def principal_arn(caller_arn: str, client: AWSClient | None = None) -> str | None:
    """The IAM ARN to simulate for ``caller_arn``, or None when it cannot be simulated (root...)."""
    match = _ASSUMED_ROLE.match(caller_arn)
    if match:
        role = match["role"]
        fallback = f"arn:{match['partition']}:iam::{match['account']}:role/{role}"
        if client is None:
            return fallback
        try:  # a role with a path (/aws-reserved/sso.amazonaws.com/...) only shows in GetRole
            found = client.get_role(role)
        except PluginError:
            return fallback
        return str(found["Arn"]) if found else fallback
    if re.match(r"^arn:[\w-]+:iam::\d{12}:(user|role)/", caller_arn):
        return caller_arn
    return None


def required_actions(names: Names, *, manage_role: bool, build: bool, schedule: bool,
                     role_arn: str | None = None, image_repository: str | None = None,
                     alerts: bool = False) -> list[ActionGroup]:
    """Every action the deploy uses, grouped by the resource it acts on."""
    bucket = f"arn:{names.partition}:s3:::{names.bucket}"
    repository = names.arn("ecr", f"repository/{names.repository}")
    groups = [
        ActionGroup(bucket, ("s3:CreateBucket", "s3:ListBucket", "s3:PutBucketOwnershipControls",
                             "s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock",
                             "s3:GetEncryptionConfiguration", "s3:PutEncryptionConfiguration",
                             "s3:GetBucketVersioning", "s3:PutBucketVersioning",
                             "s3:GetBucketPolicy", "s3:PutBucketPolicy",
                             "s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration")),
        ActionGroup(repository, ("ecr:DescribeRepositories", "ecr:CreateRepository", "ecr:TagResource",
                                 "ecr:GetLifecyclePolicy", "ecr:PutLifecyclePolicy",
                                 "ecr:GetRepositoryPolicy", "ecr:SetRepositoryPolicy",
                                 "ecr:PutImageScanningConfiguration", "ecr:DescribeImages", "ecr:BatchDeleteImage")
                    # a push checks which layers and manifests exist, then uploads
                    + (("ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                        "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage",
                        "ecr:GetDownloadUrlForLayer") if build else ())),
        # Account-wide reads: registry scanning rules, the Lambda concurrency quota.
        ActionGroup("*", ("ecr:GetRegistryScanningConfiguration", "lambda:GetAccountSettings")
                    + (("ecr:GetAuthorizationToken",) if build else ())),
        ActionGroup(names.arn("logs", f"log-group:{names.log_group}:*"),
                    ("logs:DescribeLogGroups", "logs:CreateLogGroup", "logs:TagResource", "logs:PutRetentionPolicy")),
        ActionGroup(names.arn("ssm", f"parameter{names.ssm_path.rstrip('/')}/*"),
                    ("ssm:GetParametersByPath", "ssm:PutParameter")),
        ActionGroup(names.function_arn, ("lambda:GetFunction", "lambda:CreateFunction", "lambda:TagResource",
                                         "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration",
                                         "lambda:PublishVersion", "lambda:ListVersionsByFunction",
                                         "lambda:ListAliases", "lambda:GetAlias", "lambda:CreateAlias",
                                         "lambda:UpdateAlias", "lambda:GetFunctionConcurrency",
                                         "lambda:PutFunctionConcurrency",
                                         # pruning: versions beyond the rollback window
                                         "lambda:DeleteFunction")),
        ActionGroup(names.alias_arn, ("lambda:GetFunctionEventInvokeConfig", "lambda:PutFunctionEventInvokeConfig")),
        ActionGroup(names.arn("scheduler", f"schedule/{SCHEDULE_GROUP}/{names.schedule}"),
                    ("scheduler:GetSchedule",) + (("scheduler:CreateSchedule", "scheduler:UpdateSchedule")
                                                  if schedule else ("scheduler:DeleteSchedule",))),
    ]
    if image_repository and image_repository != repository:  # a prebuilt image in another repository
        groups.append(ActionGroup(image_repository, ("ecr:DescribeImages", "ecr:BatchGetImage",
                                                     "ecr:GetDownloadUrlForLayer")))
    if manage_role:
        groups.append(ActionGroup(names.role_arn, ("iam:GetRole", "iam:CreateRole", "iam:TagRole",
                                                   "iam:GetRolePolicy", "iam:PutRolePolicy",
                                                   "iam:UpdateAssumeRolePolicy", "iam:PassRole")))
    elif role_arn:
        groups.append(ActionGroup(role_arn, ("iam:PassRole",)))
    if schedule:
        groups.append(ActionGroup(names.scheduler_role_arn, ("iam:GetRole", "iam:CreateRole", "iam:TagRole",
                                                             "iam:GetRolePolicy", "iam:PutRolePolicy",
                                                             "iam:UpdateAssumeRolePolicy", "iam:PassRole")))
    # Alerts (alerts.py): read always (an existing topic or alarms are removed with --alert-email none).
    groups.append(ActionGroup(names.arn("sns", f"{names.function}-iaf-alerts"),
                              ("sns:GetTopicAttributes", "sns:ListSubscriptionsByTopic", "sns:DeleteTopic")
                              + (("sns:CreateTopic", "sns:TagResource", "sns:Subscribe") if alerts else ())))
    groups.append(ActionGroup(names.alias_arn, ("lambda:GetProvisionedConcurrencyConfig",
                                                "lambda:PutProvisionedConcurrencyConfig",
                                                "lambda:DeleteProvisionedConcurrencyConfig")))
    # The cost estimate reads the durations of the last runs from the log group.
    groups.append(ActionGroup(names.arn("logs", f"log-group:{names.log_group}:*"),
                              ("logs:DescribeLogStreams", "logs:GetLogEvents")))
    groups.append(ActionGroup(names.arn("cloudwatch", f"alarm:{names.function}-iaf-*"),
                              ("cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms")
                              + (("cloudwatch:PutMetricAlarm",) if alerts else ())))
    return groups


def check_permissions(client: AWSClient, caller_arn: str, groups: list[ActionGroup],
                      warn: Callable[[str], None]) -> list[str]:
    """Simulate ``groups`` for the caller; raise one PluginError listing every missing action.

    Returns the allowed actions checked ([] when the check was skipped after a warning).
    """
    principal = principal_arn(caller_arn, client)
    if principal is None:
        warn(f"Cannot check permissions up front for {caller_arn} (only IAM users and roles can be "
             "simulated); continuing.")
        return []
    missing: list[str] = []
    checked: list[str] = []
    for group in groups:
        try:
            results = client.simulate_principal_policy_for(principal, list(group.actions), group.resource)
        except Exception as exc:  # denied, unsupported (moto: HTTP 500), throttled...
            reason = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
            warn(f"Could not check your permissions up front (iam:SimulatePrincipalPolicy: {reason}); "
                 "continuing: a missing permission will stop the deploy at the step that needs it.")
            return []
        for result in results:
            action = result.get("EvalActionName", "?")
            if result.get("EvalDecision") == "allowed":
                checked.append(action)
            elif action not in missing:
                missing.append(action)
    if missing:
        raise PluginError(
            f"Permission preflight: {principal} may not call {len(missing)} action(s) the deploy needs: "
            f"{', '.join(missing)}.",
            fix="Add them to your IAM policy (scoped to the resources named iaf-*/the function), then deploy again.")
    return checked


__all__ = ["ALIAS", "ActionGroup", "check_permissions", "principal_arn", "required_actions"]
