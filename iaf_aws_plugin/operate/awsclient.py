"""The AWS calls of the operate commands (status, logs, invoke, rollback, destroy).

Why a subclass in its own module and not more methods in ``deploy/awsclient.py``: these calls
(deletions, log reads, invocations) are not part of a deploy, and the deploy's client is being
reshaped; a subclass reuses its one call path (:meth:`AWSClient.call`: throttling retries, error
translation into one line with the fix) without touching it. Everything here goes through
``call``, except :meth:`invoke`, which must never be retried (see there).
"""
from __future__ import annotations

import json
from typing import Any, Iterator

from ..deploy.awsclient import AWSClient, translate_error
from ..errors import PluginError

#: Lambda's answer when the function has no such alias or version, etc.
_MISSING = ("ResourceNotFoundException",)
#: Lambda's answers to an invocation while the function (or its image) is being prepared.
_INITIALIZING = ("ResourceNotReadyException", "CodeArtifactUserPendingException")


class InvokeRefused(PluginError):
    """Lambda refused the invocation before running it: ``busy`` (HTTP 429, the function's one
    run at a time is in progress) or ``initializing``. ``code``/``detail`` are Lambda's answer."""

    def __init__(self, kind: str, code: str, detail: str, message: str, *, fix: str) -> None:
        super().__init__(message, fix=fix)
        self.kind, self.code, self.detail = kind, code, detail


