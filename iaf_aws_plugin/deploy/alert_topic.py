"""``--alert-topic ARN``: the alarms also (or, without ``--alert-email``, only) notify an SNS topic
the user owns (Slack or Teams through AWS Chatbot, a pager, a webhook…). The deploy only names it
in the alarms' actions: it never creates, changes, subscribes to or deletes that topic. Pure.
"""
from __future__ import annotations

import re

from ..errors import PluginError

__all__ = ["validate_alert_topic"]

#: An SNS standard topic's ARN (CloudWatch alarms cannot notify FIFO topics); names: 1-256 of A-Z a-z 0-9 - _.
_TOPIC_ARN = re.compile(r"^arn:(?P<partition>aws|aws-cn|aws-us-gov):sns:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d):"
                        r"(?P<account>\d{12}):(?P<name>[A-Za-z0-9_-]{1,256})$")
_EXAMPLE = ("For example: --alert-topic arn:aws:sns:eu-west-1:123456789012:trading-alerts "
            "(--alert-topic none removes it).")


def validate_alert_topic(value: str, region: str | None = None) -> str:
    """An SNS topic ARN in the bot's region, or ``none``; else one line."""
    text = value.strip()
    if text.lower() == "none":
        return "none"
    match = _TOPIC_ARN.match(text)
    if not match:
        why = (" (a FIFO topic: CloudWatch alarms notify standard topics only)" if text.endswith(".fifo") else "")
        raise PluginError(f"invalid --alert-topic {value!r}: expected an SNS topic ARN, "
                          f"arn:aws:sns:REGION:ACCOUNT:NAME{why}.", fix=_EXAMPLE)
    if region is not None and match["region"] != region:
        raise PluginError(f"--alert-topic {text} is in region {match['region']}, the bot in {region}: CloudWatch "
                          "alarms notify topics in their own region only.",
                          fix=f"Create (or pick) a topic in {region} and pass its ARN.")
    return text
