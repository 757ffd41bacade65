"""What moto lets through and AWS does not (issue 13): every in-process deploy here runs with the
service-model contract check (tests/deploy_fixtures.py), and the emulator's side is asserted."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest

from iaf_aws_plugin.deploy import desired as d
from iaf_aws_plugin.errors import PluginError
from iaf_aws_plugin.function_env import SECRETS_DIGEST_ENV

# Our deploy engine, planner, IAM documents and service-model checks against moto (in process; the one
# host_cli test only as a vehicle): nothing here reads the host. The scaffolded strategy is the host
# major's, but the schedule it derives (hourly) is proven per host by test_host_major_acceptance.py and
# test_deploy_cli.py's first deploy.
pytestmark = pytest.mark.anyhost

ACCOUNT, REGION = "123456789012", "eu-west-1"


def lambda_env(function: str, qualifier: str | None = None) -> dict[str, str]:
    lam = boto3.client("lambda")
    extra = {"Qualifier": qualifier} if qualifier else {}
    return lam.get_function(FunctionName=function, **extra)["Configuration"]["Environment"]["Variables"]


def alias_version(function: str) -> str:
    return boto3.client("lambda").get_alias(FunctionName=function, Name="live")["FunctionVersion"]


def saved(project: Path) -> dict[str, Any]:
    return json.loads((project / "iaf-aws-lambda.json").read_text())


# --- the contract check itself ------------------------------------------------------------------

def test_contract_check_stops_a_request_moto_would_accept_before_it_is_sent(aws_env, contract):
    ContractViolation = contract.Violation
    session = contract.register(boto3.Session(region_name=REGION))
    sent: list[str] = []
    session.events.register("before-send", lambda event_name, **_: sent.append(event_name))
    lam = session.client("lambda")
    with pytest.raises(ContractViolation, match=r"Name has length 200, outside \[1, 128\]"):
        lam.create_alias(FunctionName="f", Name="x" * 200, FunctionVersion="1")
    with pytest.raises(ContractViolation, match="does not match"):
        session.client("ecr").describe_repositories(repositoryNames=["iaf-x_-y"])
    with pytest.raises(ContractViolation, match="is not one of"):
        session.client("ssm").put_parameter(Name="/x", Value="v", Type="Secure")
    assert sent == []  # nothing reached the emulator


def test_deploy_of_a_name_with_a_separator_run_is_valid_for_every_service(bot_project, ecr_image, deploy_inprocess,
                                                                          contract, unique_name):
    name = f"bot_-x{unique_name[-6:]}"
    result, recorder = deploy_inprocess(bot_project, function_name=name, image_uri=ecr_image("v1"))
    assert result.applied
    repository = result.names.repository
    assert re.fullmatch(r"iaf-bot-x[0-9a-f]{6}-[0-9a-f]{6}", repository), repository
    boto3.client("ecr").describe_repositories(repositoryNames=[repository])
    assert {"ECR.CreateRepository", "Lambda.CreateFunction", "S3.CreateBucket", "IAM.PutRolePolicy",
            "CloudWatch Logs.CreateLogGroup", "Scheduler.CreateSchedule"} <= set(contract.checked)


# --- 6. names ------------------------------------------------------------------------------------

LAMBDA_NAMES = ["bot", "x_-y", "bot_-x", "Bot", "a__b", "-x-", "_", "-", "a-b_c", "A_B-C", "x" * 64,
                "_-" * 32, "a" + "-_" * 31 + "b", "UPPER_lower-123", "9lives"]


@pytest.mark.parametrize("function", LAMBDA_NAMES)
def test_repository_and_bucket_names_are_valid_for_any_lambda_name(function):
    import botocore.session

    model = botocore.session.get_session().get_service_model("ecr")
    shape = model.operation_model("CreateRepository").input_shape.members["repositoryName"]
    repository = d.repository_name(function)
    assert re.fullmatch(shape.metadata["pattern"], repository), repository
    assert shape.metadata["min"] <= len(repository) <= shape.metadata["max"]
    bucket = d.bucket_name(ACCOUNT, REGION, function)
    assert 3 <= len(bucket) <= 63 and re.fullmatch(r"[a-z0-9][a-z0-9-]*[a-z0-9]", bucket), bucket
    assert "--" not in bucket


def test_names_that_had_to_change_never_collide():
    changed = ["x_-y", "x-y_", "x--y", "X-y", "x-_y", "x_y", "x.y"]
    assert len({d.repository_name(n) for n in changed + ["x-y"]}) == len(changed) + 1
    assert len({d.bucket_name(ACCOUNT, REGION, n) for n in changed + ["x-y"]}) == len(changed) + 1
    assert d.repository_name("bot") == "iaf-bot"  # valid names stay as they were (no new repository)


# --- 1. logs ---------------------------------------------------------------------------------------

def test_function_policy_uses_the_resource_forms_cloudwatch_logs_matches():
    names = d.Names.derive(ACCOUNT, REGION, "bot")
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/bot"
    by_action = {a: s["Resource"] for s in d.function_policy(names)["Statement"] for a in s["Action"]}
    assert by_action["logs:CreateLogGroup"] == [f"{group}:*"]  # a bare "log-group:NAME" never matches
    assert by_action["logs:CreateLogStream"] == [f"{group}:*"]
    assert by_action["logs:PutLogEvents"] == [f"{group}:log-stream:*"]
    for action, resources in by_action.items():
        if action.startswith("logs:"):
            assert all(r.endswith(":*") for r in resources), (action, resources)


@pytest.mark.parametrize("document", ["function", "scheduler", "bucket", "repository", "lambda_trust",
                                      "scheduler_trust"])
def test_iam_documents_pass_a_policy_linter(document):
    """parliament (PyPI) knows each action's resource ARN forms; none of its findings may remain."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from parliament import analyze_policy_string

    names = d.Names.derive(ACCOUNT, REGION, "bot_-x")
    policy = {"function": d.function_policy(names), "scheduler": d.scheduler_policy(names),
              "bucket": d.bucket_policy(names), "repository": d.repository_policy(names),
              "lambda_trust": d.lambda_trust_policy(names), "scheduler_trust": d.scheduler_trust_policy(names)}[document]
    trust_or_resource = document != "function" and document != "scheduler"
    findings = analyze_policy_string(json.dumps(policy), ignore_private_auditors=True,
                                     include_community_auditors=False).findings
    issues = [(f.issue, f.detail) for f in findings]
    if trust_or_resource:  # resource and trust policies name no Resource (the resource is where they live)
        issues = [i for i in issues if i[0] not in ("RESOURCE_STAR", "RESOURCE_MISMATCH")
                  and i[1] != "Statement contains neither Resource nor NotResource"]
    assert issues == []


