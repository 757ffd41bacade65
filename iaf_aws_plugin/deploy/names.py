"""The names of a bot's AWS resources, derived from the account, the region and the function name,
so that a second deploy (or one interrupted half-way) finds the same resources again. Pure.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ..function_env import ssm_parameter_path

__all__ = ["ALIAS", "SCHEDULE_GROUP", "Names", "bounded", "bucket_name", "repository_name"]

#: The alias the schedule invokes (rollback moves it).
ALIAS = "live"
SCHEDULE_GROUP = "default"


def _short_hash(text: str, length: int = 6) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def bounded(base: str, suffix: str, limit: int, original: str) -> str:
    """``base + suffix`` within ``limit`` characters; shortened with a hash of ``original`` if needed."""
    if len(base) + len(suffix) <= limit and base == original:
        return base + suffix
    keep = max(1, limit - len(suffix) - 7)
    return f"{base[:keep].rstrip('-_.')}-{_short_hash(original)}{suffix}"


def bucket_name(account: str, region: str, function: str) -> str:
    """Globally unique, DNS-compliant (3-63 chars of a-z 0-9 '-'), starts and ends alphanumeric."""
    slug = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", function.lower())).strip("-") or "bot"
    suffix = f"-{account}-{region}"
    prefix = "iaf-"
    budget = 63 - len(prefix) - len(suffix)
    if slug != function or len(slug) > budget:
        slug = f"{slug[:max(1, budget - 7)].strip('-')}-{_short_hash(function)}"
    return f"{prefix}{slug}{suffix}"


def repository_name(function: str) -> str:
    """A valid ECR name for any Lambda name: lowercase, runs of separators collapsed to one '-',
    no separator at either end (ECR: ``[a-z0-9]+(?:[._-][a-z0-9]+)*``). When the name had to
    change, a short hash of the original keeps two functions (``Bot``/``bot``, ``a_-b``/``a-b``)
    from sharing a repository. No '/' in it: a flat name is the most portable (moto's Lambda,
    for one, reads only the last segment)."""
    lowered = function.lower()
    slug = re.sub(r"[^a-z0-9]*[._-][^a-z0-9]*", lambda m: m.group(0) if len(m.group(0)) == 1 else "-", lowered)
    slug = re.sub(r"[^a-z0-9._-]", "", slug).strip("-_.") or "bot"
    name = f"iaf-{slug}"
    return name if slug == function else f"{name}-{_short_hash(function)}"


@dataclass(frozen=True)
class Names:
    account: str
    region: str
    partition: str
    function: str
    bucket: str
    repository: str
    role: str
    role_policy: str
    scheduler_role: str
    scheduler_policy: str
    schedule: str
    ssm_path: str
    log_group: str

    @classmethod
    def derive(cls, account: str, region: str, function: str) -> "Names":
        partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
        return cls(
            account=account, region=region, partition=partition, function=function,
            bucket=bucket_name(account, region, function),
            repository=repository_name(function),
            role=bounded(function, "-iaf-lambda", 64, function),
            role_policy="iaf-deploy-least-privilege",
            scheduler_role=bounded(function, "-iaf-scheduler", 64, function),
            scheduler_policy="iaf-invoke-live-alias",
            schedule=bounded(function, "-iaf", 64, function),
            ssm_path=ssm_parameter_path(function),
            log_group=f"/aws/lambda/{function}",
        )

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (f"arn:{self.partition}:{service}:{self.region if region else ''}:"
                f"{self.account if account else ''}:{resource}")

    @property
    def role_arn(self) -> str:
        return self.arn("iam", f"role/{self.role}", region=False)

    @property
    def scheduler_role_arn(self) -> str:
        return self.arn("iam", f"role/{self.scheduler_role}", region=False)

    @property
    def function_arn(self) -> str:
        return self.arn("lambda", f"function:{self.function}")

    @property
    def alias_arn(self) -> str:
        return f"{self.function_arn}:{ALIAS}"

    @property
    def registry(self) -> str:
        suffix = "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"
        return f"{self.account}.dkr.ecr.{self.region}.{suffix}"

    @property
    def dead_letter_queue(self) -> str:
        """The SQS queue of the schedule's undeliverable runs (SQS names: up to 80 characters)."""
        return bounded(self.function, "-iaf-dlq", 80, self.function)

    @property
    def dead_letter_arn(self) -> str:
        return self.arn("sqs", self.dead_letter_queue)

    @property
    def keep_active_schedule(self) -> str:
        """The weekly schedule that keeps a rarely run function from going Inactive (Scheduler names: 64)."""
        return bounded(self.function, "-iaf-keep-active", 64, self.function)

    @property
    def alert_topic(self) -> str:
        """The SNS topic of the bot's alerts."""
        return f"{self.function}-iaf-alerts"

    @property
    def alarm_prefix(self) -> str:
        """Every alarm of the bot starts with this."""
        return f"{self.function}-iaf-"