class OperateClient(AWSClient):
    """:class:`AWSClient` plus the reads and deletions of a deployed bot."""

    # --- Lambda -----------------------------------------------------------------------------

    def list_versions(self, function: str) -> list[dict[str, Any]]:
        """Every published version (not $LATEST), oldest first; [] when the function is missing."""
        found = [version
                 for page in self.pages("lambda", "ListVersionsByFunction", where=f"Listing the versions of Lambda "
                                        f"function {function}", token=("Marker", "NextMarker"), missing=_MISSING,
                                        FunctionName=function, MaxItems=50)
                 for version in page.get("Versions", []) if str(version.get("Version", "")).isdigit()]
        return sorted(found, key=lambda v: int(v["Version"]))

    def update_alias(self, function: str, alias: str, version: str) -> None:
        self.call("lambda", "UpdateAlias", where=f"Pointing alias {alias} of {function} at version {version}",
                  FunctionName=function, Name=alias, FunctionVersion=version)

    def delete_alias(self, function: str, alias: str) -> None:
        self.call("lambda", "DeleteAlias", where=f"Removing alias {alias} of Lambda function {function}",
                  missing=_MISSING, FunctionName=function, Name=alias)

    def delete_function(self, function: str) -> None:
        """Deletes the function with every version and its event invoke configs."""
        self.call("lambda", "DeleteFunction", where=f"Removing Lambda function {function}", missing=_MISSING,
                  FunctionName=function)

    def invoke(self, function: str, qualifier: str, payload: bytes, timeout: int) -> dict[str, Any]:
        """One synchronous invocation with the last 4 KB of its log.

        Never retried: a retried trading run is a second trade. The read timeout outlasts the
        function's own timeout, so a long run is not cut off (and re-sent) by the SDK, and TCP
        keep-alive is on: NAT gateways and load balancers drop connections idle for 350 s, and a
        run may last 900 s without a byte on the connection. Raises :class:`InvokeRefused` when
        Lambda did not run it (a run in progress, or the function initializing).
        """
        import botocore.exceptions as bx
        from botocore.config import Config

        where = f"Invoking Lambda function {function}:{qualifier}"
        try:
            client = self.session.client("lambda", region_name=self.region, config=Config(
                retries={"total_max_attempts": 1}, read_timeout=timeout + 60, connect_timeout=10,
                tcp_keepalive=True, user_agent_extra="iaf-aws-plugin"))
        except Exception as exc:
            raise translate_error(exc, where, region=self.region) from None
        if self._on_call is not None:
            self._on_call("lambda", "Invoke")
        try:
            response: dict[str, Any] = dict(client.invoke(FunctionName=function, Qualifier=qualifier,
                                                     InvocationType="RequestResponse", LogType="Tail",
                                                     Payload=payload))
        except bx.ReadTimeoutError:
            raise PluginError(f"{where}: no answer within {timeout + 60} s; the run may still be going on "
                              "(it was not retried).",
                              fix="Watch it with logs-aws-lambda --follow; do not invoke again before it ends.") \
                from None
        except bx.ClientError as exc:
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            refused = _refusal(exc, status, where)
            if refused is not None:
                raise refused from None
            if status >= 500:  # the service failed: the run may or may not have happened
                code = str(exc.response.get("Error", {}).get("Code", "")) or str(status)
                raise PluginError(f"{where} failed: Lambda answered HTTP {status} ({code}, a service error); "
                                  "whether the run happened is unknown and it was not retried.",
                                  fix="Look at logs-aws-lambda and status-aws-lambda before invoking again.") from None
            raise translate_error(exc, where, region=self.region) from None
        except bx.BotoCoreError as exc:
            raise translate_error(exc, where, region=self.region) from None
        body = response.get("Payload")
        response["Payload"] = body.read() if body is not None else b""
        return response

    # --- IAM --------------------------------------------------------------------------------

    def role_policy_names(self, role: str) -> tuple[list[str], list[str]]:
        """(inline policy names, attached managed policy ARNs) of a role."""
        where = f"Listing the policies of IAM role {role}"
        inline = self.call("iam", "ListRolePolicies", where=where, missing=("NoSuchEntity",), RoleName=role)
        attached = self.call("iam", "ListAttachedRolePolicies", where=where, missing=("NoSuchEntity",),
                             RoleName=role)
        return (list((inline or {}).get("PolicyNames", [])),
                [p["PolicyArn"] for p in (attached or {}).get("AttachedPolicies", [])])

    def delete_role(self, name: str) -> None:
        """Removes the role's inline policies, detaches managed ones, then removes the role."""
        inline, attached = self.role_policy_names(name)
        for policy in inline:
            self.call("iam", "DeleteRolePolicy", where=f"Removing inline policy {policy} of IAM role {name}",
                      missing=("NoSuchEntity",), RoleName=name, PolicyName=policy)
        for arn in attached:
            self.call("iam", "DetachRolePolicy", where=f"Detaching {arn} from IAM role {name}",
                      missing=("NoSuchEntity",), RoleName=name, PolicyArn=arn)
        self.call("iam", "DeleteRole", where=f"Removing IAM role {name}", missing=("NoSuchEntity",), RoleName=name)

    # --- ECR --------------------------------------------------------------------------------

    def repository_exists(self, name: str) -> bool:
        found = self.call("ecr", "DescribeRepositories", where=f"Reading ECR repository {name}",
                          missing=("RepositoryNotFoundException",), repositoryNames=[name])
        return bool(found and found.get("repositories"))

    def delete_repository(self, name: str) -> None:
        self.call("ecr", "DeleteRepository", where=f"Removing ECR repository {name} and its images",
                  missing=("RepositoryNotFoundException",), repositoryName=name, force=True)

    # --- CloudWatch Logs --------------------------------------------------------------------

    def log_group_exists(self, name: str) -> bool:
        found = self.call("logs", "DescribeLogGroups", where=f"Reading log group {name}",
                          logGroupNamePrefix=name, limit=50)
        return any(group.get("logGroupName") == name for group in (found or {}).get("logGroups", []))

    def log_events(self, group: str, *, start_ms: int, end_ms: int | None = None,
                   pattern: str | None = None) -> Iterator[dict[str, Any]]:
        """Every event of ``group`` from ``start_ms`` (all streams, all pages); none when it is missing."""
        extra: dict[str, Any] = {}
        if end_ms is not None:
            extra["endTime"] = end_ms
        if pattern:
            extra["filterPattern"] = pattern
        for page in self.pages("logs", "FilterLogEvents", where=f"Reading log group {group}",
                               token=("nextToken", "nextToken"), missing=_MISSING, logGroupName=group,
                               startTime=start_ms, **extra):
            yield from page.get("events", [])

    def delete_log_group(self, name: str) -> None:
        self.call("logs", "DeleteLogGroup", where=f"Removing log group {name}", missing=_MISSING,
                  logGroupName=name)

    # --- SSM --------------------------------------------------------------------------------

    def parameter_names(self, path: str) -> list[str]:
        """Names of the parameters directly below ``path`` (values are not read)."""
        return sorted(parameter["Name"]
                      for page in self.pages("ssm", "GetParametersByPath", where=f"Listing SSM parameters below {path}",
                                             Path=path, Recursive=False, WithDecryption=False)
                      for parameter in page.get("Parameters", []))

    def delete_parameters(self, names: list[str]) -> None:
        for start in range(0, len(names), 10):  # DeleteParameters takes at most 10 names
            batch = names[start:start + 10]
            self.call("ssm", "DeleteParameters", where=f"Removing SSM parameters {', '.join(batch)}", Names=batch)

    # --- EventBridge Scheduler --------------------------------------------------------------

    def describe_schedule(self, name: str, group: str) -> dict[str, Any] | None:
        """The whole GetSchedule answer (with CreationDate/StartDate), or None."""
        found: dict[str, Any] | None = self.call("scheduler", "GetSchedule", where=f"Reading schedule {name}",
                                                 missing=_MISSING, Name=name, GroupName=group)
        return found

    # --- S3 (the state bucket, deleted only on --delete-state) ------------------------------

    def bucket_exists(self, bucket: str, account: str) -> bool:
        head = self.call("s3", "HeadBucket", where=f"Reading S3 bucket {bucket}",
                         missing=("404", "NoSuchBucket", "NotFound"), Bucket=bucket, ExpectedBucketOwner=account)
        return head is not None

    def count_object_versions(self, bucket: str) -> tuple[int, int]:
        """(object versions and delete markers, bytes) in a bucket."""
        count = size = 0
        for version in self._object_versions(bucket):
            count += 1
            size += int(version.get("Size", 0))
        return count, size

    def _object_versions(self, bucket: str) -> Iterator[dict[str, Any]]:
        where = f"Listing the objects of S3 bucket {bucket}"
        key_marker: str | None = None
        version_marker: str | None = None
        while True:
            extra: dict[str, Any] = {}
            if key_marker:
                extra["KeyMarker"] = key_marker
            if version_marker:
                extra["VersionIdMarker"] = version_marker
            page = self.call("s3", "ListObjectVersions", where=where, missing=("NoSuchBucket",), Bucket=bucket,
                             **extra)
            if page is None:
                return
            yield from page.get("Versions", [])
            yield from page.get("DeleteMarkers", [])
            if not page.get("IsTruncated"):
                return
            key_marker, version_marker = page.get("NextKeyMarker"), page.get("NextVersionIdMarker")

    def delete_bucket(self, bucket: str, account: str) -> None:
        """Every version of every object, then the bucket (its TLS-only policy first, so that an
        endpoint without TLS, such as a local emulator, can still empty it)."""
        where = f"Removing S3 bucket {bucket}"
        self.call("s3", "DeleteBucketPolicy", where=where, missing=("NoSuchBucket",), Bucket=bucket,
                  ExpectedBucketOwner=account)
        batch: list[dict[str, str]] = []
        for version in list(self._object_versions(bucket)):
            batch.append({"Key": version["Key"], "VersionId": version.get("VersionId") or "null"})
            if len(batch) == 1000:
                self._delete_objects(bucket, batch)
                batch = []
        if batch:
            self._delete_objects(bucket, batch)
        self.call("s3", "DeleteBucket", where=where, missing=("NoSuchBucket",), Bucket=bucket,
                  ExpectedBucketOwner=account)

    def _delete_objects(self, bucket: str, objects: list[dict[str, str]]) -> None:
        answer = self.call("s3", "DeleteObjects", where=f"Emptying S3 bucket {bucket}", Bucket=bucket,
                           Delete={"Objects": objects, "Quiet": True})
        errors = (answer or {}).get("Errors") or []
        if errors:
            first = errors[0]
            raise PluginError(f"Emptying S3 bucket {bucket} failed for {len(errors)} objects (first: {first.get('Key')}: "
                              f"{first.get('Code')} {first.get('Message')}).",
                              fix="Check s3:DeleteObject and s3:DeleteObjectVersion on the bucket, then run "
                                  "destroy-aws-lambda --delete-state again.")


def payload_json(payload: bytes) -> Any:
    """The invocation's answer as JSON when it is JSON, else as text."""
    try:
        return json.loads(payload.decode("utf-8")) if payload else None
    except (UnicodeDecodeError, ValueError):
        return payload.decode("utf-8", "replace")


def _refusal(exc: Any, status: int, where: str) -> InvokeRefused | None:
    """Lambda's answers that mean "not run": a run in progress (429) or the function initializing."""
    code = str(exc.response.get("Error", {}).get("Code", "")) or str(status)
    message = " ".join(str(exc.response.get("Error", {}).get("Message", "")).split())[:300]
    said = f"{code}: {message}".rstrip(": ")
    if status == 429 or code == "TooManyRequestsException":
        kind = "busy"  # the function's one run at a time (reserved concurrency) is in progress
    elif code in _INITIALIZING or (code == "ResourceConflictException" and "Pending" in message):
        kind = "initializing"
    else:
        return None
    return InvokeRefused(kind, code, message, f"{where}: Lambda did not run it ({said}).",
                         fix="Invoke again later (status-aws-lambda shows the function's state).")