def test_the_linter_does_catch_a_wrong_resource_form():
    """The linter check above can fail: a log stream action on a bare log group is a finding."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from parliament import analyze_policy_string
    bad = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["logs:PutLogEvents"],
                                                   "Resource": [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/x"]}]}
    assert [f.issue for f in analyze_policy_string(json.dumps(bad)).findings] == ["RESOURCE_MISMATCH"]


def test_log_group_with_retention_saved_and_changed(bot_project, ecr_image, deploy_inprocess, unique_name):
    logs = boto3.client("logs")
    deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"))
    group = logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{unique_name}")["logGroups"]
    assert [(g["logGroupName"], g["retentionInDays"]) for g in group] == [(f"/aws/lambda/{unique_name}", 30)]

    result, recorder = deploy_inprocess(bot_project, log_retention_days=14)
    assert [c.method for s in result.plan.steps for c in s.calls] == ["put_retention_policy"]
    assert recorder.writes == ["PutRetentionPolicy"]
    assert logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{unique_name}")["logGroups"][0][
        "retentionInDays"] == 14
    assert saved(bot_project)["log_retention_days"] == 14
    again, _ = deploy_inprocess(bot_project)
    assert again.plan.is_noop
    with pytest.raises(PluginError, match="invalid --log-retention-days 10: CloudWatch Logs accepts 1, 3, 5"):
        deploy_inprocess(bot_project, log_retention_days=10, dry_run=True)


# --- 2. image pull and the preflight ------------------------------------------------------------------

def test_repository_policy_lets_only_this_accounts_functions_pull_and_keeps_other_statements(
        bot_project, ecr_image, deploy_inprocess, unique_name):
    result, _ = deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"))
    ecr = boto3.client("ecr")
    repository = result.names.repository
    policy = json.loads(ecr.get_repository_policy(repositoryName=repository)["policyText"])
    [statement] = policy["Statement"]
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert sorted(statement["Action"]) == ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    assert statement["Condition"] == {"StringLike": {"aws:sourceArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:*"},
                                      "StringEquals": {"aws:sourceAccount": ACCOUNT}}

    theirs = {"Sid": "TeamPull", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
              "Action": ["ecr:BatchGetImage"]}
    ecr.set_repository_policy(repositoryName=repository, policyText=json.dumps(
        {"Version": "2012-10-17", "Statement": [theirs]}))
    redeploy, _ = deploy_inprocess(bot_project)
    step = next(s for s in redeploy.plan.steps if s.resource == "ECR repository")
    assert step.changes == ("Lambda may pull",)
    sids = [s["Sid"] for s in json.loads(ecr.get_repository_policy(repositoryName=repository)["policyText"])[
        "Statement"]]
    assert sids == ["TeamPull", "LambdaECRImageRetrievalPolicy"]
    assert deploy_inprocess(bot_project)[0].plan.is_noop


#: IAM actions of each API operation the deploy sends, where they differ from "service:Operation".
OPERATION_ACTIONS = {
    "s3.HeadBucket": ["s3:ListBucket"],
    "s3.CreateBucket": ["s3:CreateBucket", "s3:PutBucketOwnershipControls"],  # ObjectOwnership
    "s3.GetPublicAccessBlock": ["s3:GetBucketPublicAccessBlock"],
    "s3.PutPublicAccessBlock": ["s3:PutBucketPublicAccessBlock"],
    "s3.GetBucketEncryption": ["s3:GetEncryptionConfiguration"],
    "s3.PutBucketEncryption": ["s3:PutEncryptionConfiguration"],
    "s3.GetBucketLifecycleConfiguration": ["s3:GetLifecycleConfiguration"],
    "s3.PutBucketLifecycleConfiguration": ["s3:PutLifecycleConfiguration"],
    "ecr.CreateRepository": ["ecr:CreateRepository", "ecr:TagResource"],  # tags
    "lambda.CreateFunction": ["lambda:CreateFunction", "lambda:TagResource", "iam:PassRole"],
    "lambda.UpdateFunctionConfiguration": ["lambda:UpdateFunctionConfiguration", "iam:PassRole"],
    "iam.CreateRole": ["iam:CreateRole", "iam:TagRole"],
    "cloudwatch-logs.CreateLogGroup": ["logs:CreateLogGroup", "logs:TagResource"],
    "scheduler.CreateSchedule": ["scheduler:CreateSchedule", "iam:PassRole"],
    "sns.CreateTopic": ["sns:CreateTopic", "sns:TagResource"],  # tags
    "sqs.CreateQueue": ["sqs:CreateQueue", "sqs:TagQueue"],  # tags
    "scheduler.UpdateSchedule": ["scheduler:UpdateSchedule", "iam:PassRole"],
}
#: Calls that need no permission (sts) or that the preflight itself makes (and tolerates a refusal of).
NOT_DEPLOY_ACTIONS = {"sts.GetCallerIdentity", "iam.SimulatePrincipalPolicy"}
PREFIX = {"cloudwatch-logs": "logs"}


def iam_actions(operations: list[tuple[str, str]]) -> set[str]:
    actions: set[str] = set()
    for service, operation in operations:
        key = f"{service}.{operation}"
        if key in NOT_DEPLOY_ACTIONS:
            continue
        actions.update(OPERATION_ACTIONS.get(key, [f"{PREFIX.get(service, service)}:{operation}"]))
    return actions


#: Per variant: the deploys of its lifecycle (options of each in-process deploy) and the actions its
#: preflight asks for that the lifecycle never calls, because they depend on what exists: deleting
#: what the settings no longer want, and drift repairs. Every variant also asks for a registry
#: push (the builder pushes through the registry API, outside this recording) and, with a log
#: group that has runs, for its log events (the cost estimate; no run here).
LIFECYCLES: dict[str, tuple[list[dict[str, Any]], set[str]]] = {
    # With a schedule and alerts: created, changed (a new address, another schedule), removed.
    "full": ([{"builder": "ecr-api", "rollback_window": 1, "schedule": "rate(1 hour)", "alert_email": "ops@example.com"},
              {"memory_size": 1024, "rotate": True},
              {"schedule": "rate(2 hours)", "alert_email": "desk@example.com"},
              {"schedule": "none", "alert_email": "none"}],
             {"sqs:SetQueueAttributes"}),  # the dead-letter queue's drift repair
    # Never a schedule: the preflight asks to remove one, should it exist.
    "no schedule": ([{"builder": "ecr-api", "rollback_window": 1, "schedule": "none"},
                     {"memory_size": 1024, "rotate": True}],
                    {"scheduler:DeleteSchedule", "sqs:DeleteQueue", "sns:ListSubscriptionsByTopic"}),  # nor alerts
    # Never alerts (and never provisioned concurrency: moto has no such API, every variant is without).
    "no alerts": ([{"builder": "ecr-api", "rollback_window": 1, "schedule": "rate(1 hour)"},
                   {"memory_size": 1024, "rotate": True, "schedule": "rate(2 hours)"}],
                  # (scheduler:DeleteSchedule: a keep-active schedule no longer wanted, issue 19)
                  {"sns:ListSubscriptionsByTopic", "sqs:SetQueueAttributes", "scheduler:DeleteSchedule"}),
}
DRIFT_ONLY = {"ecr:PutImageScanningConfiguration", "iam:UpdateAssumeRolePolicy", "logs:GetLogEvents"}
PUSH = {"ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}
#: The deploy lease's reads and release: here its conditional write is denied by the bucket's TLS-only
#: policy (moto ignores the condition), so the deploy goes on unlocked (tests/operate/test_deploy_lease.py).
LEASE_RELEASE = {"s3:GetObject", "s3:DeleteObject"}


@pytest.mark.parametrize("variant", sorted(LIFECYCLES))
def test_preflight_asks_for_exactly_what_the_deploys_call(versioned_env, bot_project, deploy_inprocess, api_builder,
                                                          unique_name, monkeypatch, variant):
    """Record every operation of each deploy of a lifecycle and what its preflight asked for: each
    deploy calls nothing it did not ask for, and over the lifecycle it asked for nothing else but
    the variant's conditional actions, a push and drift repairs."""
    from iaf_aws_plugin.deploy import preflight

    operations: list[tuple[str, str]] = []
    session = boto3.Session(region_name=REGION)
    session.events.register("before-send", lambda event_name, **_: operations.append(
        tuple(event_name.split(".", 2)[1:])))
    roles_read: set[str] = set()
    session.events.register("provide-client-params.iam.GetRole",
                            lambda params, **_: roles_read.add(params.get("RoleName")))
    asked: list[set[str]] = []
    check = preflight.check_permissions

    def recording(client: Any, caller: str, groups: list[Any], warn: Any) -> list[str]:
        asked.append({action for group in groups for action in group.actions})
        return check(client, caller, groups, warn)

    monkeypatch.setattr(preflight, "check_permissions", recording)
    runs, conditional = LIFECYCLES[variant]
    used_all: set[str] = set()
    # A secret the rotation drops (its parameter is deleted); the exchange keys stay (else refused).
    dotenv = bot_project / ".env"
    dotenv.write_text(dotenv.read_text() + "EXCHANGE_PASSPHRASE=pp-7d1e93\n")
    for index, options in enumerate(runs):
        options = dict(options)
        if options.pop("rotate", False):
            dotenv.write_text("BITVAVO_API_KEY=rotated-key-456\nBITVAVO_SECRET_KEY='s3cr3t value'\nLOG_LEVEL=DEBUG\n")
        operations.clear()
        result = deploy_inprocess(bot_project, session=session,
                                  **({"function_name": unique_name} if index == 0 else {}), **options)[0]
        assert result.applied
        used = iam_actions(operations)
        assert used - asked[index] == set(), f"run {index}: the preflight misses {sorted(used - asked[index])}"
        used_all |= used
    wanted = set().union(*asked)
    assert wanted - used_all == DRIFT_ONLY | PUSH | LEASE_RELEASE | conditional
    scheduler_role = f"{unique_name}-iaf-scheduler"
    assert (scheduler_role in roles_read) == (variant != "no schedule")  # read only with a schedule
    if variant != "full":  # nothing of the feature left out is asked for beyond reading it
        feature = {"no schedule": "scheduler:CreateSchedule", "no alerts": "sns:CreateTopic"}[variant]
        assert feature not in wanted
    assert not any("ProvisionedConcurrency" in action for action in wanted)


