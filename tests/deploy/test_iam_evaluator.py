"""The test helpers' IAM evaluator (tests/iam_policy.py) against AWS's documented behaviour: the
role test is only as good as its decisions. Pure unit tests on in-memory data."""
from __future__ import annotations

import json

import pytest

from iam_policy import ALLOW, DENY, IMPLICIT_DENY, Check, Unsupported, authorizations, decide, listing_check
from iam_policy import Where

pytestmark = pytest.mark.anyhost

WHERE = Where("aws", "eu-west-1", "123456789012")
BUCKET = "arn:aws:s3:::bot-bucket"


def checks(method: str, path: str, query: dict[str, str] | None = None, headers: dict[str, str] | None = None,
           body: bytes = b"", service: str = "s3") -> list[tuple[str, str]]:
    found = authorizations(method, path, query or {}, headers or {}, body, service=service, where=WHERE,
                           secure_transport=True)
    return [(c.action, c.resource) for c in found]


def json_request(service: str, target: str, payload: dict[str, object]) -> list[Check]:
    return authorizations("POST", "/", {}, {"x-amz-target": target}, json.dumps(payload).encode(), service=service,
                          where=WHERE, secure_transport=True)


def test_s3_requests_are_authorized_as_aws_names_them() -> None:
    assert checks("GET", "/bot-bucket", {"list-type": "2", "prefix": "state/"}) == [("s3:ListBucket", BUCKET)]
    assert checks("HEAD", "/bot-bucket/state/a") == [("s3:GetObject", f"{BUCKET}/state/a")]
    assert checks("GET", "/bot-bucket/state/a") == [("s3:GetObject", f"{BUCKET}/state/a")]
    assert checks("GET", "/bot-bucket/state/a", {"versionId": "v1"}) == [("s3:GetObjectVersion", f"{BUCKET}/state/a")]
    put = [("s3:PutObject", f"{BUCKET}/state/a")]
    assert checks("PUT", "/bot-bucket/state/a") == put
    assert checks("POST", "/bot-bucket/state/a", {"uploads": ""}) == put  # CreateMultipartUpload
    assert checks("PUT", "/bot-bucket/state/a", {"partNumber": "1", "uploadId": "u"}) == put  # UploadPart
    assert checks("POST", "/bot-bucket/state/a", {"uploadId": "u"}) == put  # CompleteMultipartUpload
    assert checks("DELETE", "/bot-bucket/state/a", {"uploadId": "u"}) == [("s3:AbortMultipartUpload", f"{BUCKET}/state/a")]
    assert checks("DELETE", "/bot-bucket/state/a") == [("s3:DeleteObject", f"{BUCKET}/state/a")]
    assert checks("PUT", "/bot-bucket/b", headers={"x-amz-copy-source": "/other/a"}) == [
        ("s3:PutObject", f"{BUCKET}/b"), ("s3:GetObject", "arn:aws:s3:::other/a")]
    with pytest.raises(Unsupported):  # never guessed
        checks("PUT", "/bot-bucket/state/a", {"tagging": ""})


def test_list_bucket_condition_on_the_prefix() -> None:
    policy = {"Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET,
                             "Condition": {"StringLike": {"s3:prefix": ["state/*"]}}}]}
    [inside] = authorizations("GET", "/bot-bucket", {"list-type": "2", "prefix": "state/x"}, {}, b"", service="s3",
                              where=WHERE, secure_transport=True)
    [outside] = authorizations("GET", "/bot-bucket", {"list-type": "2", "prefix": "other/"}, {}, b"", service="s3",
                               where=WHERE, secure_transport=True)
    [no_prefix] = authorizations("GET", "/bot-bucket", {"list-type": "2"}, {}, b"", service="s3", where=WHERE,
                                 secure_transport=True)
    assert inside.context["s3:prefix"] == ["state/x"]
    assert (decide([policy], inside), decide([policy], outside), decide([policy], no_prefix)) == (
        ALLOW, IMPLICIT_DENY, IMPLICIT_DENY)
    # A missing key is answered 403 unless the caller may list the bucket (checked without a prefix).
    listing = listing_check(Check("s3:GetObject", f"{BUCKET}/state/a"))
    assert listing is not None and (listing.action, listing.resource) == ("s3:ListBucket", BUCKET)


