"""Error wording (one line: what, where, fix), input validation through the command, and the
permission preflight's logic on in-memory simulation answers."""
from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from click.testing import CliRunner

from iaf_aws_plugin.deploy.awsclient import translate_error
from iaf_aws_plugin.deploy.desired import Names
from iaf_aws_plugin.deploy.preflight import check_permissions, principal_arn, required_actions
from iaf_aws_plugin.errors import PluginError

pytestmark = pytest.mark.anyhost  # the result does not depend on the host version: CI runs it in one leg


def client_error(code: str, message: str, operation: str = "CreateFunction") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@pytest.mark.parametrize("exc, words", [
    (client_error("AccessDeniedException", "User: arn:aws:iam::1:user/u is not authorized to perform: "
                                           "lambda:CreateFunction"), ["access denied", "lambda:CreateFunction",
                                                                      "Grant this permission"]),
    (client_error("ExpiredTokenException", "The security token included in the request is expired"),
     ["expired", "aws sso login"]),
    (client_error("UnrecognizedClientException", "The security token included in the request is invalid"),
     ["rejected the credentials", "--profile"]),
    (NoCredentialsError(), ["no AWS credentials", "AWS_PROFILE"]),
    (EndpointConnectionError(endpoint_url="https://lambda.eu-west-1.amazonaws.com"), ["cannot reach AWS"]),
    (client_error("InvalidParameterValueException", "bad value"), ["InvalidParameterValueException: bad value",
                                                                    "run the deploy again"]),
])
def test_aws_errors_become_one_line_with_where_what_and_fix(exc, words):
    error = translate_error(exc, "Creating Lambda function bot", region="eu-west-1")
    text = str(error)
    assert isinstance(error, PluginError) and "\n" not in text
    assert text.startswith("Creating Lambda function bot failed")
    for word in words:
        assert word in text, text


# --- the command, in process (click's runner), for inputs rejected before any AWS call -----------

@pytest.fixture
def project(tmp_path: Path) -> Path:
    from iaf_aws_plugin.scaffold import scaffold

    scaffold(tmp_path / "bot")
    # The exchange keys the scaffolded handler needs (missing ones are refused first: test_market_keys.py).
    (tmp_path / "bot" / ".env").write_text("BITVAVO_API_KEY=paper-key\nBITVAVO_SECRET_KEY=paper-secret\n")
    return tmp_path / "bot"


def run_command(args: list[str], project: Path):
    from iaf_aws_plugin.commands.deploy import deploy_aws_lambda

    return CliRunner().invoke(deploy_aws_lambda, [*args, "--project-dir", str(project)], catch_exceptions=False)


@pytest.mark.parametrize("args, expected", [
    (["--lambda-function-name", "bad name!"], "invalid --lambda-function-name 'bad name!'"),
    (["--lambda-function-name", "x" * 65], "1 to 64 letters"),
    (["--lambda-function-name", "bot", "--memory-size", "20000"], "invalid --memory-size 20000"),
    (["--lambda-function-name", "bot", "--timeout", "0"], "invalid --timeout 0"),
    (["--lambda-function-name", "bot", "--timeout", "901"], "invalid --timeout 901"),
    (["--lambda-function-name", "bot", "--schedule-timezone", "Mars/Olympus_Mons"], "time zone"),
    (["--lambda-function-name", "bot", "--schedule", "rate(0 minutes)"], "rate(0 minutes)"),
    (["--lambda-function-name", "bot", "-e", "1BAD", "x"], "Invalid environment variable name '1BAD'"),
    (["--lambda-function-name", "bot", "--role-arn", "my-role"], "invalid --role-arn"),
    (["--lambda-function-name", "bot", "-e", "AWS_REGION", "x"], "reserved by AWS Lambda"),
    (["--lambda-function-name", "bot", "--region", "eu-wset-1"], "unknown AWS region 'eu-wset-1'"),
    (["--lambda-function-name", "bot", "--schedule", "every hour"], "every hour"),
    (["--lambda-function-name", "bot", "--region", "eu-west-1", "--image-uri", "docker.io/me/bot:1"],
     "not an Amazon ECR image"),
    (["--lambda-function-name", "bot", "--builder", "kaniko", "--region", "eu-west-1"], "unknown --builder 'kaniko'"),
])
def test_bad_input_is_one_error_line(aws_env, project, args, expected):
    result = run_command(args, project)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and expected in lines[0], result.output


def test_a_folder_name_that_makes_no_function_name_is_one_line(aws_env, tmp_path):
    from iaf_aws_plugin.scaffold import scaffold

    scaffold(tmp_path / "___")
    result = run_command(["--region", "eu-west-1"], tmp_path / "___")
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "no Lambda function name" in lines[0] and "--lambda-function-name" in lines[0]


def test_secret_values_are_masked_in_error_messages_too(aws_env, project):
    secret = "tok-do-not-print-42"
    result = run_command(["--lambda-function-name", "bot", "-e", "EXCHANGE_TOKEN", secret,
                          "--image-uri", f"docker.io/{secret}:1"], project)
    assert result.exit_code == 1
    assert secret not in result.output and "docker.io/****:1" in result.output