def test_preflight_asks_for_provisioned_concurrency_only_when_the_settings_manage_it():
    from iaf_aws_plugin.deploy.models import Spec
    from iaf_aws_plugin.deploy.preflight import actions_for

    names = d.Names.derive(ACCOUNT, REGION, "bot")

    def asked(**settings: Any) -> set[str]:
        return {action for group in actions_for(Spec(names, **settings)) for action in group.actions}

    assert not {a for a in asked() if "ProvisionedConcurrency" in a}
    assert {a for a in asked(provisioned_concurrency=1) if "ProvisionedConcurrency" in a} == {
        "lambda:GetProvisionedConcurrencyConfig", "lambda:PutProvisionedConcurrencyConfig"}
    assert {a for a in asked(provisioned_concurrency=0) if "ProvisionedConcurrency" in a} == {
        "lambda:GetProvisionedConcurrencyConfig", "lambda:DeleteProvisionedConcurrencyConfig"}
    # Without a schedule the scheduler role is neither read nor passed.
    assert "iam:GetRole" in asked(schedule="rate(1 hour)")
    scheduler_role_groups = [g for g in actions_for(Spec(names)) if g.resource == names.scheduler_role_arn]
    assert scheduler_role_groups == []
    assert not {"sns:DeleteTopic", "cloudwatch:DeleteAlarms"} & asked()
    assert {"sns:DeleteTopic", "cloudwatch:DeleteAlarms"} <= asked(alert_email="none")


