"""benchmarks/report.py, the page generator: its tables on sample results (no timing), and that
every benchmark script of the folder is run by it and has its section on benchmarks/README.md."""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.anyhost  # the result does not depend on the host version: CI runs it in one leg

BENCHMARKS_DIR = Path(__file__).resolve().parents[2] / "benchmarks"


def _load_report() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmarks_report", BENCHMARKS_DIR / "report.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


report = _load_report()

SAMPLE = {
    "benchmark": "sample.py", "ours_label": "our handler", "host_label": "host's handler",
    "tables": [{"title": "200 files", "rows": [
        {"measure": "warm unchanged load", "unit": "s", "ours": 0.0125, "host": 2.5, "goal": ">= 50x",
         "met": True, "note": "1 S3 request(s) (ours)"},
        {"measure": "cold load", "unit": "s", "ours": 1.5, "host": 3.0, "goal": ">= 3x", "met": False},
        {"measure": "files after cold load", "unit": "files", "ours": 201, "host": 200, "ratio": False},
        {"measure": "first deploy", "unit": "s", "ours": 12.25, "host": "not measurable here"},
        {"measure": "layer | gzip", "unit": "bytes", "ours": 60_500_000, "host": 121_000_000},
        {"measure": "import time", "unit": "ms", "ours": 0.5, "host": None, "goal": "<= 3 ms", "met": True},
    ]}],
    "notes": ["Medians of 5 runs."],
}


def options(**overrides: object) -> argparse.Namespace:
    values = {"quick": False, "skip": [], "build_cold": False, "work": None}
    values.update(overrides)
    return argparse.Namespace(**values)


def test_tables_of_sample_results() -> None:
    lines = report.render_tables(SAMPLE)
    assert lines == [
        "", "**200 files**", "",
        "| measured | ours (our handler) | host's handler | ratio | goal | notes |",
        "|---|---:|---:|---:|---|---|",
        "| warm unchanged load | 0.013 s | 2.500 s | 200× | >= 50x met | 1 S3 request(s) (ours) |",
        "| cold load | 1.500 s | 3.000 s | 2.00× | >= 3x **missed** |  |",
        "| files after cold load | 201 files | 200 files | — |  |  |",
        "| first deploy | 12.2 s | *not measurable here* | — |  |  |",
        "| layer \\| gzip | 60.5 MB | 121.0 MB | 2.00× |  |  |",
        "| import time | 0.50 ms | — | — | <= 3 ms met |  |",
        "", "Medians of 5 runs.",
    ]
    assert report.goals_missed(SAMPLE) == ["cold load"]


@pytest.mark.parametrize(("value", "unit", "text"), [
    (None, "s", "—"), (0.0421, "s", "0.042 s"), (125.44, "s", "125.4 s"), (3461.2, "ms", "3461 ms"),
    (1_028_981_398, "bytes", "1029.0 MB"), (5342, "bytes", "5,342 B"), (28, "requests", "28 requests"),
    ("not measurable here", "s", "*not measurable here*"),
])
def test_values(value: object, unit: str, text: str) -> None:
    assert report.format_value(value, unit) == text


@pytest.mark.parametrize(("ours", "host", "text"), [
    (2.0, 30.0, "15.0×"), (20.0, 19.0, "0.95×"), (0, 1.0, "—"), (1.0, None, "—"), (1.0, "n/a", "—"),
])
def test_ratio_is_reference_over_ours(ours: object, host: object, text: str) -> None:
    assert report.format_ratio({"ours": ours, "host": host}) == text


def _ran(bench: object) -> object:
    return report.Outcome(bench, results=SAMPLE, seconds=42.0, started="2026-11-30 01:00 UTC",
                          load=("1.00 / 1.00 / 1.00", "2.00 / 1.50 / 1.00"), exit_code=1)


def test_a_section_with_figures_says_when_and_what_was_missed() -> None:
    bench = report.BENCHMARKS[0]
    text = "\n".join(report.render_section(_ran(bench), ""))
    assert f"<!-- benchmark:{bench.name} -->" in text and f"<!-- /benchmark:{bench.name} -->" in text
    assert f"Run alone: `{bench.command}`" in text
    assert "Ran 2026-11-30 01:00 UTC, 42 s, load average 1.00 / 1.00 / 1.00 → 2.00 / 1.50 / 1.00" in text
    assert "exit status 1; **goal missed: cold load**" in text


