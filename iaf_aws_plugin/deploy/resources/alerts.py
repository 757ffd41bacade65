"""Alerts: an SNS topic with the user's e-mail subscription and three CloudWatch alarms.

- ``<fn>-iaf-errors``: a run failed (``Errors`` > 0 in 5 minutes; a run the state lease locked
  out counts: two runs overlapped).
- ``<fn>-iaf-throttles``: Lambda refused to start a run (``Throttles`` > 0 in 5 minutes).
- ``<fn>-iaf-missed-runs``: no *successful* run within twice the schedule's interval: metric math
  ``FILL(invocations, 0) - FILL(errors, 0) < 1`` over one period of 2 x interval, with missing
  data treated as breaching (no data at all means no run at all). A bot that silently stopped
  trading is what this catches.
- ``<fn>-iaf-undelivered-runs`` (with a schedule): a run EventBridge Scheduler could not deliver
  is in the dead-letter queue (``ApproximateNumberOfMessagesVisible`` > 0).

A changed ``--alert-email`` unsubscribes the old address (one still pending confirmation cannot
be removed: the plan says so). ``--alert-email none`` removes the topic and the alarms.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from ...schedules.nextrun import schedule_gap_seconds
from ..models import (CREATE, DELETE, UNCHANGED, UPDATE, ActionGroup, Alerts, Call, DesiredState, LiveState,
                      PlanContext, Spec, Step)
from ..names import Names
from ..settings import validate_alert_email
from .common import canonical

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..awsclient import AWSClient

__all__ = ["ALARM_PERIOD", "Alerts", "actions", "desired", "desired_alerts", "missed_run_period", "plan",
           "plan_alerts", "read", "schedule_gap_seconds", "topic_name", "validate_alert_email"]

#: Every alarm looks at the function's metrics over this many seconds (errors, throttles).
ALARM_PERIOD = 300
#: CloudWatch evaluates at most this far back (Period x EvaluationPeriods) for periods of an hour or more.
MAX_EVALUATION_SECONDS = 7 * 86400
#: Fields of a metric alarm that the plan compares (what PutMetricAlarm sets).
COMPARED = ("Namespace", "MetricName", "Dimensions", "Statistic", "Period", "EvaluationPeriods",
            "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData", "Metrics",
            "AlarmActions", "OKActions", "AlarmDescription")


def topic_name(names: Names) -> str:
    return names.alert_topic


def missed_run_period(gap_seconds: int) -> int:
    """Twice the gap, rounded up to what CloudWatch accepts (a minute; an hour from an hour on)."""
    period = 2 * gap_seconds
    unit = 3600 if period >= 3600 else 60
    return -(-period // unit) * unit


def desired_alerts(names: Names, email: str | None, schedule: str | None, zone: str,
                   user_topic: str | None = None) -> Alerts | None:
    """None: no alerts wanted (any existing ones are removed). ``user_topic``: the user's own SNS
    topic (``--alert-topic``), notified besides (or, without an e-mail, instead of) the bot's topic."""
    email = None if not email or email == "none" else email
    user_topic = None if not user_topic or user_topic == "none" else user_topic
    if email is None and user_topic is None:
        return None
    name = topic_name(names)
    arn = names.arn("sns", name)
    dims = [{"Name": "FunctionName", "Value": names.function}]
    targets = ([arn] if email else []) + ([user_topic] if user_topic else [])
    common: dict[str, Any] = {"AlarmActions": targets, "OKActions": targets, "EvaluationPeriods": 1,
                              "DatapointsToAlarm": 1}

    def simple(metric: str, description: str) -> dict[str, Any]:
        return {**common, "Namespace": "AWS/Lambda", "MetricName": metric, "Dimensions": dims, "Statistic": "Sum",
                "Period": ALARM_PERIOD, "Threshold": 0.0, "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching", "AlarmDescription": description}

    alarms: dict[str, Mapping[str, Any]] = {
        f"{names.function}-iaf-errors": simple("Errors", f"A run of the trading bot {names.function} failed "
                                                         "(deploy-aws-lambda)."),
        f"{names.function}-iaf-throttles": simple("Throttles", f"Lambda refused to start a run of {names.function} "
                                                               "(deploy-aws-lambda)."),
    }
    if schedule:
        alarms[f"{names.function}-iaf-undelivered-runs"] = {
            **common, "Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": names.dead_letter_queue}], "Statistic": "Maximum",
            "Period": ALARM_PERIOD, "Threshold": 0.0, "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmDescription": f"EventBridge Scheduler could not deliver a run of {names.function}: it is in the "
                                f"dead-letter queue {names.dead_letter_queue} (deploy-aws-lambda)."}
    notes: list[str] = []
    gap = schedule_gap_seconds(schedule, zone) if schedule else None
    if schedule is None:
        notes.append("no schedule: no missed-run alarm.")
    elif gap is None or missed_run_period(gap) > MAX_EVALUATION_SECONDS:
        notes.append(_unwatched_gap(names, schedule, zone, gap))
    else:
        period = missed_run_period(gap)

        def stat(query_id: str, metric: str) -> dict[str, Any]:
            return {"Id": query_id, "ReturnData": False, "MetricStat": {
                "Metric": {"Namespace": "AWS/Lambda", "MetricName": metric, "Dimensions": dims},
                "Period": period, "Stat": "Sum"}}

        alarms[f"{names.function}-iaf-missed-runs"] = {
            **common, "Threshold": 1.0, "ComparisonOperator": "LessThanThreshold", "TreatMissingData": "breaching",
            "AlarmDescription": f"No successful run of {names.function} within {period // 60} minutes "
                                f"(twice the interval of {schedule}): the bot may have stopped trading.",
            "Metrics": [stat("invocations", "Invocations"), stat("errors", "Errors"),
                        {"Id": "successes", "Expression": "FILL(invocations, 0) - FILL(errors, 0)",
                         "Label": "Successful runs", "ReturnData": True}]}
    return Alerts(topic_name=name, topic_arn=arn if email else None, emails=(email,) if email else (), alarms=alarms,
                  notes=tuple(notes), user_topic=user_topic)


