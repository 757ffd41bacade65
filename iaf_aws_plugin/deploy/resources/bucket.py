"""The S3 state bucket: blocked from the public, encrypted, versioned, TLS only, with lifecycle
rules for old state versions. Destroyed only with ``--delete-state`` (it holds the trading history)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from ..models import (CREATE, DELETE, UNCHANGED, UPDATE, ActionGroup, Bucket, Call, DesiredState, LiveState,
                      PlanContext, Spec, Step)
from ..names import Names
from .common import canonical, policy_equal

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..awsclient import AWSClient

RESOURCE = "S3 state bucket"
NONCURRENT_STATE_DAYS = 30  # older versions of state objects (lease, pointer, snapshots) expire
ABORT_UPLOAD_DAYS = 1  # multipart uploads cut off by a timeout are aborted
#: Rule IDs of the state bucket's lifecycle rules the deploy owns (others are never touched).
STATE_LIFECYCLE_RULE_IDS = ("iaf-expire-noncurrent-versions", "iaf-abort-incomplete-uploads")
PUBLIC_ACCESS_BLOCK = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                       "RestrictPublicBuckets": True}
ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                         "BucketKeyEnabled": True}]}


def bucket_policy(names: Names) -> dict[str, Any]:
    bucket_arn = f"arn:{names.partition}:s3:::{names.bucket}"
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}


def state_lifecycle_rules() -> tuple[dict[str, Any], ...]:
    """The state bucket's own lifecycle rules (merged with any a reused bucket already has)."""
    expire, abort = STATE_LIFECYCLE_RULE_IDS
    return (
        {"ID": expire, "Status": "Enabled", "Filter": {},
         "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_STATE_DAYS}},
        {"ID": abort, "Status": "Enabled", "Filter": {},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_UPLOAD_DAYS}},
    )


def desired_bucket(names: Names) -> Bucket:
    return Bucket(name=names.bucket, public_access_block=PUBLIC_ACCESS_BLOCK, encryption=ENCRYPTION,
                  versioning="Enabled", policy=bucket_policy(names), lifecycle_rules=state_lifecycle_rules())


def desired(spec: Spec) -> dict[str, Any]:
    return {"bucket": desired_bucket(spec.names)}


def read(client: AWSClient, spec: Spec, live: LiveState) -> dict[str, Any]:
    names = spec.names
    if not spec.destroy:
        return {"bucket": client.bucket(names.bucket, names.account)}
    if not client.bucket_exists(names.bucket, names.account):
        return {"bucket": None}
    return {"bucket": Bucket(names.bucket),
            "state_objects": client.count_object_versions(names.bucket) if spec.delete_state else None}


def _rule_matches(want: Mapping[str, Any], have: Mapping[str, Any]) -> bool:
    """A live lifecycle rule equals ours (S3 may spell an empty filter ``{}`` or ``{"Prefix": ""}``)."""
    if dict(have.get("Filter") or {}) not in ({}, {"Prefix": ""}) or "Prefix" in have and have["Prefix"]:
        return False
    return all(canonical(have.get(key)) == canonical(value) for key, value in want.items() if key != "Filter")


def merged_lifecycle_rules(want: tuple[Mapping[str, Any], ...], have: tuple[Mapping[str, Any], ...]
                           ) -> list[dict[str, Any]] | None:
    """Our rules merged into a bucket's rules (theirs never dropped); None when nothing changes."""
    by_id = {str(r.get("ID")): r for r in have}
    if all(str(w["ID"]) in by_id and _rule_matches(w, by_id[str(w["ID"])]) for w in want):
        return None
    ours = {str(w["ID"]) for w in want}
    return [dict(r) for r in have if str(r.get("ID")) not in ours] + [dict(w) for w in want]


def _destroy(live: LiveState, ctx: PlanContext) -> list[Step]:
    from ...files import human_size

    have = live.bucket
    if have is None:
        return []
    if not ctx.delete_state:
        return [Step(RESOURCE, have.name, UNCHANGED, ("kept: the trading state; --delete-state removes it",))]
    count, size = live.state_objects or (0, 0)
    return [Step(RESOURCE, have.name, DELETE, (f"TRADING STATE: {count} object versions, {human_size(size)}",),
                 (Call("delete_bucket", {"bucket": have.name, "account": ctx.names.account}),))]


def plan(want: DesiredState | None, live: LiveState, ctx: PlanContext) -> list[Step]:
    if want is None:
        return _destroy(live, ctx)
    names, goal = want.names, want.bucket
    where = {"bucket": goal.name, "account": names.account}
    put_pab = Call("put_public_access_block", {**where, "configuration": goal.public_access_block})
    put_enc = Call("put_bucket_encryption", {**where, "configuration": goal.encryption})
    put_ver = Call("put_bucket_versioning", {**where, "status": goal.versioning})
    put_pol = Call("put_bucket_policy", {**where, "policy": goal.policy})
    have = live.bucket
    if have is None:
        create = Call("create_bucket", {"bucket": goal.name, "region": names.region})
        put_life = Call("put_bucket_lifecycle", {**where, "rules": [dict(r) for r in goal.lifecycle_rules]})
        return [Step(RESOURCE, goal.name, CREATE,
                     ("public access blocked", "encrypted", "versioned", "TLS only", "lifecycle rules"),
                     (create, put_pab, put_enc, put_ver, put_pol, put_life))]
    changes, calls = [], []
    if have.public_access_block != goal.public_access_block:
        changes.append("block public access")
        calls.append(put_pab)
    if not have.encryption:  # any default encryption is kept (a user's own KMS key included)
        changes.append("default encryption")
        calls.append(put_enc)
    if have.versioning != goal.versioning:
        changes.append("versioning")
        calls.append(put_ver)
    if not policy_equal(have.policy, goal.policy):
        changes.append("TLS-only bucket policy")
        calls.append(put_pol)
    rules = merged_lifecycle_rules(goal.lifecycle_rules, have.lifecycle_rules)
    if rules is not None:
        kept = len(have.lifecycle_rules) - sum(1 for r in have.lifecycle_rules
                                               if r.get("ID") in {w.get("ID") for w in goal.lifecycle_rules})
        changes.append("lifecycle rules" + (f" (its {kept} other rule(s) kept)" if kept else ""))
        calls.append(Call("put_bucket_lifecycle", {**where, "rules": rules}))
    return [Step(RESOURCE, goal.name, UPDATE if calls else UNCHANGED, tuple(changes), tuple(calls))]


def actions(spec: Spec) -> list[ActionGroup]:
    bucket = f"arn:{spec.names.partition}:s3:::{spec.names.bucket}"
    if spec.destroy:
        return [ActionGroup(bucket, ("s3:ListBucket",) + (
            ("s3:ListBucketVersions", "s3:DeleteBucketPolicy", "s3:DeleteObject", "s3:DeleteObjectVersion",
             "s3:DeleteBucket") if spec.delete_state else ()))]
    return [ActionGroup(bucket, ("s3:CreateBucket", "s3:ListBucket", "s3:PutBucketOwnershipControls",
                                 "s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock",
                                 "s3:GetEncryptionConfiguration", "s3:PutEncryptionConfiguration",
                                 "s3:GetBucketVersioning", "s3:PutBucketVersioning",
                                 "s3:GetBucketPolicy", "s3:PutBucketPolicy",
                                 "s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration")),
            _lease_actions(spec)]


def _lease_actions(spec: Spec) -> ActionGroup:
    """One deploy at a time: the deploy lease object (deploy/lease.py)."""
    from ..lease import lease_actions

    return ActionGroup(*lease_actions(spec.names.bucket, spec.names.partition))
