"""The schedule a project's strategies need, read from their source with :mod:`ast`.

No user code is imported or executed: strategies are found by reading the project's
top-level modules and its ``strategies/`` package.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .schedule import MINIMUM_PERIOD, describe_duration, rate_for_period, schedule_period_seconds

__all__ = ["DerivedSchedule", "derive_schedule", "faster_than_strategies_warning"]

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
    return DerivedSchedule(expression=rate_for_period(period), period_seconds=period, sources=sources)


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
