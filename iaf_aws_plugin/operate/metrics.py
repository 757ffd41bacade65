"""The bot's Lambda metrics over the last 24 hours, for ``status-aws-lambda``: invocations, errors,
throttles and the duration's median and 95th percentile, from ONE ``GetMetricData`` call (five
queries over one 24-hour period, by function name: every version and alias counted).

:func:`metric_queries` builds the request, :func:`summarize` reads the answer and
:func:`render_metrics` prints it; the last two are pure.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..deploy.awsclient import AWSClient

__all__ = ["PERIOD", "metric_queries", "read_metrics", "render_metrics", "summarize"]

#: One period over the whole window: a single datapoint per query.
PERIOD = 86400
#: Query id -> (metric name, statistic).
QUERIES = {"invocations": ("Invocations", "Sum"), "errors": ("Errors", "Sum"), "throttles": ("Throttles", "Sum"),
           "duration_p50": ("Duration", "p50"), "duration_p95": ("Duration", "p95")}


def metric_queries(function: str) -> list[dict[str, Any]]:
    """The ``MetricDataQueries`` of the one ``GetMetricData`` call."""
    dims = [{"Name": "FunctionName", "Value": function}]
    return [{"Id": query_id, "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": "AWS/Lambda", "MetricName": metric, "Dimensions": dims},
        "Period": PERIOD, "Stat": stat}} for query_id, (metric, stat) in QUERIES.items()]


def window(now: datetime) -> tuple[datetime, datetime]:
    """(start, end) of the last 24 hours, on whole minutes (what CloudWatch aligns to)."""
    end = now.replace(second=0, microsecond=0)
    return end - timedelta(seconds=PERIOD), end


def summarize(answer: Mapping[str, Any]) -> dict[str, Any]:
    """The metrics from a ``GetMetricData`` answer: counts summed over the datapoints (0 without
    any), percentiles in ms (None without data; the largest when CloudWatch splits the window)."""
    values: dict[str, list[float]] = {query_id: [] for query_id in QUERIES}
    partial = False
    for result in answer.get("MetricDataResults") or []:
        if result.get("Id") in values:
            values[str(result["Id"])] += [float(v) for v in result.get("Values") or []]
            partial = partial or result.get("StatusCode") not in (None, "Complete")
    summary: dict[str, Any] = {"hours": PERIOD // 3600, "complete": not partial}
    for query_id, (_, stat) in QUERIES.items():
        found = values[query_id]
        if stat == "Sum":
            summary[query_id] = int(round(sum(found)))
        else:
            summary[f"{query_id}_ms"] = max(found) if found else None
    return summary


def read_metrics(client: AWSClient, function: str, now: datetime) -> dict[str, Any]:
    start, end = window(now)
    return summarize(client.metric_data(metric_queries(function), start, end))


def _duration(ms: float) -> str:
    return f"{ms:,.0f} ms" if ms < 10_000 else f"{ms / 1000:,.1f} s"


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def render_metrics(metrics: Mapping[str, Any]) -> str:
    """One line: ``12 invocations, 1 error, 0 throttles; duration p50 1,234 ms, p95 2,345 ms``."""
    counts = ", ".join([_count(metrics["invocations"], "invocation"), _count(metrics["errors"], "error"),
                        _count(metrics["throttles"], "throttle")])
    p50, p95 = metrics.get("duration_p50_ms"), metrics.get("duration_p95_ms")
    duration = ("duration: no data" if p50 is None and p95 is None else
                f"duration p50 {_duration(p50) if p50 is not None else '-'}, "
                f"p95 {_duration(p95) if p95 is not None else '-'}")
    partial = "" if metrics.get("complete", True) else " (CloudWatch answered partially)"
    return f"{counts}; {duration}{partial}"