def test_ssm_and_kms_on_the_parameter_arn() -> None:
    by_path = json_request("ssm", "AmazonSSM.GetParametersByPath", {"Path": "/iaf-aws/bot", "WithDecryption": True})
    assert [(c.action, c.resource) for c in by_path] == [
        ("ssm:GetParametersByPath", "arn:aws:ssm:eu-west-1:123456789012:parameter/iaf-aws/bot"),
        ("kms:Decrypt", "arn:aws:kms:eu-west-1:123456789012:key/aws-ssm-managed-key")]
    one = json_request("ssm", "AmazonSSM.GetParameter", {"Name": "/iaf-aws/bot/KEY"})
    assert [(c.action, c.resource) for c in one] == [
        ("ssm:GetParameter", "arn:aws:ssm:eu-west-1:123456789012:parameter/iaf-aws/bot/KEY")]
    # The AWS-managed key's policy lets the account decrypt through SSM without an identity statement;
    # an explicit Deny in the identity policy still wins.
    allow_ssm = {"Statement": [{"Effect": "Allow", "Action": "ssm:GetParametersByPath",
                                "Resource": "arn:aws:ssm:eu-west-1:123456789012:parameter/iaf-aws/bot"}]}
    assert [decide([allow_ssm], c) for c in by_path] == [ALLOW, ALLOW]
    deny_kms = {"Statement": [{"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]}
    assert decide([allow_ssm, deny_kms], by_path[1]) == DENY
    # Another path is not covered by a statement on this one.
    other = json_request("ssm", "AmazonSSM.GetParametersByPath", {"Path": "/iaf-aws/botx"})
    assert decide([allow_ssm], other[0]) == IMPLICIT_DENY


def test_log_group_arn_forms() -> None:
    [stream] = json_request("logs", "Logs_20140328.CreateLogStream", {"logGroupName": "/aws/lambda/bot",
                                                                      "logStreamName": "2026/12/06/[$LATEST]ab"})
    group = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/bot"

    def allowed(resource: str) -> str:
        return decide([{"Statement": [{"Effect": "Allow", "Action": "logs:CreateLogStream", "Resource": resource}]}],
                      stream)

    assert allowed(f"{group}:*") == ALLOW
    assert allowed(group) == IMPLICIT_DENY  # the bare group ARN never matches
    assert allowed("arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/botx:*") == IMPLICIT_DENY


def test_policy_logic() -> None:
    check = Check("s3:GetObject", f"{BUCKET}/a", {"aws:SecureTransport": ["true"]})
    allow = {"Effect": "Allow", "Action": "S3:get*", "Resource": "arn:aws:s3:::bot-*/*"}  # actions: any case
    deny = {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    assert decide([{"Statement": [allow, deny]}], check) == ALLOW
    insecure = Check(check.action, check.resource, {"aws:SecureTransport": ["false"]})
    assert decide([{"Statement": [allow]}, {"Statement": [deny]}], insecure) == DENY  # explicit deny wins
    assert decide([{"Statement": [dict(allow, Resource="arn:aws:s3:::BOT-*/*")]}], check) == IMPLICIT_DENY
    # ARN parts are matched one by one; a wildcard matches an empty part (S3 ARNs have no region).
    assert decide([{"Statement": [dict(allow, Resource="arn:aws:*3:*:*:bot-bucket/a")]}], check) == ALLOW
    assert decide([{"Statement": [dict(allow, Resource="arn:aws:s3:eu-*:*:bot-bucket/a")]}], check) == IMPLICIT_DENY
    assert decide([{"Statement": [dict(allow, Resource="*")]}], check) == ALLOW
    not_action = {"Effect": "Allow", "NotAction": "s3:Put*", "Resource": "*"}
    assert decide([{"Statement": [not_action]}], check) == ALLOW
    assert decide([{"Statement": [not_action]}], Check("s3:PutObject", f"{BUCKET}/a")) == IMPLICIT_DENY
    # Negated operators pass on a missing key; positive ones fail; IfExists passes.
    absent = Check("s3:GetObject", f"{BUCKET}/a")
    for operator, expected in (("StringNotEquals", ALLOW), ("StringEquals", IMPLICIT_DENY),
                               ("StringEqualsIfExists", ALLOW)):
        conditioned = dict(allow, Condition={operator: {"aws:SourceVpc": "vpc-1"}})
        assert decide([{"Statement": [conditioned]}], absent) == expected, operator
    with pytest.raises(Unsupported):
        decide([{"Statement": [dict(allow, Condition={"DateGreaterThan": {"aws:CurrentTime": "2020-01-01"}})]}], check)
    with pytest.raises(Unsupported):
        decide([{"Statement": [dict(allow, Resource="arn:aws:s3:::${aws:username}/*")]}], check)
