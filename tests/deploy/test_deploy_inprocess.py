"""The deploy library against the moto server, in this process: write calls counted by
botocore's before-send event, interruptions injected at a chosen request."""
from __future__ import annotations

import json

import boto3
import pytest

from iaf_aws_plugin.errors import PluginError

# The deploy library against moto, in process: nothing here reads the host (the scaffolded strategy only
# gives the derived schedule, proven per host by test_host_major_acceptance.py).
pytestmark = [pytest.mark.usefixtures("aws_env"), pytest.mark.anyhost]


class Interrupted(BaseException):
    """Stands for Ctrl-C or a killed process in the middle of a deploy."""


def deployed_state(function: str, region: str = "eu-west-1") -> dict:
    """What the emulator holds for ``function``: the facts the assertions compare."""
    lam = boto3.client("lambda", region_name=region)
    fn = lam.get_function(FunctionName=function)
    alias = lam.get_alias(FunctionName=function, Name="live")
    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=function)["Versions"]]
    scheduler = boto3.client("scheduler", region_name=region)
    schedules = [s["Name"] for s in scheduler.list_schedules()["Schedules"] if s["Name"].startswith(function)]
    return {"image": fn["Code"]["ImageUri"], "memory": fn["Configuration"]["MemorySize"],
            "alias_version": alias["FunctionVersion"], "versions": versions, "schedules": schedules,
            "concurrency": lam.get_function_concurrency(FunctionName=function).get("ReservedConcurrentExecutions")}


def test_noop_redeploy_makes_zero_write_calls(bot_project, ecr_image, unique_name, deploy_inprocess):
    image = ecr_image("v1")
    first, recorder = deploy_inprocess(bot_project, function_name=unique_name, image_uri=image)
    assert first.applied and len(recorder.writes) >= 15, recorder.writes
    second, recorder = deploy_inprocess(bot_project)  # everything from the saved settings
    assert second.plan.is_noop
    assert recorder.writes == [], recorder.writes
    assert any("Nothing to change" in line for line in recorder.lines)
    assert deployed_state(unique_name)["versions"] == ["$LATEST", "1"]


def test_dry_run_makes_no_write_call(bot_project, ecr_image, unique_name, deploy_inprocess):
    image = ecr_image("v1")
    result, recorder = deploy_inprocess(bot_project, function_name=unique_name, image_uri=image, dry_run=True)
    assert recorder.writes == [] and not result.applied
    assert any(line.strip().startswith("create  Lambda function") for line in recorder.lines)
    lam = boto3.client("lambda")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=unique_name)
    assert not (bot_project / "iaf-aws-lambda.json").exists()


@pytest.mark.parametrize("stop_at", [1, 10, 12, 14, 16, 19])
def test_interrupted_deploy_converges_when_rerun(bot_project, ecr_image, unique_name, deploy_inprocess, stop_at):
    image = ecr_image("v1")
    writes: list[str] = []

    def interrupt(event_name: str, **_: object) -> None:
        operation = event_name.split(".", 2)[2]
        if not operation.startswith(("Get", "List", "Describe", "Head", "Simulate")):
            writes.append(operation)
            if len(writes) == stop_at:
                raise Interrupted(operation)

    session = boto3.Session(region_name="eu-west-1")
    session.events.register("before-send", interrupt)
    with pytest.raises(Interrupted):
        deploy_inprocess(bot_project, function_name=unique_name, image_uri=image, session=session)
    assert not (bot_project / "iaf-aws-lambda.json").exists()  # only a successful deploy saves

    rerun, _ = deploy_inprocess(bot_project, function_name=unique_name, image_uri=image)
    assert rerun.applied or rerun.plan.is_noop
    state = deployed_state(unique_name)
    assert state["image"].endswith(image.split(":")[-1]) or "@sha256:" in state["image"]
    assert state["alias_version"] == state["versions"][-1]
    assert len(state["versions"]) == 2, state  # $LATEST and exactly one published version
    assert len(state["schedules"]) == 1 and state["concurrency"] == 1
    ssm = boto3.client("ssm")
    names = [p["Name"] for p in ssm.get_parameters_by_path(Path=f"/iaf-aws/{unique_name}/")["Parameters"]]
    assert sorted(names) == [f"/iaf-aws/{unique_name}/BITVAVO_API_KEY", f"/iaf-aws/{unique_name}/BITVAVO_SECRET_KEY"]
    again, recorder = deploy_inprocess(bot_project)
    assert again.plan.is_noop and recorder.writes == []


def test_role_propagation_is_awaited_by_retrying_lambdas_error(ecr_image, unique_name):
    """Lambda refuses a role IAM has not propagated yet; the client retries that error, without waiting here."""
    from iaf_aws_plugin.deploy.awsclient import AWSClient

    image = ecr_image("v1")
    session = boto3.Session(region_name="eu-west-1")
    iam = session.client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                                "Principal": {"Service": "lambda.amazonaws.com"}}]})
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 3:  # the role "propagates" during the third wait
            iam.create_role(RoleName=f"{unique_name}-late", AssumeRolePolicyDocument=trust)

    client = AWSClient(session, "eu-west-1", sleep=sleep)
    client.create_function(unique_name, f"arn:aws:iam::123456789012:role/{unique_name}-late", image, 128, 30,
                           "x86_64", {})
    assert slept == [1.0, 2.0, 4.0]
    assert session.client("lambda").get_function(FunctionName=unique_name)["Configuration"]["State"] == "Active"

    gave_up: list[float] = []
    client = AWSClient(session, "eu-west-1", sleep=gave_up.append, max_attempts=4)
    with pytest.raises(PluginError) as error:
        client.create_function(f"{unique_name}-x", "arn:aws:iam::123456789012:role/never", image, 128, 30,
                               "x86_64", {})
    assert len(gave_up) == 3
    assert "Creating Lambda function" in str(error.value) and "cannot be assumed" in str(error.value)


