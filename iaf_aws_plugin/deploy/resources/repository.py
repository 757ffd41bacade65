"""The ECR repository of the bot's images: scanned on push, untagged images expire, Lambda may
pull. Destroyed with its images."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..models import (CREATE, DELETE, UNCHANGED, UPDATE, ActionGroup, Call, DesiredState, LiveState, PlanContext,
                      Repository, Spec, Step)
from ..names import Names
from .common import merged_policy, policy_equal

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..awsclient import AWSClient

RESOURCE = "ECR repository"
UNTAGGED_IMAGE_DAYS = 1  # untagged images (superseded pushes, build leftovers) expire after a day
#: What a push calls (it checks which layers and manifests exist, then uploads).
PUSH_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")


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


def desired_repository(names: Names) -> Repository:
    return Repository(name=names.repository, uri=f"{names.registry}/{names.repository}", scan_on_push=True,
                      lifecycle_policy=lifecycle_policy(), policy=repository_policy(names))


def desired(spec: Spec) -> dict[str, Any]:
    return {"repository": desired_repository(spec.names)}


def read(client: AWSClient, spec: Spec, live: LiveState) -> dict[str, Any]:
    name = spec.names.repository
    if spec.destroy:
        return {"repository": Repository(name) if client.repository_exists(name) else None}
    return {"repository": client.repository(name), "registry_scanning": client.registry_scanning(name)}


def plan(want: DesiredState | None, live: LiveState, ctx: PlanContext) -> list[Step]:
    have = live.repository
    if want is None:
        return [] if have is None else [Step(RESOURCE, have.name, DELETE, ("with its images",),
                                             (Call("delete_repository", {"name": have.name}),))]
    goal = want.repository
    put_lifecycle = Call("put_lifecycle_policy", {"name": goal.name, "policy": goal.lifecycle_policy})
    registry = live.registry_scanning
    if have is None:
        policy = Call("set_repository_policy", {"name": goal.name, "policy": goal.policy})
        return [Step(RESOURCE, goal.name, CREATE, ("scan on push", "lifecycle policy", "Lambda may pull"),
                     (Call("create_repository", {"name": goal.name, "scan_on_push": goal.scan_on_push}),
                      put_lifecycle, policy))]
    changes, calls = [], []
    registry_governs = registry is not None and registry.governs  # the repository's own setting is ignored then
    if goal.scan_on_push and not have.scan_on_push and not registry_governs:
        changes.append("scan on push")
        calls.append(Call("put_image_scanning", {"name": goal.name, "scan_on_push": goal.scan_on_push}))
    if not policy_equal(have.lifecycle_policy, goal.lifecycle_policy):
        changes.append("lifecycle policy")
        calls.append(put_lifecycle)
    if goal.policy is not None:
        policy_doc = merged_policy(goal.policy, have.policy)
        if not policy_equal(have.policy, policy_doc):
            changes.append("Lambda may pull")
            calls.append(Call("set_repository_policy", {"name": goal.name, "policy": policy_doc}))
    return [Step(RESOURCE, goal.name, UPDATE if calls else UNCHANGED, tuple(changes), tuple(calls))]


def actions(spec: Spec) -> list[ActionGroup]:
    names = spec.names
    repository = names.arn("ecr", f"repository/{names.repository}")
    if spec.destroy:
        return [ActionGroup(repository, ("ecr:DescribeRepositories", "ecr:DeleteRepository"))]
    groups = [
        ActionGroup(repository, ("ecr:DescribeRepositories", "ecr:CreateRepository", "ecr:TagResource",
                                 "ecr:GetLifecyclePolicy", "ecr:PutLifecyclePolicy",
                                 "ecr:GetRepositoryPolicy", "ecr:SetRepositoryPolicy",
                                 "ecr:PutImageScanningConfiguration", "ecr:DescribeImages", "ecr:BatchDeleteImage")
                    + (PUSH_ACTIONS if spec.builds else ())
                    # an --image-uri in this repository: its manifest is read (an index is resolved)
                    + (("ecr:BatchGetImage",) if spec.image_repository == repository and not spec.builds else ())),
        # Account-wide: the registry's scanning rules, a registry login for a push.
        ActionGroup("*", ("ecr:GetRegistryScanningConfiguration",)
                    + (("ecr:GetAuthorizationToken",) if spec.builds else ())),
    ]
    if spec.image_repository and spec.image_repository != repository:  # a prebuilt image in another repository
        groups.append(ActionGroup(spec.image_repository, ("ecr:DescribeImages", "ecr:BatchGetImage",
                                                          "ecr:GetDownloadUrlForLayer")))
    return groups
