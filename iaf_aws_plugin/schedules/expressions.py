"""EventBridge Scheduler expressions and time zones: checked locally, so a bad ``--schedule``
fails before any AWS call. Pure: no I/O.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Union

from ..errors import PluginError

__all__ = [
    "parse_schedule",
    "describe_duration",
    "rate_for_period",
    "clock_anchored",
    "schedule_period_seconds",
    "validate_timezone",
    "CronMapping",
    "HostSchedule",
    "IntervalSchedule",
    "RuleSchedule",
    "UnmappableSchedule",
    "combine",
    "cron_for",
]

_EXAMPLES = "'rate(1 hour)', 'rate(15 minutes)', 'cron(0 9 * * ? *)' or 'none'"
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"rate\(\s*(\S+)\s+([A-Za-z]+)\s*\)", re.IGNORECASE)
_CRON = re.compile(r"cron\((.*)\)", re.IGNORECASE | re.DOTALL)

_MONTHS = {name: number for number, name in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1)}
_WEEKDAYS = {name: number for number, name in enumerate(
    ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}

# (name, lowest, highest, names, special characters allowed besides , - * /)
_CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int], str], ...] = (
    ("minutes", 0, 59, {}, ""),
    ("hours", 0, 23, {}, ""),
    ("day-of-month", 1, 31, {}, "?LW"),
    ("month", 1, 12, _MONTHS, ""),
    ("day-of-week", 1, 7, _WEEKDAYS, "?L#"),
    ("year", 1970, 2199, {}, ""),
)

# Lambda cannot be scheduled more often than once a minute.
MINIMUM_PERIOD = 60


def _invalid(value: str, why: str) -> PluginError:
    return PluginError(f"Invalid schedule {value!r}: {why}.",
                       fix=f"Use --schedule with e.g. {_EXAMPLES} (EventBridge Scheduler syntax).")


def parse_schedule(expression: str) -> str | None:
    """Check a ``--schedule`` value and return it normalized, or None for ``none``.

    Accepted: ``rate(N minute|minutes|hour|hours|day|days)`` (singular exactly when
    N is 1, as AWS requires) and ``cron(minutes hours day-of-month month day-of-week
    year)`` in EventBridge Scheduler's syntax, where exactly one of day-of-month and
    day-of-week is ``?``. One-off ``at(...)`` schedules are refused: a trading bot
    runs repeatedly. Anything else raises :class:`PluginError`.
    """
    if not isinstance(expression, str):
        raise _invalid(str(expression), "expected rate(...), cron(...) or none")
    text = " ".join(expression.split())
    if text.lower() == "none":
        return None
    if not text:
        raise _invalid(expression, "it is empty")
    if text.lower().startswith("at("):
        raise _invalid(expression, "one-off at(...) schedules run once; a trading bot needs a "
                                   "recurring rate(...) or cron(...) schedule")
    rate = _RATE.fullmatch(text)
    if rate:
        return _normalize_rate(expression, rate.group(1), rate.group(2))
    cron = _CRON.fullmatch(text)
    if cron:
        return _normalize_cron(expression, cron.group(1))
    raise _invalid(expression, "expected rate(...), cron(...) or none")


def _normalize_rate(original: str, value: str, unit: str) -> str:
    if not value.isdigit() or not value.isascii():
        raise _invalid(original, f"the rate value {value!r} is not a whole number")
    number = int(value)
    if number < 1:
        raise _invalid(original, "the rate value must be 1 or more")
    unit = unit.lower()
    singular = unit[:-1] if unit.endswith("s") else unit
    if singular not in _UNIT_SECONDS:
        raise _invalid(original, f"unknown unit {unit!r} (use minute(s), hour(s) or day(s))")
    wanted = singular if number == 1 else singular + "s"
    if unit != wanted:
        raise _invalid(original, f"AWS requires 'rate({number} {wanted})' "
                                 f"(singular unit only for a value of 1)")
    return f"rate({number} {wanted})"


def _normalize_cron(original: str, body: str) -> str:
    fields = body.split()
    if len(fields) != 6:
        raise _invalid(original, f"cron(...) needs 6 fields (minutes hours day-of-month month "
                                 f"day-of-week year), got {len(fields)}")
    fields = [field.upper() for field in fields]
    for field, spec in zip(fields, _CRON_FIELDS):
        _check_cron_field(original, field, spec)
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise _invalid(original, "exactly one of day-of-month and day-of-week must be '?' "
                                 "(e.g. 'cron(0 9 * * ? *)' or 'cron(0 9 ? * MON-FRI *)')")
    return f"cron({' '.join(fields)})"


def _check_cron_field(original: str, field: str,
                      spec: tuple[str, int, int, dict[str, int], str]) -> None:
    name, low, high, names, special = spec

    def bad(why: str) -> PluginError:
        return _invalid(original, f"cron {name} field {field!r}: {why}")

    if field == "?":
        if "?" not in special:
            raise bad("'?' is only allowed in day-of-month or day-of-week")
        return
    if field == "*":
        return
    if "L" in special and field == "L":
        return
    if name == "day-of-month" and field in ("LW",):
        return
    for part in field.split(","):
        if not part:
            raise bad("empty list entry")
        if name == "day-of-week" and "#" in part:
            day, _, nth = part.partition("#")
            _cron_value(day, low, high, names, bad)
            if not (nth.isdigit() and 1 <= int(nth) <= 5):
                raise bad("'#' must be followed by 1 to 5")
            if "," in field:
                raise bad("'#' cannot be combined with a list")
            continue
        if name == "day-of-week" and part.endswith("L") and part != "L":
            _cron_value(part[:-1], low, high, names, bad)
            continue
        if name == "day-of-month" and part.endswith("W") and part != "W":
            _cron_value(part[:-1], low, high, names, bad)
            if "," in field:
                raise bad("'W' cannot be combined with a list")
            continue
        base, slash, step = part.partition("/")
        if slash and name == "day-of-week":
            raise bad("'/' is not allowed in day-of-week")
        if slash:
            if not (step.isdigit() and step.isascii() and int(step) >= 1):
                raise bad(f"step {step!r} must be a whole number of 1 or more")
        if base == "*":
            continue
        if "-" in base:
            first, _, last = base.partition("-")
            _cron_value(first, low, high, names, bad)
            _cron_value(last, low, high, names, bad)
            continue
        _cron_value(base, low, high, names, bad)


def _cron_value(token: str, low: int, high: int, names: dict[str, int], bad) -> int:  # type: ignore[no-untyped-def]
    if token in names:
        return names[token]
    if not (token.isdigit() and token.isascii()):
        raise bad(f"{token!r} is not a number" + (f" or a name ({', '.join(names)})" if names else ""))
    value = int(token)
    if not low <= value <= high:
        raise bad(f"{value} is outside {low}-{high}")
    return value


def validate_timezone(name: str) -> str:
    """Return the IANA time zone ``name`` (canonical spelling) or raise :class:`PluginError`.

    Uses :mod:`zoneinfo`; when no time zone database is installed at all (no system
    zoneinfo and no ``tzdata`` package), names are checked for their form only and
    EventBridge Scheduler has the last word.
    """
    fix = "Use an IANA time zone name such as 'UTC', 'Europe/Amsterdam' or 'America/New_York'."
    text = name.strip() if isinstance(name, str) else ""
    if not text or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*", text):
        raise PluginError(f"Invalid schedule time zone {name!r}.", fix=fix)
    import zoneinfo

    try:
        known = zoneinfo.available_timezones()
    except Exception:  # pragma: no cover - broken installations only
        known = set()
    if known:
        if text in known:
            return text
        matches = [zone for zone in known if zone.casefold() == text.casefold()]
        if len(matches) == 1:
            return matches[0]
        raise PluginError(f"Unknown schedule time zone {name!r}.", fix=fix)
    # No database to list: ask zoneinfo directly (it may still find a single zone).
    try:
        zoneinfo.ZoneInfo(text)
    except zoneinfo.ZoneInfoNotFoundError:
        return text  # no time zone data here: the form is right, AWS validates the name
    except (ValueError, OSError):
        raise PluginError(f"Invalid schedule time zone {name!r}.", fix=fix) from None
    return text


def schedule_period_seconds(expression: str) -> int | None:
    """Seconds between two runs of a normalized schedule, or None when not simple.

    ``rate(...)`` gives its period; a cron that fires at fixed times every day gives
    the smallest gap between two of those times (``*/5 * * * ? *`` → 300,
    ``0 9 * * ? *`` → 86400). Crons restricted to some days give the smallest gap
    within a day when they fire several times a day, else None.
    """
    text = " ".join(expression.split())
    rate = _RATE.fullmatch(text)
    if rate:
        value, unit = rate.group(1), rate.group(2).lower().rstrip("s")
        if not value.isdigit() or unit not in _UNIT_SECONDS:
            return None
        return int(value) * _UNIT_SECONDS[unit]
    cron = _CRON.fullmatch(text)
    if not cron:
        return None
    fields = cron.group(1).upper().split()
    if len(fields) != 6:
        return None
    minutes = _expand(fields[0], 0, 59)
    hours = _expand(fields[1], 0, 23)
    if not minutes or not hours:
        return None
    times = sorted(hour * 60 + minute for hour in hours for minute in minutes)
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    every_day = (fields[2] in ("*", "?") and fields[4] in ("*", "?")
                 and fields[3] == "*" and fields[5] == "*")
    if every_day:
        gaps.append(24 * 60 - times[-1] + times[0])
    if not gaps:
        return None
    return min(gaps) * 60


def _expand(field: str, low: int, high: int) -> set[int] | None:
    """The values a simple numeric cron field selects (``*``, lists, ranges, steps)."""
    values: set[int] = set()
    for part in field.split(","):
        base, slash, step_text = part.partition("/")
        if slash and not step_text.isdigit():
            return None
        step = int(step_text) if slash else 1
        if step < 1:
            return None
        if base == "*":
            first, last = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            if not (a.isdigit() and b.isdigit()):
                return None
            first, last = int(a), int(b)
        elif base.isdigit():
            first = int(base)
            last = high if slash else first
        else:
            return None
        if not (low <= first <= high and low <= last <= high) or first > last:
            return None
        values.update(range(first, last + 1, step))
    return values


def clock_anchored(seconds: int) -> str | None:
    """The cron (UTC) running every ``seconds`` at fixed minutes of the clock, when the interval
    divides the hour or the day (hourly → ``cron(0 * * * ? *)``, 15 minutes → ``cron(0/15 * * * ? *)``,
    4 hours → ``cron(0 0/4 * * ? *)``, daily → ``cron(0 0 * * ? *)``), so that runs follow candle
    closes (exchanges close candles on UTC boundaries); None for an interval no cron fires at exactly
    (90 minutes, 2 days …: a ``rate(...)`` then)."""
    if seconds < MINIMUM_PERIOD or seconds % MINIMUM_PERIOD:
        return None
    try:
        mapping = _interval_cron(IntervalSchedule(seconds))
    except UnmappableSchedule:  # pragma: no cover - whole minutes always map
        return None
    return mapping.expression if mapping.exact else None


def rate_for_period(seconds: int) -> str:
    """The slowest valid rate that still runs at least as often as ``seconds``."""
    if seconds <= MINIMUM_PERIOD:
        return "rate(1 minute)"
    for unit, size in (("day", 86400), ("hour", 3600)):
        if seconds % size == 0:
            count = seconds // size
            return f"rate({count} {unit if count == 1 else unit + 's'})"
    minutes = seconds // 60
    return f"rate({minutes} {'minute' if minutes == 1 else 'minutes'})"


def describe_duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit if count == 1 else unit + 's'}"
    return f"{seconds} {'second' if seconds == 1 else 'seconds'}"


# --- The host's 9.x schedules (Schedule.every / Schedule.on) as EventBridge crons ------------
#
# The host (investing-algorithm-framework 9.x) fires an interval schedule at
# ``anchor + k * step`` (anchor: the UNIX epoch unless given, so whole UTC boundaries) and a
# rule schedule on the days its DateRule matches at its TimeRule's time (UTC). These
# classes hold what :mod:`.strategy_scan` read from the source; :func:`cron_for` turns
# them into the EventBridge cron (time zone UTC) firing at exactly those times, or, where
# EventBridge has no exact form, at a superset of them ("covering"): the scaffolded
# handler then asks the host's own ``Schedule.is_due`` and skips the runs it rejects.

_EVENTBRIDGE_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")  # Python's weekday() order


class UnmappableSchedule(ValueError):
    """A host schedule that no EventBridge schedule can run; the message says why."""


@dataclass(frozen=True)
class IntervalSchedule:
    """``Schedule.every(interval, unit, anchor)``: fires at ``offset + k * step`` seconds after the epoch."""

    step_seconds: int
    offset_seconds: int = 0


@dataclass(frozen=True)
class RuleSchedule:
    """``Schedule.on(DateRule.<date_rule>(days_offset), TimeRule.at(hour, minute, second))``."""

    date_rule: str  # every_day, week_start, week_end, month_start, month_end
    days_offset: int
    hour: int
    minute: int
    second: int = 0


HostSchedule = Union[IntervalSchedule, RuleSchedule]


@dataclass(frozen=True)
class CronMapping:
    """An EventBridge cron (UTC) for one or more host schedules.

    ``exact``: it fires at exactly the schedules' times. Otherwise it fires at a superset
    and the function skips a run that no schedule is due at (``skip_rule`` says which).
    ``note``: anything else the plan should say (Lambda's one-minute minimum).
    """

    minutes: frozenset[int]
    hours: frozenset[int]
    day_of_month: str  # "*", "?", "L", "1", "26-29" …
    day_of_week: str  # "?" or "MON", "MON,FRI" …
    exact: bool
    skip_rule: str | None = None
    note: str | None = None

    @property
    def expression(self) -> str:
        return (f"cron({_field(self.minutes, 0, 59)} {_field(self.hours, 0, 23)} "
                f"{self.day_of_month} * {self.day_of_week} *)")

    @property
    def every_day(self) -> bool:
        return self.day_of_month == "*"

    def covers(self, other: "CronMapping") -> bool:
        """Every time ``other`` fires, this one fires too (field by field)."""
        if not (other.minutes <= self.minutes and other.hours <= self.hours):
            return False
        if self.every_day:
            return True
        if self.day_of_week != "?" and other.day_of_week != "?":
            return set(other.day_of_week.split(",")) <= set(self.day_of_week.split(","))
        return (self.day_of_month, self.day_of_week) == (other.day_of_month, other.day_of_week)

    def fires_per_day(self) -> float:
        """Average runs a day (to find the finest schedule)."""
        per_day = len(self.minutes) * len(self.hours)
        if self.every_day:
            return float(per_day)
        if self.day_of_week != "?":
            return per_day * len(self.day_of_week.split(",")) / 7
        days = _expand_days(self.day_of_month)
        return per_day * days / 30.44


def _expand_days(day_of_month: str) -> int:
    if day_of_month == "L":
        return 1
    first, _, last = day_of_month.partition("-")
    return int(last or first) - int(first) + 1


def _field(values: frozenset[int], low: int, high: int) -> str:
    """The shortest cron field for ``values``: ``*``, ``0/15``, ``5/15``, ``9`` or a list.

    Steps start at a number (``0/15``, not ``*/15``): the form AWS documents for EventBridge."""
    ordered = sorted(values)
    if ordered == list(range(low, high + 1)):
        return "*"
    if len(ordered) == 1:
        return str(ordered[0])
    step = ordered[1] - ordered[0]
    first = ordered[0]
    if (first < step and ordered == list(range(first, high + 1, step))
            and (high + 1 - low) % step == 0):
        return f"{first}/{step}"
    return ",".join(str(value) for value in ordered)


def _every(step: int, offset: int, size: int) -> frozenset[int]:
    return frozenset(range(offset % step, size, step))


def cron_for(schedule: HostSchedule) -> CronMapping:
    """The EventBridge cron (UTC) running ``schedule``; raises :class:`UnmappableSchedule`."""
    if isinstance(schedule, IntervalSchedule):
        return _interval_cron(schedule)
    return _rule_cron(schedule)


def _interval_cron(schedule: IntervalSchedule) -> CronMapping:
    step, offset = schedule.step_seconds, schedule.offset_seconds % schedule.step_seconds
    all_minutes, all_hours = frozenset(range(60)), frozenset(range(24))
    if step < MINIMUM_PERIOD:
        if MINIMUM_PERIOD % step:
            raise UnmappableSchedule(f"every {describe_duration(step)} does not fit Lambda's one-minute grid")
        # Lambda's minimum: one run a minute, which the host's is_due accepts every time.
        return CronMapping(all_minutes, all_hours, "*", "?", exact=True,
                           note=f"the strategy asks for every {describe_duration(step)}; "
                                "one minute is the shortest EventBridge period")
    if step % 60 or offset % 60:
        raise UnmappableSchedule(f"every {describe_duration(step)} with an anchor "
                                 f"{describe_duration(offset)} past the step does not fall on whole minutes")
    minutes_step, minutes_offset = step // 60, offset // 60
    if 60 % minutes_step == 0:  # every 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60 minutes
        return CronMapping(_every(minutes_step, minutes_offset, 60), all_hours, "*", "?", exact=True)
    if minutes_step % 60:
        # e.g. every 90 or 45 minutes: a minute pattern that repeats every hour covers it.
        cover = math.gcd(minutes_step, 60)
        return CronMapping(_every(cover, minutes_offset, 60), all_hours, "*", "?", exact=False,
                           skip_rule=f"runs on minutes that are not one of the strategy's every "
                                     f"{describe_duration(step)} are skipped")
    minute = minutes_offset % 60
    hours_step, hours_offset = minutes_step // 60, minutes_offset // 60
    if 24 % hours_step == 0:  # every 1, 2, 3, 4, 6, 8, 12 or 24 hours
        return CronMapping(frozenset({minute}), _every(hours_step, hours_offset, 24), "*", "?", exact=True)
    if hours_step % 24:
        cover = math.gcd(hours_step, 24)
        return CronMapping(frozenset({minute}), _every(cover, hours_offset, 24), "*", "?", exact=False,
                           skip_rule=f"runs in hours that are not one of the strategy's every "
                                     f"{describe_duration(step)} are skipped")
    # Every N days (N >= 2): EventBridge's day steps restart each month; run daily, skip the rest.
    return CronMapping(frozenset({minute}), frozenset({hours_offset % 24}), "*", "?", exact=False,
                       skip_rule=f"runs on days that are not one of the strategy's every "
                                 f"{describe_duration(step)} are skipped")


def _rule_cron(schedule: RuleSchedule) -> CronMapping:
    if schedule.second:
        raise UnmappableSchedule(f"TimeRule.at({schedule.hour}, {schedule.minute}, {schedule.second}) has "
                                 "seconds; EventBridge fires on whole minutes")
    minutes, hours = frozenset({schedule.minute}), frozenset({schedule.hour})
    rule, offset = schedule.date_rule, schedule.days_offset
    described = f"DateRule.{rule}({offset})" if offset else f"DateRule.{rule}()"
    if rule == "every_day":
        return CronMapping(minutes, hours, "*", "?", exact=True)
    if rule in ("week_start", "week_end"):
        if offset > 6:
            raise UnmappableSchedule(f"{described} never matches (a week has 7 days)")
        weekday = offset if rule == "week_start" else 6 - offset
        return CronMapping(minutes, hours, "?", _EVENTBRIDGE_WEEKDAYS[weekday], exact=True)
    if rule == "month_start":
        if offset > 30:
            raise UnmappableSchedule(f"{described} never matches (a month has at most 31 days)")
        return CronMapping(minutes, hours, str(offset + 1), "?", exact=True)
    if rule == "month_end":
        if offset == 0:
            return CronMapping(minutes, hours, "L", "?", exact=True)
        if offset > 30:
            raise UnmappableSchedule(f"{described} never matches (a month has at most 31 days)")
        # The last day minus N is day 28-N (February) to 31-N: fire on each, skip the rest.
        first, last = max(1, 28 - offset), 31 - offset
        return CronMapping(minutes, hours, f"{first}-{last}" if first != last else str(first), "?",
                           exact=False, skip_rule=f"runs on days other than {described} (the last day of "
                                                  f"the month minus {offset}) are skipped")
    raise UnmappableSchedule(f"unknown DateRule.{rule}")


def combine(mappings: list[CronMapping]) -> tuple[CronMapping, int]:
    """One cron for several schedules, and the index of the finest (the one that set it).

    The finest schedule's cron wins when it covers every other; otherwise the crons are
    merged into one that fires at all their times (a superset: the runs none is due at
    are skipped).
    """
    finest = max(range(len(mappings)), key=lambda index: mappings[index].fires_per_day())
    winner = mappings[finest]
    if all(winner.covers(other) for other in mappings):
        return winner, finest
    minutes = frozenset().union(*(m.minutes for m in mappings))
    hours = frozenset().union(*(m.hours for m in mappings))
    days = {(m.day_of_month, m.day_of_week) for m in mappings}
    if len(days) == 1:
        day_of_month, day_of_week = days.pop()
    elif all(m.day_of_week != "?" for m in mappings):
        names = {name for m in mappings for name in m.day_of_week.split(",")}
        day_of_month = "?"
        day_of_week = ",".join(name for name in _EVENTBRIDGE_WEEKDAYS if name in names)
    else:
        day_of_month, day_of_week = "*", "?"
    merged = CronMapping(minutes, hours, day_of_month, day_of_week, exact=False,
                         skip_rule="runs at which no strategy's schedule is due are skipped",
                         note=winner.note)
    return merged, finest
