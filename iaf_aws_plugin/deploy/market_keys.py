"""Exchange keys checked at plan time: a bot deployed without them fails every run.

For each market ``aws_function.py`` adds (``app.add_market(market="BITVAVO", ...)`` or
``MarketCredential(market="BITVAVO", ...)``, read with :mod:`ast`: no project code runs), the
framework reads ``{MARKET}_API_KEY`` and ``{MARKET}_SECRET_KEY`` from the environment (its
``MarketCredential.initialize``; 9.x also ``{MARKET}_OVERRIDE_API_KEY`` /
``{MARKET}_OVERRIDE_SECRET_KEY``). A key that is missing, empty, or still ``.env.example``'s
placeholder is refused in one line naming the variable, never its value.

Not checked: a key the call passes itself (``api_key=...``), a market the source names in a way
that cannot be read without running it, and ``paper_trading=True`` markets (no real orders).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Mapping

from ..errors import PluginError
from ..schedules.strategy_scan import module_constants, resolve_constant

__all__ = ["KeyProblem", "MarketUse", "check_market_keys", "handler_markets", "key_problems"]

HANDLER_FILE = "aws_function.py"
EXAMPLE_FILE = ".env.example"
#: (the host's variable suffix, the argument that replaces it, its position in add_market / MarketCredential)
_KEYS = (("API_KEY", "api_key", 2, 1), ("SECRET_KEY", "secret_key", 3, 2))


@dataclass(frozen=True)
class MarketUse:
    """A market ``aws_function.py`` adds, and which of its keys the framework reads from the environment."""

    market: str
    line: int
    variables: tuple[str, ...]  # e.g. ("BITVAVO_API_KEY", "BITVAVO_SECRET_KEY")


def _string(node: ast.expr | None, constants: Mapping[str, ast.expr]) -> str | None:
    node = None if node is None else resolve_constant(node, constants)
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip():
        return node.value.strip()
    return None


def _given(node: ast.expr | None, constants: Mapping[str, ast.expr]) -> bool:
    """An argument that is passed and is not a literal None (the framework then does not read the variable)."""
    node = None if node is None else resolve_constant(node, constants)
    return node is not None and not (isinstance(node, ast.Constant) and node.value is None)


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def handler_markets(project_dir: Path, environment: Mapping[str, str] | None = None) -> list[MarketUse]:
    """The markets ``aws_function.py`` adds, in source order (none when it cannot be read or parsed).

    ``environment``: the deploy's variables; 9.x falls back to ``MARKET`` when ``add_market`` names none.
    """
    path = Path(project_dir) / HANDLER_FILE
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return []
    constants = module_constants(tree)
    found: list[MarketUse] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if name not in ("add_market", "MarketCredential"):
            continue
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        if any(k.arg is None for k in node.keywords) or any(isinstance(a, ast.Starred) for a in node.args):
            continue  # **kwargs / *args: not readable

        def argument(keyword: str, position: int) -> ast.expr | None:
            if keyword in keywords:
                return keywords[keyword]
            return node.args[position] if len(node.args) > position else None

        if name == "add_market" and _is_true(argument("paper_trading", 8)):
            continue
        market_node = argument("market", 0)
        market = _string(market_node, constants)
        if market is None and market_node is None and environment:
            market = (environment.get("MARKET") or "").strip() or None  # 9.x: add_market() reads MARKET
        if market is None:
            continue
        variables = tuple(f"{market.upper()}_{suffix}" for suffix, keyword, at_add, at_credential in _KEYS
                          if not _given(argument(keyword, at_add if name == "add_market" else at_credential),
                                        constants))
        if variables:
            found.append(MarketUse(market.upper(), node.lineno, variables))
    return sorted(found, key=lambda use: use.line)


def _read_env_file(path: Path) -> dict[str, str]:
    """Every key of a dotenv file, empty ones included (``""``); ``{}`` when it cannot be read."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    try:
        values = dotenv_values(path, encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    return {key: (value or "") for key, value in values.items() if key}


@dataclass(frozen=True)
class KeyProblem:
    """One key the bot lacks: the variable, what is wrong with it (never its value), and the market."""

    variable: str
    problem: str  # "is missing", "is empty in .env", "still has the placeholder of .env.example"
    use: MarketUse

    def describe(self) -> str:
        return f"{self.variable} {self.problem}"


def key_problems(project_dir: Path, values: Mapping[str, str], stored: Collection[str] = (),
                 env_file: str = ".env") -> list[KeyProblem]:
    """The keys the bot lacks, in source order.

    ``values``: the variables the deploy gives the function (``.env`` merged with ``-e``); ``stored``: the
    names already in the bot's SSM parameters (from ``.env`` or ``-e`` earlier, or ``secrets-aws-lambda
    set``): the deploy keeps them and the function loads them at cold start, so they are there.
    """
    project_dir = Path(project_dir)
    uses = handler_markets(project_dir, values)
    if not uses:
        return []
    dotenv = _read_env_file(project_dir / env_file)
    placeholders = {key: value.strip() for key, value in _read_env_file(project_dir / EXAMPLE_FILE).items()
                    if value.strip()}
    problems: list[KeyProblem] = []
    seen: set[str] = set()
    for use in uses:
        for variable in use.variables:
            if variable in seen:
                continue
            seen.add(variable)
            override = variable.replace(f"{use.market}_", f"{use.market}_OVERRIDE_", 1)
            if (values.get(override) or "").strip():
                continue
            value = (values.get(variable) or "").strip()
            if value and placeholders.get(variable) == value:  # deployed, it would replace a stored value
                problems.append(KeyProblem(variable, f"still has the placeholder of {EXAMPLE_FILE}", use))
            elif value or variable in stored:
                continue
            elif variable in dotenv:
                problems.append(KeyProblem(variable, f"is empty in {env_file}", use))
            else:
                secret = variable.endswith("_SECRET_KEY")
                near = sorted(name for name in {*dotenv, *values}
                              if name.upper().startswith(f"{use.market}_") and name != variable
                              and ("SECRET" in name.upper()) == secret
                              and ("KEY" in name.upper() or "SECRET" in name.upper()))
                hint = f" (there is {', '.join(near)}, a name the framework does not read)" if near else ""
                problems.append(KeyProblem(variable, f"is missing{hint}", use))
    return problems


def check_market_keys(project_dir: Path, values: Mapping[str, str], stored: Collection[str] = (),
                      env_file: str = ".env") -> None:
    """Raise one line naming every key the bot lacks (see :func:`key_problems`); nothing when all are there.
    ``env_file``: the stage's env file the deploy read (``.env`` or ``.env.<stage>``)."""
    problems = key_problems(project_dir, values, stored, env_file)
    if not problems:
        return
    markets = ", ".join(dict.fromkeys(f"{p.use.market} (line {p.use.line})" for p in problems))
    names = [problem.variable for problem in problems]
    first = names[0]
    raise PluginError(
        f"{'; '.join(p.describe() for p in problems)}: aws_function.py adds the market {markets}, whose keys "
        "the framework reads from the environment, so every run would fail. Nothing was changed.",
        fix=f"Put {' and '.join(names)} in {env_file} ({first}=...), or pass -e {first} VALUE, or store it with "
            f"`secrets-aws-lambda set {first}`.")
