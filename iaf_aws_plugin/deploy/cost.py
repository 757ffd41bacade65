"""The estimated monthly cost of what a deploy runs, printed at the end of the plan. Pure.

The formula (also in the README), per month of 30.4375 days, before free tiers:

- runs = runs of the schedule in a month (none without a schedule);
- Lambda compute = runs x duration (s) x memory (GB) x price per GB-second (of the architecture);
  with provisioned concurrency N: N x memory x seconds in the month x provisioned price, and
  the runs' compute at the (lower) price of duration on provisioned concurrency;
- Lambda requests = runs x price per request; EventBridge Scheduler = runs x price per invocation;
- S3 requests = runs x (PUTs + GETs of a state load and save) x their prices; S3 storage = stored
  state x price per GB-month;
- CloudWatch Logs = runs x log bytes per run x ingestion price + what is retained x storage price;
- alarms = metrics in the alarms x price per alarm metric (SNS e-mail is free up to 1,000 a month);
- keep-active pings (a schedule with more than 7 days between runs) = 30.4375 / 7 pings x (a
  request + a Scheduler invocation + an assumed cold start's compute);
- ECR storage = images kept (rollback window + the live one) x image size x price per GB-month.

Duration: the average of the last runs measured from the log group's REPORT lines, else an
assumed one; the other assumptions are named in the output.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

#: When the prices below were taken from AWS's pricing pages (USD, on-demand, before free tiers).
PRICE_TABLE_DATE = "2024-06-01"
_COMMON = {
    "lambda_gb_second": {"x86_64": 0.0000166667, "arm64": 0.0000133334},
    "lambda_request": 0.20 / 1_000_000,
    "provisioned_gb_second": {"x86_64": 0.0000041667, "arm64": 0.0000033334},
    "provisioned_duration_gb_second": {"x86_64": 0.0000097222, "arm64": 0.0000077778},
    "scheduler_invocation": 1.00 / 1_000_000,
    "s3_storage_gb_month": 0.023,
    "s3_put": 0.005 / 1000,
    "s3_get": 0.0004 / 1000,
    "logs_ingest_gb": 0.50,
    "logs_storage_gb_month": 0.03,
    "alarm_metric_month": 0.10,
    "ecr_storage_gb_month": 0.10,
}
PRICES: dict[str, dict[str, object]] = {
    "us-east-1": _COMMON,
    "us-east-2": _COMMON,
    "us-west-2": _COMMON,
    "eu-west-1": {**_COMMON, "logs_ingest_gb": 0.57},
    "eu-central-1": {**_COMMON, "s3_storage_gb_month": 0.0245, "s3_put": 0.0054 / 1000, "s3_get": 0.00043 / 1000,
                     "logs_ingest_gb": 0.63, "logs_storage_gb_month": 0.0324, "ecr_storage_gb_month": 0.10},
}
FALLBACK_REGION = "us-east-1"
MONTH_SECONDS = 30.4375 * 86400

#: Assumptions when nothing is measured.
ASSUMED_DURATION_S = 30.0
S3_PUTS_PER_RUN = 5  # lease take and release, pack, manifest, pointer
S3_GETS_PER_RUN = 3  # lease, pointer, manifest/pack on a cold start
STATE_GB = 0.1
LOG_BYTES_PER_RUN = 10 * 1024
IMAGE_GB = 0.5  # a compressed IAF image
PING_SECONDS = 5.0  # a keep-active ping: a cold start that loads no state
PINGS_PER_MONTH = 30.4375 / 7


@dataclass(frozen=True)
class CostLine:
    item: str
    formula: str
    usd: float


@dataclass(frozen=True)
class CostEstimate:
    region: str
    priced_as: str
    lines: tuple[CostLine, ...]

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.lines)

    def render(self) -> list[str]:
        where = self.region if self.priced_as == self.region else (
            f"{self.priced_as} prices: {self.region} is not in the price table")
        lines = [f"Estimated monthly cost ({where}; price table of {PRICE_TABLE_DATE}, USD, before free tiers; "
                 "formula in the README):"]
        width = max(len(line.item) for line in self.lines)
        for line in self.lines:
            lines.append(f"  {line.item:<{width}}  {_usd(line.usd):>8}  {line.formula}")
        lines.append(f"  {'Total':<{width}}  {_usd(self.total):>8}")
        return lines


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else "<$0.01"


def runs_per_month(expression: str | None, zone: str, now: datetime | None = None) -> float:
    """How often a schedule runs in a month (rate: exactly; cron: counted over four weeks)."""
    if not expression:
        return 0.0
    from ..schedules.nextrun import next_run
    from ..schedules.expressions import schedule_period_seconds

    if expression.startswith("rate("):
        period = schedule_period_seconds(expression)
        return MONTH_SECONDS / period if period else 0.0
    start = now or datetime.now(timezone.utc)
    end = start + timedelta(days=28)
    count = 0
    when = next_run(expression, zone, start, start=start)
    while when is not None and when < end and count < 100_000:
        count += 1
        when = next_run(expression, zone, when, start=start)
    return count * (30.4375 / 28)


def estimate(*, region: str, architecture: str, memory_mb: int, runs: float, duration_s: float | None,
             alarm_metrics: int = 0, provisioned: int = 0, log_retention_days: int = 30,
             kept_images: int = 6, keep_active: bool = False) -> CostEstimate:
    priced_as = region if region in PRICES else FALLBACK_REGION
    p = PRICES[priced_as]

    def price(key: str) -> float:
        value = p[key]
        return float(value[architecture]) if isinstance(value, dict) else float(value)  # type: ignore[arg-type]

    gb = memory_mb / 1024
    measured = duration_s is not None
    seconds = duration_s if duration_s is not None else ASSUMED_DURATION_S
    how = "measured average" if measured else "assumed: no run measured yet"
    lines: list[CostLine] = []
    if provisioned:
        always = provisioned * gb * MONTH_SECONDS * price("provisioned_gb_second")
        lines.append(CostLine("Provisioned concurrency", f"{provisioned} x {gb:.2f} GB x {MONTH_SECONDS:,.0f} s x "
                                                         f"${price('provisioned_gb_second'):.10f}", always))
        rate, label = price("provisioned_duration_gb_second"), "Lambda compute (provisioned)"
    else:
        rate, label = price("lambda_gb_second"), "Lambda compute"
    lines.append(CostLine(label, f"{runs:,.0f} runs x {seconds:.1f} s ({how}) x {gb:.2f} GB x ${rate:.10f}",
                          runs * seconds * gb * rate))
    lines.append(CostLine("Lambda requests", f"{runs:,.0f} x $0.20 per million", runs * price("lambda_request")))
    lines.append(CostLine("Scheduler", f"{runs:,.0f} x $1.00 per million", runs * price("scheduler_invocation")))
    s3_requests = runs * (S3_PUTS_PER_RUN * price("s3_put") + S3_GETS_PER_RUN * price("s3_get"))
    lines.append(CostLine("S3 requests", f"{runs:,.0f} runs x ({S3_PUTS_PER_RUN} PUT + {S3_GETS_PER_RUN} GET)",
                          s3_requests))
    lines.append(CostLine("S3 storage", f"{STATE_GB} GB of state (assumed) x ${price('s3_storage_gb_month')}",
                          STATE_GB * price("s3_storage_gb_month")))
    ingested_gb = runs * LOG_BYTES_PER_RUN / 1024 ** 3
    retained_gb = ingested_gb * min(log_retention_days / 30.4375, 120.0)
    lines.append(CostLine("CloudWatch Logs", f"{LOG_BYTES_PER_RUN // 1024} KB per run (assumed), kept "
                                             f"{log_retention_days} days",
                          ingested_gb * price("logs_ingest_gb") + retained_gb * price("logs_storage_gb_month")))
    if alarm_metrics:
        lines.append(CostLine("Alarms", f"{alarm_metrics} alarm metrics x ${price('alarm_metric_month'):.2f}",
                              alarm_metrics * price("alarm_metric_month")))
    if keep_active:
        ping = price("lambda_request") + price("scheduler_invocation") + PING_SECONDS * gb * price("lambda_gb_second")
        lines.append(CostLine("Keep-active pings", f"{PINGS_PER_MONTH:.1f} weekly x (request + Scheduler + "
                                                   f"{PING_SECONDS:.0f} s cold start, assumed, x {gb:.2f} GB)",
                              PINGS_PER_MONTH * ping))
    lines.append(CostLine("ECR storage", f"{kept_images} images x {IMAGE_GB} GB (assumed) x "
                                         f"${price('ecr_storage_gb_month'):.2f}",
                          kept_images * IMAGE_GB * price("ecr_storage_gb_month")))
    return CostEstimate(region, priced_as, tuple(lines))


def alarm_metric_count(alarms: Mapping[str, Mapping[str, Any]] | None) -> int:
    """CloudWatch bills an alarm per metric it watches (metric math: each metric query)."""
    count = 0
    for spec in (alarms or {}).values():
        metrics = spec.get("Metrics")
        count += sum(1 for q in metrics if isinstance(q, dict) and "MetricStat" in q) if isinstance(metrics, list) else 1
    return count
