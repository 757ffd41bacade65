"""A small EventBridge cron evaluator for the tests, written apart from the product's code.

``fire_times("cron(35 9 ? * MON *)", start, end)`` yields every UTC minute in
``[start, end)`` at which EventBridge Scheduler (time zone UTC) would run the target.
Fields: minutes hours day-of-month month day-of-week year, with ``*``, ``?``, numbers,
names, ``a-b`` ranges, ``a/b`` and ``*/b`` steps, lists, and ``L`` in day-of-month.
(EventBridge's ``W``, ``#`` and ``nL`` are not needed by the derived schedules.)
"""
from __future__ import annotations

import calendar
from datetime import datetime, timedelta, timezone
from typing import Iterator

_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_MONTHS = {name.upper(): number for number, name in enumerate(calendar.month_abbr) if name}


def _values(field: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    names = names or {}
    result: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base in ("*", "?"):
            first, last = low, high
        elif "-" in base:
            a, b = base.split("-")
            first, last = names.get(a, None) or int(a), names.get(b, None) or int(b)
        else:
            first = names.get(base, None) or int(base)
            last = high if step_text else first
        result.update(range(first, last + 1, step))
    return result


def fire_times(expression: str, start: datetime, end: datetime) -> Iterator[datetime]:
    assert expression.startswith("cron(") and expression.endswith(")"), expression
    minutes_f, hours_f, dom_f, month_f, dow_f, year_f = expression[5:-1].split()
    assert (dom_f == "?") != (dow_f == "?"), expression
    minutes = sorted(_values(minutes_f, 0, 59))
    hours = sorted(_values(hours_f, 0, 23))
    months = _values(month_f, 1, 12, _MONTHS)
    years = None if year_f == "*" else _values(year_f, 1970, 2199)
    day = start.date()
    while day <= end.date():
        last_day = calendar.monthrange(day.year, day.month)[1]
        if dom_f == "?":
            # EventBridge: 1 = SUN … 7 = SAT; Python: Monday = 0.
            day_ok = ((day.weekday() + 1) % 7 + 1) in _values(dow_f, 1, 7, _DAYS)
        elif dom_f == "L":
            day_ok = day.day == last_day
        else:
            day_ok = day.day in _values(dom_f, 1, 31)
        if day_ok and day.month in months and (years is None or day.year in years):
            for hour in hours:
                for minute in minutes:
                    moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=timezone.utc)
                    if start <= moment < end:
                        yield moment
        day += timedelta(days=1)
