"""The execution role the deploy creates is enough for a whole run of the bot, and no more.

The deploy (in process, on moto) creates the role; the test takes its credentials with
``sts:AssumeRole`` as Lambda does (the proxy checks the trust policy names lambda.amazonaws.com)
and runs the scaffolded handler with only those credentials in its environment: the cold start
(secrets from SSM by path), then two paper-market iterations in two fresh processes, the second of
which sees the first one's trade. Lambda's own part of a run, the log stream and its events, is
written with the same credentials. Another bot's bucket and parameters are refused.

Every request goes through ``iam_proxy.IAMProxy``, which decides it as AWS does: with the action
and resource AWS authorizes (ListObjectsV2 is ``s3:ListBucket`` on the bucket, HeadObject is
``s3:GetObject``, multipart calls are ``s3:PutObject``, SSM calls are on the parameter's ARN) and
AWS's policy logic (tests/iam_policy.py). moto's own IAM enforcement, whose action names and
resources changed between releases (AWS-EMULATOR-NOTES.md), is not used. The mutation check shows
the test can fail: without any one statement of the role's policy, or with its resources narrowed,
the run is refused.

Not host-specific (the host only runs the iteration; the policy and the requests are ours): it runs
in one host leg (``anyhost``).
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from deploy_fixtures import SECRET_VALUES, _run_deploy, push_test_image
from iam_proxy import IAMProxy

pytestmark = pytest.mark.anyhost

REGION = "eu-west-1"
ADMIN_KEY = "testing"  # the emulator's fake credential (tests/conftest.py): the test's own setup calls
TESTS = Path(__file__).resolve().parents[1]
QUICKSTART = TESTS.parent / "quickstart"
CANDLES = QUICKSTART / "data" / "BTC-EUR-1h.csv"
#: The bot's run in Lambda's place: the scaffolded aws_function (cold start at import), one iteration
#: on the quick start's paper market (tests/state/e2e/run_offline.py), and a digest of the secrets
#: the cold start put into the environment.
RUNNER = """
import hashlib, json, os, sys
sys.path.insert(0, os.getcwd())
import run_offline
print("E2E-SECRETS " + json.dumps({name: hashlib.sha256(os.environ[name].encode()).hexdigest()
                                   for name in ("BITVAVO_API_KEY", "BITVAVO_SECRET_KEY") if name in os.environ}))
