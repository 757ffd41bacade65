"""A loopback proxy in front of moto that authorizes requests as AWS IAM does (tests/iam_policy.py).

Clients point ``AWS_ENDPOINT_URL`` at it. For each request it reads the caller's access key from the
SigV4 ``Authorization`` header, the service and region from its credential scope, and:

- the emulator's own key (``admin_key``) passes unchecked: that is the test setting things up;
- an ``sts:AssumeRole`` made through the proxy is checked against the role's trust policy for the
  service principal that assumes it (``assumed_by``, Lambda's), then forwarded; the proxy keeps the
  key, session token and role from moto's answer;
- a request signed with such a key (and its session token) is mapped to the IAM checks AWS makes
  for it and decided on the role's inline and attached policies, read from moto's IAM at that
  moment (a changed policy applies to the next request). Denied: the answer AWS gives (S3: 403
  XML ``AccessDenied``; JSON services: 400 ``AccessDeniedException``), nothing forwarded.
  Allowed: forwarded unchanged, except that a missing S3 object is answered 403 instead of 404 when
  the caller may not list the bucket, as S3 does;
- any other key is refused as AWS refuses an unknown key; a request the evaluator does not model
  is refused and listed in ``unsupported``.

moto's own IAM enforcement stays off: nothing here depends on the action names a moto release uses.
``decisions`` lists every decided request. Nothing of boto3, botocore or moto is patched.
"""
from __future__ import annotations

import importlib.util
import json
import re
import sys
import threading
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import iam_policy