def test_a_benchmark_not_run_keeps_its_last_figures_with_their_date() -> None:
    machine = {"CPU": "test"}
    run = {"date": "2026-11-30 01:00 UTC"}
    first = report.render_page(machine, [_ran(bench) for bench in report.BENCHMARKS], run)
    later = [report.Outcome(bench, reason="skipped with `--skip`") if bench.name == "build" else _ran(bench)
             for bench in report.BENCHMARKS]
    second = report.render_page(machine, later, {"date": "2026-12-01 09:00 UTC"}, first)
    build = second.split("<!-- benchmark:build -->")[1].split("<!-- /benchmark:build -->")[0]
    assert "**Not measured in this run: skipped with `--skip`**" in build
    assert "last ones measured, on 2026-11-30 01:00 UTC (carried over" in build
    assert "| warm unchanged load | 0.013 s | 2.500 s | 200× |" in build
    assert "Not run: build.py (see their sections)." in second
    # Carried over once more, the figures keep their original date.
    third = report.render_page(machine, later, {"date": "2026-12-02 09:00 UTC"}, second)
    assert "last ones measured, on 2026-11-30 01:00 UTC" in third


def test_a_benchmark_never_run_gives_its_last_known_figures() -> None:
    bench = next(b for b in report.BENCHMARKS if b.name == "host_requirement_size")
    text = "\n".join(report.render_section(report.Outcome(bench, reason="python3.11 not on PATH here"), ""))
    assert "**Not measured in this run: python3.11 not on PATH here**" in text
    assert "Last known figures (not remeasured): " + bench.last_known in text


def test_requirement_size_output_lines() -> None:
    results = report.requirement_size_results(
        "noise\ninvesting-algorithm-framework==8.10.0 rc=0 seconds=200 bytes=1028981398 packages=156\n"
        "investing-algorithm-framework==9.0.0a20 rc=1 seconds=0 bytes= packages=0\n")
    rows = results["tables"][0]["rows"]
    assert [(r["measure"], r["ours"]) for r in rows] == [
        ("IAF 8.10.0 + the plugin's runtime dependencies", 1028981398),
        ("IAF 9.0.0a20 + the plugin's runtime dependencies", None)]
    assert rows[0]["note"] == "156 distributions, resolved in 200 s"
    assert rows[1]["note"] == "pip failed (exit 1)"
    # Nothing to compare with: no reference or ratio columns.
    assert report.render_tables(results)[3:6] == [
        "| measured | installed size | goal | notes |", "|---|---:|---|---|",
        "| IAF 8.10.0 + the plugin's runtime dependencies | 1029.0 MB |  | 156 distributions, resolved in 200 s |"]
    with pytest.raises(ValueError, match="no result lines"):
        report.requirement_size_results("pip: command not found\n")


def test_run_one_reads_the_json_or_says_why_it_failed(tmp_path: Path) -> None:
    def argv(script: str) -> object:
        return lambda _options, json_file: [sys.executable, "-c", script, str(json_file)]

    writes = report.Benchmark("ok", "ok.py", "OK", "writes JSON", "python ok.py", argv(
        "import json, sys; print('human line'); "
        f"open(sys.argv[1], 'w').write({json.dumps(json.dumps(SAMPLE))})"))
    outcome = report.run_one(writes, options(), tmp_path)
    assert outcome.results == SAMPLE and outcome.exit_code == 0 and outcome.log == ["human line"]

    fails = report.Benchmark("bad", "bad.py", "Bad", "fails", "python bad.py", argv(
        "import sys; print('moto did not start'); sys.exit(3)"))
    outcome = report.run_one(fails, options(), tmp_path)
    assert outcome.results is None
    assert outcome.reason == "it failed (exit status 3); its last output: `moto did not start`"


def test_a_benchmark_is_not_run_when_skipped_or_a_tool_is_missing(tmp_path: Path) -> None:
    needs = report.Benchmark("tool", "tool.py", "T", "t", "python tool.py",
                             lambda *_: pytest.fail("must not run"), needs=("no-such-tool-for-iaf-bench",))
    assert report.run_one(needs, options(), tmp_path).reason == "no-such-tool-for-iaf-bench not on PATH here"
    assert report.run_one(needs, options(skip=["tool"]), tmp_path).reason == "skipped with `--skip`"


def test_every_benchmark_script_is_run_by_the_generator() -> None:
    scripts = {p.name for p in BENCHMARKS_DIR.iterdir()
               if p.suffix in (".py", ".sh") and p.name != "report.py" and not p.name.startswith("_")}
    assert scripts == {bench.script for bench in report.BENCHMARKS}


def test_every_benchmark_script_is_on_the_page() -> None:
    page = (BENCHMARKS_DIR / "README.md").read_text()
    assert f"`{report.COMMAND}`" in page
    for bench in report.BENCHMARKS:
        section = page.split(f"<!-- benchmark:{bench.name} -->")
        assert len(section) == 2, f"{bench.script} has no section on benchmarks/README.md: run {report.COMMAND}"
        body = section[1].split(f"<!-- /benchmark:{bench.name} -->")[0]
        assert f"(`{bench.script}`)" in body and f"Run alone: `{bench.command}`" in body
        assert "<!-- figures measured=" in body or "Last known figures" in body
