"""When an EventBridge Scheduler expression fires next, in its own time zone. Pure."""
from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta, timezone
from typing import Callable

__all__ = ["next_run", "schedule_gap_seconds"]

_MONTHS = {n: i for i, n in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT",
                                       "NOV", "DEC"], start=1)}
_DAYS = {n: i for i, n in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}
_RATE = re.compile(r"rate\((\d+) (minute|hour|day)s?\)")
_CRON = re.compile(r"cron\((.*)\)")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}
_HORIZON_DAYS = 366 * 4


def _values(field: str, low: int, high: int, names: dict[str, int]) -> set[int] | None:
    """Values of a cron field made of ``*``, numbers, names, ranges, lists and steps; else None."""
    values: set[int] = set()
    for part in field.split(","):
        base, slash, step_text = part.partition("/")
        step = int(step_text) if slash and step_text.isdigit() else 1 if not slash else 0
        if step < 1:
            return None

        def one(token: str) -> int | None:
            if token in names:
                return names[token]
            return int(token) if token.isdigit() else None

        if base in ("*", "?"):
            first, last = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            first_v, last_v = one(a), one(b)
            if first_v is None or last_v is None:
                return None
            first, last = first_v, last_v
        else:
            value = one(base)
            if value is None:
                return None
            first, last = value, (high if slash else value)
        if first > last:
            return None
        values.update(range(first, last + 1, step))
    return values


def _day_matcher(dom: str, dow: str) -> Callable[[datetime], bool] | None:
    if dom != "?":
        if dom == "L":
            return lambda d: d.day == calendar.monthrange(d.year, d.month)[1]
        days = _values(dom, 1, 31, {})
        return None if days is None else (lambda d: d.day in days)
    if "#" in dow:
        day_text, _, nth_text = dow.partition("#")
        day = _DAYS.get(day_text) or (int(day_text) if day_text.isdigit() else None)
        if day is None or not nth_text.isdigit():
            return None
        nth = int(nth_text)
        return lambda d: (d.weekday() + 1) % 7 + 1 == day and (d.day - 1) // 7 + 1 == nth
    weekdays = _values(dow, 1, 7, _DAYS)
    return None if weekdays is None else (lambda d: (d.weekday() + 1) % 7 + 1 in weekdays)


def next_run(expression: str, zone: str, now: datetime, *, start: datetime | None = None) -> datetime | None:
    """The next time ``expression`` fires after ``now`` (aware, in ``zone``); None when not computable.

    ``rate(...)`` counts whole periods from ``start`` (the schedule's start or creation time);
    without it there is no anchor and the answer is None.
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = timezone.utc  # type: ignore[assignment]
    now = now.astimezone(tz)
    rate = _RATE.fullmatch(expression.strip())
    if rate:
        if start is None:
            return None
        period = timedelta(seconds=int(rate[1]) * _UNIT[rate[2]])
        anchor = start.astimezone(tz)
        if anchor > now:
            return anchor
        periods = (now - anchor) // period + 1
        return anchor + periods * period
    cron = _CRON.fullmatch(expression.strip())
    if not cron:
        return None
    fields = cron[1].upper().split()
    if len(fields) != 6:
        return None
    minutes, hours = _values(fields[0], 0, 59, {}), _values(fields[1], 0, 23, {})
    months, years = _values(fields[3], 1, 12, _MONTHS), _values(fields[5], 1970, 2199, {})
    matches_day = _day_matcher(fields[2], fields[4])
    if None in (minutes, hours, months, years) or matches_day is None:
        return None
    assert minutes is not None and hours is not None and months is not None and years is not None
    day = now.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    for _ in range(_HORIZON_DAYS):
        if day.year in years and day.month in months and matches_day(day):
            for hour in sorted(hours):
                for minute in sorted(minutes):
                    when = day.replace(hour=hour, minute=minute).replace(tzinfo=tz)
                    if when > now:
                        return when
        day += timedelta(days=1)
    return None


def schedule_gap_seconds(expression: str, zone: str, now: datetime | None = None) -> int | None:
    """The longest time between two runs of a schedule (over two weeks of its runs)."""
    from .expressions import schedule_period_seconds

    simple = schedule_period_seconds(expression)
    if simple is not None and expression.startswith("rate("):
        return simple
    now = now or datetime.now(timezone.utc)
    start = now
    when = next_run(expression, zone, start, start=start)
    if when is None:
        return simple
    gaps = []
    end = start + timedelta(days=14)
    while when is not None and when < end:
        following = next_run(expression, zone, when, start=start)
        if following is None:
            break
        gaps.append(int((following - when).total_seconds()))
        when = following
    return max(gaps) if gaps else simple
