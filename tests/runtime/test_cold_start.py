"""The cold start's garbage collection: paused from the scaffolded aws_function.py's first heavy
import until its set-up is done, then what the set-up made frozen and the collector running."""
from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from iaf_aws_plugin.scaffold import default_values, render, templates_root

pytestmark = pytest.mark.anyhost


def test_importing_cold_start_pauses_the_collector_and_set_up_done_freezes_and_resumes_it() -> None:
    program = ("import gc\nassert gc.isenabled()\nimport iaf_aws_plugin.cold_start as c\n"
               "assert not gc.isenabled()\nmade = [[i] for i in range(1000)]\nc.set_up_done()\n"
               "assert gc.isenabled() and gc.get_freeze_count() >= 1000\nprint('ok')\n")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr  # a subprocess: pytest's own collector is left alone


def test_the_scaffolded_function_pauses_the_collector_before_the_framework_and_resumes_it_after_the_set_up(
        tmp_path) -> None:
    template = templates_root() / "aws_function.py.tmpl"
    module = ast.parse(render(template.read_text(encoding="utf-8"), default_values(tmp_path)))
    imports = [(i, node) for i, node in enumerate(module.body) if isinstance(node, (ast.Import, ast.ImportFrom))]
    first_third_party = next(i for i, node in imports
                             if isinstance(node, ast.ImportFrom) and node.module not in ("logging.config", "os"))
    assert module.body[first_third_party].module == "iaf_aws_plugin.cold_start"  # type: ignore[attr-defined]
    calls = [i for i, node in enumerate(module.body) if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
             and getattr(node.value.func, "id", "") == "set_up_done"]
    assert len(calls) == 1
    set_up = [i for i, node in enumerate(module.body)
              if "add_strategy" in ast.unparse(node) or "add_state_handler" in ast.unparse(node)]
    assert calls[0] > max(set_up)  # after the whole set-up, before the handler is defined
    handler = next(i for i, node in enumerate(module.body) if isinstance(node, ast.FunctionDef))
    assert calls[0] < handler
