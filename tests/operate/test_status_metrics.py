"""``status-aws-lambda`` metrics (issue 22, item 5): invocations, errors, throttles and duration
p50/p95 over the last 24 h from one GetMetricData call.

On the moto server end to end for the counts. moto 5.2.6 cannot serve percentiles: its
``Statistics.get_statistics_for_type`` (moto/cloudwatch/models.py) knows only Sum, Average,
Minimum, Maximum and SampleCount and gives None for ``p50``; ``get_metric_data`` puts that None
into ``Values`` whenever the period has datapoints, and its XML serializer (moto/core/serialize.py,
``_serialize_type_float``: ``float(None)``) fails: HTTP 500. Without Duration datapoints the
percentile queries come back empty and the call succeeds, so the end-to-end test writes no
Duration; the percentile rendering is tested on a recorded answer of AWS's shape.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest

# Host-independent (the deploy library and the host's click group are the same on every host): one leg.
pytestmark = pytest.mark.anyhost


#: A GetMetricData answer as AWS gives it for the five queries (one 24-hour period each).
RECORDED = {
    "MetricDataResults": [
        {"Id": "invocations", "Label": "Invocations", "Timestamps": [datetime(2026, 12, 5, 14, 0, tzinfo=timezone.utc)],
         "Values": [24.0], "StatusCode": "Complete"},
        {"Id": "errors", "Label": "Errors", "Timestamps": [datetime(2026, 12, 5, 14, 0, tzinfo=timezone.utc)],
         "Values": [1.0], "StatusCode": "Complete"},
        {"Id": "throttles", "Label": "Throttles", "Timestamps": [], "Values": [], "StatusCode": "Complete"},
        {"Id": "duration_p50", "Label": "Duration", "Timestamps": [datetime(2026, 12, 5, 14, 0, tzinfo=timezone.utc)],
         "Values": [1834.27], "StatusCode": "Complete"},
        {"Id": "duration_p95", "Label": "Duration", "Timestamps": [datetime(2026, 12, 5, 14, 0, tzinfo=timezone.utc)],
         "Values": [12873.5], "StatusCode": "Complete"},
    ],
    "Messages": [],
    "ResponseMetadata": {"HTTPStatusCode": 200},
}


def test_a_recorded_answer_with_percentiles_renders_on_one_line():
    from iaf_aws_plugin.operate.metrics import render_metrics, summarize

    summary = summarize(RECORDED)
    assert summary == {"hours": 24, "complete": True, "invocations": 24, "errors": 1, "throttles": 0,
                       "duration_p50_ms": 1834.27, "duration_p95_ms": 12873.5}
    assert render_metrics(summary) == "24 invocations, 1 error, 0 throttles; duration p50 1,834 ms, p95 12.9 s"
    partial = {**RECORDED, "MetricDataResults": [{**r, "StatusCode": "PartialData"} for r in RECORDED[
        "MetricDataResults"]]}
    assert render_metrics(summarize(partial)).endswith("(CloudWatch answered partially)")
    assert render_metrics(summarize({"MetricDataResults": []})) == (
        "0 invocations, 0 errors, 0 throttles; duration: no data")


def test_the_request_asks_for_the_five_metrics_in_one_period():
    from iaf_aws_plugin.operate.metrics import metric_queries, window

    queries = metric_queries("bot")
    assert [(q["Id"], q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Stat"]) for q in queries] == [
        ("invocations", "Invocations", "Sum"), ("errors", "Errors", "Sum"), ("throttles", "Throttles", "Sum"),
        ("duration_p50", "Duration", "p50"), ("duration_p95", "Duration", "p95")]
    assert {q["MetricStat"]["Period"] for q in queries} == {86400}
    start, end = window(datetime(2026, 12, 6, 14, 39, 12, 5, tzinfo=timezone.utc))
    assert (start, end) == (datetime(2026, 12, 5, 14, 39, tzinfo=timezone.utc),
                            datetime(2026, 12, 6, 14, 39, tzinfo=timezone.utc))


def put(function: str, metric: str, value: float, hours_ago: float) -> None:
    boto3.client("cloudwatch").put_metric_data(Namespace="AWS/Lambda", MetricData=[{
        "MetricName": metric, "Dimensions": [{"Name": "FunctionName", "Value": function}], "Value": value,
        "Unit": "Count", "Timestamp": datetime.now(timezone.utc) - timedelta(hours=hours_ago)}])


def test_status_shows_the_last_day_from_the_emulators_cloudwatch(deployed_bot, host_cli, op):
    bot = deployed_bot
    for hours_ago in (1, 5, 23):
        put(bot.function, "Invocations", 2, hours_ago)
    put(bot.function, "Invocations", 100, 30)  # older than a day: not counted
    put(bot.function, "Errors", 1, 2)
    put(bot.function, "Throttles", 3, 4)
    put(f"{bot.function}-other", "Invocations", 50, 1)  # another function: not counted

    result = op.cli(host_cli, bot, "status-aws-lambda")
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("Last 24 h"))
    assert line == "Last 24 h    6 invocations, 1 error, 3 throttles; duration: no data (CloudWatch)", line
    shown = json.loads(op.cli(host_cli, bot, "status-aws-lambda", "--json").stdout)
    assert (shown["metrics"]["invocations"], shown["metrics"]["errors"], shown["metrics"]["throttles"]) == (6, 1, 3)


def test_the_metrics_are_one_get_metric_data_call(deployed_bot):
    from iaf_aws_plugin.deploy.awsclient import AWSClient
    from iaf_aws_plugin.operate.metrics import read_metrics

    put(deployed_bot.function, "Invocations", 1, 1)
    calls: list[tuple[str, str]] = []
    client = AWSClient(boto3.Session(), deployed_bot.region, on_call=lambda s, o: calls.append((s, o)))
    assert read_metrics(client, deployed_bot.function, datetime.now(timezone.utc))["invocations"] == 1
    assert calls == [("cloudwatch", "GetMetricData")]
