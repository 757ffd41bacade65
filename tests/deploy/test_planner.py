"""The planner on in-memory desired and live state: no AWS, no emulator."""
from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from iaf_aws_plugin.deploy import desired as d
from iaf_aws_plugin.deploy.planner import (
    CREATE,
    DELETE,
    UPDATE,
    Ref,
    canonical,
    plan_deploy,
    secrets_digest,
)
from iaf_aws_plugin.function_env import SECRETS_DIGEST_ENV
from iaf_aws_plugin.deploy.models import EventInvokeConfig, Parameter
from iaf_aws_plugin.deploy.remote import LiveFunction, LiveState

pytestmark = pytest.mark.anyhost  # the result does not depend on the host version: CI runs it in one leg

ACCOUNT, REGION = "123456789012", "eu-west-1"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/iaf-bot@sha256:" + "a" * 64
OTHER_IMAGE = IMAGE[:-64] + "b" * 64
SECRET = "super-secret-value"


def desired_state(**overrides):
    names = d.Names.derive(ACCOUNT, REGION, "bot")
    params = dict(memory_size=3000, timeout=900, architecture="x86_64", plain_env={"LOG_LEVEL": "INFO"},
                  secrets={"BITVAVO_API_KEY": SECRET}, image_uri=IMAGE, role_arn=None,
                  schedule="rate(1 hour)", timezone="UTC", builder=None)
    params.update(overrides)
    return d.build_desired(names, **params)


def live_matching(want: d.DesiredState) -> LiveState:
    """The live state right after a complete deploy of ``want``."""
    fn = want.function
    environment = dict(fn.environment)
    if "IAF_SSM_PARAMETER_PATH" in environment:  # the digest of the parameters' versions (all 1 here)
        environment[SECRETS_DIGEST_ENV] = secrets_digest({name: 1 for name in want.secrets})
    function = LiveFunction(image_uri=fn.image_uri or IMAGE, memory_size=fn.memory_size, timeout=fn.timeout,
                            architecture=fn.architecture, environment=environment, role_arn=fn.role_arn)
    # The documents as AWS gives them back (a JSON round trip), in the same models as the desired ones.
    bucket = replace(want.bucket, policy=json.loads(json.dumps(want.bucket.policy)))
    return LiveState(
        bucket=bucket,
        repository=want.repository,
        role=want.role,
        scheduler_role=want.scheduler_role,
        parameters={name: Parameter(value.value, 1) for name, value in want.secrets.items()},
        function=function, alias_version="3", alias_function=function, latest_version="3",
        latest_function=function, reserved_concurrency=1,
        event_invoke=EventInvokeConfig(retries=0, max_event_age=60),
        log_group=want.log_group,
        dead_letter=want.dead_letter,
        schedule=want.schedule or d.Schedule(want.names.schedule, "default", None, "UTC", want.names.alias_arn,
                                             want.names.scheduler_role_arn, True, 0, 60),
    )


def steps_by_resource(plan):
    return {step.resource: step for step in plan.steps}


def methods(plan):
    return [call.method for step in plan.steps for call in step.calls]


def test_first_deploy_creates_everything_in_dependency_order():
    plan = plan_deploy(desired_state(), LiveState())
    assert all(step.action == CREATE for step in plan.steps)
    order = methods(plan)
    assert order.index("create_bucket") < order.index("create_function")
    assert order.index("create_role") < order.index("create_function")
    assert order.index("put_secure_parameter") < order.index("create_function")
    assert order.index("create_function") < order.index("publish_version") < order.index("put_alias")
    assert order.index("put_alias") < order.index("put_event_invoke_config") < order.index("put_schedule")
    alias_call = next(c for s in plan.steps for c in s.calls if c.method == "put_alias")
    assert alias_call.params["version"] == Ref("version")


def test_plan_and_its_repr_never_show_a_secret_value():
    plan = plan_deploy(desired_state(), LiveState())
    text = "\n".join(plan.render()) + repr(plan)
    assert SECRET not in text
    assert "BITVAVO_API_KEY" in text  # the name is shown, not the value