# --- 3. new accounts: the concurrency quota -----------------------------------------------------------

# --- 3. new accounts: the concurrency quota -----------------------------------------------------------

def test_quota_limited_account_deploys_warns_and_retries_later(quota_env, bot_project, ecr_image, deploy_inprocess,
                                                               unique_name):
    result, recorder = deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"))
    assert result.applied
    [warning] = [w for w in recorder.warnings if "concurrency quota" in w]
    assert "runs stay single through the S3 state lease" in warning and "Service Quotas" in warning
    assert "\n" not in warning
    assert any(line.startswith("Not applied yet (the next deploy retries): the account's Lambda concurrency quota")
               for line in recorder.lines)
    # Everything after the refused reservation exists: retries off, the schedule runs the alias.
    lam = boto3.client("lambda")
    assert lam.get_function_event_invoke_config(FunctionName=unique_name, Qualifier="live")[
        "MaximumRetryAttempts"] == 0
    assert boto3.client("scheduler").get_schedule(Name=f"{unique_name}-iaf")["State"] == "ENABLED"
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=unique_name)

    again, recorder = deploy_inprocess(bot_project)  # a later deploy tries again (the plan shows it)
    safety = next(s for s in again.plan.steps if s.resource == "Trading safety")
    assert safety.changes == ("reserved concurrency none -> 1",)
    assert recorder.writes == ["PutFunctionConcurrency"]
    assert any("concurrency quota" in w for w in recorder.warnings)