def test_architecture_is_a_choice(aws_env, project):
    result = run_command(["--lambda-function-name", "bot", "--architecture", "sparc"], project)
    assert result.exit_code == 2 and "'sparc' is not one of" in result.output


def test_no_credentials_is_one_line(aws_env, project, tmp_path, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    empty = tmp_path / "no-credentials"
    empty.write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    result = run_command(["--lambda-function-name", "bot", "--dry-run"], project)
    assert result.exit_code == 1
    assert "Error: Reading your AWS identity (sts:GetCallerIdentity) failed: no AWS credentials were found." \
        in result.output


def test_unknown_profile_is_one_line(aws_env, project):
    result = run_command(["--lambda-function-name", "bot", "--profile", "nope", "--region", "eu-west-1"], project)
    assert result.exit_code == 1 and "the AWS profile 'nope' does not exist" in result.output


def test_without_a_terminal_the_plan_is_not_applied_without_yes(aws_env, project, unique_name):
    import boto3

    result = run_command(["--lambda-function-name", unique_name, "--image-uri",
                          _pushed_image(unique_name)], project)
    assert result.exit_code == 1 and "Pass --yes" in result.output
    assert "create  Lambda function" in result.output  # the plan was shown first
    lam = boto3.client("lambda")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=unique_name)


def _pushed_image(unique_name: str) -> str:
    import hashlib
    import json

    import boto3

    ecr = boto3.client("ecr")
    uri = ecr.create_repository(repositoryName=f"pre-{unique_name}")["repository"]["repositoryUri"]
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                           "config": {}, "layers": []})
    ecr.put_image(repositoryName=f"pre-{unique_name}", imageManifest=manifest, imageTag="v1",
                  imageDigest="sha256:" + hashlib.sha256(manifest.encode()).hexdigest())
    return f"{uri}:v1"


# --- preflight on in-memory simulation answers ------------------------------------------------

class SimulatingClient:
    """Stands in for AWSClient's two preflight methods; answers from a set of denied actions.

    ``pass_role_to``: like AWS's managed policy AWSLambda_FullAccess, iam:PassRole is allowed only
    with ``iam:PassedToService`` equal to that service (without the key: denied, key listed missing).
    ``needs_mfa``: these actions are allowed only with ``aws:MultiFactorAuthPresent``, which a
    simulation never has (AWS lists the key in MissingContextValues)."""

    region = "eu-west-1"

    def __init__(self, denied=(), error: Exception | None = None, role_arn: str | None = None,
                 pass_role_to: str | None = None, needs_mfa=()):
        self.denied, self.error, self.role_arn = set(denied), error, role_arn
        self.pass_role_to, self.needs_mfa = pass_role_to, set(needs_mfa)
        self.principals: list[str] = []
        self.contexts: list[tuple[str, tuple[str, ...], dict]] = []

    def get_role(self, name):
        return {"Arn": self.role_arn} if self.role_arn else None

    def simulate_principal_policy_for(self, principal, actions, resource, *, context=None):
        self.principals.append(principal)
        self.contexts.append((resource, tuple(actions), dict(context or {})))
        if self.error:
            raise self.error
        results = []
        for action in actions:
            result = {"EvalActionName": action, "EvalDecision": "implicitDeny" if action in self.denied else "allowed"}
            if action == "iam:PassRole" and self.pass_role_to:
                passed = (context or {}).get("iam:PassedToService")
                if passed != self.pass_role_to:
                    result["EvalDecision"] = "implicitDeny"
                    if passed is None:
                        result["MissingContextValues"] = ["iam:PassedToService"]
            if action in self.needs_mfa:
                result = {"EvalActionName": action, "EvalDecision": "implicitDeny", "ResourceSpecificResults": [
                    {"EvalResourceName": resource, "EvalResourceDecision": "implicitDeny",
                     "MissingContextValues": ["aws:MultiFactorAuthPresent"]}]}
            results.append(result)
        return results


NAMES = Names.derive("123456789012", "eu-west-1", "bot")
GROUPS = required_actions(NAMES, manage_role=True, build=True, schedule=True)


def test_sso_session_is_simulated_as_its_role_with_path():
    sso = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123/me@example.com"
    with_path = "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123"
    client = SimulatingClient(role_arn=with_path)
    assert principal_arn(sso, client) == with_path
    assert principal_arn(sso, SimulatingClient()) == "arn:aws:iam::123456789012:role/AWSReservedSSO_Admin_0123"
    assert principal_arn("arn:aws:iam::123456789012:user/alice") == "arn:aws:iam::123456789012:user/alice"
    assert principal_arn("arn:aws:iam::123456789012:root") is None