def test_secrets_are_never_plain_environment_variables():
    want = desired_state()
    assert "BITVAVO_API_KEY" not in want.function.environment
    assert want.function.environment["IAF_SSM_PARAMETER_PATH"] == "/iaf-aws/bot/"
    assert want.function.environment["AWS_S3_STATE_BUCKET_NAME"] == want.names.bucket
    assert set(want.secrets) == {"/iaf-aws/bot/BITVAVO_API_KEY"}


def test_no_secrets_means_no_parameter_path_for_the_handler():
    want = desired_state(secrets={}, with_secrets=False)
    assert "IAF_SSM_PARAMETER_PATH" not in want.function.environment


def test_nothing_changed_plans_no_call():
    want = desired_state()
    plan = plan_deploy(want, live_matching(want))
    assert plan.is_noop
    assert methods(plan) == []
    assert "Nothing to change" in plan.render()[-1]


def test_memory_and_timeout_change_update_configuration_only():
    want = desired_state()
    live = live_matching(want)
    plan = plan_deploy(desired_state(memory_size=1024, timeout=60), live)
    assert methods(plan) == ["update_function_configuration", "publish_version", "put_alias"]
    step = steps_by_resource(plan)["Lambda function"]
    assert step.action == UPDATE
    assert "memory 3000 -> 1024 MB" in step.changes and "timeout 900 -> 60 s" in step.changes


def test_new_image_digest_updates_code_only():
    want = desired_state()
    plan = plan_deploy(desired_state(image_uri=OTHER_IMAGE), live_matching(want))
    assert methods(plan) == ["update_function_code", "publish_version", "put_alias"]


def test_same_digest_under_another_spelling_is_unchanged():
    want = desired_state()
    live = live_matching(want)
    plan = plan_deploy(desired_state(image_uri=IMAGE), replace(live, function=replace(live.function, image_uri=IMAGE)))
    assert plan.is_noop


def test_environment_change_lists_names_only():
    want = desired_state()
    plan = plan_deploy(desired_state(plain_env={"LOG_LEVEL": "DEBUG", "NEW": "1"}), live_matching(want))
    step = steps_by_resource(plan)["Lambda function"]
    assert step.changes == ("environment +NEW ~LOG_LEVEL",)
    assert "DEBUG" not in "\n".join(plan.render())


def test_changed_secret_is_rewritten_and_a_removed_one_is_kept():
    want = desired_state()
    live = replace(live_matching(want), parameters={"/iaf-aws/bot/BITVAVO_API_KEY": Parameter("old", 1),
                                                    "/iaf-aws/bot/OLD_TOKEN": Parameter("x", 1)})
    plan = plan_deploy(want, live)
    step = steps_by_resource(plan)["SSM secrets"]
    assert step.action == UPDATE and step.changes == ("~BITVAVO_API_KEY",)
    assert [c.params["name"] for c in step.calls] == ["/iaf-aws/bot/BITVAVO_API_KEY"]
    [note] = [note for note in plan.notes if "OLD_TOKEN" in note]
    assert "kept" in note and "investing-algorithm-framework secrets-aws-lambda rm OLD_TOKEN`" in note


def test_interrupted_after_function_update_publishes_and_moves_the_alias():
    want = desired_state(image_uri=OTHER_IMAGE)
    live = live_matching(desired_state())
    # $LATEST already has the new image (the run stopped before publishing); the alias has not.
    live = replace(live, function=replace(live.function, image_uri=OTHER_IMAGE))
    plan = plan_deploy(want, live)
    assert methods(plan) == ["publish_version", "put_alias"]