def test_image_uri_that_does_not_exist_is_one_line_error(bot_project, ecr_image, unique_name, deploy_inprocess):
    image = ecr_image("v1").replace(":v1", ":missing")
    with pytest.raises(PluginError) as error:
        deploy_inprocess(bot_project, function_name=unique_name, image_uri=image)
    assert "does not exist" in str(error.value) and "\n" not in str(error.value)


def test_saved_account_protects_against_deploying_into_another_account(bot_project, unique_name, deploy_inprocess):
    (bot_project / "iaf-aws-lambda.json").write_text(json.dumps(
        {"function_name": unique_name, "region": "eu-west-1", "account_id": "999999999999"}))
    with pytest.raises(PluginError, match="deployed to AWS account 999999999999"):
        deploy_inprocess(bot_project, image_uri="123456789012.dkr.ecr.eu-west-1.amazonaws.com/x:v1")


def test_assumed_role_session_is_simulated_as_its_role_and_unsupported_simulation_warns_once(
        bot_project, ecr_image, unique_name, deploy_inprocess):
    iam = boto3.client("iam")
    role = iam.create_role(RoleName=f"{unique_name}-deployer", Path="/team/",
                           AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))["Role"]
    creds = boto3.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="me@example.com")["Credentials"]
    session = boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                            aws_session_token=creds["SessionToken"], region_name="eu-west-1")
    result, recorder = deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"),
                                        dry_run=True, session=session)
    assert "SimulatePrincipalPolicy" in recorder.operations  # moto answers HTTP 500
    assert len([w for w in recorder.warnings if "permissions up front" in w]) == 1
    assert recorder.writes == []


def test_bring_your_own_role_and_architecture_change(bot_project, ecr_image, unique_name, deploy_inprocess):
    iam = boto3.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "lambda.amazonaws.com"}}]}
    role = iam.create_role(RoleName=f"{unique_name}-mine", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    result, recorder = deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"),
                                        role_arn=role["Arn"])
    assert result.applied and "CreateRole" in recorder.operations  # the scheduler's role only
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=f"{unique_name}-iaf-lambda")
    lam = boto3.client("lambda")
    assert lam.get_function(FunctionName=unique_name)["Configuration"]["Role"] == role["Arn"]

    result, recorder = deploy_inprocess(bot_project, architecture="arm64")
    assert [c.method for s in result.plan.steps for c in s.calls] == [
        "update_function_code", "publish_version", "put_alias"]
    function_step = next(s for s in result.plan.steps if s.resource == "Lambda function")
    assert function_step.changes == ("architecture x86_64 -> arm64",)
    assert "UpdateFunctionCode" in recorder.writes
    # (moto 5.2 ignores Architectures in UpdateFunctionCode, so the emulator cannot show the result.)
    assert json.loads((bot_project / "iaf-aws-lambda.json").read_text())["role_arn"] == role["Arn"]


def test_names_the_deploy_sets_are_never_taken_from_the_user(bot_project, ecr_image, unique_name, deploy_inprocess):
    """A .env also serves local runs: its state bucket, prefix and SSM path are skipped with one warning,
    and the deploy's own values reach the function; asking for one with -e is refused in one line."""
    dotenv = bot_project / ".env"
    dotenv.write_text(dotenv.read_text() + "AWS_S3_STATE_BUCKET_NAME=my-local-bucket\nIAF_STATE_PREFIX=local/\n")
    image = ecr_image("v1")
    result, recorder = deploy_inprocess(bot_project, function_name=unique_name, image_uri=image, dry_run=True)
    assert recorder.warnings[0] == ("AWS_S3_STATE_BUCKET_NAME, IAF_STATE_PREFIX in .env: not deployed, "
                                   "deploy-aws-lambda sets the function's own value (.env keeps serving local runs).")
    result, _ = deploy_inprocess(bot_project, function_name=unique_name, image_uri=image)
    env = boto3.client("lambda").get_function_configuration(FunctionName=unique_name)["Environment"]["Variables"]
    assert env["AWS_S3_STATE_BUCKET_NAME"] == result.names.bucket and env["IAF_STATE_PREFIX"] == ""
    with pytest.raises(PluginError, match="'IAF_STATE_PREFIX' is set by deploy-aws-lambda itself"):
        deploy_inprocess(bot_project, env=(("IAF_STATE_PREFIX", "x/"),), dry_run=True)


def test_pages_follows_every_token_and_stops_at_a_missing_resource(aws_env, unique_name):
    """The one pagination helper of the AWS clients, against the emulator's real pagination."""
    import boto3

    from iaf_aws_plugin.deploy.awsclient import AWSClient

    ssm = boto3.client("ssm")
    for n in range(5):
        ssm.put_parameter(Name=f"/{unique_name}/p{n}", Value=f"v{n}", Type="SecureString")
    requests: list[str] = []
    client = AWSClient(boto3.Session(), "eu-west-1", on_call=lambda service, operation: requests.append(operation))
    pages = list(client.pages("ssm", "GetParametersByPath", where="listing", Path=f"/{unique_name}",
                              WithDecryption=True, MaxResults=2))
    assert [len(page["Parameters"]) for page in pages] == [2, 2, 1]
    assert len(requests) == 3
    assert sorted(p["Value"] for page in pages for p in page["Parameters"]) == [f"v{n}" for n in range(5)]
    assert list(client.pages("lambda", "ListAliases", where="listing", token=("Marker", "NextMarker"),
                             missing=("ResourceNotFoundException",), FunctionName=f"{unique_name}-none")) == []
