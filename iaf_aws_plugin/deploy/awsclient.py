"""The one module that talks to AWS (boto3/botocore), for the deploy and the operate commands.

Every call goes through :meth:`AWSClient.call`, which translates a botocore failure ONCE into
a :class:`~iaf_aws_plugin.errors.PluginError` saying where it failed, what AWS said and how
to fix it. ``sleep`` is injectable so retries are testable without waiting. ``on_call`` (if
given) sees every operation name before it is sent: the executor and the tests count write
calls with it.
"""
from __future__ import annotations

import fnmatch
import json
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping

from ..errors import PluginError
from .models import (AccountConcurrency, Alerts, Bucket, EventInvokeConfig, FunctionConfig, LogGroup, Parameter,
                     Queue, RegistryScanning, Repository, Role, Schedule)
from .tagging_calls import TaggingCalls

if TYPE_CHECKING:  # pragma: no cover - typing only
    import boto3

#: Lambda's answer when the function has no such alias or version, etc.
MISSING_LAMBDA = ("ResourceNotFoundException",)
#: Lambda's answer while a new execution role has not propagated through IAM yet.
ROLE_NOT_ASSUMABLE = "cannot be assumed by Lambda"

_CREDENTIAL_FIX = ("Configure credentials like the AWS CLI: --profile NAME, AWS_PROFILE, or "
                   "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (run `aws sso login` for SSO profiles).")
_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
_BAD_CREDENTIALS = {"InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch",
                    "InvalidAccessKeyId", "AuthFailure", "IncompleteSignature"}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError",
           "UnauthorizedException"}
_THROTTLED = {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"}

#: The manifest types an image reference may name: single images, and indexes of images (one per platform).
INDEX_MEDIA_TYPES = ("application/vnd.oci.image.index.v1+json",
                     "application/vnd.docker.distribution.manifest.list.v2+json")
MANIFEST_MEDIA_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                        "application/vnd.docker.distribution.manifest.v2+json") + INDEX_MEDIA_TYPES

READ_PREFIXES = ("Get", "List", "Describe", "Head", "BatchGet", "BatchCheck", "Simulate")


class DeferredChange(PluginError):
    """A change AWS refused for a reason the deploy can live with for now: the executor warns,
    goes on, and a later deploy (which plans the change again) retries it."""


class AWSError(PluginError):
    """A translated AWS error answer; ``code`` is AWS's error code, for the few callers that decide on it."""

    def __init__(self, message: str, *, code: str, fix: str | None = None) -> None:
        super().__init__(message, fix=fix)
        self.code = code


def _quota_refusal(exc: AWSError) -> bool:
    """Lambda's refusal of a reserved or provisioned concurrency the account's quota cannot give
    ("... decreases account's UnreservedConcurrentExecution below its minimum value of [10]"). AWS
    gives it no code of its own (InvalidParameterValueException): its text decides."""
    return exc.code == "InvalidParameterValueException" and "UnreservedConcurrentExecution" in exc.message


def is_write_operation(operation: str) -> bool:
    """True for an AWS operation that changes something (anything not Get/List/Describe/...)."""
    return not operation.startswith(READ_PREFIXES)


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _error_message(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Message", "")) or str(exc)


def translate_error(exc: Exception, where: str, *, region: str | None = None) -> PluginError:
    """One PluginError for a botocore failure: where it failed, what AWS said, how to fix it."""
    import botocore.exceptions as bx

    if isinstance(exc, bx.NoCredentialsError):
        return PluginError(f"{where} failed: no AWS credentials were found.", fix=_CREDENTIAL_FIX)
    if isinstance(exc, bx.PartialCredentialsError):
        return PluginError(f"{where} failed: the AWS credentials are incomplete ({exc}).", fix=_CREDENTIAL_FIX)
    if isinstance(exc, bx.ProfileNotFound):
        return PluginError(f"{where} failed: {exc}.", fix="Check --profile / AWS_PROFILE against ~/.aws/config.")
    token_errors = tuple(getattr(bx, name) for name in ("TokenRetrievalError", "SSOTokenLoadError",
                                                        "UnauthorizedSSOTokenError") if hasattr(bx, name))
    if token_errors and isinstance(exc, token_errors):
        return PluginError(f"{where} failed: the SSO session has expired or is missing ({exc}).",
                           fix="Run `aws sso login` (with your --profile), then deploy again.")
    if isinstance(exc, bx.NoRegionError):
        return PluginError(f"{where} failed: no AWS region is set.",
                           fix="Pass --region, or set AWS_REGION / a region in your AWS profile.")
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError)):
        return PluginError(f"{where} failed: cannot reach AWS ({exc}).",
                           fix="Check the network, the region" + (f" ({region})" if region else "")
                           + " and AWS_ENDPOINT_URL.")
    if isinstance(exc, bx.WaiterError):
        last = getattr(exc, "last_response", None) or {}
        config = last.get("Configuration", last)
        reason = config.get("LastUpdateStatusReason") or config.get("StateReason")
        if reason:  # e.g. Lambda could not pull the image: say what Lambda said
            return PluginError(f"{where} failed: {reason}",
                               fix="Fix the cause, then run the deploy again; it continues where it stopped.")
        return PluginError(f"{where} failed: gave up waiting ({exc}).",
                           fix="Look at the resource in the AWS console, then run the deploy again.")
    if isinstance(exc, bx.ClientError):
        code, message = _error_code(exc), _error_message(exc)
        said = f"AWS said {code}: {message}".rstrip(": ")
        if code in _EXPIRED:
            return AWSError(f"{where} failed: the AWS session token has expired ({said}).", code=code,
                            fix="Refresh your credentials (e.g. `aws sso login`), then deploy again.")
        if code in _BAD_CREDENTIALS:
            return AWSError(f"{where} failed: AWS rejected the credentials ({said}).", code=code,
                            fix=_CREDENTIAL_FIX)
        if code in _DENIED:
            return AWSError(f"{where} failed: access denied ({said}).", code=code,
                            fix="Grant this permission to your IAM user or role (the permission preflight "
                                "lists every action the deploy uses), or deploy with other credentials.")
        return AWSError(f"{where} failed ({said}).", code=code,
                        fix="Fix the cause above and run the deploy again; it continues where it stopped.")
    if isinstance(exc, bx.BotoCoreError):
        return PluginError(f"{where} failed: {exc}.", fix="Run the deploy again; it continues where it stopped.")
    raise exc