def test_plan_says_up_front_when_the_account_quota_leaves_nothing_to_reserve():
    from dataclasses import replace

    from iaf_aws_plugin.deploy.models import AccountConcurrency
    from iaf_aws_plugin.deploy.planner import plan_deploy
    from iaf_aws_plugin.deploy.remote import LiveState

    names = d.Names.derive(ACCOUNT, REGION, "bot")
    want = d.build_desired(names, memory_size=128, timeout=60, architecture="x86_64", plain_env={}, secrets={},
                           image_uri="x@sha256:" + "a" * 64, role_arn=None, schedule=None, timezone="UTC",
                           builder=None)
    new_account = LiveState(account_concurrency=AccountConcurrency(limit=10, unreserved=10))
    step = next(s for s in plan_deploy(want, new_account).steps if s.resource == "Trading safety")
    assert "the account's concurrency quota (10) leaves none to reserve" in step.changes[0]
    assert "put_function_concurrency" in [c.method for c in step.calls]  # still tried
    roomy = replace(new_account, account_concurrency=AccountConcurrency(limit=1000, unreserved=1000))
    step = next(s for s in plan_deploy(want, roomy).steps if s.resource == "Trading safety")
    assert step.changes[0] == "reserved concurrency none -> 1"


# --- 4. secret rotation ---------------------------------------------------------------------------------

def test_a_changed_secret_publishes_a_new_version_and_moves_the_alias(bot_project, ecr_image, deploy_inprocess,
                                                                      unique_name):
    ssm = boto3.client("ssm")
    deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"))
    first = lambda_env(unique_name, "live")[SECRETS_DIGEST_ENV]
    assert alias_version(unique_name) == "1"

    dotenv = bot_project / ".env"
    dotenv.write_text(dotenv.read_text().replace("key-123-abc", "key-rotated-789"))
    result, recorder = deploy_inprocess(bot_project)
    function_step = next(s for s in result.plan.steps if s.resource == "Lambda function")
    assert function_step.changes == (f"environment ~{SECRETS_DIGEST_ENV}",)
    assert alias_version(unique_name) == "2"
    versions = {p["Name"]: p["Version"] for p in ssm.get_parameters_by_path(Path=f"/iaf-aws/{unique_name}/")[
        "Parameters"]}
    assert versions[f"/iaf-aws/{unique_name}/BITVAVO_API_KEY"] == 2
    digest = lambda_env(unique_name, "live")[SECRETS_DIGEST_ENV]
    text = "\n".join(f"{n}={versions[n]}" for n in sorted(versions))
    assert digest == hashlib.sha256(text.encode()).hexdigest()[:16] != first
    assert "key-rotated-789" not in json.dumps(lambda_env(unique_name)) + "\n".join(recorder.lines)

    # Rotated outside the deploy (aws ssm put-parameter): the next deploy still notices.
    ssm.put_parameter(Name=f"/iaf-aws/{unique_name}/BITVAVO_SECRET_KEY", Value="other", Type="SecureString",
                      Overwrite=True)
    dotenv.write_text(dotenv.read_text().replace("'s3cr3t value'", "other"))
    result, _ = deploy_inprocess(bot_project)
    assert alias_version(unique_name) == "3"
    assert deploy_inprocess(bot_project)[0].plan.is_noop