def test_every_missing_action_is_listed_in_one_message():
    client = SimulatingClient(denied={"lambda:PutFunctionConcurrency", "scheduler:CreateSchedule", "iam:PassRole"})
    with pytest.raises(PluginError) as error:
        check_permissions(client, "arn:aws:iam::123456789012:user/alice", GROUPS, warn=pytest.fail)
    text = str(error.value)
    assert "\n" not in text
    for action in ("lambda:PutFunctionConcurrency", "scheduler:CreateSchedule", "iam:PassRole"):
        assert action in text
    assert text.count("iam:PassRole") == 1


def test_all_allowed_passes_and_checks_every_action():
    client = SimulatingClient()
    checked = check_permissions(client, "arn:aws:iam::123456789012:user/alice", GROUPS, warn=pytest.fail)
    wanted = {a for g in GROUPS for a in g.actions}
    assert set(checked) == wanted
    assert {"lambda:CreateFunction", "iam:PassRole", "s3:PutBucketPolicy", "ssm:PutParameter",
            "scheduler:CreateSchedule", "ecr:GetAuthorizationToken"} <= wanted


def test_the_simulation_gets_the_region_and_the_service_each_role_is_passed_to():
    client = SimulatingClient()
    check_permissions(client, "arn:aws:iam::123456789012:user/alice", GROUPS, warn=pytest.fail)
    assert all(context["aws:RequestedRegion"] == "eu-west-1" for _, _, context in client.contexts)
    passed = {resource: context.get("iam:PassedToService") for resource, actions, context in client.contexts
              if "iam:PassRole" in actions}
    assert passed == {NAMES.role_arn: "lambda.amazonaws.com", NAMES.scheduler_role_arn: "scheduler.amazonaws.com"}


def test_a_pass_role_allowed_only_for_lambda_passes_the_preflight():
    """AWSLambda_FullAccess allows iam:PassRole only when iam:PassedToService is lambda.amazonaws.com."""
    own_role = required_actions(NAMES, manage_role=False, role_arn="arn:aws:iam::123456789012:role/mine",
                                build=False, schedule=False)
    client = SimulatingClient(pass_role_to="lambda.amazonaws.com")
    checked = check_permissions(client, "arn:aws:iam::123456789012:user/alice", own_role, warn=pytest.fail)
    assert "iam:PassRole" in checked


def test_a_result_that_needs_context_the_simulation_lacks_warns_and_continues():
    warnings: list[str] = []
    client = SimulatingClient(needs_mfa={"lambda:CreateFunction", "iam:CreateRole"})
    checked = check_permissions(client, "arn:aws:iam::123456789012:user/alice", GROUPS, warn=warnings.append)
    assert "lambda:CreateFunction" not in checked and "s3:CreateBucket" in checked
    [warning] = warnings
    assert warning.startswith("Permission preflight: cannot tell in advance: ")
    assert "lambda:CreateFunction (depends on aws:MultiFactorAuthPresent)" in warning
    assert "iam:CreateRole (depends on aws:MultiFactorAuthPresent)" in warning
    assert "; continuing" in warning and "\n" not in warning


def test_a_certain_denial_still_refuses_next_to_an_uncertain_one():
    warnings: list[str] = []
    client = SimulatingClient(needs_mfa={"lambda:CreateFunction"}, denied={"ssm:PutParameter"})
    with pytest.raises(PluginError, match=r"may not call 1 action\(s\) the deploy needs: ssm:PutParameter\."):
        check_permissions(client, "arn:aws:iam::123456789012:user/alice", GROUPS, warn=warnings.append)
    assert len(warnings) == 1 and "lambda:CreateFunction" in warnings[0]


def test_simulation_unavailable_warns_once_and_continues():
    warnings: list[str] = []
    client = SimulatingClient(error=client_error("AccessDenied", "not allowed", "SimulatePrincipalPolicy"))
    assert check_permissions(client, "arn:aws:iam::123456789012:user/alice", GROUPS, warn=warnings.append) == []
    assert len(warnings) == 1 and "AccessDenied" in warnings[0] and len(client.principals) == 1


def test_docker_missing_fails_before_any_change(aws_env, project, unique_name, tmp_path, monkeypatch):
    import boto3

    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no docker anywhere
    result = run_command(["--lambda-function-name", unique_name, "--builder", "docker", "--yes"], project)
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Docker is not installed" in errors[0] and "--image-uri" in errors[0]
    assert "build  Image" in result.output  # the plan was shown, then nothing applied
    lam = boto3.client("lambda")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=unique_name)
    assert not any(unique_name in b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"])


def test_a_failed_lambda_update_reports_lambdas_reason():
    from botocore.exceptions import WaiterError

    exc = WaiterError(name="FunctionUpdatedV2", reason="terminal failure state",
                      last_response={"Configuration": {"LastUpdateStatus": "Failed",
                                                       "LastUpdateStatusReason": "Image manifest is not supported"}})
    text = str(translate_error(exc, "Updating the image of Lambda function bot"))
    assert text.startswith("Updating the image of Lambda function bot failed: Image manifest is not supported")