run_offline.main()
"""


@dataclass
class Bot:
    """A deployed bot, its role's credentials and the proxy that authorizes them."""

    project: Path
    names: Any
    function_env: dict[str, str]
    credentials: dict[str, str]
    proxy: IAMProxy
    endpoint: str  # moto, directly (the test's own setup calls)
    tmp: Path
    other_bucket: str
    other_path: str
    runs: int = 0

    # -- as the role, through the proxy ---------------------------------------------------------------
    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.proxy.url,
                            aws_access_key_id=self.credentials["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=self.credentials["AWS_SECRET_ACCESS_KEY"],
                            aws_session_token=self.credentials["AWS_SESSION_TOKEN"])

    def admin(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint, aws_access_key_id=ADMIN_KEY,
                            aws_secret_access_key=ADMIN_KEY, aws_session_token=None)

    def invoke(self) -> tuple[subprocess.CompletedProcess[str] | None, str]:
        """One invocation in a fresh sandbox: Lambda creates the log stream and writes its INIT line,
        the process runs cold start and one iteration, Lambda ships its output. Returns the process
        (None when Lambda's own log calls were refused) and the log stream's name."""
        self.runs += 1
        stream = f"2026/12/06/[$LATEST]{hashlib.sha256(str(self.runs).encode()).hexdigest()[:32]}"
        logs = self.client("logs")
        group = self.names.log_group
        try:
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
            logs.put_log_events(logGroupName=group, logStreamName=stream,
                                logEvents=[{"timestamp": _now_ms(), "message": "INIT_START Runtime Version: python:3.12"}])
        except ClientError:
            return None, stream
        empty = self.tmp / "empty-aws-file"
        empty.write_text("")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_", "IAF_"))}
        env.update(self.function_env)
        env.update(self.credentials)  # the role's key, secret and session token: nothing else
        env.update(AWS_ENDPOINT_URL=self.proxy.url, AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION,
                   AWS_CONFIG_FILE=str(empty), AWS_SHARED_CREDENTIALS_FILE=str(empty),
                   AWS_EC2_METADATA_DISABLED="true", AWS_LAMBDA_FUNCTION_NAME=self.names.function,
                   RESOURCE_DIRECTORY=str(self.tmp / f"sandbox-{self.runs}"))
        result = subprocess.run([sys.executable, "-c", RUNNER], cwd=self.project, env=env, capture_output=True,
                                text=True, timeout=300)
        lines = (result.stdout + result.stderr).splitlines()[-50:] or ["(no output)"]
        try:
            logs.put_log_events(logGroupName=group, logStreamName=stream,
                                logEvents=[{"timestamp": _now_ms(), "message": line} for line in lines])
        except ClientError:
            pass  # the run's outcome is the process's; a refused log write shows in proxy.decisions
        return result, stream

    def set_policy(self, document: dict[str, Any]) -> None:
        self.admin("iam").put_role_policy(RoleName=self.names.role, PolicyName=self.names.role_policy,
                                          PolicyDocument=json.dumps(document))

    def policy(self) -> dict[str, Any]:
        document = self.admin("iam").get_role_policy(RoleName=self.names.role,
                                                     PolicyName=self.names.role_policy)["PolicyDocument"]
        return dict(json.loads(document) if isinstance(document, str) else document)

    def reset_state(self) -> None:
        """Every version of every object in the bot's bucket deleted: the next invocation is a first run."""
        s3 = self.admin("s3")
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=self.names.bucket):
            objects = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                       for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            if objects:
                s3.delete_objects(Bucket=self.names.bucket, Delete={"Objects": objects, "Quiet": True})

    def own_denials(self, since: int) -> list[str]:
        """Requests of this bot for its own resources that the proxy refused since decision ``since``."""
        mine = (self.names.bucket, self.names.log_group, self.names.ssm_path.rstrip("/"))
        return [str(check) for decision in self.proxy.decisions[since:] for check in decision.denied
                if any(name in check.resource for name in mine) or check.action.startswith("kms:")]


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


def _report(result: subprocess.CompletedProcess[str], tag: str) -> Any:
    assert result.returncode == 0, result.stderr[-4000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith(tag + " "))
    return json.loads(line[len(tag) + 1:])