# --- 5. images: pruning beyond the rollback window ----------------------------------------------------

def test_twelve_built_deploys_keep_the_rollback_window_and_every_image_it_uses(
        versioned_env, bot_project, deploy_inprocess, api_builder, unique_name):
    lam, ecr = boto3.client("lambda"), boto3.client("ecr")
    for index in range(12):
        options: dict[str, Any] = {"function_name": unique_name, "builder": "ecr-api"} if index == 0 else {}
        result, recorder = deploy_inprocess(bot_project, **options)
        assert result.applied
        repository = result.names.repository
        versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=unique_name)["Versions"]
                    if v["Version"] != "$LATEST"]
        assert versions == [str(v) for v in range(max(1, index - 3), index + 2)]  # at most 5 kept
        assert alias_version(unique_name) == versions[-1]
        for version in versions:  # every kept version's image is still in ECR
            uri = lam.get_function(FunctionName=unique_name, Qualifier=version)["Code"]["ImageUri"]
            digest = uri.rsplit("@", 1)[1]
            ecr.describe_images(repositoryName=repository, imageIds=[{"imageDigest": digest}])
        images = ecr.describe_images(repositoryName=repository)["imageDetails"]
        assert len(images) == len(versions)  # the pruned versions' images are gone
        if index >= 5:
            assert any(line.startswith(f"Pruned version(s) {index - 4} and 1 image(s)") for line in recorder.lines)
    assert len(api_builder.builds) == 12
    assert saved(bot_project)["builder"] == "ecr-api"
    rules = json.loads(ecr.get_lifecycle_policy(repositoryName=repository)["lifecyclePolicyText"])["rules"]
    assert [r["selection"]["tagStatus"] for r in rules] == ["untagged"]


def test_prune_never_deletes_an_image_a_kept_version_uses():
    from iaf_aws_plugin.deploy.planner import plan_prune
    from iaf_aws_plugin.deploy.remote import LiveVersions

    a, b, c, prebuilt = (f"sha256:{x * 64}" for x in "abcd")
    versions = LiveVersions(digests={"1": a, "2": prebuilt, "3": b, "4": a, "5": c, "6": c, "$LATEST": c},
                            aliases={"live": "3"}, repository_digests=frozenset({a, b, c}))
    prune = plan_prune(versions, keep=2, alias="live")
    assert prune.kept == ("3", "5", "6") and prune.versions == ("1", "2", "4")
    # a is used by nothing kept -> deleted once; b is the alias's; the prebuilt image is not in our repository
    assert prune.digests == (a,)
    assert plan_prune(versions, keep=10, alias="live").versions == ()
    assert plan_prune(LiveVersions(digests={"1": a, "2": b, "$LATEST": a}, aliases={"live": "2"},
                                   repository_digests=frozenset({a, b})), keep=1, alias="live").digests == ()


# --- 7. the state bucket's lifecycle rules ------------------------------------------------------------