def test_interrupted_before_publishing_publishes_and_creates_the_alias():
    want = desired_state()
    live = replace(live_matching(want), alias_version=None, alias_function=None, latest_version=None,
                   latest_function=None, event_invoke=None)
    plan = plan_deploy(want, live)
    assert methods(plan) == ["publish_version", "put_alias", "put_event_invoke_config"]
    alias = next(c for s in plan.steps for c in s.calls if c.method == "put_alias")
    assert alias.params["exists"] is False


def test_interrupted_after_publishing_reuses_that_version_instead_of_publishing_a_duplicate():
    want = desired_state(memory_size=1024)
    old = live_matching(desired_state())
    fresh = replace(old.function, memory_size=1024)
    live = replace(old, function=fresh, latest_version="4", latest_function=fresh)  # alias still on 3
    plan = plan_deploy(want, live)
    assert methods(plan) == ["put_alias"]
    alias = next(c for s in plan.steps for c in s.calls if c.method == "put_alias")
    assert alias.params["version"] == "4" and alias.params["exists"] is True


def test_existing_bucket_is_reused_and_only_missing_settings_are_applied():
    want = desired_state()
    live = live_matching(want)
    live = replace(live, bucket=replace(live.bucket, versioning=None))
    plan = plan_deploy(want, live)
    assert methods(plan) == ["put_bucket_versioning"]
    assert "create_bucket" not in methods(plan)


def test_schedule_none_deletes_an_existing_schedule():
    want = desired_state()
    plan = plan_deploy(desired_state(schedule=None), live_matching(want))
    step = steps_by_resource(plan)["Schedule"]
    # its dead-letter queue too, after it: a delivery failing meanwhile still has its queue (issue 19)
    assert step.action == DELETE and methods(plan) == ["delete_schedule", "delete_queue"]


def test_schedule_change_updates_expression_and_timezone():
    want = desired_state()
    plan = plan_deploy(desired_state(schedule="cron(0 9 * * ? *)", timezone="Europe/Amsterdam"), live_matching(want))
    assert methods(plan) == ["put_schedule"]
    call = plan.steps[-1].calls[0]
    schedule = call.params["schedule"]
    assert schedule.timezone == "Europe/Amsterdam" and call.params["exists"] is True
    assert schedule.target_arn.endswith(":function:bot:live")
    # the document put_schedule sends: retried within the period (at most an hour), into the dead-letter queue
    assert (schedule.retries, schedule.max_event_age) == (185, 3600)
    assert schedule.dead_letter_arn == "arn:aws:sqs:eu-west-1:123456789012:bot-iaf-dlq"
    assert schedule.input["scheduled_time"] == "<aws.scheduler.scheduled-time>"


def test_bring_your_own_role_plans_no_role():
    role = "arn:aws:iam::123456789012:role/mine"
    plan = plan_deploy(desired_state(role_arn=role), LiveState())
    assert "IAM role" not in steps_by_resource(plan)
    create = next(c for s in plan.steps for c in s.calls if c.method == "create_function")
    assert create.params["role_arn"] == role


def test_build_step_feeds_the_function():
    plan = plan_deploy(desired_state(image_uri=None, builder="docker"), LiveState())
    build = steps_by_resource(plan)["Image"]
    assert build.calls[0].output == "image_uri"
    create = next(c for s in plan.steps for c in s.calls if c.method == "create_function")
    assert create.params["image_uri"] == Ref("image_uri")


def test_trading_safety_is_restored_when_drifted():
    want = desired_state()
    live = replace(live_matching(want), reserved_concurrency=None,
                   event_invoke=EventInvokeConfig(retries=2, max_event_age=21600))
    assert methods(plan_deploy(want, live)) == ["put_function_concurrency", "put_event_invoke_config"]


def test_policy_comparison_ignores_aws_normalisation():
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"],
                                                   "Resource": ["arn:aws:s3:::b/*"]}]}
    normalised = {"Statement": {"Resource": "arn:aws:s3:::b/*", "Action": "s3:GetObject", "Effect": "Allow"},
                  "Version": "2012-10-17"}
    assert canonical(doc) == canonical(normalised)


