"""When the function runs: EventBridge Scheduler expressions, time zones, and the
schedule derived from the project's strategies.

Everything here is pure: expressions are checked locally (so a bad ``--schedule``
fails before any AWS call) and strategies are read with :mod:`ast`, never imported
or executed.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .errors import PluginError

__all__ = [
    "DerivedSchedule",
    "derive_schedule",
    "faster_than_strategies_warning",
    "parse_schedule",
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
_MINIMUM_PERIOD = 60


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


# --- Schedule derived from the project's strategies -------------------------------------

_TIME_UNIT_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
_STRATEGY_BASES = {"TradingStrategy"}
# ``@app.strategy`` without arguments: the host's defaults (App.strategy signature).
_DECORATOR_DEFAULTS = ("MINUTE", 10)
_MAX_SOURCE_BYTES = 2_000_000
_SKIPPED_DIRS = {"__pycache__", "venv", "env", "node_modules", "site-packages", "tests", "test"}


@dataclass(frozen=True)
class DerivedSchedule:
    """The schedule the project's strategies need.

    ``expression`` is a valid ``rate(...)``; ``period_seconds`` is the smallest
    strategy period found (it can be below 60 when a strategy runs every few
    seconds; the rate is then Lambda's minimum, one minute); ``sources`` names each
    strategy found, e.g. ``strategies/my_strategy.py:MyTradingStrategy (every 1 hour)``.
    """

    expression: str
    period_seconds: int
    sources: tuple[str, ...]


def derive_schedule(project_dir: Path) -> DerivedSchedule | None:
    """Read the strategies' ``time_unit`` and ``interval`` and turn the smallest into a rate.

    Looks at the project's top-level modules (``aws_function.py`` …) and the
    ``strategies/`` package, with :mod:`ast` only: no user code runs. Finds
    ``TradingStrategy`` subclasses (also indirect ones within the project) with class
    attributes ``time_unit = TimeUnit.HOUR`` / ``"hour"`` / ``TimeUnit.from_value(...)``
    and ``interval = 2``, calls with ``time_unit=`` and ``interval=`` keywords
    (``MyStrategy(time_unit=..., interval=...)``), and ``@app.strategy`` decorators.
    Files that cannot be read or parsed are skipped. Returns None when nothing is found.
    """
    project_dir = Path(project_dir)
    found: list[tuple[int, str]] = []
    classes: dict[str, list[_ClassInfo]] = {}
    modules: list[tuple[str, ast.Module]] = []
    for path in _candidate_files(project_dir):
        tree = _parse(path)
        if tree is None:
            continue
        relative = path.relative_to(project_dir).as_posix()
        modules.append((relative, tree))
        constants = _module_constants(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                info = _ClassInfo.read(node, relative, constants)
                classes.setdefault(node.name, []).append(info)
    for relative, tree in modules:
        constants = _module_constants(tree)
        found.extend(_calls_and_decorators(tree, relative, constants, classes))
    for info in sorted((info for infos in classes.values() for info in infos),
                       key=lambda item: (item.file, item.name)):
        if not _is_strategy(info, classes, set()):
            continue
        time_unit = _inherited(info, "time_unit", classes, set())
        interval = _inherited(info, "interval", classes, set())
        if time_unit is None or interval is None:
            continue
        seconds = _TIME_UNIT_SECONDS[time_unit] * interval
        found.append((seconds, f"{info.file}:{info.name} ({_describe(time_unit, interval)})"))
    if not found:
        return None
    period = min(seconds for seconds, _ in found)
    # Most frequent first; each strategy once.
    sources = tuple(dict.fromkeys(source for _, source in sorted(found)))
    return DerivedSchedule(expression=_rate_for(period), period_seconds=period, sources=sources)


def faster_than_strategies_warning(expression: str, derived: DerivedSchedule | None) -> str | None:
    """One line of warning when ``expression`` runs more often than the strategies need."""
    if derived is None or expression is None:
        return None
    period = schedule_period_seconds(expression)
    if period is None:
        return None
    # The derived rate is the slowest schedule that keeps up with every strategy.
    needed = schedule_period_seconds(derived.expression) or max(derived.period_seconds, _MINIMUM_PERIOD)
    if period >= needed:
        return None
    return (f"Warning: schedule {expression} runs every {_duration(period)}, more often than the "
            f"strategies need (every {_duration(derived.period_seconds)}: "
            f"{'; '.join(derived.sources)}); extra runs cost invocations and exchange API calls.")


@dataclass(frozen=True)
class _ClassInfo:
    name: str
    file: str
    bases: tuple[str, ...]
    time_unit: str | None
    interval: int | None

    @staticmethod
    def read(node: ast.ClassDef, file: str, constants: dict[str, ast.expr]) -> "_ClassInfo":
        time_unit: str | None = None
        interval: int | None = None
        for statement in node.body:
            target, value = _assignment(statement)
            if target == "time_unit" and value is not None:
                time_unit = _time_unit(value, constants)
            elif target == "interval" and value is not None:
                interval = _interval(value, constants)
        # ``super().__init__(time_unit=..., interval=...)`` in a method overrides the attributes.
        for call in ast.walk(node):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "__init__"):
                continue
            keywords = {k.arg: k.value for k in call.keywords if k.arg}
            if "time_unit" in keywords:
                time_unit = _time_unit(keywords["time_unit"], constants) or time_unit
            if "interval" in keywords:
                interval = _interval(keywords["interval"], constants) or interval
        bases = tuple(name for name in (_dotted_tail(base) for base in node.bases) if name)
        return _ClassInfo(name=node.name, file=file, bases=bases, time_unit=time_unit, interval=interval)


def _candidate_files(project_dir: Path) -> Iterator[Path]:
    try:
        top = sorted(project_dir.glob("*.py"))
    except OSError:
        return
    yield from (path for path in top if path.is_file())
    strategies = project_dir / "strategies"
    if strategies.is_dir():
        for path in sorted(strategies.rglob("*.py")):
            parts = path.relative_to(strategies).parts
            if any(part.startswith(".") or part in _SKIPPED_DIRS for part in parts):
                continue
            if path.is_file():
                yield path


def _parse(path: Path) -> ast.Module | None:
    try:
        if path.stat().st_size > _MAX_SOURCE_BYTES:
            return None
        source = path.read_bytes()
        return ast.parse(source, filename=str(path))
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _module_constants(tree: ast.Module) -> dict[str, ast.expr]:
    constants: dict[str, ast.expr] = {}
    for statement in tree.body:
        target, value = _assignment(statement)
        if target is not None and value is not None:
            constants[target] = value
    return constants


def _assignment(statement: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        target = statement.targets[0]
        if isinstance(target, ast.Name):
            return target.id, statement.value
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        return statement.target.id, statement.value
    return None, None


def _dotted_tail(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _time_unit(node: ast.expr, constants: dict[str, ast.expr], depth: int = 0) -> str | None:
    """``TimeUnit.HOUR``, ``"hour"``, ``TimeUnit("HOUR")``, ``TimeUnit.from_value(...)``."""
    if depth > 5:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        unit = node.value.strip().upper()
        return unit if unit in _TIME_UNIT_SECONDS else None
    if isinstance(node, ast.Attribute) and _dotted_tail(node.value) == "TimeUnit":
        return node.attr if node.attr in _TIME_UNIT_SECONDS else None
    if isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords:
        function = node.func
        if (_dotted_tail(function) == "TimeUnit"
                or (isinstance(function, ast.Attribute) and _dotted_tail(function.value) == "TimeUnit"
                    and function.attr in ("from_value", "from_string"))):
            return _time_unit(node.args[0], constants, depth + 1)
    if isinstance(node, ast.Name) and node.id in constants:
        return _time_unit(constants[node.id], constants, depth + 1)
    return None


def _interval(node: ast.expr, constants: dict[str, ast.expr], depth: int = 0) -> int | None:
    if depth > 5:
        return None
    if (isinstance(node, ast.Constant) and isinstance(node.value, int)
            and not isinstance(node.value, bool) and node.value >= 1):
        return node.value
    if isinstance(node, ast.Name) and node.id in constants:
        return _interval(constants[node.id], constants, depth + 1)
    return None


def _find(name: str, file: str, classes: dict[str, list[_ClassInfo]]) -> _ClassInfo | None:
    """The class ``name`` as seen from ``file``: the one defined there, else the first elsewhere."""
    infos = classes.get(name)
    if not infos:
        return None
    return next((info for info in infos if info.file == file), infos[0])


def _is_strategy(info: _ClassInfo, classes: dict[str, list[_ClassInfo]], seen: set[tuple[str, str]]) -> bool:
    if (info.file, info.name) in seen:
        return False
    seen.add((info.file, info.name))
    for base in info.bases:
        if base in _STRATEGY_BASES:
            return True
        parent = _find(base, info.file, classes)
        if parent is not None and _is_strategy(parent, classes, seen):
            return True
    return False


def _inherited(info: _ClassInfo, attribute: str, classes: dict[str, list[_ClassInfo]],
               seen: set[tuple[str, str]]):  # type: ignore[no-untyped-def]
    """``attribute`` of the class or of the nearest base class in the project that sets it."""
    if (info.file, info.name) in seen:
        return None
    seen.add((info.file, info.name))
    value = getattr(info, attribute)
    if value is not None:
        return value
    for base in info.bases:
        parent = _find(base, info.file, classes)
        if parent is not None:
            value = _inherited(parent, attribute, classes, seen)
            if value is not None:
                return value
    return None


def _calls_and_decorators(tree: ast.Module, file: str, constants: dict[str, ast.expr],
                          classes: dict[str, list[_ClassInfo]]) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if not (isinstance(target, ast.Attribute) and target.attr == "strategy"):
                    continue
                unit, interval = _DECORATOR_DEFAULTS
                if isinstance(decorator, ast.Call):
                    keywords = {k.arg: k.value for k in decorator.keywords if k.arg}
                    if "time_unit" in keywords:
                        unit = _time_unit(keywords["time_unit"], constants)  # type: ignore[assignment]
                    if "interval" in keywords:
                        interval = _interval(keywords["interval"], constants)  # type: ignore[assignment]
                if unit is None or interval is None:
                    continue
                found.append((_TIME_UNIT_SECONDS[unit] * interval,
                              f"{file}:{node.name} ({_describe(unit, interval)})"))
        elif isinstance(node, ast.Call):
            keywords = {k.arg: k.value for k in node.keywords if k.arg}
            if "time_unit" not in keywords and "interval" not in keywords:
                continue
            if isinstance(node.func, ast.Attribute) and node.func.attr == "strategy":
                continue  # a decorator: handled above
            callee = _dotted_tail(node.func)
            if callee is None:
                continue
            target = _find(callee, file, classes)
            if not (callee in _STRATEGY_BASES or (target is not None and _is_strategy(target, classes, set()))):
                continue
            unit = (_time_unit(keywords["time_unit"], constants) if "time_unit" in keywords
                    else target and _inherited(target, "time_unit", classes, set()))
            interval = (_interval(keywords["interval"], constants) if "interval" in keywords
                        else target and _inherited(target, "interval", classes, set()))
            if unit is None or interval is None:
                continue
            found.append((_TIME_UNIT_SECONDS[unit] * interval,
                          f"{file}:{callee}(...) ({_describe(unit, interval)})"))
    return found


def _describe(unit: str, interval: int) -> str:
    word = unit.lower()
    return f"every {interval} {word if interval == 1 else word + 's'}"


def _rate_for(seconds: int) -> str:
    """The slowest valid rate that still runs at least as often as ``seconds``."""
    if seconds <= _MINIMUM_PERIOD:
        return "rate(1 minute)"
    for unit, size in (("day", 86400), ("hour", 3600)):
        if seconds % size == 0:
            count = seconds // size
            return f"rate({count} {unit if count == 1 else unit + 's'})"
    minutes = seconds // 60
    return f"rate({minutes} {'minute' if minutes == 1 else 'minutes'})"


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit if count == 1 else unit + 's'}"
    return f"{seconds} {'second' if seconds == 1 else 'seconds'}"