def test_reused_state_bucket_keeps_its_own_lifecycle_rules(bot_project, ecr_image, deploy_inprocess, unique_name):
    s3 = boto3.client("s3")
    bucket = d.bucket_name(ACCOUNT, REGION, unique_name)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    theirs = {"ID": "archive", "Status": "Enabled", "Filter": {"Prefix": "archive/"},
              "Expiration": {"Days": 365}}
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [theirs]})
    result, _ = deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"))
    step = next(s for s in result.plan.steps if s.resource == "S3 state bucket")
    assert "lifecycle rules (its 1 other rule(s) kept)" in step.changes
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert rules["archive"]["Expiration"] == {"Days": 365}
    assert rules["iaf-expire-noncurrent-versions"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert rules["iaf-abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert deploy_inprocess(bot_project)[0].plan.is_noop


# --- 8. the environment's size --------------------------------------------------------------------------

def test_a_5_kb_environment_is_one_error_at_plan_time_before_any_change(bot_project, ecr_image, deploy_inprocess,
                                                                        unique_name):
    image = ecr_image("v1")
    dotenv = bot_project / ".env"
    dotenv.write_text(dotenv.read_text() + "STRATEGY_CONFIG=" + "x" * 4000 + "\nNOTES=" + "y" * 1000 + "\n")
    with pytest.raises(PluginError) as error:
        deploy_inprocess(bot_project, function_name=unique_name, image_uri=image)
    message = str(error.value)
    assert "over Lambda's limit of 4096" in message and "\n" not in message
    assert message.index("STRATEGY_CONFIG (4015 B)") < message.index("NOTES (1005 B)")
    with pytest.raises(boto3.client("lambda").exceptions.ResourceNotFoundException):
        boto3.client("lambda").get_function(FunctionName=unique_name)
    assert not (bot_project / "iaf-aws-lambda.json").exists()


# --- 9. dependencies and the cold-start check -------------------------------------------------------------

def test_dependency_floors_support_conditional_writes(tmp_path):
    from importlib.metadata import requires

    from iaf_aws_plugin.scaffold import scaffold

    requirements = requires("iaf-aws-plugin") or []
    assert "boto3>=1.35.69" in requirements and "botocore>=1.35.69" in requirements
    scaffold(tmp_path / "p")
    lines = (tmp_path / "p" / "requirements.txt").read_text().splitlines()
    assert "boto3>=1.35.69" in lines and "botocore>=1.35.69" in lines
    dockerfile = (tmp_path / "p" / "Dockerfile").read_text()
    assert "--target ${LAMBDA_TASK_ROOT}" in dockerfile
    handler = (tmp_path / "p" / "aws_function.py").read_text()
    assert "require_s3_conditional_writes()" in handler


def test_cold_start_check_fails_in_one_line_on_a_botocore_without_conditional_writes(tmp_path, monkeypatch):
    """A real botocore whose S3 model lacks IfMatch (as before 1.35.69), through AWS_DATA_PATH."""
    import botocore.session

    from iaf_aws_plugin.runtime import require_s3_conditional_writes

    require_s3_conditional_writes()  # this environment's botocore is new enough
    loader = botocore.session.get_session().get_component("data_loader")
    model = loader.load_service_model("s3", "service-2")
    version = model["metadata"]["apiVersion"]
    request = model["operations"]["PutObject"]["input"]["shape"]
    model["shapes"][request]["members"].pop("IfMatch")
    folder = tmp_path / "models" / "s3" / version
    folder.mkdir(parents=True)
    (folder / "service-2.json").write_text(json.dumps(model))
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path / "models"))
    with pytest.raises(PluginError) as error:
        require_s3_conditional_writes()
    assert "cannot make S3 conditional writes" in str(error.value) and "\n" not in str(error.value)
    assert "LAMBDA_TASK_ROOT" in str(error.value)


# --- 10. the built image's digest --------------------------------------------------------------------------

def test_built_image_is_deployed_by_the_digest_ecr_resolves(bot_project, deploy_inprocess, api_builder, unique_name):
    result, _ = deploy_inprocess(bot_project, function_name=unique_name, builder="ecr-api")
    uri = boto3.client("lambda").get_function(FunctionName=unique_name)["Code"]["ImageUri"]
    assert uri == f"{result.names.registry}/{result.names.repository}@{api_builder.builds[-1]}"

    api_builder.lie = True  # the builder reports a digest ECR does not have for the tag
    with pytest.raises(PluginError, match=r"the builder reported digest sha256:0{64} .* but ECR resolves the tag to "
                                          r"sha256:[0-9a-f]{64}: not deployed\."):
        deploy_inprocess(bot_project, memory_size=1024)
    assert boto3.client("lambda").get_function(FunctionName=unique_name)["Code"]["ImageUri"] == uri


# --- 11. registry scanning -------------------------------------------------------------------------------------