# --- names and policies ---------------------------------------------------------------------

@pytest.mark.parametrize("function", ["bot", "My_Trading_Bot", "x" * 64, "a-" * 32, "UPPER"])
@pytest.mark.parametrize("region", ["us-east-1", "ap-southeast-4", "us-gov-west-1"])
def test_bucket_names_follow_s3_rules(function, region):
    name = d.bucket_name(ACCOUNT, region, function)
    assert 3 <= len(name) <= 63
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*[a-z0-9]", name), name
    assert "--" not in name and not name.startswith("xn--")
    assert ACCOUNT in name and region in name


def test_bucket_names_differ_for_names_that_only_differ_in_case():
    assert d.bucket_name(ACCOUNT, REGION, "Bot") != d.bucket_name(ACCOUNT, REGION, "bot")
    assert d.repository_name("Bot") != d.repository_name("bot")


def test_derived_names_respect_aws_limits():
    names = d.Names.derive(ACCOUNT, REGION, "x" * 64)
    assert len(names.role) <= 64 and len(names.scheduler_role) <= 64 and len(names.schedule) <= 64
    assert re.fullmatch(r"[a-z0-9._-]{2,256}", names.repository)


def test_function_policy_is_least_privilege():
    names = d.Names.derive(ACCOUNT, REGION, "bot")
    policy = d.function_policy(names)
    for statement in policy["Statement"]:
        resources = statement["Resource"]
        assert "*" not in resources
        if any(a.startswith("s3:") for a in statement["Action"]):
            assert all(r.startswith(f"arn:aws:s3:::{names.bucket}") for r in resources)
        if any(a.startswith("ssm:") for a in statement["Action"]):
            assert all(":parameter/iaf-aws/bot" in r for r in resources)
        if statement["Action"] == ["kms:Decrypt"]:
            assert statement["Condition"]["StringEquals"]["kms:ViaService"] == f"ssm.{REGION}.amazonaws.com"
    actions = {a for statement in policy["Statement"] for a in statement["Action"]}
    assert "s3:DeleteObject" not in actions and not any(a.endswith("*") for a in actions)  # state is never deleted
    assert {"s3:GetObject", "s3:PutObject", "s3:ListBucket"} <= actions  # what the state handler needs
    assert d.scheduler_policy(names)["Statement"][0]["Resource"] == [names.alias_arn]
    assert d.scheduler_policy(names)["Statement"][0]["Action"] == ["lambda:InvokeFunction"]


def test_destroy_plans_every_kind_backwards_with_delete_steps():
    from iaf_aws_plugin.deploy.models import Bucket, Repository, Role
    from iaf_aws_plugin.deploy.planner import plan_destroy

    want = desired_state()
    names = want.names
    live = replace(live_matching(want), versions=("1", "2", "3"), repository=Repository(names.repository),
                   role=Role(names.role, names.role_arn, None, names.role_policy, None),
                   scheduler_role=Role(names.scheduler_role, names.scheduler_role_arn, None, "p", None),
                   bucket=Bucket(names.bucket), state_objects=(4, 2048))
    kept = plan_destroy(live, names, delete_state=False)
    assert [(s.resource, s.action) for s in kept.steps] == [
        ("Schedule", DELETE), ("Dead-letter queue", DELETE), ("Lambda alias", DELETE), ("Lambda function", DELETE),
        ("SSM secrets", DELETE), ("Log group", DELETE), ("Scheduler IAM role", DELETE), ("IAM role", DELETE), ("ECR repository", DELETE),
        ("S3 state bucket", "unchanged")]
    assert next(s for s in kept.steps if s.resource == "Lambda function").changes == ("versions 1, 2, 3",)
    gone = plan_destroy(live, names, delete_state=True)
    assert gone.steps[-1].action == DELETE and "TRADING STATE: 4 object versions, 2.0 KB" in gone.steps[-1].changes
    assert plan_destroy(LiveState(), names, delete_state=True).steps == ()
