"""EventBridge Scheduler expressions and time zones: checked locally, so a bad ``--schedule``
fails before any AWS call. Pure: no I/O.
"""
from __future__ import annotations

import re

from ..errors import PluginError

__all__ = [
    "parse_schedule",
    "describe_duration",
    "rate_for_period",
    "schedule_period_seconds",
    "validate_timezone",
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
