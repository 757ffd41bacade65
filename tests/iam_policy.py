"""IAM as AWS decides it, for the tests: which action and resource a request is authorized as, and
whether an identity policy allows it.

moto's own IAM enforcement names actions after API operations (5.2.6 checks ListObjectsV2 as
``s3:ListObjectsV2``, AWS as ``s3:ListBucket``) and checks every service but S3, IAM, STS and SQS
against resource ``*`` (shared/AWS-EMULATOR-NOTES.md). A test that proves a policy must not depend
on that, so this module does what AWS documents instead:

- :func:`authorizations` maps one HTTP request (path-style S3, JSON SSM and CloudWatch Logs) to the
  checks AWS makes for it: action, resource ARN and the request's condition keys (the Service
  Authorization Reference for S3, SSM and CloudWatch Logs);
- :func:`decide` evaluates identity policies with AWS's logic: an explicit Deny wins, else an Allow
  is needed; Action/NotAction (case-insensitive, ``*`` and ``?``), Resource/NotResource (ARN parts
  matched one by one, ``*`` alone matches everything), and the condition operators our policies use.
  An operator, a policy variable or a request this module does not know raises
  :class:`Unsupported`: the test fails instead of guessing.

It knows identity policies only: no resource policies (except the key policy of SSM's AWS-managed
key, :data:`AWS_SSM_KEY_POLICY`), permission boundaries, session policies or SCPs.
"""
from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence


class Unsupported(AssertionError):
    """A policy construct or a request this evaluator does not model."""


@dataclass(frozen=True)
class Check:
    """One authorization AWS makes for a request."""

    action: str  # "s3:ListBucket"
    resource: str  # an ARN, or "*"
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)  # condition keys -> values
    #: Resource-policy statements that also grant (same account: identity OR resource policy).
    resource_policy: Sequence[Mapping[str, Any]] = ()

    def __str__(self) -> str:
        return f"{self.action} on {self.resource}"


ALLOW, DENY, IMPLICIT_DENY = "Allow", "Deny", "ImplicitDeny"


# --- matching -------------------------------------------------------------------------------

