"""The keep-active schedule (issue 19, item 3) and the order of a plan's deletions, on moto: a
monthly bot gets a weekly ping that Lambda delivers to the live alias with an event the handler
answers without trading (tests/state/test_keep_active_ping.py runs that answer), priced in the
plan; pause/resume switch it with the schedule; a faster schedule, no schedule and destroy remove
it; deletions run backwards (schedules before their queue and role)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest

pytestmark = pytest.mark.anyhost

MONTHLY = "cron(0 9 1 * ? *)"


@pytest.mark.parametrize(("expression", "days"), [
    ("rate(1 hour)", 1 / 24), ("rate(7 days)", 7.0), ("rate(8 days)", 8.0), ("cron(0 9 ? * MON *)", 7.0),
    ("cron(0 9 ? * MON,FRI *)", 4.0), (MONTHLY, 31.0), ("cron(0 9 ? * MON#1 *)", 35.0),
    ("cron(* * 1 * ? *)", 31.0), ("cron(0/5 * * * ? *)", 1.0),
    ("cron(0 0 1 1 ? *)", 400.0)])  # once within the 400 days looked at: at least that
def test_the_longest_gap_of_a_schedule(expression, days):
    from iaf_aws_plugin.deploy.resources.keep_active import longest_gap_days

    assert longest_gap_days(expression, "UTC", datetime(2026, 3, 2, tzinfo=timezone.utc)) == pytest.approx(days)


def test_the_ping_keeps_clear_of_every_trading_run():
    from iaf_aws_plugin.deploy.resources.keep_active import keep_active_expression
    from iaf_aws_plugin.schedules.nextrun import next_run

    now = datetime(2026, 3, 2, tzinfo=timezone.utc)
    assert keep_active_expression(MONTHLY, "UTC", 900, now) == "cron(37 3 ? * WED *)"
    # The 1st at 03:30 meets Wednesday 03:37 whenever the 1st is a Wednesday (a run may last 900 s).
    trading = "cron(30 3 1 * ? *)"
    ping = keep_active_expression(trading, "Europe/Amsterdam", 900, now)
    assert ping != "cron(37 3 ? * WED *)"
    when = next_run(ping, "Europe/Amsterdam", now)
    for _ in range(60):
        assert when is not None
        run = next_run(trading, "Europe/Amsterdam", when - timedelta(seconds=1020))
        assert run is not None and run >= when + timedelta(minutes=10), (ping, when, run)
        when = next_run(ping, "Europe/Amsterdam", when)


def test_a_handler_without_not_due_gets_no_ping(tmp_path):
    from iaf_aws_plugin.deploy.resources.keep_active import answers_keep_active
    from iaf_aws_plugin.scaffold import scaffold

    scaffold(tmp_path / "bot")
    handler = tmp_path / "bot" / "aws_function.py"
    assert answers_keep_active(handler)
    handler.write_text(handler.read_text().replace("skipped = not_due(app, event)", "skipped = None"))
    assert not answers_keep_active(handler)


def _keep_active(name: str) -> dict | None:
    try:
        return boto3.client("scheduler").get_schedule(Name=f"{name}-iaf-keep-active")
    except boto3.client("scheduler").exceptions.ResourceNotFoundException:
        return None


def test_a_monthly_bot_is_kept_active_weekly_paused_with_it_and_removed_with_its_schedule(
        versioned_env, bot_project, api_builder, unique_name, deploy_inprocess, contract):
    from iaf_aws_plugin.operate.pause import pause, resume
    from iaf_aws_plugin.operate.target import TargetOptions, resolve_target

    # Built by the deploy (not --image-uri): the version is marked as answering the ping.
    result, recorder = deploy_inprocess(bot_project, function_name=unique_name, builder="ecr-api",
                                        schedule=MONTHLY, alert_email="ops@example.com")
    assert result.applied
    text = "\n".join(recorder.lines)
    step = next(s for s in result.plan.steps if s.resource == "Keep-active schedule")
    assert (step.action, step.name) == ("create", f"{unique_name}-iaf-keep-active")
    assert "weekly cron(37 3 ? * WED *) UTC" in step.subject and "up to 31 days between runs" in step.subject
    assert "loads no state and trades nothing" in step.subject
    cost = text.split("Estimated monthly cost")[1]
    assert "Keep-active pings" in cost and "4.3 weekly" in cost, cost
    # The missed-run alarm cannot watch a monthly gap: the plan says so, and what covers it.
    note = next(line for line in recorder.lines if line.startswith("Note: alerts: no missed-run alarm"))
    assert f"{MONTHLY} leaves up to 31 days between runs" in note and "at most 7 days" in note
    assert f"{unique_name}-iaf-undelivered-runs" in note and "keep-active ping" in note
    assert "SCHEDULER.CREATESCHEDULE" in {c.upper() for c in contract.checked}  # checked against botocore's model

    # The schedule document, read back: the live alias, retries into the dead-letter queue, the ping's event.
    found = _keep_active(unique_name)
    assert found is not None
    alias = boto3.client("lambda").get_alias(FunctionName=unique_name, Name="live")["AliasArn"]
    queue = boto3.client("sqs").get_queue_attributes(
        QueueUrl=boto3.client("sqs").get_queue_url(QueueName=f"{unique_name}-iaf-dlq")["QueueUrl"],
        AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert (found["ScheduleExpression"], found["ScheduleExpressionTimezone"], found["State"]) == (
        "cron(37 3 ? * WED *)", "UTC", "ENABLED")
    target = found["Target"]
    assert target["Arn"] == alias and target["RoleArn"].endswith(f":role/{unique_name}-iaf-scheduler")
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 3600}
    assert target["DeadLetterConfig"] == {"Arn": queue}
    assert json.loads(target["Input"]) == {"source": "iaf-aws-plugin.keep-active",
                                           "schedule": f"{unique_name}-iaf-keep-active"}

    version = boto3.client("lambda").get_alias(FunctionName=unique_name, Name="live")["FunctionVersion"]
    marked = boto3.client("lambda").get_function(FunctionName=unique_name, Qualifier=version)
    assert marked["Configuration"]["Environment"]["Variables"]["IAF_KEEP_ACTIVE"] == "1"

    again, recorder = deploy_inprocess(bot_project)  # a new build: only the function changes
    assert [s.action for s in again.plan.steps if s.resource == "Keep-active schedule"] == ["unchanged"]
    assert not [w for w in recorder.writes if "Schedule" in w], recorder.writes
    from iaf_aws_plugin.operate.status import collect_status, render_status

    shown = render_status(collect_status(resolve_target(TargetOptions(project_dir=bot_project)), invocations=0))
    assert "Keep-active  cron(37 3 ? * WED *) (UTC), ENABLED: a weekly ping that keeps the function from going " \
           "Inactive (no state loaded, nothing traded)" in shown, shown

    # pause-aws-lambda disables both schedules; a deploy keeps both disabled; resume enables both.
    target_bot = resolve_target(TargetOptions(project_dir=bot_project))
    said: list[str] = []
    pause(target_bot, said.append)
    assert f"keep-active schedule {unique_name}-iaf-keep-active is disabled too" in said[-1]
    assert _keep_active(unique_name)["State"] == "DISABLED"
    paused, recorder = deploy_inprocess(bot_project)
    assert not [s for s in paused.plan.changes if "chedule" in s.resource], [s.describe() for s in paused.plan.changes]
    assert _keep_active(unique_name)["State"] == "DISABLED"
    resume(target_bot, said.append)
    assert "enabled too" in said[-1] and _keep_active(unique_name)["State"] == "ENABLED"

    # A schedule that runs at least weekly needs no ping: removed.
    weekly, _ = deploy_inprocess(bot_project, schedule="cron(0 9 ? * MON *)")
    assert [(s.action, s.changes) for s in weekly.plan.changes if s.resource == "Keep-active schedule"] == [
        ("delete", ("the schedule runs at least weekly",))]
    assert _keep_active(unique_name) is None

    # No schedule: every deletion after the other steps, backwards: the schedules, then their queue.
    deploy_inprocess(bot_project, schedule=MONTHLY)
    assert _keep_active(unique_name) is not None
    removed, _ = deploy_inprocess(bot_project, schedule="none")
    order = [s.resource for s in removed.plan.changes if s.action == "delete"]
    # (the alarm watching the queue, the schedules sending to it, then the queue)
    assert order == ["Alarm", "Keep-active schedule", "Schedule", "Dead-letter queue"], order
    assert all(s.action == "delete" for s in removed.plan.changes[-len(order):])
    assert _keep_active(unique_name) is None

    # Destroy removes it too.
    deploy_inprocess(bot_project, schedule=MONTHLY)
    from iaf_aws_plugin.operate.destroy import destroy, plan_destroy

    plan = plan_destroy(target_bot, delete_state=False, keep_logs=True)
    assert any(s.resource == "Keep-active schedule" and s.action == "delete" for s in plan.steps)
    destroy(target_bot, plan, echo=lambda line: None)
    assert _keep_active(unique_name) is None


def test_deletions_run_after_the_other_steps_in_reverse_dependency_order():
    """Pure: whatever the kinds plan, a deploy's deletions come last, the dependents' first."""
    from iaf_aws_plugin.deploy.models import CREATE, DELETE, UPDATE, Step
    from iaf_aws_plugin.deploy.planner import dependency_order

    per_kind = [[Step("Queue", "q", DELETE)], [Step("Function", "f", UPDATE)],
                [Step("Schedule", "s", DELETE), Step("Schedule", "s2", DELETE)], [Step("Alarm", "a", CREATE)]]
    assert [s.name for s in dependency_order(per_kind)] == ["f", "a", "s", "s2", "q"]


@pytest.mark.usefixtures("aws_env")
def test_a_handler_that_might_trade_on_the_ping_gets_none_and_the_plan_says_why(
        bot_project, api_builder, unique_name, deploy_inprocess):
    handler = bot_project / "aws_function.py"
    handler.write_text(handler.read_text().replace("skipped = not_due(app, event)", "skipped = None"))
    result, recorder = deploy_inprocess(bot_project, function_name=unique_name, builder="ecr-api",
                                        schedule=MONTHLY, dry_run=True)
    assert not [s for s in result.plan.steps if s.resource == "Keep-active schedule"]
    assert any(line.startswith(f"Note: {MONTHLY} leaves up to 31 days between runs") and "does not call "
               "iaf_aws_plugin.schedule_gate.not_due, so a keep-active ping could trade" in line
               for line in recorder.lines), recorder.lines
    assert "Keep-active pings" not in "\n".join(recorder.lines)


def test_the_trading_schedules_pause_decides_whether_the_ping_is_enabled():
    """Pure: a deploy keeps a paused bot's ping disabled, and enables a ping an interrupted
    resume left disabled (the trading schedule is enabled again)."""
    from dataclasses import replace

    from iaf_aws_plugin.deploy.models import LiveState, PlanContext, Spec
    from iaf_aws_plugin.deploy.names import Names
    from iaf_aws_plugin.deploy.planner import desired_state
    from iaf_aws_plugin.deploy.resources import keep_active
    from iaf_aws_plugin.schedules.pause import paused_description

    names = Names.derive("123456789012", "eu-west-1", "bot")
    want = desired_state(Spec(names, schedule=MONTHLY, timezone="UTC", builds=True))
    assert want.schedule is not None and want.keep_active is not None
    marker = paused_description(datetime(2026, 12, 1, 8, tzinfo=timezone.utc))
    paused = replace(want.schedule, enabled=False, description=marker)

    def steps(schedule, ping):
        return [(s.action, s.changes) for s in keep_active.plan(want, LiveState(schedule=schedule, keep_active=ping),
                                                                 PlanContext(names))]

    assert steps(paused, replace(want.keep_active, enabled=False, description=marker)) == [
        ("unchanged", ("cron(37 3 ? * WED *) UTC",))]
    assert steps(paused, want.keep_active) == [("update", ("disable",))]
    assert steps(want.schedule, replace(want.keep_active, enabled=False, description=marker)) == [
        ("update", ("enable",))]
    created = keep_active.plan(want, LiveState(schedule=paused), PlanContext(names))[0]
    assert created.action == "create" and created.calls[0].params["schedule"].enabled is False


@pytest.mark.usefixtures("aws_env")
def test_a_prebuilt_image_gets_no_ping_and_the_plan_says_why(bot_project, ecr_image, unique_name, deploy_inprocess):
    """--image-uri: whether its handler answers the ping is unknown (an image of an older release ran a
    whole iteration on it): no keep-active schedule, no mark, and a note."""
    result, recorder = deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"),
                                        schedule=MONTHLY)
    assert result.applied
    assert not [s for s in result.plan.steps if s.resource == "Keep-active schedule"]
    assert _keep_active(unique_name) is None
    assert any(line.startswith(f"Note: {MONTHLY} leaves up to 31 days between runs") and "the image is prebuilt "
               "(--image-uri)" in line and "no keep-active schedule" in line for line in recorder.lines), recorder.lines
    variables = boto3.client("lambda").get_function(FunctionName=unique_name)["Configuration"]["Environment"]["Variables"]
    assert "IAF_KEEP_ACTIVE" not in variables


def test_a_rollback_to_an_unmarked_version_deletes_the_ping_and_a_deploy_restores_it(
        versioned_env, bot_project, ecr_image, api_builder, unique_name, deploy_inprocess):
    from iaf_aws_plugin.operate.rollback import apply_rollback, plan_rollback
    from iaf_aws_plugin.operate.target import TargetOptions, resolve_target

    deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"), schedule=MONTHLY)
    old = boto3.client("lambda").get_alias(FunctionName=unique_name, Name="live")["FunctionVersion"]
    assert _keep_active(unique_name) is None
    deploy_inprocess(bot_project, image_uri=None, builder="ecr-api")
    assert _keep_active(unique_name)["State"] == "ENABLED"

    target = resolve_target(TargetOptions(project_dir=bot_project))
    plan = plan_rollback(target, to=old)
    ping = f"{unique_name}-iaf-keep-active"
    assert any(c.startswith(f"keep-active schedule {ping}: deleted (version {old} was not marked") for c in plan.changes)
    apply_rollback(target, plan)
    assert boto3.client("lambda").get_alias(FunctionName=unique_name, Name="live")["FunctionVersion"] == old
    assert _keep_active(unique_name) is None  # no ping reaches the version that might trade on it

    again, _ = deploy_inprocess(bot_project, builder="ecr-api")
    assert [s.action for s in again.plan.steps if s.resource == "Keep-active schedule"] == ["create"]
    assert _keep_active(unique_name)["State"] == "ENABLED"
