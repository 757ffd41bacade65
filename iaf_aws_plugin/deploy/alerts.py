"""Moved to :mod:`iaf_aws_plugin.deploy.resources.alerts`; these names are kept for old imports."""
from __future__ import annotations

from .resources.alerts import (ALARM_PERIOD, Alerts, desired_alerts, missed_run_period, plan_alerts,
                               schedule_gap_seconds, topic_name, validate_alert_email)

__all__ = ["ALARM_PERIOD", "Alerts", "desired_alerts", "missed_run_period", "plan_alerts", "schedule_gap_seconds",
           "topic_name", "validate_alert_email"]