def _glob(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's wildcards: ``*`` any run of characters (also none), ``?`` one character."""
    if "${" in pattern:
        raise Unsupported(f"policy variables are not modelled: {pattern!r}")
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def action_matches(pattern: str, action: str) -> bool:
    """Actions match case-insensitively (``s3:getobject`` is ``s3:GetObject``)."""
    return _glob(pattern, action, ignore_case=True)


def resource_matches(pattern: str, arn: str) -> bool:
    """``*`` matches any resource; otherwise the six ARN parts are matched one by one, and the last
    (the resource, which may itself hold ``:`` and ``/``) takes the rest."""
    if pattern == "*":
        return True
    want = pattern.split(":", 5)
    have = arn.split(":", 5)
    if len(want) != 6 or len(have) != 6:
        return _glob(pattern, arn)
    return all(_glob(w, h) for w, h in zip(want, have))


def _listify(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


# --- conditions -----------------------------------------------------------------------------

def _string_op(base: str) -> Any:
    def equals(want: str, have: str) -> bool:
        return want == have

    def equals_ic(want: str, have: str) -> bool:
        return want.lower() == have.lower()

    def like(want: str, have: str) -> bool:
        return _glob(want, have)

    def boolean(want: str, have: str) -> bool:
        return str(want).lower() == str(have).lower()

    return {"StringEquals": equals, "StringEqualsIgnoreCase": equals_ic, "StringLike": like,
            "ArnEquals": like, "ArnLike": like, "Bool": boolean}.get(base)


_NEGATED = {"StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
            "StringNotLike": "StringLike", "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike"}


def condition_met(operator: str, key: str, wanted: Any, context: Mapping[str, Sequence[str]]) -> bool:
    """One operator on one key: met when any wanted value matches any value of the request's key
    (single-valued keys); a missing key fails a positive operator and passes a negated one, unless
    ``...IfExists`` (then a missing key passes)."""
    if operator.startswith(("ForAnyValue:", "ForAllValues:")):
        raise Unsupported(f"set operators are not modelled: {operator}")
    present = key in context or key.lower() in {k.lower() for k in context}
    values = next((list(v) for k, v in context.items() if k.lower() == key.lower()), [])
    if operator == "Null":
        return all(str(w).lower() == ("false" if present else "true") for w in _listify(wanted))
    if_exists = operator.endswith("IfExists")
    base = operator[:-len("IfExists")] if if_exists else operator
    compare = _string_op(_NEGATED.get(base, base))
    if compare is None:
        raise Unsupported(f"condition operator {operator} is not modelled")
    if not present:
        return if_exists or base in _NEGATED
    negated = base in _NEGATED
    hit = any(compare(str(w), str(h)) for w in _listify(wanted) for h in values)
    return not hit if negated else hit


def conditions_met(condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, Sequence[str]]) -> bool:
    """Every operator, and every key under it, must be met (AND); the values of one key are ORed."""
    return all(condition_met(op, key, wanted, context)
               for op, keys in condition.items() for key, wanted in keys.items())


# --- statements and decisions ---------------------------------------------------------------

def statement_applies(statement: Mapping[str, Any], check: Check) -> bool:
    if "Action" in statement:
        if not any(action_matches(p, check.action) for p in _listify(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(action_matches(p, check.action) for p in _listify(statement["NotAction"])):
            return False
    else:
        raise Unsupported(f"statement without Action or NotAction: {statement}")
    if "Resource" in statement:
        if not any(resource_matches(p, check.resource) for p in _listify(statement["Resource"])):
            return False
    elif "NotResource" in statement:
        if any(resource_matches(p, check.resource) for p in _listify(statement["NotResource"])):
            return False
    elif "Principal" not in statement:  # a resource policy may leave Resource out; an identity policy not
        raise Unsupported(f"statement without Resource or NotResource: {statement}")
    return conditions_met(statement.get("Condition", {}), check.context)


def statements(policies: Iterable[Mapping[str, Any] | str]) -> list[Mapping[str, Any]]:
    found: list[Mapping[str, Any]] = []
    for policy in policies:
        document = json.loads(policy) if isinstance(policy, str) else policy
        found += _listify(document.get("Statement", []))
    return found


def decide(policies: Iterable[Mapping[str, Any] | str], check: Check) -> str:
    """``Allow``, ``Deny`` (an explicit Deny) or ``ImplicitDeny`` (nothing allows it), as IAM
    decides within one account: an explicit Deny in any policy wins; else an Allow in the identity
    policies or in the check's resource policy grants."""
    applying = [s for s in statements(policies) + list(check.resource_policy) if statement_applies(s, check)]
    if any(s.get("Effect") == "Deny" for s in applying):
        return DENY
    if any(s.get("Effect") == "Allow" for s in applying):
        return ALLOW
    return IMPLICIT_DENY


# --- requests -> checks ---------------------------------------------------------------------

#: The key policy of SSM's AWS-managed key (``alias/aws/ssm``), which encrypts SecureString
#: parameters stored without a KeyId (as the deploy stores them): every principal of the account
#: may decrypt through SSM, so no identity policy needs kms:Decrypt for them.
AWS_SSM_KEY_POLICY: tuple[Mapping[str, Any], ...] = ({
    "Sid": "Allow access through SSM for all principals in the account that are authorized to use SSM",
    "Effect": "Allow", "Principal": {"AWS": "*"}, "Resource": "*", "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*",
                                                              "kms:ReEncrypt*", "kms:DescribeKey"],
    "Condition": {"StringEquals": {"kms:CallerAccount": "${account}"}, "StringLike": {"kms:ViaService": "ssm.*"}},
},)


@dataclass(frozen=True)
class Where:
    partition: str
    region: str
    account: str

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        return f"arn:{self.partition}:{service}:{self.region if regional else ''}:{self.account}:{resource}"


def _s3_checks(method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes,
               where: Where, context: dict[str, list[str]]) -> list[Check]:
    bucket, _, key = path.lstrip("/").partition("/")
    if not bucket:
        if method == "GET":
            return [Check("s3:ListAllMyBuckets", "*", context)]
        raise Unsupported(f"S3 {method} /")
    bucket_arn = f"arn:{where.partition}:s3:::{bucket}"
    object_arn = f"{bucket_arn}/{key}"
    versioned = "versionId" in query
    if not key:
        if method == "GET" and not set(query) - {"list-type", "prefix", "delimiter", "max-keys", "continuation-token",
                                                  "start-after", "encoding-type", "fetch-owner", "marker"}:
            listing = dict(context)
            for name in ("prefix", "delimiter", "max-keys"):
                if name in query:
                    listing[f"s3:{name}"] = [query[name]]
            return [Check("s3:ListBucket", bucket_arn, listing)]  # ListObjectsV2 and ListObjects
        if method == "HEAD" and not query:
            return [Check("s3:ListBucket", bucket_arn, context)]  # HeadBucket
        if method == "GET" and "versions" in query:
            return [Check("s3:ListBucketVersions", bucket_arn, context)]
        if method == "GET" and "uploads" in query:
            return [Check("s3:ListBucketMultipartUploads", bucket_arn, context)]
        if method == "POST" and "delete" in query:  # DeleteObjects: one check per key
            keys = re.findall(rb"<Key>(.*?)</Key>", body, re.DOTALL)
            return [Check("s3:DeleteObject", f"{bucket_arn}/{k.decode()}", context) for k in keys]
        raise Unsupported(f"S3 bucket request {method} /{bucket}?{urllib.parse.urlencode(query)}")
    if "tagging" in query or "acl" in query or "retention" in query or "legal-hold" in query:
        raise Unsupported(f"S3 object sub-resource {sorted(query)}")
    if method in ("GET", "HEAD"):
        if "uploadId" in query:
            return [Check("s3:ListMultipartUploadParts", object_arn, context)]
        if "attributes" in query:
            return [Check("s3:GetObjectVersionAttributes" if versioned else "s3:GetObjectAttributes",
                          object_arn, context)]
        return [Check("s3:GetObjectVersion" if versioned else "s3:GetObject", object_arn, context)]
    if method == "PUT":  # PutObject, UploadPart, CopyObject, UploadPartCopy
        checks = [Check("s3:PutObject", object_arn, context)]
        source = headers.get("x-amz-copy-source")
        if source:
            source_path, _, source_query = urllib.parse.unquote(source).lstrip("/").partition("?")
            read = "s3:GetObjectVersion" if "versionId=" in source_query else "s3:GetObject"
            checks.append(Check(read, f"arn:{where.partition}:s3:::{source_path}", context))
        if headers.get("x-amz-tagging"):
            checks.append(Check("s3:PutObjectTagging", object_arn, context))
        return checks
    if method == "POST" and ("uploads" in query or "uploadId" in query):  # Create/CompleteMultipartUpload
        return [Check("s3:PutObject", object_arn, context)]
    if method == "DELETE":
        if "uploadId" in query:
            return [Check("s3:AbortMultipartUpload", object_arn, context)]
        return [Check("s3:DeleteObjectVersion" if versioned else "s3:DeleteObject", object_arn, context)]
    raise Unsupported(f"S3 object request {method} {path}?{urllib.parse.urlencode(query)}")


def _parameter_arn(where: Where, name: str) -> str:
    """``arn:…:ssm:REGION:ACCOUNT:parameter/NAME`` (a hierarchical name keeps its leading slash once)."""
    return where.arn("ssm", "parameter/" + name.lstrip("/"))


def _ssm_checks(operation: str, request: Mapping[str, Any], where: Where, context: dict[str, list[str]]) -> list[Check]:
    if operation == "GetParameter":
        names = [request["Name"]]
    elif operation == "GetParameters":
        names = list(request["Names"])
    elif operation == "GetParametersByPath":  # authorized on the path itself (it reads all below it)
        path = request["Path"]
        names = [path.rstrip("/") or "/"]
    elif operation in ("PutParameter", "DeleteParameter", "GetParameterHistory"):
        names = [request["Name"]]
    else:
        raise Unsupported(f"SSM {operation}")
    checks = [Check(f"ssm:{operation}", _parameter_arn(where, n), context) for n in names]
    if request.get("WithDecryption") and operation.startswith("Get"):
        # SSM decrypts SecureString values with KMS on the caller's behalf; parameters stored without
        # a KeyId use the AWS-managed key, whose key policy grants that to the whole account.
        kms_context = dict(context, **{"kms:ViaService": [f"ssm.{where.region}.amazonaws.com"],
                                       "kms:CallerAccount": [where.account]})
        key_policy = json.loads(json.dumps(AWS_SSM_KEY_POLICY).replace("${account}", where.account))
        checks.append(Check("kms:Decrypt", where.arn("kms", "key/aws-ssm-managed-key"), kms_context, key_policy))
    return checks


def _logs_checks(operation: str, request: Mapping[str, Any], where: Where, context: dict[str, list[str]]) -> list[Check]:
    # CloudWatch Logs authorizes stream operations on ``log-group:NAME:log-stream:STREAM`` and group
    # creation on ``log-group:NAME:log-stream:`` (the ARNs in its AccessDenied messages): a policy
    # needs ``log-group:NAME:*``; a bare ``log-group:NAME`` never matches.
    group = request.get("logGroupName", "")
    if operation == "CreateLogGroup":
        return [Check("logs:CreateLogGroup", where.arn("logs", f"log-group:{group}:log-stream:"), context)]
    if operation in ("CreateLogStream", "PutLogEvents"):
        stream = request["logStreamName"]
        return [Check(f"logs:{operation}", where.arn("logs", f"log-group:{group}:log-stream:{stream}"), context)]
    raise Unsupported(f"CloudWatch Logs {operation}")


def listing_check(check: Check) -> Check | None:
    """For a read of an object: the ``s3:ListBucket`` check that decides whether a missing key is
    answered 404 (allowed) or 403 AccessDenied (not allowed), as S3 documents for GetObject and
    HeadObject. Evaluated without ``s3:prefix`` (the request names no prefix)."""
    if check.action not in ("s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAttributes") or "/" not in check.resource:
        return None
    bucket_arn = check.resource.split("/", 1)[0]
    return Check("s3:ListBucket", bucket_arn, {k: v for k, v in check.context.items() if not k.startswith("s3:")})


#: X-Amz-Target prefixes of the JSON services modelled here.
_JSON_TARGETS = {"AmazonSSM": "ssm", "Logs_20140328": "logs"}


def authorizations(method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes,
                   *, service: str, where: Where, secure_transport: bool) -> list[Check]:
    """The checks AWS makes for one request (``headers`` with lower-case names, ``path`` unquoted,
    S3 path-style as an endpoint given by IP address gets). Raises :class:`Unsupported` for a
    request it does not know."""
    context: dict[str, list[str]] = {"aws:SecureTransport": ["true" if secure_transport else "false"],
                                     "aws:RequestedRegion": [where.region]}
    if service == "s3":
        return _s3_checks(method, path, query, headers, body, where, context)
    target = headers.get("x-amz-target", "")
    prefix, _, operation = target.partition(".")
    if _JSON_TARGETS.get(prefix) == service == "ssm":
        return _ssm_checks(operation, json.loads(body or b"{}"), where, context)
    if _JSON_TARGETS.get(prefix) == service == "logs":
        return _logs_checks(operation, json.loads(body or b"{}"), where, context)
    raise Unsupported(f"{service} request {method} {path} {target}")