def _faultproxy() -> Any:
    """tests/state/faultproxy.py, loaded once under the name the state tests use."""
    module = sys.modules.get("_iaf_test_faultproxy")
    if module is None:
        spec = importlib.util.spec_from_file_location(
            "_iaf_test_faultproxy", Path(__file__).parent / "state" / "faultproxy.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


@dataclass(frozen=True)
class Session:
    access_key: str
    token: str
    role: str  # role name
    arn: str  # arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION


@dataclass
class Decision:
    principal: str
    method: str
    path: str
    checks: list[tuple[iam_policy.Check, str]] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return bool(self.checks) and all(result == iam_policy.ALLOW for _, result in self.checks)

    @property
    def denied(self) -> list[iam_policy.Check]:
        return [check for check, result in self.checks if result != iam_policy.ALLOW]


def trust_allows(document: Mapping[str, Any] | str, service: str) -> bool:
    """A role's trust policy lets ``service`` (e.g. lambda.amazonaws.com) call sts:AssumeRole."""
    for statement in iam_policy.statements([document]):
        principal = statement.get("Principal", {})
        services = principal.get("Service", []) if isinstance(principal, dict) else []
        if (statement.get("Effect") == "Allow" and service in iam_policy._listify(services)
                and any(iam_policy.action_matches(a, "sts:AssumeRole")
                        for a in iam_policy._listify(statement.get("Action", [])))
                and not statement.get("Condition")):
            return True
    return False


class IAMProxy(_faultproxy().FaultProxy):  # type: ignore[misc]
    def __init__(self, upstream: str, *, admin_key: str, admin_secret: str, region: str,
                 assumed_by: str = "lambda.amazonaws.com") -> None:
        import boto3

        super().__init__(upstream)
        self.admin_key = admin_key
        self.assumed_by = assumed_by
        self.iam = boto3.client("iam", endpoint_url=upstream, region_name=region, aws_access_key_id=admin_key,
                                aws_secret_access_key=admin_secret, aws_session_token=None)
        self.sessions: dict[str, Session] = {}
        self.decisions: list[Decision] = []
        self.unsupported: list[str] = []
        self._iam_lock = threading.Lock()

    # -- the role's policies, as moto's IAM holds them now -----------------------------------------
    def role_policies(self, role: str) -> list[Mapping[str, Any]]:
        with self._iam_lock:  # one IAM client shared by the proxy's threads
            documents: list[Mapping[str, Any]] = []
            for page in self.iam.get_paginator("list_role_policies").paginate(RoleName=role):
                for name in page["PolicyNames"]:
                    documents.append(_document(self.iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]))
            for page in self.iam.get_paginator("list_attached_role_policies").paginate(RoleName=role):
                for attached in page["AttachedPolicies"]:
                    policy = self.iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
                    version = self.iam.get_policy_version(PolicyArn=attached["PolicyArn"],
                                                          VersionId=policy["DefaultVersionId"])
                    documents.append(_document(version["PolicyVersion"]["Document"]))
            return documents

    # -- one request --------------------------------------------------------------------------------
    def _act(self, conn: Any, request: Any) -> bool:
        scope = _SCOPE.search(request.headers.get("authorization", ""))
        key, region, service = scope.groups() if scope else ("", "", "")
        head = request.method == "HEAD"
        if key == self.admin_key:
            if service == "sts" and _form(request.body).get("Action") == "AssumeRole":
                return self._assume_role(conn, request)
            status, headers, body = self._forward(request)
            self._answer(conn, status, headers, body, head=head)
            return True
        session = self.sessions.get(key)
        if session is None or request.headers.get("x-amz-security-token") != session.token:
            self._refuse(conn, service, head, "InvalidAccessKeyId" if service == "s3" else "UnrecognizedClientException",
                         "The security token included in the request is invalid.",
                         status=403 if service == "s3" else None)
            return True
        decision = Decision(session.arn, request.method, request.path)
        try:
            account = session.arn.split(":")[4]
            partition = session.arn.split(":")[1]
            checks = iam_policy.authorizations(
                request.method, request.path, request.query, request.headers, request.body, service=service,
                where=iam_policy.Where(partition, region, account), secure_transport=False)
        except iam_policy.Unsupported as error:
            with self.lock:
                self.unsupported.append(str(error))
                self.decisions.append(decision)
            self._refuse(conn, service, head, "AccessDenied", f"not modelled by the test's IAM evaluator: {error}")
            return True
        policies = self.role_policies(session.role)
        decision.checks = [(check, iam_policy.decide(policies, check)) for check in checks]
        with self.lock:
            self.decisions.append(decision)
        if not decision.allowed:
            check, result = next((c, r) for c, r in decision.checks if r != iam_policy.ALLOW)
            why = ("with an explicit deny in an identity-based policy" if result == iam_policy.DENY
                   else f"because no identity-based policy allows the {check.action} action")
            self._refuse(conn, service, head, "AccessDenied",
                         f"User: {session.arn} is not authorized to perform: {check.action} "
                         f"on resource: {check.resource} {why}")
            return True
        status, headers, body = self._forward(request)
        if status == 404 and service == "s3":
            # S3 answers a missing key with 404 only to a caller that may list the bucket; else 403.
            listing = [c for c in map(iam_policy.listing_check, checks) if c is not None]
            refused = [c for c in listing if iam_policy.decide(policies, c) != iam_policy.ALLOW]
            decision.checks += [(c, iam_policy.decide(policies, c)) for c in listing]
            if refused:
                self._refuse(conn, service, head, "AccessDenied",
                             f"User: {session.arn} is not authorized to perform: {refused[0].action} on resource: "
                             f"{refused[0].resource} because no identity-based policy allows the "
                             f"{refused[0].action} action")
                return True
        self._answer(conn, status, headers, body, head=head)
        return True

    def _assume_role(self, conn: Any, request: Any) -> bool:
        form = _form(request.body)
        role = form["RoleArn"].rsplit("/", 1)[1]
        with self._iam_lock:
            trust = _document(self.iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"])
        if not trust_allows(trust, self.assumed_by):
            self._refuse(conn, "sts", False, "AccessDenied",
                         f"{self.assumed_by} is not authorized to perform: sts:AssumeRole on resource: {form['RoleArn']}")
            return True
        status, headers, body = self._forward(request)
        if status == 200:
            text = body.decode()
            found = {name: re.search(f"<{name}>(.*?)</{name}>", text, re.DOTALL)
                     for name in ("AccessKeyId", "SessionToken", "Arn")}
            values = {name: match.group(1).strip() for name, match in found.items() if match}
            with self.lock:
                self.sessions[values["AccessKeyId"]] = Session(values["AccessKeyId"], values["SessionToken"], role,
                                                               values["Arn"])
        self._answer(conn, status, headers, body)
        return True

    def _refuse(self, conn: Any, service: str, head: bool, code: str, message: str, *, status: int | None = None) -> None:
        """The error AWS answers in the service's protocol: REST-XML (S3), JSON, or the query protocol."""
        request_id = uuid.uuid4().hex.upper()[:16]
        if service == "s3":
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{_xml(message)}'
                    f"</Message><RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>").encode()
            headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
            self._answer(conn, status or 403, headers, b"" if head else body, head=head)
        elif service in ("sts", "iam"):
            body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{_xml(message)}</Message>"
                    f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>").encode()
            self._answer(conn, status or 403, [("Content-Type", "text/xml")], body)
        else:
            json_code = "AccessDeniedException" if code == "AccessDenied" else code
            body = json.dumps({"__type": json_code, "message": message}).encode()
            self._answer(conn, status or 400, [("Content-Type", "application/x-amz-json-1.1"),
                                               ("x-amzn-RequestId", request_id)], body)


def _form(body: bytes) -> dict[str, str]:
    try:
        return dict(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return {}


def _document(value: Any) -> Mapping[str, Any]:
    """A policy document as boto3 returns it (already parsed) or as URL-encoded JSON text."""
    if isinstance(value, str):
        return dict(json.loads(urllib.parse.unquote(value)))
    return dict(value)


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
