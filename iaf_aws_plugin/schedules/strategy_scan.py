"""The schedule a project's strategies need, read from their source with :mod:`ast`.

No user code is imported or executed: strategies are found by reading the project's
top-level modules and its ``strategies/`` package.

Two host styles: 8.x strategies set ``time_unit`` and ``interval`` (the function then
runs at the smallest period: a cron at fixed minutes of the UTC clock when the period divides the
hour or the day, so runs follow candle closes, else a ``rate(...)``); 9.x strategies (and tasks, and their
``ScheduledFunction``s) set ``schedule = Schedule.every(...)`` or ``Schedule.on(...)``,
which becomes the EventBridge cron (UTC) firing at the same times
(:func:`~iaf_aws_plugin.schedules.expressions.cron_for`).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, Iterator, Mapping, Union

from ..errors import PluginError
from .expressions import (MINIMUM_PERIOD, CronMapping, HostSchedule, IntervalSchedule, RuleSchedule,
                          UnmappableSchedule, clock_anchored, combine, cron_for, describe_duration, rate_for_period,
                          schedule_period_seconds)

__all__ = ["DerivedSchedule", "derive_schedule", "every_strategy_runs_warning", "faster_than_strategies_warning",
           "module_constants", "resolve_constant", "slower_than_strategies_warning"]

_TIME_UNIT_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
_STRATEGY_BASES = {"TradingStrategy"}
# 9.x: tasks have schedules too, and the host runs them in the same invocation.
_SCHEDULED_BASES = {"TradingStrategy", "Task"}
_DATE_RULES = {"every_day", "week_start", "week_end", "month_start", "month_end"}
_MARKET_RULES = {"market_open", "market_close", "every_minute"}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SCHEDULE_FIX = ("Pass --schedule with an EventBridge expression instead, e.g. --schedule 'cron(35 13 ? * MON-FRI *)' "
                 "--schedule-timezone America/New_York (or 'none').")
# ``@app.strategy`` without arguments: the host's defaults (App.strategy signature).
_DECORATOR_DEFAULTS = ("MINUTE", 10)
_MAX_SOURCE_BYTES = 2_000_000
_SKIPPED_DIRS = {"__pycache__", "venv", "env", "node_modules", "site-packages", "tests", "test"}


@dataclass(frozen=True)
class DerivedSchedule:
    """The schedule the project's strategies need.

    ``expression`` is a valid ``cron(...)`` (UTC) or ``rate(...)``; ``period_seconds`` is the smallest
    strategy period found (it can be below 60 when a strategy runs every few
    seconds; the rate is then Lambda's minimum, one minute); ``sources`` names each
    strategy found, e.g. ``strategies/my_strategy.py:MyTradingStrategy (every 1 hour)``.
    """

    expression: str
    period_seconds: int
    sources: tuple[str, ...]
    #: 9.x: False when ``expression`` fires at more times than the strategies (a covering
    #: cron): the scaffolded handler asks the host's ``is_due`` and skips those runs.
    exact: bool = True
    #: 9.x: which runs the function skips, when not exact.
    skip_rule: str | None = None
    #: 9.x: the strategy whose schedule set ``expression`` (the finest), when there are several.
    set_by: str | None = None
    #: Anything else the plan should say (e.g. Lambda's one-minute minimum).
    note: str | None = None
    #: Strategies (or scheduled functions) that need fewer runs than ``expression`` gives: the host
    #: runs every strategy in each invocation, so these also run at the others' times.
    less_frequent: tuple[str, ...] = ()


def derive_schedule(project_dir: Path) -> DerivedSchedule | None:
    """The schedule the strategies in ``project_dir`` need, or None when none is found.

    Looks at the project's top-level modules (``aws_function.py`` …) and the
    ``strategies/`` package, with :mod:`ast` only: no user code runs. Finds
    ``TradingStrategy`` subclasses (also indirect ones within the project) with class
    attributes ``time_unit = TimeUnit.HOUR`` / ``"hour"`` / ``TimeUnit.from_value(...)``
    and ``interval = 2``, calls with ``time_unit=`` and ``interval=`` keywords
    (``MyStrategy(time_unit=..., interval=...)``), and ``@app.strategy`` decorators.
    9.x: the same places with ``schedule = Schedule.every(...)`` / ``Schedule.on(...)``,
    ``Task`` subclasses, ``@app.task(schedule=...)`` and ``ScheduledFunction(...)``.
    Files that cannot be read or parsed are skipped.

    Raises :class:`PluginError` (naming ``--schedule``) when a 9.x schedule cannot be
    read from the source or has no EventBridge form (market-relative rules need the
    host's trading calendar).
    """
    project_dir = Path(project_dir)
    found: list[tuple[int, str]] = []
    hosted: list[tuple[_Read, str, str]] = []  # 9.x: (schedule or why not, label, source text)
    classes: dict[str, list[_ClassInfo]] = {}
    modules: list[tuple[str, ast.Module]] = []
    for path in _candidate_files(project_dir):
        tree = _parse(path)
        if tree is None:
            continue
        relative = path.relative_to(project_dir).as_posix()
        modules.append((relative, tree))
        constants = module_constants(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                info = _ClassInfo.read(node, relative, constants)
                classes.setdefault(node.name, []).append(info)
    added = _handler_strategies(dict(modules).get("aws_function.py")) & set(classes)
    for relative, tree in modules:
        constants = module_constants(tree)
        found.extend(_calls_and_decorators(tree, relative, constants, classes))
        hosted.extend(_host_calls_and_decorators(tree, relative, constants, classes))
    for info in sorted((info for infos in classes.values() for info in infos),
                       key=lambda item: (item.file, item.name)):
        if added and info.name not in added:
            continue  # a strategy aws_function.py never adds does not run, so it does not drive the schedule
        if _is_strategy(info, classes, set(), _SCHEDULED_BASES):
            hosted.extend((read, f"{info.file}:{info.name}.{name}", text)
                          for name, read, text in info.scheduled_functions)
            schedule = _inherited(info, "schedule", classes, set())
            if schedule is not None:
                read, text = schedule
                hosted.append((read, f"{info.file}:{info.name}", text))
                continue
        if not _is_strategy(info, classes, set()):
            continue
        time_unit = _inherited(info, "time_unit", classes, set())
        interval = _inherited(info, "interval", classes, set())
        if time_unit is None or interval is None:
            continue
        seconds = _TIME_UNIT_SECONDS[time_unit] * interval
        found.append((seconds, f"{info.file}:{info.name} ({_describe(time_unit, interval)})"))
    if hosted:
        return _derive_cron(hosted, found)
    if not found:
        return None
    period = min(seconds for seconds, _ in found)
    if period < MINIMUM_PERIOD:
        fastest = min(found)[1]
        raise PluginError(f"{fastest} runs more often than once a minute, and EventBridge Scheduler starts a "
                          "function at most once a minute.",
                          fix="Give the strategy an interval of at least one minute, or pass --schedule "
                              "'rate(1 minute)' to run it once a minute.")
    # Most frequent first; each strategy once.
    sources = tuple(dict.fromkeys(source for _, source in sorted(found)))
    slower = tuple(dict.fromkeys(source for seconds, source in sorted(found) if seconds > period))
    note = None if added or "aws_function.py" not in dict(modules) else (
        "aws_function.py adds no strategy this scan can read (app.add_strategy(Name)): every strategy in the "
        "project drives the schedule")
    return DerivedSchedule(expression=clock_anchored(period) or rate_for_period(period), period_seconds=period,
                           sources=sources,
                           less_frequent=slower, note=note)


def _derive_cron(hosted: list[tuple["_Read", str, str]], legacy: list[tuple[int, str]]) -> DerivedSchedule:
    """One EventBridge cron for the 9.x schedules (and any 8.x-style ones next to them)."""
    entries: list[tuple[CronMapping, int, str]] = []
    for read, label, text in sorted(set(hosted), key=lambda item: item[1]):
        if isinstance(read, str):
            raise PluginError(f"cannot derive the function's schedule from {label} ({text}): {read}.",
                              fix=_SCHEDULE_FIX)
        try:
            mapping = cron_for(read)
        except UnmappableSchedule as exc:
            raise PluginError(f"cannot derive the function's schedule from {label} ({text}): "
                              f"{exc}; EventBridge has no schedule for it.", fix=_SCHEDULE_FIX) from None
        entries.append((mapping, _nominal_period(read), f"{label} ({text})"))
    for seconds, source in legacy:  # time_unit/interval next to 9.x schedules: every N, aligned like 9.x
        try:
            mapping = cron_for(IntervalSchedule(seconds))
        except UnmappableSchedule as exc:
            raise PluginError(f"cannot derive the function's schedule from {source}: {exc}.",
                              fix=_SCHEDULE_FIX) from None
        entries.append((mapping, seconds, source))
    merged, finest = combine([mapping for mapping, _, _ in entries])
    ordered = sorted(entries, key=lambda entry: (-entry[0].fires_per_day(), entry[2]))
    sources = tuple(dict.fromkeys(source for _, _, source in ordered))
    return DerivedSchedule(
        expression=merged.expression,
        period_seconds=min(period for _, period, _ in entries),
        sources=sources,
        exact=merged.exact,
        skip_rule=merged.skip_rule,
        set_by=entries[finest][2] if len(sources) > 1 else None,
        note=merged.note,
        less_frequent=tuple(dict.fromkeys(source for mapping, _, source in ordered
                                          if mapping.expression != merged.expression)),
    )


def _nominal_period(schedule: HostSchedule) -> int:
    if isinstance(schedule, IntervalSchedule):
        return schedule.step_seconds
    return {"every_day": 86400, "week_start": 7 * 86400, "week_end": 7 * 86400}.get(schedule.date_rule, 28 * 86400)


def every_strategy_runs_warning(expression: str, derived: DerivedSchedule | None) -> str | None:
    """One line of warning when some strategies need fewer runs than ``expression``: in each
    invocation the host runs every strategy of the app (it keeps no record of when a strategy last
    ran between invocations), so those also trade at the other strategies' times."""
    if derived is None or not derived.less_frequent:
        return None
    return (f"Warning: each run of {expression} runs every strategy of the app (IAF does, in an iteration), so "
            f"{'; '.join(derived.less_frequent)} will also run at times its own schedule does not. Deploy "
            "strategies with different schedules as separate bots (one function each), or give them one schedule.")


def faster_than_strategies_warning(expression: str, derived: DerivedSchedule | None) -> str | None:
    """One line of warning when ``expression`` runs more often than the strategies need."""
    if derived is None or expression is None:
        return None
    period = schedule_period_seconds(expression)
    if period is None:
        return None
    # The derived rate is the slowest schedule that keeps up with every strategy.
    needed = schedule_period_seconds(derived.expression) or max(derived.period_seconds, MINIMUM_PERIOD)
    if period >= needed:
        return None
    return (f"Warning: schedule {expression} runs every {describe_duration(period)}, more often than the "
            f"strategies need (every {describe_duration(derived.period_seconds)}: "
            f"{'; '.join(derived.sources)}); extra runs cost invocations and exchange API calls.")


def _handler_strategies(tree: ast.Module | None) -> set[str]:
    """The class names ``aws_function.py`` passes to ``add_strategy``/``add_strategies`` or
    ``add_task``/``add_tasks`` (empty: none readable, every strategy of the project counts)."""
    names: set[str] = set()
    if tree is None:
        return names
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("add_strategy", "add_strategies", "add_task", "add_tasks")):
            continue
        for argument in [*node.args, *(keyword.value for keyword in node.keywords)]:
            items = argument.elts if isinstance(argument, (ast.List, ast.Tuple)) else [argument]
            for item in items:
                target = item.func if isinstance(item, ast.Call) else item
                tail = _dotted_tail(target)
                if tail:
                    names.add(tail)
    return names


def slower_than_strategies_warning(expression: str, derived: DerivedSchedule | None) -> str | None:
    """One line of warning, naming the strategy, when ``expression`` runs less often than a strategy needs."""
    if derived is None or expression is None:
        return None
    period = schedule_period_seconds(expression)
    needed = schedule_period_seconds(derived.expression) or max(derived.period_seconds, MINIMUM_PERIOD)
    if period is None or period <= needed:
        return None
    strategy = derived.set_by or derived.sources[0]
    return (f"Warning: schedule {expression} runs every {describe_duration(period)}, less often than "
            f"{strategy} needs (every {describe_duration(needed)}): it trades less often than it was written "
            "for. Drop --schedule to follow the strategies.")


@dataclass(frozen=True)
class _ClassInfo:
    name: str
    file: str
    bases: tuple[str, ...]
    time_unit: str | None
    interval: int | None
    #: 9.x ``schedule``: (schedule or why it cannot be read, its source text).
    schedule: tuple["_Read", str] | None = None
    #: 9.x ``ScheduledFunction``s in the class: (function name, schedule or why not, source text).
    scheduled_functions: tuple[tuple[str, "_Read", str], ...] = field(default=())

    @staticmethod
    def read(node: ast.ClassDef, file: str, constants: dict[str, ast.expr]) -> "_ClassInfo":
        time_unit: str | None = None
        interval: int | None = None
        schedule: tuple[_Read, str] | None = None
        for statement in node.body:
            target, value = _assignment(statement)
            if target == "time_unit" and value is not None:
                time_unit = _time_unit(value, constants)
            elif target == "interval" and value is not None:
                interval = _interval(value, constants)
            elif target == "schedule" and value is not None and not _is_none(value):
                schedule = _read_schedule(value, constants)
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
            if "schedule" in keywords and not _is_none(keywords["schedule"]):
                schedule = _read_schedule(keywords["schedule"], constants)
        functions = tuple(_scheduled_function(call, constants) for call in ast.walk(node)
                          if isinstance(call, ast.Call) and _dotted_tail(call.func) == "ScheduledFunction")
        bases = tuple(name for name in (_dotted_tail(base) for base in node.bases) if name)
        return _ClassInfo(name=node.name, file=file, bases=bases, time_unit=time_unit, interval=interval,
                          schedule=schedule, scheduled_functions=functions)


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


def module_constants(tree: ast.Module) -> dict[str, ast.expr]:
    """The module-level ``NAME = value`` (or ``NAME: type = value``) assignments of ``tree``."""
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


def _is_strategy(info: _ClassInfo, classes: dict[str, list[_ClassInfo]], seen: set[tuple[str, str]],
                 roots: set[str] = _STRATEGY_BASES) -> bool:
    if (info.file, info.name) in seen:
        return False
    seen.add((info.file, info.name))
    for base in info.bases:
        if base in roots:
            return True
        parent = _find(base, info.file, classes)
        if parent is not None and _is_strategy(parent, classes, seen, roots):
            return True
    return False


def _inherited(info: _ClassInfo, attribute: str, classes: dict[str, list[_ClassInfo]],
               seen: set[tuple[str, str]]) -> Any:
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
                if isinstance(decorator, ast.Call) and any(k.arg == "schedule" for k in decorator.keywords):
                    continue  # 9.x: read by _host_calls_and_decorators
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
            strategy = _find(callee, file, classes)
            if not (callee in _STRATEGY_BASES
                    or (strategy is not None and _is_strategy(strategy, classes, set()))):
                continue
            def inherited(name: str, strategy: _ClassInfo | None = strategy) -> Any:
                return None if strategy is None else _inherited(strategy, name, classes, set())

            call_unit: str | None = (_time_unit(keywords["time_unit"], constants) if "time_unit" in keywords
                                     else inherited("time_unit"))
            call_interval: int | None = (_interval(keywords["interval"], constants) if "interval" in keywords
                                         else inherited("interval"))
            if call_unit is None or call_interval is None:
                continue
            found.append((_TIME_UNIT_SECONDS[call_unit] * call_interval,
                          f"{file}:{callee}(...) ({_describe(call_unit, call_interval)})"))
    return found


def _describe(unit: str, interval: int) -> str:
    word = unit.lower()
    return f"every {interval} {word if interval == 1 else word + 's'}"


# --- 9.x: Schedule.every / Schedule.on ------------------------------------------------------

#: A schedule read from the source, or why it cannot be mapped (one phrase).
_Read = Union[HostSchedule, str]
_UNREADABLE = "it cannot be read without running the project's code (use literal values)"


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _text(node: ast.expr) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= 120 else text[:117] + "..."


def resolve_constant(node: ast.expr, constants: Mapping[str, ast.expr]) -> ast.expr:
    """A module-level constant's value (``HOURLY = Schedule.every(...)``), followed a few times."""
    for _ in range(5):
        if isinstance(node, ast.Name) and node.id in constants:
            node = constants[node.id]
        else:
            break
    return node


def _arguments(call: ast.Call, names: tuple[str, ...]) -> dict[str, ast.expr] | None:
    """Positional and keyword arguments by parameter name; None for ``*args``/``**kwargs``."""
    if any(isinstance(arg, ast.Starred) for arg in call.args) or any(k.arg is None for k in call.keywords):
        return None
    if len(call.args) > len(names):
        return None
    given = dict(zip(names, call.args))
    for keyword in call.keywords:
        if keyword.arg in given or keyword.arg not in names:
            return None
        given[str(keyword.arg)] = keyword.value
    return given


def _factory(node: ast.expr, owner: str) -> tuple[str, ast.Call] | None:
    """``Owner.name(...)`` (also ``iaf.Owner.name(...)``) -> (name, call)."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and _dotted_tail(node.func.value) == owner):
        return node.func.attr, node
    return None


def _read_schedule(node: ast.expr, constants: dict[str, ast.expr]) -> tuple[_Read, str]:
    """(the schedule ``node`` builds, or why it cannot be mapped; its source text)."""
    node = resolve_constant(node, constants)
    return _schedule_of(node, constants), _text(node)


def _schedule_of(node: ast.expr, constants: dict[str, ast.expr]) -> _Read:
    factory = _factory(node, "Schedule")
    if factory is not None and factory[0] == "every":
        given = _arguments(factory[1], ("interval", "time_unit", "anchor"))
        return _UNREADABLE if given is None else _every(given, constants)
    if factory is not None and factory[0] == "on":
        given = _arguments(factory[1], ("date_rule", "time_rule"))
        return _UNREADABLE if given is None else _on(given, constants)
    if isinstance(node, ast.Call) and _dotted_tail(node.func) == "Schedule":
        given = _arguments(node, ("time_unit", "interval", "date_rule", "time_rule", "anchor"))
        if given is None:
            return _UNREADABLE
        if "date_rule" in given or "time_rule" in given:
            return _on(given, constants)
        return _every(given, constants)
    return _UNREADABLE


def _every(given: dict[str, ast.expr], constants: dict[str, ast.expr]) -> _Read:
    if "interval" not in given or "time_unit" not in given:
        return "Schedule.every needs an interval and a time unit"
    unit = _time_unit(given["time_unit"], constants)
    interval = _interval(given["interval"], constants)
    if unit is None or interval is None:
        return _UNREADABLE
    step = _TIME_UNIT_SECONDS[unit] * interval
    anchor_node = given.get("anchor")
    if anchor_node is None or _is_none(resolve_constant(anchor_node, constants)):
        return IntervalSchedule(step)
    anchor = _datetime(resolve_constant(anchor_node, constants), constants)
    if isinstance(anchor, str):
        return anchor
    if not _fixed_offset(anchor):
        # The host adds steps to such an anchor in wall-clock time but measures slots in
        # absolute time: across a daylight-saving change its run times shift and its is_due
        # fires repeatedly (seen with 9.0.0a20). No single UTC cron matches that.
        return (f"the anchor's time zone {anchor.tzinfo} changes its UTC offset (daylight saving), and "
                "the host's run times then shift with it; use an anchor in UTC (tzinfo=timezone.utc)")
    # Only the anchor's offset modulo the step matters (the host's Schedule._slot_start).
    offset = (anchor - _EPOCH) % timedelta(seconds=step)
    if offset.microseconds:
        return "the anchor has fractions of a second"
    return IntervalSchedule(step, int(offset.total_seconds()))


def _on(given: dict[str, ast.expr], constants: dict[str, ast.expr]) -> _Read:
    date_node = resolve_constant(given.get("date_rule") or ast.Constant(None), constants)
    time_node = resolve_constant(given.get("time_rule") or ast.Constant(None), constants)
    time_factory = _factory(time_node, "TimeRule")
    if time_factory is not None and time_factory[0] in _MARKET_RULES:
        return (f"TimeRule.{time_factory[0]} needs the host's trading calendar, which this host "
                "does not ship yet (it raises NotImplementedError)")
    date_factory = _factory(date_node, "DateRule")
    if date_factory is None or date_factory[0] not in _DATE_RULES:
        return _UNREADABLE
    date_args = _arguments(date_factory[1], ("days_offset",))
    offset = 0 if date_args is not None and "days_offset" not in date_args else (
        _int(date_args["days_offset"], constants) if date_args is not None else None)
    if time_factory is None or time_factory[0] != "at":
        return _UNREADABLE
    time_args = _arguments(time_factory[1], ("hour", "minute", "second"))
    if time_args is None or "hour" not in time_args:
        return _UNREADABLE
    hour = _int(time_args["hour"], constants)
    minute = _int(time_args["minute"], constants) if "minute" in time_args else 0
    second = _int(time_args["second"], constants) if "second" in time_args else 0
    if offset is None or hour is None or minute is None or second is None:
        return _UNREADABLE
    if offset < 0 or not (0 <= hour < 24 and 0 <= minute < 60 and 0 <= second < 60):
        return "the host refuses these values (ValueError)"
    return RuleSchedule(date_factory[0], offset, hour, minute, second)


def _fixed_offset(moment: datetime) -> bool:
    """The moment's time zone has had one UTC offset from its year to next year."""
    zone = moment.tzinfo
    this_year = datetime.now(timezone.utc).year
    offsets = {zone.utcoffset(datetime(year, month, 1)) if zone is not None else None
               for year in range(min(moment.year, this_year), max(moment.year, this_year) + 2)
               for month in (1, 4, 7, 10)}
    return len(offsets) == 1


def _int(node: ast.expr, constants: dict[str, ast.expr]) -> int | None:
    node = resolve_constant(node, constants)
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, int)):
        return -node.operand.value
    return None