@pytest.fixture(scope="module")
def bot(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    """A bot deployed in this process (its own names), its role assumed as Lambda does, another
    bot's bucket and SSM parameter next to it; the role's policy is restored after each test."""
    from iaf_aws_plugin.scaffold import scaffold

    tmp = tmp_path_factory.mktemp("role")
    config = tmp / "aws-config"
    config.write_text(f"[default]\nregion = {REGION}\n")
    admin_env = {"AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": ADMIN_KEY, "AWS_SECRET_ACCESS_KEY": ADMIN_KEY,
                 "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_CONFIG_FILE": str(config),
                 "AWS_SHARED_CREDENTIALS_FILE": str(config), "AWS_EC2_METADATA_DISABLED": "true"}
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            patch.delenv(name, raising=False)
        for name, value in admin_env.items():
            patch.setenv(name, value)
        function = f"role{os.urandom(5).hex()}"
        project = tmp / "bot"
        scaffold(project)
        (project / ".env").write_text(f"BITVAVO_API_KEY={SECRET_VALUES[0]}\nBITVAVO_SECRET_KEY='{SECRET_VALUES[1]}'\n")
        ecr = boto3.client("ecr")
        uri, digest = push_test_image(ecr, f"prebuilt-{function}", "v1")
        result, _ = _run_deploy(project, REGION, function_name=function, image_uri=f"{uri}:v1")
        assert result.applied
        names = result.names
        # What Lambda runs: the image's files, never the .env (.dockerignore); the offline runner and
        # the quick start's paper market next to the scaffolded handler.
        (project / ".env").unlink()
        shutil.copy(TESTS / "state" / "e2e" / "run_offline.py", project / "run_offline.py")
        shutil.copy(QUICKSTART / "paper_market.py", project / "paper_market.py")
        (project / "data").mkdir(exist_ok=True)
        shutil.copy(CANDLES, project / "data" / CANDLES.name)
        s3 = boto3.client("s3")
        # Emulator only, as in the quick start: moto ignores the condition of the TLS-only bucket
        # policy and would deny every request; on AWS it stays and the bot's HTTPS requests pass it.
        s3.delete_bucket_policy(Bucket=names.bucket)
        function_env = boto3.client("lambda").get_function_configuration(
            FunctionName=function)["Environment"]["Variables"]

        other = f"{function}x"
        other_bucket = names.bucket.replace(function, other)
        s3.create_bucket(Bucket=other_bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_object(Bucket=other_bucket, Key="HEAD.json", Body=b"{}")
        other_path = names.ssm_path.replace(function, other).rstrip("/")
        boto3.client("ssm").put_parameter(Name=f"{other_path}/BITVAVO_API_KEY", Value="not yours", Type="SecureString")

        proxy = IAMProxy(moto_endpoint, admin_key=ADMIN_KEY, admin_secret=ADMIN_KEY, region=REGION)
        try:
            sts = boto3.client("sts", endpoint_url=proxy.url)
            assumed = sts.assume_role(RoleArn=names.role_arn, RoleSessionName=function)["Credentials"]
            credentials = {"AWS_ACCESS_KEY_ID": assumed["AccessKeyId"],
                           "AWS_SECRET_ACCESS_KEY": assumed["SecretAccessKey"],
                           "AWS_SESSION_TOKEN": assumed["SessionToken"]}
            deployed = Bot(project, names, function_env, credentials, proxy, moto_endpoint, tmp, other_bucket,
                           other_path)
            yield deployed
        finally:
            proxy.close()


@pytest.fixture
def role_policy(bot: Bot) -> Iterator[dict[str, Any]]:
    """The role's policy as deployed (put back after the test), and no state yet: each test's
    first invocation is the bot's first run."""
    original = bot.policy()
    bot.reset_state()
    yield copy.deepcopy(original)
    bot.set_policy(original)


def test_whole_run_works_with_only_the_execution_role(bot: Bot, role_policy: dict[str, Any]) -> None:
    start = len(bot.proxy.decisions)
    first_run, _ = bot.invoke()
    assert first_run is not None, bot.proxy.decisions[start:]
    secrets = _report(first_run, "E2E-SECRETS")
    assert secrets == {"BITVAVO_API_KEY": hashlib.sha256(SECRET_VALUES[0].encode()).hexdigest(),
                       "BITVAVO_SECRET_KEY": hashlib.sha256(SECRET_VALUES[1].encode()).hexdigest()}
    first = _report(first_run, "E2E-REPORT")
    assert first["result"]["statusCode"] == 200
    assert len(first["orders"]) == 1 and " BUY BTC/EUR " in first["orders"][0], first

    second_run, stream = bot.invoke()
    assert second_run is not None
    second = _report(second_run, "E2E-REPORT")
    assert second["trades"], second  # the first run's order, known (8.x) or synced as filled (9.x)
    assert set(first["orders"]) <= set(second["orders"]) and set(first["trades"]) <= set(second["trades"])
    assert [p for p in second["positions"] if p.startswith("EUR ")] == ["EUR 750.0"], second

    # Every request was decided by AWS's actions, none refused, none unknown to the evaluator.
    decisions = bot.proxy.decisions[start:]
    assert bot.proxy.unsupported == []
    assert [d for d in decisions if not d.allowed] == []
    actions = {check.action for d in decisions for check, _ in d.checks}
    assert {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "ssm:GetParametersByPath", "kms:Decrypt",
            "logs:CreateLogStream", "logs:PutLogEvents"} <= actions, actions
    assert not any(a.startswith(("s3:ListObjects", "s3:HeadObject", "s3:CreateMultipart")) for a in actions)
    # Lambda's log lines landed in the bot's group, written with the role.
    events = bot.admin("logs").get_log_events(logGroupName=bot.names.log_group, logStreamName=stream)["events"]
    assert any("E2E-REPORT" in e["message"] for e in events)


def test_another_bots_bucket_and_parameters_are_denied(bot: Bot, role_policy: dict[str, Any]) -> None:
    s3, ssm = bot.client("s3"), bot.client("ssm")
    for call in (lambda: s3.list_objects_v2(Bucket=bot.other_bucket),
                 lambda: s3.get_object(Bucket=bot.other_bucket, Key="HEAD.json"),
                 lambda: s3.put_object(Bucket=bot.other_bucket, Key="HEAD.json", Body=b"x")):
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    for call in (lambda: ssm.get_parameters_by_path(Path=bot.other_path, WithDecryption=True),
                 lambda: ssm.get_parameter(Name=f"{bot.other_path}/BITVAVO_API_KEY", WithDecryption=True)):
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(ClientError) as refused:
        s3.head_object(Bucket=bot.other_bucket, Key="HEAD.json")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # The role's key without its session token is not the role.
    tokenless = boto3.client("s3", region_name=REGION, endpoint_url=bot.proxy.url,
                             aws_access_key_id=bot.credentials["AWS_ACCESS_KEY_ID"],
                             aws_secret_access_key=bot.credentials["AWS_SECRET_ACCESS_KEY"])
    with pytest.raises(ClientError) as refused:
        tokenless.list_objects_v2(Bucket=bot.names.bucket)
    assert refused.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    # The bot's own path is readable with the same client: the refusals are about the resource.
    mine = ssm.get_parameters_by_path(Path=bot.names.ssm_path.rstrip("/"), WithDecryption=True)["Parameters"]
    assert sorted(p["Value"] for p in mine) == sorted(SECRET_VALUES)


# --- the mutation check -------------------------------------------------------------------------

def _narrowed(resource: str) -> str:
    """A resource pattern that covers less: a trailing wildcard only matches names starting with
    ``narrowed-``; a resource without one is replaced by names below it."""
    return resource[:-1] + "narrowed-*" if resource.endswith("*") else resource + "/narrowed-*"


#: Statements of the deployed policy, by Sid, and how the run needs them.
STATEMENTS = ["ListOwnStateBucket", "ReadWriteOwnState", "OwnLogGroup", "OwnLogStreams", "OwnSecrets",
              "DecryptOwnSecrets"]
#: Not needed by this run on AWS either: SSM decrypts parameters stored without a KeyId (as the deploy
#: stores them) with the AWS-managed key aws/ssm, whose key policy already lets every principal of the
#: account decrypt through SSM. The statement matters for a customer-managed key only.
NOT_NEEDED_WITH_AWS_MANAGED_KEY = {"DecryptOwnSecrets"}


#: Each statement dropped, and each one the run needs with its resources narrowed (a statement the run
#: can do without can be narrowed too).
MUTATIONS = [(sid, "drop") for sid in STATEMENTS] + [(sid, "narrow") for sid in STATEMENTS
                                                     if sid not in NOT_NEEDED_WITH_AWS_MANAGED_KEY]


@pytest.mark.parametrize(("sid", "mutation"), MUTATIONS, ids=[f"{m}-{s}" for s, m in MUTATIONS])
def test_mutation_without_any_one_statement_the_run_is_refused(bot: Bot, role_policy: dict[str, Any],
                                                               sid: str, mutation: str) -> None:
    statements = role_policy["Statement"]
    assert sorted(s["Sid"] for s in statements) == sorted(STATEMENTS), "a new statement needs a mutation case"
    target = next(s for s in statements if s["Sid"] == sid)
    if mutation == "drop":
        statements.remove(target)
    else:
        resources = target["Resource"] if isinstance(target["Resource"], list) else [target["Resource"]]
        target["Resource"] = [_narrowed(r) for r in resources]
    bot.set_policy(role_policy)
    start = len(bot.proxy.decisions)
    run, _ = bot.invoke()
    if sid in NOT_NEEDED_WITH_AWS_MANAGED_KEY:  # the cold start reads the secrets in every invocation
        assert run is not None and run.returncode == 0, run.stderr[-3000:] if run else "log calls refused"
        assert bot.own_denials(start) == []
        return
    if run is not None and run.returncode == 0:  # the whole run: the second invocation as well
        run, _ = bot.invoke()
    denied = bot.own_denials(start)
    assert run is None or run.returncode != 0, f"the run passed without {sid} ({mutation})"
    assert denied, "the run failed, but not because the proxy refused one of its own resources"
    assert bot.proxy.unsupported == []
