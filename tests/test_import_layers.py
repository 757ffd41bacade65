"""The package's import graph, read with :mod:`ast` from the installed wheel's files: no cycle,
counting every import (module level, inside functions, under ``TYPE_CHECKING``), and nothing in
``deploy/`` imports ``operate/``, ``commands/`` or the plugin manager."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import iaf_aws_plugin

pytestmark = pytest.mark.anyhost

PACKAGE = Path(iaf_aws_plugin.__file__).resolve().parent
#: What the deploy engine must never import: the layers above it.
ABOVE_DEPLOY = ("iaf_aws_plugin.operate", "iaf_aws_plugin.commands", "iaf_aws_plugin.plugin_manager",
                "iaf_aws_plugin.host_bridge", "iaf_aws_plugin.plugin")


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("iaf_aws_plugin",) + path.relative_to(PACKAGE).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every package module ``name`` imports, wherever the import statement is."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else str(node.module)
            candidates = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in known:  # a name imported from a module: the module
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
    return targets


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), and self-imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_checker_sees_imports_in_functions_and_under_type_checking(tmp_path: Path) -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    probe = tmp_path / "a.py"
    probe.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import Y\n"
                     "def f():\n    from .b import x\n    import pkg.d\n")
    known = {name: tmp_path / f"{name[4:]}.py" for name in ("pkg.a", "pkg.b", "pkg.c", "pkg.d")}
    assert imports("pkg.a", probe, known) == {"pkg.b", "pkg.c", "pkg.d"}


def test_the_package_has_no_import_cycle() -> None:
    edges = graph()
    assert len(edges) > 50 and "iaf_aws_plugin.deploy.planner" in edges
    assert cycles(edges) == []


def test_the_deploy_engine_imports_nothing_above_it() -> None:
    upward = {name: sorted(t for t in targets if t.startswith(ABOVE_DEPLOY))
              for name, targets in graph().items() if name.startswith("iaf_aws_plugin.deploy")}
    assert {name: found for name, found in upward.items() if found} == {}


def test_every_kind_is_in_the_one_list_and_nowhere_else_in_the_planner() -> None:
    from iaf_aws_plugin.deploy import resources

    kinds = {path.stem for path in (PACKAGE / "deploy" / "resources").glob("*.py")} - {"__init__", "common"}
    assert {kind.__name__.rpartition(".")[2] for kind in resources.KINDS} == kinds


@pytest.mark.parametrize("old, new, names", [
    ("iaf_aws_plugin.deploy.schedule", "iaf_aws_plugin.schedules.expressions", ["parse_schedule", "cron_for"]),
    ("iaf_aws_plugin.deploy.strategy_scan", "iaf_aws_plugin.schedules.strategy_scan", ["derive_schedule"]),
    ("iaf_aws_plugin.operate.nextrun", "iaf_aws_plugin.schedules.nextrun", ["next_run"]),
    ("iaf_aws_plugin.deploy.desired", "iaf_aws_plugin.deploy.names", ["Names", "ALIAS", "SCHEDULE_GROUP"]),
    ("iaf_aws_plugin.deploy.desired", "iaf_aws_plugin.deploy.models", ["DesiredState", "Secret"]),
    ("iaf_aws_plugin.deploy.remote", "iaf_aws_plugin.deploy.models", ["LiveState", "LiveVersions"]),
    ("iaf_aws_plugin.deploy.alerts", "iaf_aws_plugin.deploy.resources.alerts", ["Alerts", "desired_alerts"]),
    ("iaf_aws_plugin.deploy.planner", "iaf_aws_plugin.deploy.models", ["Call", "Step", "Plan", "CREATE"]),
    ("iaf_aws_plugin", "iaf_aws_plugin.state.handler", ["AWSS3StorageStateHandler"]),
])
def test_old_import_paths_still_give_the_same_objects(old: str, new: str, names: list[str]) -> None:
    import importlib

    for name in names:
        assert getattr(importlib.import_module(old), name) is getattr(importlib.import_module(new), name)