def _datetime(node: ast.expr, constants: dict[str, ast.expr]) -> datetime | str:
    """A literal aware ``datetime(...)`` / ``datetime.fromisoformat("...")``, or why not."""
    try:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "fromisoformat":
            if len(node.args) == 1 and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                value = datetime.fromisoformat(node.args[0].value)
            else:
                return _UNREADABLE
        elif isinstance(node, ast.Call) and _dotted_tail(node.func) == "datetime":
            names = ("year", "month", "day", "hour", "minute", "second", "microsecond", "tzinfo")
            given = _arguments(node, names)
            if given is None:
                return _UNREADABLE
            numbers = {name: _int(given[name], constants) for name in names[:-1] if name in given}
            if any(number is None for number in numbers.values()):
                return _UNREADABLE
            zone = _tzinfo(resolve_constant(given["tzinfo"], constants)) if "tzinfo" in given else None
            if isinstance(zone, str):
                return zone
            value = datetime(**{k: v for k, v in numbers.items() if v is not None}, tzinfo=zone)
        else:
            return _UNREADABLE
    except (ValueError, TypeError, OverflowError):
        return "the anchor is not a valid datetime"
    if value.tzinfo is None:
        return "the anchor has no time zone (the host compares it with UTC times: pass tzinfo=timezone.utc)"
    return value