def test_registry_scanning_rules_stop_the_repository_setting_from_being_proposed(
        bot_project, ecr_image, deploy_inprocess, unique_name):
    ecr = boto3.client("ecr")
    result, _ = deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"))
    repository = result.names.repository
    ecr.put_image_scanning_configuration(repositoryName=repository, imageScanningConfiguration={"scanOnPush": False})
    plan = deploy_inprocess(bot_project, dry_run=True)[0].plan
    assert next(s for s in plan.steps if s.resource == "ECR repository").changes == ("scan on push",)
    try:
        ecr.put_registry_scanning_configuration(scanType="BASIC", rules=[
            {"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "iaf-*", "filterType": "WILDCARD"}]}])
        result, recorder = deploy_inprocess(bot_project)
        assert result.plan.is_noop and recorder.writes == []
    finally:
        ecr.put_registry_scanning_configuration(scanType="BASIC", rules=[])


# --- 12. secrets by name and by value, --secret / --plain ------------------------------------------------------

@pytest.mark.host
def test_secrets_by_name_and_value_and_the_plan_says_where_each_went(host_cli, aws_env, bot_project, ecr_image,
                                                                    unique_name):
    secrets = ("hunter2", "XXXXsecretXXXX", "pass-123", "tok-Ab3dEf7hIj9kLm1nOp5q", "key-123-abc", "s3cr3t value")
    (bot_project / ".env").write_text(
        "MY_PASSWD=pass-123\nDB_URL=postgres://u:hunter2@h/db\nWEBHOOK=https://hooks.example/T000/B000/XXXXsecretXXXX\n"
        "API_CLIENT=tok-Ab3dEf7hIj9kLm1nOp5q\nBITVAVO_API_KEY=key-123-abc\nLOG_LEVEL=INFO\nREGION_NAME=eu-west\n"
        "PUBLIC_KEY_ID=not-a-secret\nBITVAVO_SECRET_KEY='s3cr3t value'\n")
    result = host_cli(["deploy-aws-lambda", "--lambda-function-name", unique_name, "--image-uri", ecr_image("v1"),
                       "--plain", "PUBLIC_KEY_ID", "--secret", "REGION_NAME", "--yes"], cwd=bot_project, env=aws_env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for secret in secrets:
        assert secret not in output
    for line in ("DB_URL: SSM SecureString (value is a URL with a password)",
                 "MY_PASSWD: SSM SecureString (name contains PASS)",
                 "WEBHOOK: SSM SecureString (name contains WEBHOOK)",
                 "API_CLIENT: SSM SecureString (value looks like a random token)",
                 "REGION_NAME: SSM SecureString (--secret)",
                 "PUBLIC_KEY_ID: plain variable (--plain; name contains KEY)",
                 "LOG_LEVEL: plain variable (no secret marker in name or value)"):
        assert line in result.stdout, result.stdout
    env = lambda_env(unique_name)
    assert {"LOG_LEVEL", "PUBLIC_KEY_ID"} <= set(env)
    assert not {"MY_PASSWD", "DB_URL", "WEBHOOK", "API_CLIENT", "BITVAVO_API_KEY", "BITVAVO_SECRET_KEY",
                "REGION_NAME"} & set(env)
    stored = {p["Name"].rsplit("/", 1)[1] for p in boto3.client("ssm").get_parameters_by_path(
        Path=f"/iaf-aws/{unique_name}/")["Parameters"]}
    assert stored == {"MY_PASSWD", "DB_URL", "WEBHOOK", "API_CLIENT", "BITVAVO_API_KEY", "BITVAVO_SECRET_KEY",
                      "REGION_NAME"}
    settings = saved(bot_project)
    assert settings["secret_names"] == ["REGION_NAME"] and settings["plain_names"] == ["PUBLIC_KEY_ID"]
    assert not any(secret in json.dumps(settings) for secret in secrets)


# --- issue 8, deploy side: ephemeral storage and the timeout the state handler reads -------------------

def test_ephemeral_storage_and_function_timeout_variable(bot_project, ecr_image, deploy_inprocess, unique_name):
    from iaf_aws_plugin.function_env import FUNCTION_TIMEOUT_ENV

    lam = boto3.client("lambda")
    deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"), ephemeral_storage=2048,
                     timeout=300)
    config = lam.get_function_configuration(FunctionName=unique_name, Qualifier="live")
    assert config["EphemeralStorage"] == {"Size": 2048}
    assert config["Environment"]["Variables"][FUNCTION_TIMEOUT_ENV] == "300"
    assert saved(bot_project)["ephemeral_storage"] == 2048
    assert deploy_inprocess(bot_project)[0].plan.is_noop

    result, _ = deploy_inprocess(bot_project, timeout=120, ephemeral_storage=4096)
    [update] = [c for s in result.plan.steps for c in s.calls if c.method == "update_function_configuration"]
    assert update.params["ephemeral_storage"] == 4096 and update.params["timeout"] == 120
    assert update.params["environment"][FUNCTION_TIMEOUT_ENV] == "120"
    step = next(s for s in result.plan.steps if s.resource == "Lambda function")
    assert "ephemeral storage 2048 -> 4096 MB" in step.changes
    assert lam.get_function_configuration(FunctionName=unique_name, Qualifier="live")["Environment"]["Variables"][
        FUNCTION_TIMEOUT_ENV] == "120"
    # (moto 5.2 ignores EphemeralStorage in UpdateFunctionConfiguration: the planned call is what we can check.)
    with pytest.raises(PluginError, match="invalid --ephemeral-storage 256: Lambda allows 512 to 10240 MB"):
        deploy_inprocess(bot_project, ephemeral_storage=256, dry_run=True)