def _unwatched_gap(names: Names, schedule: str, zone: str, gap: int | None) -> str:
    """The plan's note for a schedule the missed-run alarm cannot watch, and what covers it instead."""
    from .keep_active import KEEP_ACTIVE_DAYS, longest_gap_days

    days = longest_gap_days(schedule, zone)
    if days is None and gap is None:
        return f"cannot tell how often {schedule} runs: no missed-run alarm."
    longest = f"{days:.0f} days" if days is not None else f"{(gap or 0) / 86400:.1f} days"
    prefix = names.alarm_prefix
    ping = (" The weekly keep-active ping (undelivered: same alarm) warns within a week when the function can no "
            "longer be invoked." if days is not None and days > KEEP_ACTIVE_DAYS else "")
    return (f"no missed-run alarm: {schedule} leaves up to {longest} between runs, and the alarm needs twice "
            "the gap while CloudWatch evaluates at most 7 days (Period x EvaluationPeriods <= 604,800 s). "
            f"Covered instead: a run that fails raises {prefix}errors, one Lambda refuses {prefix}throttles, one "
            f"EventBridge Scheduler cannot deliver (after its retries) {prefix}undelivered-runs.{ping} A schedule "
            "disabled or deleted outside the plugin raises nothing: status-aws-lambda shows it.")