def _tzinfo(node: ast.expr) -> tzinfo | str | None:
    if _is_none(node):
        return None
    if isinstance(node, ast.Attribute) and node.attr in ("utc", "UTC"):
        return timezone.utc
    if isinstance(node, ast.Name) and node.id == "UTC":
        return timezone.utc
    if (isinstance(node, ast.Call) and _dotted_tail(node.func) == "ZoneInfo" and len(node.args) == 1
            and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
        import zoneinfo

        try:
            return zoneinfo.ZoneInfo(node.args[0].value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return f"unknown time zone {node.args[0].value!r}"
    if (isinstance(node, ast.Call) and _dotted_tail(node.func) == "timezone" and len(node.args) == 1
            and not node.keywords and isinstance(node.args[0], ast.Call)
            and _dotted_tail(node.args[0].func) == "timedelta" and not node.args[0].args):
        parts = {k.arg: _int(k.value, {}) for k in node.args[0].keywords}
        if all(name in ("hours", "minutes") and value is not None for name, value in parts.items()):
            try:
                return timezone(timedelta(hours=parts.get("hours") or 0, minutes=parts.get("minutes") or 0))
            except ValueError:
                return "the anchor's UTC offset is out of range"
    return _UNREADABLE


def _scheduled_function(call: ast.Call, constants: dict[str, ast.expr]) -> tuple[str, _Read, str]:
    """``ScheduledFunction(func="rebalance", schedule=...)`` or ``(func=..., date_rule=..., time_rule=...)``."""
    given = _arguments(call, ("func", "schedule", "date_rule", "time_rule")) or {}
    func = given.get("func")
    name = func.value if isinstance(func, ast.Constant) and isinstance(func.value, str) else "?"
    if "schedule" in given:
        read, text = _read_schedule(given["schedule"], constants)
        return name, read, text
    if "date_rule" in given and "time_rule" in given:
        return name, _on(given, constants), _text(call)
    return name, _UNREADABLE, _text(call)


def _host_calls_and_decorators(tree: ast.Module, file: str, constants: dict[str, ast.expr],
                               classes: dict[str, list[_ClassInfo]]) -> list[tuple[_Read, str, str]]:
    """9.x ``schedule=`` in calls (``MyStrategy(schedule=...)``, ``Task(schedule=...)``),
    ``@app.strategy(schedule=...)``/``@app.task(schedule=...)`` and ``ScheduledFunction``s
    outside classes."""
    found: list[tuple[_Read, str, str]] = []
    inside_classes = {id(call) for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
                      for call in ast.walk(node)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
                        and decorator.func.attr in ("strategy", "task")):
                    continue
                keywords = {k.arg: k.value for k in decorator.keywords if k.arg}
                if "schedule" in keywords and not _is_none(keywords["schedule"]):
                    read, text = _read_schedule(keywords["schedule"], constants)
                    found.append((read, f"{file}:{node.name}", text))
                for item in _list_items(keywords.get("scheduled_functions"), constants):
                    if isinstance(item, ast.Call) and _dotted_tail(item.func) == "ScheduledFunction":
                        name, read, text = _scheduled_function(item, constants)
                        found.append((read, f"{file}:{node.name}.{name}", text))
        elif isinstance(node, ast.Call) and id(node) not in inside_classes:
            callee = _dotted_tail(node.func)
            if callee == "ScheduledFunction":
                name, read, text = _scheduled_function(node, constants)
                found.append((read, f"{file}:{name} (line {node.lineno})", text))
                continue
            keywords = {k.arg: k.value for k in node.keywords if k.arg}
            if "schedule" not in keywords or _is_none(keywords["schedule"]) or callee is None:
                continue
            if isinstance(node.func, ast.Attribute) and node.func.attr in ("strategy", "task"):
                continue  # a decorator: handled above
            target = _find(callee, file, classes)
            if not (callee in _SCHEDULED_BASES
                    or (target is not None and _is_strategy(target, classes, set(), _SCHEDULED_BASES))):
                continue
            read, text = _read_schedule(keywords["schedule"], constants)
            found.append((read, f"{file}:{callee}(...)", text))
    return found


def _list_items(node: ast.expr | None, constants: dict[str, ast.expr]) -> list[ast.expr]:
    if node is None:
        return []
    node = resolve_constant(node, constants)
    return list(node.elts) if isinstance(node, (ast.List, ast.Tuple)) else []