class AWSClient(TaggingCalls):
    """Typed access to the AWS services the deploy uses, with errors translated once."""

    def __init__(
        self,
        session: boto3.Session,
        region: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        on_call: Callable[[str, str], None] | None = None,
        max_attempts: int = 12,
    ) -> None:
        self.session = session
        self.region = region
        self._sleep = sleep
        self._on_call = on_call
        self._clients: dict[str, Any] = {}
        self._max_attempts = max_attempts

    # --- plumbing ---------------------------------------------------------------------

    def client(self, service: str) -> Any:
        if service not in self._clients:
            from botocore.config import Config

            try:
                self._clients[service] = self.session.client(
                    service, region_name=self.region,  # type: ignore[call-overload]
                    config=Config(retries={"max_attempts": 5, "mode": "standard"}, user_agent_extra="iaf-aws-plugin"),
                )
            except Exception as exc:
                raise translate_error(exc, f"Connecting to {service}", region=self.region) from None
        return self._clients[service]

    def call(self, service: str, operation: str, *, where: str, missing: Iterable[str] = (),
             retry_while: Callable[[Exception], bool] | None = None, **params: Any) -> Any:
        """Call ``service.operation(**params)``; ``None`` when the error code is in ``missing``.

        ``retry_while(exc)`` true retries with back-off (for eventual consistency), up to
        ``max_attempts`` times; the sleeps go through the injectable ``sleep``.
        """
        import botocore.exceptions as bx

        method = getattr(self.client(service), _snake(operation))
        missing = set(missing)
        delay = 1.0
        for attempt in range(1, self._max_attempts + 1):
            if self._on_call is not None:
                self._on_call(service, operation)
            try:
                return method(**params)
            except bx.ClientError as exc:
                if _error_code(exc) in missing:
                    return None
                retryable = _error_code(exc) in _THROTTLED or (retry_while is not None and retry_while(exc))
                if retryable and attempt < self._max_attempts:
                    self._sleep(delay)
                    delay = min(delay * 2, 10.0)
                    continue
                raise translate_error(exc, where, region=self.region) from None
            except (bx.BotoCoreError, bx.NoCredentialsError) as exc:
                raise translate_error(exc, where, region=self.region) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def wait(self, service: str, waiter: str, *, where: str, **params: Any) -> None:
        import botocore.exceptions as bx

        if self._on_call is not None:
            self._on_call(service, f"Wait{waiter}")
        try:
            self.client(service).get_waiter(waiter).wait(
                **params, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        except (bx.BotoCoreError, bx.ClientError) as exc:
            raise translate_error(exc, where, region=self.region) from None

    # --- identity ----------------------------------------------------------------------

    def pages(self, service: str, operation: str, *, where: str, token: tuple[str, str] = ("NextToken", "NextToken"),
              missing: Iterable[str] = (), **params: Any) -> Iterator[Any]:
        """Every page of a paginated call, in order; ``token`` is (request parameter, answer field).
        Nothing when the resource is ``missing``; stops on a repeated token (CloudWatch Logs ends so)."""
        request_key, answer_key = token
        value: str | None = None
        while True:
            request: dict[str, Any] = dict(params, **({request_key: value} if value else {}))
            page = self.call(service, operation, where=where, missing=missing, **request)
            if page is None:
                return
            yield page
            following = page.get(answer_key)
            if not following or following == value:
                return
            value = str(following)

    def caller_identity(self) -> dict[str, str]:
        found = self.call("sts", "GetCallerIdentity", where="Reading your AWS identity (sts:GetCallerIdentity)")
        return {key: str(value) for key, value in found.items() if key in ("Account", "Arn", "UserId")}

    # --- IAM -----------------------------------------------------------------------------

    def get_role(self, name: str) -> dict[str, Any] | None:
        found = self.call("iam", "GetRole", where=f"Reading IAM role {name}", missing=("NoSuchEntity",),
                          RoleName=name)
        return None if found is None else found["Role"]

    def get_role_policy(self, role: str, policy: str) -> dict[str, Any] | None:
        found = self.call("iam", "GetRolePolicy", where=f"Reading inline policy {policy} of IAM role {role}",
                          missing=("NoSuchEntity",), RoleName=role, PolicyName=policy)
        return None if found is None else _as_document(found["PolicyDocument"])

    def role(self, name: str, policy_name: str) -> Role | None:
        """The role with its trust policy and one inline policy, or None when it does not exist."""
        found = self.get_role(name)
        if found is None:
            return None
        trust = found.get("AssumeRolePolicyDocument")
        return Role(name=name, arn=str(found["Arn"]), trust_policy=_as_document(trust) if trust else None,
                    policy_name=policy_name, policy=self.get_role_policy(name, policy_name),
                    description=str(found.get("Description") or ""))

    def create_role(self, name: str, trust_policy: Mapping[str, Any], description: str) -> str:
        where = f"Creating IAM role {name}"
        created = self.call("iam", "CreateRole", where=where, missing=("EntityAlreadyExists",), RoleName=name,
                            AssumeRolePolicyDocument=json.dumps(trust_policy), Description=description,
                            Tags=[{"Key": "managed-by", "Value": "iaf-aws-plugin"}])
        if created is None:  # created by an interrupted run in between: adopt it
            self.update_assume_role_policy(name, trust_policy)
            role = self.get_role(name)
            assert role is not None
            return str(role["Arn"])
        self.wait("iam", "role_exists", where=where, RoleName=name)
        return str(created["Role"]["Arn"])

    def update_assume_role_policy(self, name: str, trust_policy: Mapping[str, Any]) -> None:
        self.call("iam", "UpdateAssumeRolePolicy", where=f"Updating the trust policy of IAM role {name}",
                  RoleName=name, PolicyDocument=json.dumps(trust_policy))

    def put_role_policy(self, role: str, policy: str, document: Mapping[str, Any]) -> None:
        self.call("iam", "PutRolePolicy", where=f"Writing inline policy {policy} of IAM role {role}",
                  RoleName=role, PolicyName=policy, PolicyDocument=json.dumps(document))

    def simulate_principal_policy_for(self, principal_arn: str, actions: list[str], resource: str, *,
                                      context: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Raw simulation results; raises the botocore error untranslated (preflight decides).

        Uses a client without retries: an unsupported or denied simulation answers at once.
        """
        from botocore.config import Config

        if self._on_call is not None:
            self._on_call("iam", "SimulatePrincipalPolicy")
        iam = self.session.client("iam", region_name=self.region,
                                  config=Config(retries={"max_attempts": 1, "mode": "standard"}))
        results: list[dict[str, Any]] = []
        entries: list[Any] = [{"ContextKeyName": key, "ContextKeyValues": [value], "ContextKeyType": "string"}
                   for key, value in (context or {}).items()]
        for page in iam.get_paginator("simulate_principal_policy").paginate(
                PolicySourceArn=principal_arn, ActionNames=actions, ResourceArns=[resource], ContextEntries=entries):
            results.extend(dict(result) for result in page.get("EvaluationResults", []))
        return results

    # --- S3 ------------------------------------------------------------------------------

    def bucket(self, bucket: str, account: str) -> Bucket | None:
        """The bucket with its documents, or None when it does not exist."""
        where = f"Reading S3 bucket {bucket}"
        try:
            head = self.call("s3", "HeadBucket", where=where, missing=("404", "NoSuchBucket", "NotFound"),
                             Bucket=bucket, ExpectedBucketOwner=account)
        except AWSError as exc:
            if exc.code in ("403", "Forbidden"):
                raise PluginError(f"{where} failed: it exists but belongs to another AWS account, or you may not "
                                  "read it (HTTP 403).",
                                  fix="Check your s3:ListBucket permission; if the name is taken, deploy under "
                                      "another --lambda-function-name.") from None
            raise
        if head is None:
            return None
        pab = self.call("s3", "GetPublicAccessBlock", where=where, missing=("NoSuchPublicAccessBlockConfiguration",),
                        Bucket=bucket, ExpectedBucketOwner=account)
        enc = self.call("s3", "GetBucketEncryption", where=where,
                        missing=("ServerSideEncryptionConfigurationNotFoundError",),
                        Bucket=bucket, ExpectedBucketOwner=account)
        ver = self.call("s3", "GetBucketVersioning", where=where, Bucket=bucket, ExpectedBucketOwner=account)
        pol = self.call("s3", "GetBucketPolicy", where=where, missing=("NoSuchBucketPolicy",),
                        Bucket=bucket, ExpectedBucketOwner=account)
        lifecycle = self.call("s3", "GetBucketLifecycleConfiguration", where=where,
                              missing=("NoSuchLifecycleConfiguration",), Bucket=bucket, ExpectedBucketOwner=account)
        return Bucket(
            name=bucket,
            public_access_block=(pab or {}).get("PublicAccessBlockConfiguration"),
            encryption=(enc or {}).get("ServerSideEncryptionConfiguration"),
            versioning=(ver or {}).get("Status"),
            policy=json.loads(pol["Policy"]) if pol else None,
            lifecycle_rules=tuple((lifecycle or {}).get("Rules", [])),
        )

    def create_bucket(self, bucket: str, region: str) -> None:
        params: dict[str, Any] = {"Bucket": bucket, "ObjectOwnership": "BucketOwnerEnforced"}
        if region != "us-east-1":  # us-east-1 rejects an explicit LocationConstraint
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        where = f"Creating S3 bucket {bucket}"
        try:
            # Already ours: created by an interrupted earlier run; reuse it, never empty it.
            self.call("s3", "CreateBucket", where=where, missing=("BucketAlreadyOwnedByYou",), **params)
        except AWSError as exc:
            if exc.code == "BucketAlreadyExists":
                raise PluginError(f"{where} failed: the name is taken by another AWS account.",
                                  fix="Deploy under another --lambda-function-name; bucket names are global.") from None
            raise

    def put_public_access_block(self, bucket: str, account: str, configuration: Mapping[str, bool]) -> None:
        self.call("s3", "PutPublicAccessBlock", where=f"Blocking public access to S3 bucket {bucket}",
                  Bucket=bucket, ExpectedBucketOwner=account, PublicAccessBlockConfiguration=configuration)

    def put_bucket_encryption(self, bucket: str, account: str, configuration: Mapping[str, Any]) -> None:
        self.call("s3", "PutBucketEncryption", where=f"Turning on default encryption of S3 bucket {bucket}",
                  Bucket=bucket, ExpectedBucketOwner=account, ServerSideEncryptionConfiguration=configuration)

    def put_bucket_versioning(self, bucket: str, account: str, status: str = "Enabled") -> None:
        self.call("s3", "PutBucketVersioning", where=f"Turning on versioning of S3 bucket {bucket}",
                  Bucket=bucket, ExpectedBucketOwner=account, VersioningConfiguration={"Status": status})

    def put_bucket_policy(self, bucket: str, account: str, policy: Mapping[str, Any]) -> None:
        self.call("s3", "PutBucketPolicy", where=f"Writing the TLS-only policy of S3 bucket {bucket}",
                  Bucket=bucket, ExpectedBucketOwner=account, Policy=json.dumps(policy))

    def put_bucket_lifecycle(self, bucket: str, account: str, rules: list[Mapping[str, Any]]) -> None:
        self.call("s3", "PutBucketLifecycleConfiguration", where=f"Writing the lifecycle rules of S3 bucket {bucket}",
                  Bucket=bucket, ExpectedBucketOwner=account, LifecycleConfiguration={"Rules": rules})

    # --- ECR -----------------------------------------------------------------------------

    def repository(self, name: str) -> Repository | None:
        """The repository with its documents, or None when it does not exist."""
        where = f"Reading ECR repository {name}"
        found = self.call("ecr", "DescribeRepositories", where=where, missing=("RepositoryNotFoundException",),
                          repositoryNames=[name])
        if not found or not found.get("repositories"):
            return None
        repo = found["repositories"][0]
        lifecycle = self.call("ecr", "GetLifecyclePolicy", where=where,
                              missing=("LifecyclePolicyNotFoundException",), repositoryName=name)
        policy = self.call("ecr", "GetRepositoryPolicy", where=where,
                           missing=("RepositoryPolicyNotFoundException",), repositoryName=name)
        return Repository(
            name=name,
            uri=str(repo["repositoryUri"]),
            scan_on_push=bool(repo.get("imageScanningConfiguration", {}).get("scanOnPush")),
            lifecycle_policy=json.loads(lifecycle["lifecyclePolicyText"]) if lifecycle else None,
            policy=json.loads(policy["policyText"]) if policy else None,
        )

    def registry_scanning(self, repository: str) -> RegistryScanning | None:
        """The registry's scanning configuration as it applies to ``repository`` (None: not readable)."""
        found = self.call("ecr", "GetRegistryScanningConfiguration", where="Reading the ECR registry's scanning "
                          "configuration", missing=("AccessDeniedException", "ValidationException"))
        if not found:
            return None
        config = found.get("scanningConfiguration") or {}
        scan_type = str(config.get("scanType") or "BASIC")
        scans = False
        for rule in config.get("rules") or []:
            if rule.get("scanFrequency") not in ("SCAN_ON_PUSH", "CONTINUOUS_SCAN"):
                continue
            for repo_filter in rule.get("repositoryFilters") or []:
                if fnmatch.fnmatchcase(repository, str(repo_filter.get("filter", ""))):
                    scans = True
        governs = scan_type == "ENHANCED" or bool(config.get("rules"))
        return RegistryScanning(scan_type=scan_type, governs=governs, scans_repository=scans)

    def set_repository_policy(self, name: str, policy: Mapping[str, Any]) -> None:
        self.call("ecr", "SetRepositoryPolicy", where=f"Letting Lambda pull from ECR repository {name}",
                  repositoryName=name, policyText=json.dumps(policy))

    def create_repository(self, name: str, scan_on_push: bool = True) -> str:
        created = self.call("ecr", "CreateRepository", where=f"Creating ECR repository {name}",
                            missing=("RepositoryAlreadyExistsException",), repositoryName=name,
                            imageScanningConfiguration={"scanOnPush": scan_on_push},
                            encryptionConfiguration={"encryptionType": "AES256"},
                            tags=[{"Key": "managed-by", "Value": "iaf-aws-plugin"}])
        if created is None:
            state = self.repository(name)
            assert state is not None and state.uri is not None
            return state.uri
        return str(created["repository"]["repositoryUri"])

    def put_image_scanning(self, name: str, scan_on_push: bool = True) -> None:
        self.call("ecr", "PutImageScanningConfiguration", where=f"Turning on scan on push of ECR repository {name}",
                  repositoryName=name, imageScanningConfiguration={"scanOnPush": scan_on_push})

    def put_lifecycle_policy(self, name: str, policy: Mapping[str, Any]) -> None:
        self.call("ecr", "PutLifecyclePolicy", where=f"Writing the lifecycle policy of ECR repository {name}",
                  repositoryName=name, lifecyclePolicyText=json.dumps(policy))

    def image_digest(self, repository: str, registry_id: str, *, tag: str | None = None,
                     digest: str | None = None) -> str | None:
        """The digest of an image in ECR (by tag or digest), or None when it does not exist."""
        image_id = {"imageDigest": digest} if digest else {"imageTag": tag or "latest"}
        found = self.call("ecr", "DescribeImages", where=f"Looking up image {image_id} in ECR repository {repository}",
                          missing=("ImageNotFoundException", "RepositoryNotFoundException"),
                          repositoryName=repository, registryId=registry_id, imageIds=[image_id])
        if not found or not found.get("imageDetails"):
            return None
        return str(found["imageDetails"][0]["imageDigest"])

    def image_manifest(self, repository: str, registry_id: str, digest: str) -> tuple[str, str] | None:
        """(media type, manifest text) of an image by digest, an index included; None when missing."""
        found = self.call("ecr", "BatchGetImage", where=f"Reading the manifest of {digest} in ECR repository "
                          f"{repository}", missing=("RepositoryNotFoundException",), repositoryName=repository,
                          registryId=registry_id, imageIds=[{"imageDigest": digest}],
                          acceptedMediaTypes=list(MANIFEST_MEDIA_TYPES))
        images = (found or {}).get("images") or []
        if not images:
            return None
        manifest = str(images[0].get("imageManifest") or "")
        media_type = str(images[0].get("imageManifestMediaType") or "")
        if not media_type:
            try:
                media_type = str(json.loads(manifest).get("mediaType") or "")
            except ValueError:
                media_type = ""
        return media_type, manifest

    def registry_credentials(self, registry_id: str) -> tuple[str, str, str]:
        """(registry host, username, password) for pushing images, from ecr:GetAuthorizationToken."""
        import base64

        data = self.call("ecr", "GetAuthorizationToken", where="Getting a registry login from ECR",
                         registryIds=[registry_id])["authorizationData"][0]
        user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        endpoint = str(data["proxyEndpoint"]).split("://", 1)[-1]
        return endpoint, user, password

    # --- SSM -----------------------------------------------------------------------------

    def parameters_by_path(self, path: str) -> dict[str, Parameter]:
        """Decrypted SecureString values and versions below ``path``, by name (kept in memory only)."""
        return {parameter["Name"]: Parameter(str(parameter["Value"]), int(parameter.get("Version") or 0))
                for page in self.pages("ssm", "GetParametersByPath", where=f"Reading SSM parameters below {path}",
                                       Path=path, Recursive=False, WithDecryption=True)
                for parameter in page.get("Parameters", [])}

    def put_secure_parameter(self, name: str, value: Any) -> int:
        """Store the value; returns the parameter's new version."""
        put = self.call("ssm", "PutParameter", where=f"Storing SSM SecureString parameter {name}", Name=name,
                        Value=str(getattr(value, "value", value)), Type="SecureString", Overwrite=True)
        return int(put.get("Version") or 0)

    def describe_parameters(self, path: str) -> list[dict[str, Any]]:
        """The parameters directly below ``path`` (names, types, versions, last change; never values),
        sorted by name. Needs ssm:DescribeParameters only: no decryption."""
        found = [parameter
                 for page in self.pages("ssm", "DescribeParameters", where=f"Listing SSM parameters below {path}",
                                        ParameterFilters=[{"Key": "Path", "Option": "OneLevel",
                                                           "Values": [path.rstrip("/") or "/"]}],
                                        MaxResults=50)
                 for parameter in page.get("Parameters", [])]
        return sorted(found, key=lambda parameter: str(parameter.get("Name")))

    def delete_parameter(self, name: str) -> bool:
        """Delete one parameter (every version); False when it did not exist."""
        deleted = self.call("ssm", "DeleteParameter", where=f"Deleting SSM parameter {name}",
                            missing=("ParameterNotFound",), Name=name)
        return deleted is not None

    # --- CloudWatch Logs -----------------------------------------------------------------

    def log_group(self, name: str) -> LogGroup | None:
        for page in self.pages("logs", "DescribeLogGroups", where=f"Reading log group {name}",
                               token=("nextToken", "nextToken"), logGroupNamePrefix=name):
            for group in page.get("logGroups", []):
                if group.get("logGroupName") == name:
                    return LogGroup(name, _int_or_none(group.get("retentionInDays")))
        return None

    def create_log_group(self, name: str, retention_days: int) -> None:
        self.call("logs", "CreateLogGroup", where=f"Creating log group {name}",
                  missing=("ResourceAlreadyExistsException",), logGroupName=name,
                  tags={"managed-by": "iaf-aws-plugin"})
        self.put_retention_policy(name, retention_days)

    def put_retention_policy(self, name: str, retention_days: int) -> None:
        self.call("logs", "PutRetentionPolicy", where=f"Setting the retention of log group {name}",
                  logGroupName=name, retentionInDays=retention_days)

    # --- Lambda --------------------------------------------------------------------------

    def get_function(self, name: str, qualifier: str | None = None) -> dict[str, Any] | None:
        extra: dict[str, Any] = {"Qualifier": qualifier} if qualifier else {}
        found: dict[str, Any] | None = self.call("lambda", "GetFunction", where=f"Reading Lambda function {name}",
                                                 missing=("ResourceNotFoundException",), FunctionName=name, **extra)
        return found

    def function_config(self, name: str, qualifier: str | None = None) -> FunctionConfig | None:
        """The configuration of ``$LATEST`` (or of a version), or None when the function does not exist."""
        found = self.get_function(name, qualifier)
        if not found:
            return None
        config = found["Configuration"]
        return FunctionConfig(
            image_uri=str(found.get("Code", {}).get("ImageUri", "")),
            memory_size=int(config.get("MemorySize", 0)),
            timeout=int(config.get("Timeout", 0)),
            architecture=(config.get("Architectures") or ["x86_64"])[0],
            environment=dict(config.get("Environment", {}).get("Variables", {})),
            role_arn=str(config.get("Role", "")),
            package_type=str(config.get("PackageType") or "Zip"),
            ephemeral_storage=int((config.get("EphemeralStorage") or {}).get("Size") or 512),
        )

    def latest_published_version(self, name: str) -> str | None:
        """The highest published version number of a function (None: only $LATEST)."""
        versions = self.published_versions(name)
        return versions[-1] if versions else None

    def published_versions(self, name: str) -> list[str]:
        """The published version numbers of a function, ascending ([] when it does not exist)."""
        return sorted((v for v in self.version_digests(name) if v.isdigit()), key=int)

    def version_digests(self, name: str) -> dict[str, str]:
        """Every version (``$LATEST`` included) and the digest of the image it runs: for an image
        function, CodeSha256 is the image manifest's digest. {} when the function does not exist."""
        found: dict[str, str] = {}
        for page in self.pages("lambda", "ListVersionsByFunction", where=f"Listing the versions of Lambda function "
                               f"{name}", token=("Marker", "NextMarker"), missing=("ResourceNotFoundException",),
                               FunctionName=name, MaxItems=50):
            for version in page.get("Versions", []):
                sha = str(version.get("CodeSha256") or "")
                found[str(version["Version"])] = f"sha256:{sha}" if sha and not sha.startswith("sha256:") else sha
        return found

    def repository_digests(self, repository: str, registry_id: str) -> set[str]:
        """The digests of every image in a repository."""
        return {str(image["imageDigest"])
                for page in self.pages("ecr", "DescribeImages", where=f"Listing the images of ECR repository "
                                       f"{repository}", token=("nextToken", "nextToken"),
                                       missing=("RepositoryNotFoundException",), repositoryName=repository,
                                       registryId=registry_id, maxResults=1000)
                for image in page.get("imageDetails", [])}

    def aliases(self, name: str) -> dict[str, str]:
        """Every alias of a function and the version it points at."""
        return {str(alias["Name"]): str(alias["FunctionVersion"])
                for page in self.pages("lambda", "ListAliases", where=f"Listing the aliases of Lambda function {name}",
                                       token=("Marker", "NextMarker"), missing=("ResourceNotFoundException",),
                                       FunctionName=name)
                for alias in page.get("Aliases", [])}

    def delete_function_version(self, name: str, version: str) -> None:
        if not version.isdigit():  # never $LATEST or the function itself
            raise PluginError(f"internal error: refusing to delete version {version!r} of {name}.")
        self.call("lambda", "DeleteFunction", where=f"Deleting version {version} of Lambda function {name}",
                  missing=("ResourceNotFoundException",), FunctionName=name, Qualifier=version)

    def delete_images(self, repository: str, registry_id: str, digests: list[str]) -> list[str]:
        """Delete images by digest (100 per call); returns the digests ECR reports deleted."""
        deleted: list[str] = []
        for start in range(0, len(digests), 100):
            answer = self.call("ecr", "BatchDeleteImage", where=f"Deleting old images of ECR repository {repository}",
                               repositoryName=repository, registryId=registry_id,
                               imageIds=[{"imageDigest": d} for d in digests[start:start + 100]])
            deleted += [str(i["imageDigest"]) for i in answer.get("imageIds", []) if i.get("imageDigest")]
        return sorted(set(deleted))

    def get_alias(self, function: str, alias: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.call(
            "lambda", "GetAlias", where=f"Reading alias {alias} of Lambda function {function}",
            missing=("ResourceNotFoundException",), FunctionName=function, Name=alias)
        return found

    def alias_version(self, function: str, alias: str) -> str | None:
        """The version an alias points at, or None when there is no such alias."""
        found = self.get_alias(function, alias)
        return str(found["FunctionVersion"]) if found else None

    def get_function_concurrency(self, function: str) -> int | None:
        found = self.call("lambda", "GetFunctionConcurrency", where=f"Reading concurrency of Lambda function {function}",
                          missing=("ResourceNotFoundException",), FunctionName=function)
        if not found or found.get("ReservedConcurrentExecutions") is None:
            return None
        return int(found["ReservedConcurrentExecutions"])

    def event_invoke_config(self, function: str, qualifier: str) -> EventInvokeConfig | None:
        found = self.call("lambda", "GetFunctionEventInvokeConfig",
                          where=f"Reading the retry settings of Lambda function {function}:{qualifier}",
                          missing=("ResourceNotFoundException",), FunctionName=function, Qualifier=qualifier)
        if not found:
            return None
        return EventInvokeConfig(retries=_int_or_none(found.get("MaximumRetryAttempts")),
                                 max_event_age=_int_or_none(found.get("MaximumEventAgeInSeconds")))

    def create_function(self, name: str, role_arn: str, image_uri: str, memory_size: int, timeout: int,
                        architecture: str, environment: dict[str, str], ephemeral_storage: int = 512) -> None:
        where = f"Creating Lambda function {name}"
        created = self.call(
            "lambda", "CreateFunction", where=where, missing=("ResourceConflictException",),
            retry_while=lambda exc: ROLE_NOT_ASSUMABLE in _error_message(exc),
            FunctionName=name, Role=role_arn, PackageType="Image", Code={"ImageUri": image_uri},
            MemorySize=memory_size, Timeout=timeout, Architectures=[architecture],
            Environment={"Variables": environment}, Publish=False, EphemeralStorage={"Size": ephemeral_storage},
            Tags={"managed-by": "iaf-aws-plugin"},
        )
        if created is None:  # an interrupted run created it: bring it to the desired state
            self.wait("lambda", "function_active_v2", where=where, FunctionName=name)
            self.update_function_code(name, image_uri, architecture)
            self.update_function_configuration(name, role_arn, memory_size, timeout, environment, ephemeral_storage)
            return
        self.wait("lambda", "function_active_v2", where=where, FunctionName=name)

    def update_function_code(self, name: str, image_uri: str, architecture: str) -> None:
        where = f"Updating the image of Lambda function {name}"
        self.wait("lambda", "function_updated_v2", where=where, FunctionName=name)
        self.call("lambda", "UpdateFunctionCode", where=where, FunctionName=name, ImageUri=image_uri,
                  Architectures=[architecture], Publish=False,
                  retry_while=lambda exc: _error_code(exc) == "ResourceConflictException")
        self.wait("lambda", "function_updated_v2", where=where, FunctionName=name)

    def update_function_configuration(self, name: str, role_arn: str, memory_size: int, timeout: int,
                                      environment: dict[str, str], ephemeral_storage: int = 512) -> None:
        where = f"Updating the configuration of Lambda function {name}"
        self.wait("lambda", "function_updated_v2", where=where, FunctionName=name)
        self.call("lambda", "UpdateFunctionConfiguration", where=where, FunctionName=name, Role=role_arn,
                  MemorySize=memory_size, Timeout=timeout, Environment={"Variables": environment},
                  EphemeralStorage={"Size": ephemeral_storage},
                  retry_while=lambda exc: (_error_code(exc) == "ResourceConflictException"
                                           or ROLE_NOT_ASSUMABLE in _error_message(exc)))
        self.wait("lambda", "function_updated_v2", where=where, FunctionName=name)

    def publish_version(self, name: str, description: str) -> str:
        where = f"Publishing a version of Lambda function {name}"
        self.wait("lambda", "function_updated_v2", where=where, FunctionName=name)
        published = self.call("lambda", "PublishVersion", where=where, FunctionName=name, Description=description,
                              retry_while=lambda exc: _error_code(exc) == "ResourceConflictException")
        return str(published["Version"])

    def put_alias(self, function: str, alias: str, version: str, exists: bool) -> None:
        where = f"Pointing alias {alias} of Lambda function {function} at version {version}"
        if exists:
            self.call("lambda", "UpdateAlias", where=where, FunctionName=function, Name=alias, FunctionVersion=version)
            return
        created = self.call("lambda", "CreateAlias", where=where, missing=("ResourceConflictException",),
                            FunctionName=function, Name=alias, FunctionVersion=version,
                            Description="The version the schedule runs (managed by deploy-aws-lambda).")
        if created is None:
            self.call("lambda", "UpdateAlias", where=where, FunctionName=function, Name=alias, FunctionVersion=version)

    def account_concurrency(self) -> AccountConcurrency | None:
        """The account's Lambda concurrency quota and what is unreserved (None: not readable)."""
        found = self.call("lambda", "GetAccountSettings", where="Reading the account's Lambda settings",
                          missing=("404", "AccessDeniedException", "UnrecognizedClientException"))
        limit = (found or {}).get("AccountLimit") or {}
        if "ConcurrentExecutions" not in limit:
            return None
        return AccountConcurrency(int(limit["ConcurrentExecutions"]),
                                  int(limit.get("UnreservedConcurrentExecutions", limit["ConcurrentExecutions"])))

    def put_function_concurrency(self, function: str, reserved: int) -> None:
        """Reserve concurrency; raises :class:`DeferredChange` when the account's quota leaves
        nothing to reserve (new accounts: quota 10, all of it the unreserved minimum)."""
        where = f"Reserving concurrency {reserved} for Lambda function {function}"
        try:
            self.call("lambda", "PutFunctionConcurrency", where=where, FunctionName=function,
                      ReservedConcurrentExecutions=reserved)
        except AWSError as exc:
            if _quota_refusal(exc):
                raise DeferredChange(
                    f"the account's Lambda concurrency quota leaves nothing to reserve, so {function} runs "
                    "without reserved concurrency 1 for now (runs stay single through the S3 state lease); "
                    "request a higher 'Concurrent executions' quota in Service Quotas: the next deploy "
                    "reserves it.") from None
            raise

    def put_event_invoke_config(self, function: str, qualifier: str, retries: int, max_age: int) -> None:
        self.call("lambda", "PutFunctionEventInvokeConfig",
                  where=f"Turning off asynchronous retries of {function}:{qualifier}",
                  FunctionName=function, Qualifier=qualifier, MaximumRetryAttempts=retries,
                  MaximumEventAgeInSeconds=max_age)

    # --- EventBridge Scheduler -------------------------------------------------------------

    def schedule(self, name: str, group: str) -> Schedule | None:
        """The schedule, or None when it does not exist."""
        found = self.call("scheduler", "GetSchedule", where=f"Reading schedule {name}",
                          missing=("ResourceNotFoundException",), Name=name, GroupName=group)
        if not found:
            return None
        target = found.get("Target") or {}
        retry = target.get("RetryPolicy") or {}
        return Schedule(name=name, group=group, expression=found.get("ScheduleExpression"),
                        timezone=str(found.get("ScheduleExpressionTimezone") or "UTC"),
                        target_arn=target.get("Arn"), role_arn=target.get("RoleArn"),
                        enabled=found.get("State") == "ENABLED",
                        retries=_int_or_none(retry.get("MaximumRetryAttempts")),
                        max_event_age=_int_or_none(retry.get("MaximumEventAgeInSeconds")),
                        description=str(found.get("Description") or ""),
                        dead_letter_arn=(target.get("DeadLetterConfig") or {}).get("Arn"))

    def put_schedule(self, schedule: Schedule, exists: bool) -> None:
        """Create or update ``schedule`` as given: its expression, time zone, target, retry policy and input."""
        name = schedule.name
        where = f"{'Updating' if exists else 'Creating'} schedule {name}"
        target: dict[str, Any] = {"Arn": schedule.target_arn, "RoleArn": schedule.role_arn}
        if schedule.input is not None:
            target["Input"] = json.dumps(schedule.input)
        if schedule.dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": schedule.dead_letter_arn}
        if schedule.retries is not None or schedule.max_event_age is not None:
            target["RetryPolicy"] = {key: value for key, value in (("MaximumRetryAttempts", schedule.retries),
                                                                   ("MaximumEventAgeInSeconds", schedule.max_event_age))
                                     if value is not None}
        params: dict[str, Any] = dict(Name=name, GroupName=schedule.group, ScheduleExpression=schedule.expression,
                      ScheduleExpressionTimezone=schedule.timezone, State="ENABLED" if schedule.enabled else "DISABLED",
                      FlexibleTimeWindow={"Mode": "OFF"}, Target=target, Description=schedule.description)
        role_pending = lambda exc: "role" in _error_message(exc).lower() and _error_code(exc) == "ValidationException"  # noqa: E731
        if not exists:
            created = self.call("scheduler", "CreateSchedule", where=where, missing=("ConflictException",),
                                retry_while=role_pending, **params)
            if created is not None:
                return
            where = f"Updating schedule {name}"
        self.call("scheduler", "UpdateSchedule", where=where, retry_while=role_pending, **params)

    def delete_schedule(self, name: str, group: str) -> None:
        self.call("scheduler", "DeleteSchedule", where=f"Removing schedule {name}",
                  missing=("ResourceNotFoundException",), Name=name, GroupName=group)

    # --- SQS: the schedule's dead-letter queue ------------------------------------------------

    def queue_url(self, name: str) -> str | None:
        found = self.call("sqs", "GetQueueUrl", where=f"Reading SQS queue {name}",
                          missing=("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"), QueueName=name)
        return None if not found else str(found["QueueUrl"])

    def queue(self, name: str, arn: str, *, attributes: bool = True) -> Queue | None:
        """The queue with its attributes (``attributes`` False: only whether it exists), or None."""
        url = self.queue_url(name)
        if url is None:
            return None
        if not attributes:
            return Queue(name=name, arn=arn, url=url)
        found = self.call("sqs", "GetQueueAttributes", where=f"Reading SQS queue {name}", QueueUrl=url,
                          AttributeNames=["QueueArn", "MessageRetentionPeriod", "SqsManagedSseEnabled", "Policy"])
        values = found.get("Attributes") or {}
        policy = values.get("Policy")
        return Queue(name=name, arn=str(values.get("QueueArn") or arn), url=url,
                     retention_seconds=_int_or_none(values.get("MessageRetentionPeriod")),
                     sse=str(values.get("SqsManagedSseEnabled", "")).lower() == "true",
                     policy=_as_document(policy) if policy else None)

    @staticmethod
    def _queue_attributes(queue: Queue) -> dict[str, str]:
        """SQS takes every attribute as a string."""
        values = {"SqsManagedSseEnabled": "true" if queue.sse else "false"}
        if queue.retention_seconds is not None:
            values["MessageRetentionPeriod"] = str(queue.retention_seconds)
        if queue.policy is not None:
            values["Policy"] = json.dumps(queue.policy)
        return values

    def create_queue(self, queue: Queue) -> None:
        self.call("sqs", "CreateQueue", where=f"Creating SQS queue {queue.name}", QueueName=queue.name,
                  Attributes=self._queue_attributes(queue), tags={"managed-by": "iaf-aws-plugin"})

    def set_queue_attributes(self, queue: Queue, url: str | None) -> None:
        self.call("sqs", "SetQueueAttributes", where=f"Updating SQS queue {queue.name}",
                  QueueUrl=url or self.queue_url(queue.name), Attributes=self._queue_attributes(queue))

    def delete_queue(self, name: str, url: str | None) -> None:
        url = url or self.queue_url(name)
        if url:
            self.call("sqs", "DeleteQueue", where=f"Removing SQS queue {name}",
                      missing=("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"), QueueUrl=url)

    def queue_depth(self, name: str) -> int | None:
        """Messages waiting in the queue (visible and in flight), or None when it does not exist."""
        url = self.queue_url(name)
        if url is None:
            return None
        found = self.call("sqs", "GetQueueAttributes", where=f"Reading SQS queue {name}", QueueUrl=url,
                          AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
        values = found.get("Attributes") or {}
        return sum(_int_or_none(values.get(key)) or 0
                   for key in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"))


    # --- Alerts: SNS topic and CloudWatch alarms (issue 10; kept together at the end) --------

    def live_alerts(self, topic_name: str, topic_arn: str, alarm_prefix: str) -> Alerts | None:
        """The alert topic (with its e-mail subscriptions) and the alarms named ``alarm_prefix…``;
        None when neither exists."""
        found = self.call("sns", "GetTopicAttributes", where=f"Reading SNS topic {topic_name}", missing=("NotFound",),
                          TopicArn=topic_arn)
        emails: list[str] = []
        pending: list[str] = []
        subscriptions: dict[str, str] = {}
        pages = self.pages("sns", "ListSubscriptionsByTopic", where=f"Reading the subscriptions of {topic_name}",
                           TopicArn=topic_arn) if found is not None else iter(())
        for page in pages:
            for sub in page.get("Subscriptions", []):
                if sub.get("Protocol") == "email":
                    arn, endpoint = str(sub.get("SubscriptionArn", "")), str(sub.get("Endpoint"))
                    if arn == "PendingConfirmation":
                        pending.append(endpoint)
                    else:
                        emails.append(endpoint)
                        subscriptions[endpoint] = arn
        alarms = {str(alarm["AlarmName"]): dict(alarm)
                  for page in self.pages("cloudwatch", "DescribeAlarms", where=f"Reading the alarms {alarm_prefix}*",
                                         AlarmNamePrefix=alarm_prefix, AlarmTypes=["MetricAlarm"])
                  for alarm in page.get("MetricAlarms", [])}
        if found is None and not alarms:
            return None
        return Alerts(topic_name=topic_name, topic_arn=topic_arn if found is not None else None, emails=tuple(emails),
                      pending=tuple(pending), alarms=alarms, subscriptions=subscriptions)

    def create_topic(self, name: str) -> str:
        created = self.call("sns", "CreateTopic", where=f"Creating SNS topic {name}", Name=name,
                            Tags=[{"Key": "managed-by", "Value": "iaf-aws-plugin"}])
        return str(created["TopicArn"])

    def subscribe_email(self, topic_arn: str, email: str) -> None:
        self.call("sns", "Subscribe", where=f"Subscribing {email} to {topic_arn}", TopicArn=topic_arn,
                  Protocol="email", Endpoint=email)

    def unsubscribe(self, subscription_arn: str) -> None:
        self.call("sns", "Unsubscribe", where=f"Unsubscribing {subscription_arn}", missing=("NotFound",),
                  SubscriptionArn=subscription_arn)

    def delete_topic(self, arn: str) -> None:
        """Deletes the topic and its subscriptions."""
        self.call("sns", "DeleteTopic", where=f"Removing SNS topic {arn}", missing=("NotFound",), TopicArn=arn)

    def put_metric_alarm(self, name: str, spec: dict[str, Any]) -> None:
        self.call("cloudwatch", "PutMetricAlarm", where=f"Writing CloudWatch alarm {name}", AlarmName=name,
                  **spec)

    def metric_data(self, queries: list[dict[str, Any]], start: Any, end: Any) -> dict[str, Any]:
        """ONE ``GetMetricData`` call (status-aws-lambda's metrics); no pagination: a few datapoints."""
        found: dict[str, Any] = self.call("cloudwatch", "GetMetricData", where="Reading the function's metrics "
                                          "(cloudwatch:GetMetricData)", MetricDataQueries=queries, StartTime=start,
                                          EndTime=end, ScanBy="TimestampDescending")
        return found

    def recent_durations(self, log_group: str, *, streams: int = 3) -> list[float]:
        """Durations (s) of the latest runs, from the REPORT lines of the newest log streams (reads only)."""
        import re

        found = self.call("logs", "DescribeLogStreams", where=f"Reading the log streams of {log_group}",
                          missing=("ResourceNotFoundException",), logGroupName=log_group, orderBy="LastEventTime",
                          descending=True, limit=streams)
        durations: list[float] = []
        for stream in (found or {}).get("logStreams", []):
            events = self.call("logs", "GetLogEvents", where=f"Reading the logs of {log_group}",
                               missing=("ResourceNotFoundException",), logGroupName=log_group,
                               logStreamName=stream["logStreamName"], limit=500, startFromHead=False)
            for event in (events or {}).get("events", []):
                match = re.match(r"REPORT RequestId: \S+\s+Duration: ([\d.]+) ms", str(event.get("message", "")))
                if match:
                    durations.append(float(match.group(1)) / 1000)
        return durations

    # --- Provisioned concurrency of the alias (issue 10) -------------------------------------

    def provisioned_concurrency(self, function: str, qualifier: str) -> int:
        found = self.call("lambda", "GetProvisionedConcurrencyConfig",
                          where=f"Reading the provisioned concurrency of {function}:{qualifier}",
                          missing=("ProvisionedConcurrencyConfigNotFoundException", "ResourceNotFoundException"),
                          FunctionName=function, Qualifier=qualifier)
        return int((found or {}).get("RequestedProvisionedConcurrentExecutions") or 0)

    def provisioned_concurrency_config(self, function: str, qualifier: str) -> dict[str, Any] | None:
        """The whole GetProvisionedConcurrencyConfig answer (Status, StatusReason...), or None."""
        found: dict[str, Any] | None = self.call(
            "lambda", "GetProvisionedConcurrencyConfig",
            where=f"Reading the provisioned concurrency of {function}:{qualifier}",
            missing=("ProvisionedConcurrencyConfigNotFoundException", "ResourceNotFoundException", "404"),
            FunctionName=function, Qualifier=qualifier)
        return found

    def put_provisioned_concurrency(self, function: str, qualifier: str, count: int) -> None:
        """Provision warm instances; raises :class:`DeferredChange` when the account's concurrency
        quota leaves none to provision (as for reserved concurrency)."""
        try:
            self.call("lambda", "PutProvisionedConcurrencyConfig",
                      where=f"Provisioning {count} warm instance(s) of {function}:{qualifier}",
                      FunctionName=function, Qualifier=qualifier, ProvisionedConcurrentExecutions=count)
        except AWSError as exc:
            if _quota_refusal(exc):
                raise DeferredChange(
                    f"the account's Lambda concurrency quota leaves nothing to provision, so {function}:{qualifier} "
                    f"runs without {count} provisioned (warm) instance(s) for now: runs start cold, nothing else "
                    "changes; request a higher 'Concurrent executions' quota in Service Quotas: the next deploy "
                    "provisions it.") from None
            raise

    def delete_provisioned_concurrency(self, function: str, qualifier: str) -> None:
        self.call("lambda", "DeleteProvisionedConcurrencyConfig",
                  where=f"Removing the provisioned concurrency of {function}:{qualifier}",
                  missing=("ResourceNotFoundException",), FunctionName=function, Qualifier=qualifier)

    def delete_alarms(self, names: list[str]) -> None:
        for start in range(0, len(names), 100):  # DeleteAlarms takes at most 100 names
            self.call("cloudwatch", "DeleteAlarms", where=f"Removing CloudWatch alarms {', '.join(names)}",
                      AlarmNames=names[start:start + 100])

    # === The operate commands: their reads, invocations and deletions ======================

    # --- Lambda -----------------------------------------------------------------------------

    def list_versions(self, function: str) -> list[dict[str, Any]]:
        """Every published version (not $LATEST), oldest first; [] when the function is missing."""
        found = [version
                 for page in self.pages("lambda", "ListVersionsByFunction", where=f"Listing the versions of Lambda "
                                        f"function {function}", token=("Marker", "NextMarker"), missing=MISSING_LAMBDA,
                                        FunctionName=function, MaxItems=50)
                 for version in page.get("Versions", []) if str(version.get("Version", "")).isdigit()]
        return sorted(found, key=lambda v: int(v["Version"]))

    def update_alias(self, function: str, alias: str, version: str) -> None:
        self.call("lambda", "UpdateAlias", where=f"Pointing alias {alias} of {function} at version {version}",
                  FunctionName=function, Name=alias, FunctionVersion=version)

    def delete_alias(self, function: str, alias: str) -> None:
        self.call("lambda", "DeleteAlias", where=f"Removing alias {alias} of Lambda function {function}",
                  missing=MISSING_LAMBDA, FunctionName=function, Name=alias)

    def delete_function(self, function: str) -> None:
        """Deletes the function with every version and its event invoke configs."""
        self.call("lambda", "DeleteFunction", where=f"Removing Lambda function {function}", missing=MISSING_LAMBDA,
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

    def log_events(self, group: str, *, start_ms: int, end_ms: int | None = None, pattern: str | None = None,
                   streams: list[str] | None = None) -> Iterator[dict[str, Any]]:
        """Every event of ``group`` from ``start_ms`` (all streams or ``streams``, all pages); none when
        it is missing."""
        extra: dict[str, Any] = {}
        if streams:
            extra["logStreamNames"] = streams[:100]  # FilterLogEvents takes at most 100
        if end_ms is not None:
            extra["endTime"] = end_ms
        if pattern:
            extra["filterPattern"] = pattern
        for page in self.pages("logs", "FilterLogEvents", where=f"Reading log group {group}",
                               token=("nextToken", "nextToken"), missing=MISSING_LAMBDA, logGroupName=group,
                               startTime=start_ms, **extra):
            yield from page.get("events", [])

    def delete_log_group(self, name: str) -> None:
        self.call("logs", "DeleteLogGroup", where=f"Removing log group {name}", missing=MISSING_LAMBDA,
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
                                                 missing=("ResourceNotFoundException",), Name=name, GroupName=group)
        return found

    def set_schedule_state(self, found: dict[str, Any], enabled: bool, description: str) -> None:
        """Enable or disable the schedule ``found`` (a GetSchedule answer), everything else as it is."""
        name = str(found["Name"])
        params = {key: found[key] for key in ("ScheduleExpression", "ScheduleExpressionTimezone",
                                              "FlexibleTimeWindow", "Target", "StartDate", "EndDate", "KmsKeyArn",
                                              "ActionAfterCompletion") if found.get(key) is not None}
        self.call("scheduler", "UpdateSchedule", where=f"{'Enabling' if enabled else 'Disabling'} schedule {name}",
                  Name=name, GroupName=found.get("GroupName") or "default", State="ENABLED" if enabled else "DISABLED",
                  Description=description, **params)

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


def _snake(operation: str) -> str:
    import re

    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _as_document(value: Any) -> dict[str, Any]:
    """IAM returns policy documents URL-encoded (boto3 usually decodes them to a dict)."""
    if isinstance(value, dict):
        return value
    from urllib.parse import unquote

    document: dict[str, Any] = json.loads(unquote(str(value)))
    return document


#: Lambda's answers to an invocation while the function (or its image) is being prepared.
_INITIALIZING = ("ResourceNotReadyException", "CodeArtifactUserPendingException")


class InvokeRefused(PluginError):
    """Lambda refused the invocation before running it: ``busy`` (HTTP 429, the function's one
    run at a time is in progress) or ``initializing``. ``code``/``detail`` are Lambda's answer."""

    def __init__(self, kind: str, code: str, detail: str, message: str, *, fix: str) -> None:
        super().__init__(message, fix=fix)
        self.kind, self.code, self.detail = kind, code, detail


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