def _comparable(alarm: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {key: alarm.get(key) for key in COMPARED if alarm.get(key) not in (None, [], "")}
    if "Threshold" in found:
        found["Threshold"] = float(found["Threshold"])
    return dict(canonical(found))


def _removal(live: Alerts | None, reason: tuple[str, ...]) -> list[Step]:
    if live is None or (live.topic_arn is None and not live.alarms):
        return []
    calls = []
    if live.alarms:
        calls.append(Call("delete_alarms", {"names": sorted(live.alarms)}))
    if live.topic_arn:
        calls.append(Call("delete_topic", {"arn": live.topic_arn}))
    return [Step("Alerts", live.topic_name, DELETE, reason, tuple(calls))]


def plan_alerts(desired: Alerts | None, live: Alerts | None, *, names: Names) -> list[Step]:
    """Steps for the topic, the subscription and the alarms (pure)."""
    name = topic_name(names)
    if desired is None:
        return _removal(live, ("--alert-email none / --alert-topic none",))
    steps: list[Step] = []
    exists = live is not None and live.topic_arn is not None
    if not desired.emails:  # only the user's topic: the bot's own topic (if any) goes, never the user's
        if exists and live is not None:
            steps.append(Step("Alert topic", name, DELETE, ("no --alert-email any more",),
                              (Call("delete_topic", {"arn": live.topic_arn}),)))
        steps.append(Step("Alert topic", str(desired.user_topic), UNCHANGED,
                          ("yours (--alert-topic): the alarms notify it; never changed or deleted by the deploy",)))
        return steps + _plan_alarms(desired, live)
    topic_calls = () if exists else (Call("create_topic", {"name": name}),)
    email = desired.emails[0]
    have = set(live.emails if live else ()) | set(live.pending if live else ())
    sub_calls: tuple[Call, ...] = () if email in have else (
        Call("subscribe_email", {"topic_arn": desired.topic_arn, "email": email}),)
    changes = []
    if not exists:
        changes.append("SNS topic")
    if sub_calls:
        changes.append(f"e-mail {email} (confirm the message AWS sends)")
    elif live is not None and email in live.pending:
        changes.append(f"e-mail {email} not confirmed yet: click the link in AWS's message")
    for old in sorted(set(live.emails if live else ()) - {email}):
        arn = (live.subscriptions if live else {}).get(old)
        if arn:
            changes.append(f"unsubscribe {old}")
            sub_calls += (Call("unsubscribe", {"subscription_arn": arn}),)
    for old in sorted(set(live.pending if live else ()) - {email}):
        changes.append(f"{old} is still pending confirmation and cannot be removed (it gets no alert unless "
                       "its link is clicked; then the next deploy unsubscribes it)")
    action = CREATE if not exists else UPDATE if sub_calls else UNCHANGED
    steps.append(Step("Alert topic", name, action, tuple(changes), topic_calls + sub_calls))
    if desired.user_topic:
        steps.append(Step("Alert topic", desired.user_topic, UNCHANGED,
                          ("yours (--alert-topic): the alarms notify it too; never changed or deleted by the deploy",)))
    return steps + _plan_alarms(desired, live)


def _plan_alarms(desired: Alerts, live: Alerts | None) -> list[Step]:
    steps: list[Step] = []
    live_alarms = live.alarms if live else {}
    for alarm_name, spec in desired.alarms.items():
        current = live_alarms.get(alarm_name)
        if current is not None and _comparable(current) == _comparable(spec):
            steps.append(Step("Alarm", alarm_name, UNCHANGED))
            continue
        steps.append(Step("Alarm", alarm_name, CREATE if current is None else UPDATE, (),
                          (Call("put_metric_alarm", {"name": alarm_name, "spec": dict(spec)}),)))
    extra = sorted(set(live_alarms) - set(desired.alarms))
    if extra:
        steps.append(Step("Alarm", ", ".join(extra), DELETE, ("no longer wanted",),
                          (Call("delete_alarms", {"names": extra}),)))
    return steps


# --- the kind ---------------------------------------------------------------------------------

def desired(spec: Spec) -> dict[str, Any]:
    return {"alerts": desired_alerts(spec.names, spec.alert_email, spec.schedule, spec.timezone, spec.alert_topic)}


def read(client: AWSClient, spec: Spec, live: LiveState) -> dict[str, Any]:
    return {"alerts": client.live_alerts(spec.names.alert_topic, spec.names.arn("sns", spec.names.alert_topic),
                                         spec.names.alarm_prefix)}


def plan(want: DesiredState | None, live: LiveState, ctx: PlanContext) -> list[Step]:
    if want is None:
        alerts = live.alerts
        summary = () if alerts is None else (
            f"{len(alerts.alarms)} alarms" + (", SNS topic" if alerts.topic_arn else ""),)
        return _removal(alerts, summary)
    return plan_alerts(want.alerts, live.alerts, names=ctx.names)


def actions(spec: Spec) -> list[ActionGroup]:
    names = spec.names
    topic, alarms = names.arn("sns", names.alert_topic), names.arn("cloudwatch", f"alarm:{names.alarm_prefix}*")
    # Read always: existing alerts are removed when the settings have none.
    removing = spec.destroy or spec.alert_email == "none" or spec.alert_topic == "none"
    wanted = (spec.alerts or spec.alert_topic not in (None, "none")) and not spec.destroy
    return [
        ActionGroup(topic, ("sns:GetTopicAttributes", "sns:ListSubscriptionsByTopic")
                    + (("sns:DeleteTopic",) if removing else ())
                    + (("sns:CreateTopic", "sns:TagResource", "sns:Subscribe", "sns:Unsubscribe") if wanted else ())),
        ActionGroup(alarms, ("cloudwatch:DescribeAlarms",)
                    + (("cloudwatch:DeleteAlarms",) if removing or wanted else ())
                    + (("cloudwatch:PutMetricAlarm",) if wanted else ())),
    ]
