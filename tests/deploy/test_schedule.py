"""--schedule / --schedule-timezone validation (the EventBridge Scheduler grammar)."""
from __future__ import annotations

import pytest

from iaf_aws_plugin.errors import PluginError
from iaf_aws_plugin.schedules.expressions import parse_schedule, schedule_period_seconds, validate_timezone

pytestmark = pytest.mark.anyhost  # the result does not depend on the host version: CI runs it in one leg


@pytest.mark.parametrize("given, expected", [
    ("rate(1 minute)", "rate(1 minute)"),
    ("rate(5 minutes)", "rate(5 minutes)"),
    ("rate(1 hour)", "rate(1 hour)"),
    ("rate(12 hours)", "rate(12 hours)"),
    ("rate(1 day)", "rate(1 day)"),
    ("rate(7 days)", "rate(7 days)"),
    ("  Rate( 15   MINUTES ) ", "rate(15 minutes)"),
    ("cron(*/5 * * * ? *)", "cron(*/5 * * * ? *)"),
    ("cron(0 9 * * ? *)", "cron(0 9 * * ? *)"),
    ("cron(0 9 ? * mon-fri *)", "cron(0 9 ? * MON-FRI *)"),
    ("cron(0/15 8-17 ? * MON,WED,FRI *)", "cron(0/15 8-17 ? * MON,WED,FRI *)"),
    ("cron(0 12 L * ? *)", "cron(0 12 L * ? *)"),
    ("cron(0 12 15W * ? *)", "cron(0 12 15W * ? *)"),
    ("cron(0 12 ? * 6#3 *)", "cron(0 12 ? * 6#3 *)"),
    ("cron(0 0 ? * 6L 2026-2030)", "cron(0 0 ? * 6L 2026-2030)"),
    ("cron(30 2 1 jan-mar ? *)", "cron(30 2 1 JAN-MAR ? *)"),
])
def test_valid_schedules_are_normalized(given: str, expected: str) -> None:
    assert parse_schedule(given) == expected


@pytest.mark.parametrize("given", ["none", "NONE", " None "])
def test_none_means_no_schedule(given: str) -> None:
    assert parse_schedule(given) is None


@pytest.mark.parametrize("given, why", [
    ("rate(1 hours)", r"rate\(1 hour\)"),
    ("rate(5 minute)", r"rate\(5 minutes\)"),
    ("rate(0 minutes)", "1 or more"),
    ("rate(-5 minutes)", "not a whole number"),
    ("rate(1.5 hours)", "not a whole number"),
    ("rate(30 seconds)", "unknown unit"),
    ("rate(2 weeks)", "unknown unit"),
    ("rate(hour)", "expected rate"),
    ("at(2026-01-01T00:00:00)", "one-off"),
    ("cron(0 9 * * *)", "6 fields"),
    ("cron(0 9 * * ? * *)", "6 fields"),
    ("cron(* * * * * *)", "exactly one of day-of-month and day-of-week"),
    ("cron(0 9 ? * ? *)", "exactly one of day-of-month and day-of-week"),
    ("cron(60 9 * * ? *)", "minutes field '60'"),
    ("cron(0 24 * * ? *)", "hours field '24'"),
    ("cron(0 9 32 * ? *)", "day-of-month field '32'"),
    ("cron(0 9 0 * ? *)", "day-of-month field '0'"),
    ("cron(0 9 * 13 ? *)", "month field '13'"),
    ("cron(0 9 * FOO ? *)", "month field 'FOO'"),
    ("cron(0 9 ? * 8 *)", "day-of-week field '8'"),
    ("cron(0 9 ? * MON#6 *)", "1 to 5"),
    ("cron(0 9 * * ? 1969)", "year field '1969'"),
    ("cron(*/0 * * * ? *)", "step"),
    ("cron(? 9 * * ? *)", "only allowed in day-of-month or day-of-week"),
    ("cron(0 9 ? * */2 *)", "'/' is not allowed in day-of-week"),
    ("cron(0 9W * * ? *)", "hours field '9W'"),
    ("cron(0 9 L * L *)", "exactly one of day-of-month and day-of-week"),
    ("cron(0 9 ? * MON#2,FRI *)", "cannot be combined with a list"),
    ("cron(0,,5 9 * * ? *)", "empty list entry"),
    ("every hour", "expected rate"),
    ("", "empty"),
])
def test_invalid_schedules_name_the_value_and_show_examples(given: str, why: str) -> None:
    with pytest.raises(PluginError, match=why) as caught:
        parse_schedule(given)
    message = str(caught.value)
    assert repr(given) in message
    assert "rate(1 hour)" in message and "cron(0 9 * * ? *)" in message and "none" in message
    assert "\n" not in message


@pytest.mark.parametrize("expression, seconds", [
    ("rate(1 minute)", 60),
    ("rate(5 minutes)", 300),
    ("rate(2 hours)", 7200),
    ("rate(1 day)", 86400),
    ("cron(*/5 * * * ? *)", 300),
    ("cron(0/15 * * * ? *)", 900),
    ("cron(0 * * * ? *)", 3600),
    ("cron(0 9 * * ? *)", 86400),
    ("cron(0 9,17 * * ? *)", 8 * 3600),  # 9→17 is 8 h, 17→9 next day is 16 h
    ("cron(*/7 * * * ? *)", 4 * 60),  # :56 → :00 of the next hour
    ("cron(0 */6 * * ? *)", 6 * 3600),
    ("cron(0 9,17 ? * MON-FRI *)", 8 * 3600),
])
def test_period_of_simple_schedules(expression: str, seconds: int) -> None:
    assert schedule_period_seconds(expression) == seconds


@pytest.mark.parametrize("expression", ["cron(0 9 ? * MON-FRI *)", "cron(0 12 L * ? *)", "cron(0 9 1 * ? *)"])
def test_period_unknown_for_calendar_crons(expression: str) -> None:
    assert schedule_period_seconds(expression) is None


@pytest.mark.parametrize("given, expected", [
    ("UTC", "UTC"), ("Europe/Amsterdam", "Europe/Amsterdam"), ("America/New_York", "America/New_York"),
    ("europe/amsterdam", "Europe/Amsterdam"), (" Asia/Tokyo ", "Asia/Tokyo"),
])
def test_known_time_zones(given: str, expected: str) -> None:
    assert validate_timezone(given) == expected


@pytest.mark.parametrize("given", ["Mars/Olympus_Mons", "Europe/Amsterdamm", "../../etc/passwd", "", "CEST+2 hours"])
def test_unknown_time_zones(given: str) -> None:
    with pytest.raises(PluginError, match="time zone") as caught:
        validate_timezone(given)
    assert "Europe/Amsterdam" in str(caught.value)  # shows an example


def test_time_zones_without_any_database_are_checked_for_form(monkeypatch: pytest.MonkeyPatch) -> None:
    """No system zoneinfo and no tzdata: well-formed names pass (AWS checks), others fail."""
    import zoneinfo

    monkeypatch.setattr(zoneinfo, "available_timezones", lambda: set())

    def not_found(key: str) -> None:
        raise zoneinfo.ZoneInfoNotFoundError(key)

    monkeypatch.setattr(zoneinfo, "ZoneInfo", not_found)
    assert validate_timezone("Europe/Amsterdam") == "Europe/Amsterdam"
    with pytest.raises(PluginError):
        validate_timezone("not a zone")
