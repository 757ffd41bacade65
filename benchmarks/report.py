"""Run every benchmark in this folder and (re)write its README.md with the figures.

    python benchmarks/report.py [--quick] [--skip NAME]... [--build-cold] [--work DIR]

Run it with the interpreter of an environment where the plugin wheel is installed next to the
host (``.ci/run`` makes one: ``IAF_HOSTS="3.12:8.10.0" bash .ci/run tests/plugin -k nothing``,
then ``.ci/.build/venv-py3.12-iaf8.10.0/bin/python benchmarks/report.py``), as root (``build.py``
needs it) and with pip access to PyPI (``build.py`` and ``host_requirement_size.sh`` download
the real requirement set). The default runs every benchmark with its default settings (about 30
minutes on 2 cores with cold caches).

- ``--quick``: fewer repetitions (``deploy.py --runs 1``, ``startup.py --runs 10``); the page says so.
- ``--skip NAME`` (``state_sync``, ``deploy``, ``build``, ``report_snapshots``, ``startup``,
  ``host_requirement_size``): do not run that one; its section keeps the figures of the previous
  page, marked with their date.
- ``--build-cold``: ``build.py --cold`` (empties pip's download cache first: every wheel downloaded).
- ``--work DIR``: where ``build.py`` keeps the stand-in image and pip's cache between runs.

A benchmark that cannot run (not root, a tool missing, a failure) is reported the same way: the
page says exactly why and carries its last figures with their date. Each Python benchmark writes
its figures with ``--json FILE``; this script only formats them. Exit status 1 when a benchmark
that was meant to run failed (the page is written anyway).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
PAGE = HERE / "README.md"
COMMAND = "python benchmarks/report.py"
RATIO_HELP = ("**ratio** = reference ÷ ours (the reference is the host's own implementation where it can run "
              "here, else the named stand-in): above 1 means ours is faster or smaller, below 1 slower or larger.")


@dataclass(frozen=True)
class Benchmark:
    """One script of this folder: what it measures, how to run it alone, how this page runs it."""

    name: str
    script: str
    title: str
    what: str
    command: str
    argv: Callable[[argparse.Namespace, Path], list[str]]
    needs: tuple[str, ...] = ()  # programs it needs on PATH
    needs_root: bool = False
    last_known: str = ""  # figures from CHANGELOG/README/the script, for a page with no earlier run
    parse: Callable[[str], dict[str, Any]] | None = None  # for a script without --json


def _python(script: str, *extra: str) -> Callable[[argparse.Namespace, Path], list[str]]:
    def argv(options: argparse.Namespace, json_file: Path) -> list[str]:
        args = [sys.executable, str(HERE / script), *extra, "--json", str(json_file)]
        if script == "deploy.py" and options.quick:
            args += ["--runs", "1"]
        if script == "startup.py" and options.quick:
            args += ["--runs", "10"]
        if script == "build.py":
            args += ["--cold"] if options.build_cold else []
            args += ["--work", options.work] if options.work else []
        return args
    return argv


def requirement_size_results(output: str) -> dict[str, Any]:
    """The figures of host_requirement_size.sh from its ``SPEC rc=N seconds=N bytes=N packages=N`` lines."""
    pattern = re.compile(r"^(?P<spec>\S+) rc=(?P<rc>\d+) seconds=(?P<seconds>\d+) bytes=(?P<bytes>\d*) "
                         r"packages=(?P<packages>\d+)$")
    found = [m.groupdict() for m in map(pattern.match, output.splitlines()) if m]
    if not found:
        raise ValueError("no result lines in the output of host_requirement_size.sh")
    rows: list[dict[str, Any]] = []
    for item in found:
        version = item["spec"].split("==", 1)[-1]
        failed = item["rc"] != "0"
        rows.append({"measure": f"IAF {version} + the plugin's runtime dependencies", "unit": "bytes",
                     "ours": None if failed else int(item["bytes"]), "host": None,
                     "note": f"pip failed (exit {item['rc']})" if failed else
                             f"{item['packages']} distributions, resolved in {item['seconds']} s"})
    return {"benchmark": "host_requirement_size.sh", "ours_label": "installed size", "host_label": None,
            "tables": [{"title": "A bot image's requirement set for Lambda's Python 3.11 on x86_64 "
                                 "(`pip install --target`, wheels only, no byte code)", "rows": rows}],
            "notes": ["Not a comparison with our code: what the host itself brings into every image, per major."],
            "failed": any(item["rc"] != "0" for item in found)}


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        "state_sync", "state_sync.py", "State sync: our S3 state handler vs the host's",
        "Saves and loads the same bot state (200 files + a 5 MB SQLite database; 2,000 small files) with "
        "the host's `AWSS3StorageStateHandler` and with ours against one local moto S3 server: warm "
        "unchanged load, unchanged save, cold load (a new container), and a save with one file changed.",
        "python benchmarks/state_sync.py", _python("state_sync.py"),
        last_known="README (2026-11-29): a warm unchanged load is 1 S3 request, an unchanged save 1; "
                   "one changed file uploads one object. No timed figures were recorded before this page."),
    Benchmark(
        "deploy", "deploy.py", "Deploy and no-op redeploy",
        "Scaffolds a bot, pushes a small image to moto's ECR and runs the real host console script: "
        "`deploy-aws-lambda --image-uri ...` (first deploy), then `deploy-aws-lambda` again with nothing "
        "changed; requests and write calls counted from moto's own request log.",
        "python benchmarks/deploy.py [--runs 3]", _python("deploy.py"),
        last_known="CHANGELOG (2026-11-29): a redeploy with nothing changed makes no write call. "
                   "No timed figures were recorded before this page."),
    Benchmark(
        "build", "build.py", "Native image build, image size and cold start",
        "Builds the scaffolded bot with its real requirement set on a Debian stand-in of Lambda's Python "
        "3.11 image with the native builder (cold, then a one-file change), pushes to moto's ECR, "
        "compares the dependency layer with the Dockerfile way, and cold-starts the image under AWS's "
        "Runtime Interface Emulator with and without byte code, against the same bot on the host alone.",
        "sudo python benchmarks/build.py [--work DIR] [--cold]", _python("build.py"),
        needs=("mmdebstrap", "umoci", "skopeo", "docker-registry"), needs_root=True,
        last_known="CHANGELOG (2026-11-29): an upgrade of the plugin uploads ~0.3 MB (its own layer), "
                   "not the dependencies again. No timed figures were recorded before this page."),
    Benchmark(
        "report_snapshots", "report_snapshots.py", "report-aws-lambda over 1,000 state snapshots",
        "Stores 1,000 state snapshots (each a ~160 KB database with the host's tables) on a local moto S3 "
        "server and times what `report-aws-lambda` does (read every snapshot's figures, render the page): "
        "with an empty cache, from its cache, and with 10 new snapshots.",
        "python benchmarks/report_snapshots.py [--snapshots 1000]", _python("report_snapshots.py"),
        last_known="No figures before this benchmark."),
    Benchmark(
        "startup", "startup.py", "Start-up cost of the plugin",
        "What the start-up hook (`iaf_aws_plugin.pth`) costs every Python process of the environment: "
        "its import time, `python -c pass` and the host CLI's `--help`, hook on vs off "
        "(`IAF_AWS_PLUGIN_AUTOLOAD=0`).",
        "python benchmarks/startup.py [--runs 30]", _python("startup.py"),
        last_known="README (2026-11-29): 0.65 ms of start-up imports (goal <= 3 ms)."),
    Benchmark(
        "host_requirement_size", "host_requirement_size.sh", "Size of the host's requirement set",
        "Installs the host (8.10.0 and 9.0.0a20) plus the plugin's runtime dependencies for Lambda's "
        "Python 3.11 on x86_64 with `pip install --target` from PyPI and reports the installed size.",
        "bash benchmarks/host_requirement_size.sh [OUT_DIR]",
        lambda options, json_file: ["bash", str(HERE / "host_requirement_size.sh"), str(json_file.parent / "reqs")],
        needs=("python3.11",),
        last_known="benchmarks/host_requirement_size.sh (2026-11-29): 8.10.0 -> 1,028,981,398 bytes, 156 "
                   "distributions (200 s); 9.0.0a20 -> 654,727,291 bytes, 67 distributions (150 s).",
        parse=requirement_size_results),
)


# ---------------------------------------------------------------------------------------------
# The machine

def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _version(distribution: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def machine_info() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor() or platform.machine())
    memory = next((int(line.split()[1]) * 1024 for line in _read("/proc/meminfo").splitlines()
                   if line.startswith("MemTotal:")), 0)
    os_name = next((line.split("=", 1)[1].strip().strip('"') for line in _read("/etc/os-release").splitlines()
                    if line.startswith("PRETTY_NAME=")), platform.system())
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    commit = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", str(HERE), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return {
        "CPU": f"{cpu} ({platform.machine()})",
        "cores": f"{os.cpu_count()} ({usable} usable by this process)",
        "RAM": f"{memory / 2**30:.1f} GiB" if memory else "unknown",
        "OS": f"{os_name}, Linux {platform.release()}" if platform.system() == "Linux" else os_name,
        "Python": f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        "host (investing-algorithm-framework)": _version("investing-algorithm-framework"),
        "iaf-aws-plugin": f"{_version('iaf-aws-plugin')} (installed wheel; source at commit {commit}"
                          f"{' with uncommitted changes' if dirty else ''})",
        "boto3 / botocore": f"{_version('boto3')} / {_version('botocore')}",
        "moto": _version("moto"),
        "user": "root" if hasattr(os, "geteuid") and os.geteuid() == 0 else "not root",
    }


# ---------------------------------------------------------------------------------------------
# Formatting (pure: unit-tested on sample results)

def format_value(value: Any, unit: str) -> str:
    """One cell: a number with its unit, a sentence as it is, nothing as a dash."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return f"*{value}*"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if unit == "s":
        return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"
    if unit == "ms":
        return f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"
    if unit == "bytes":
        return f"{value / 1e6:.1f} MB" if value >= 100_000 else f"{value:,} B"
    if isinstance(value, float):
        return f"{value:.2f} {unit}".rstrip()
    return f"{value:,} {unit}".rstrip()


def format_ratio(row: dict[str, Any]) -> str:
    """reference ÷ ours, for rows where both are numbers (and the row does not opt out)."""
    ours, host = row.get("ours"), row.get("host")
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (ours, host))
    if not row.get("ratio", True) or not numbers or not ours:
        return "—"
    ratio = host / ours
    return f"{ratio:.0f}×" if ratio >= 100 else f"{ratio:.1f}×" if ratio >= 10 else f"{ratio:.2f}×"


def format_goal(row: dict[str, Any]) -> str:
    goal = row.get("goal")
    if not goal:
        return ""
    if "met" not in row:
        return str(goal)
    return f"{goal} {'met' if row['met'] else '**missed**'}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_tables(results: dict[str, Any]) -> list[str]:
    """The Markdown tables of one benchmark's results (the JSON its script writes)."""
    ours_label = results.get("ours_label", "ours")
    host_label = results.get("host_label", "host")  # None: nothing to compare with, no such columns
    lines: list[str] = []
    for table in results["tables"]:
        if host_label is None:
            header = [f"| measured | {ours_label} | goal | notes |", "|---|---:|---|---|"]
        else:
            header = [f"| measured | ours ({ours_label}) | {host_label} | ratio | goal | notes |",
                      "|---|---:|---:|---:|---|---|"]
        lines += ["", f"**{table['title']}**", "", *header]
        for row in table["rows"]:
            unit = row.get("unit", "")
            cells = [row["measure"], format_value(row.get("ours"), unit)]
            if host_label is not None:
                cells += [format_value(row.get("host"), unit), format_ratio(row)]
            cells += [format_goal(row), row.get("note", "")]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    for note in results.get("notes", []):
        lines += ["", note]
    return lines


def goals_missed(results: dict[str, Any]) -> list[str]:
    return [row["measure"] for table in results["tables"] for row in table["rows"]
            if "met" in row and not row["met"]]


@dataclass
class Outcome:
    """What happened to one benchmark in this run."""

    benchmark: Benchmark
    results: dict[str, Any] | None = None
    reason: str = ""  # why it did not run or failed
    seconds: float = 0.0
    started: str = ""
    load: tuple[str, str] = ("", "")
    exit_code: int | None = None
    log: list[str] = field(default_factory=list)


FIGURES_START = re.compile(r'<!-- figures measured="(?P<when>[^"]+)" -->')


def previous_figures(page: str, name: str) -> tuple[str, list[str]] | None:
    """(when measured, figure lines) of a benchmark's section on an earlier page, if it has any."""
    section = re.search(rf"<!-- benchmark:{re.escape(name)} -->(.*?)<!-- /benchmark:{re.escape(name)} -->",
                        page, re.S)
    if not section:
        return None
    body = section.group(1)
    start = FIGURES_START.search(body)
    end = body.find("<!-- /figures -->")
    if not start or end < 0:
        return None
    return start.group("when"), body[start.end():end].strip("\n").splitlines()


def render_section(outcome: Outcome, previous_page: str) -> list[str]:
    bench = outcome.benchmark
    lines = [f"<!-- benchmark:{bench.name} -->", f"## {bench.title} (`{bench.script}`)", "", bench.what, "",
             f"Run alone: `{bench.command}`", ""]
    if outcome.results is not None:
        missed = goals_missed(outcome.results)
        status = f"Ran {outcome.started}, {outcome.seconds:.0f} s, load average {outcome.load[0]} → {outcome.load[1]}"
        status += f"; exit status {outcome.exit_code}" if outcome.exit_code else ""
        status += f"; **goal missed: {', '.join(missed)}**" if missed else ""
        lines += [status + ".", f'<!-- figures measured="{outcome.started}" -->',
                  *render_tables(outcome.results), "<!-- /figures -->"]
    else:
        lines += [f"**Not measured in this run: {outcome.reason}**"]
        earlier = previous_figures(previous_page, bench.name)
        if earlier:
            when, figures = earlier
            lines += ["", f"The figures below are the last ones measured, on {when} "
                          "(carried over from the previous page, not remeasured):",
                      f'<!-- figures measured="{when}" -->', *figures, "<!-- /figures -->"]
        else:
            lines += ["", f"Last known figures (not remeasured): {bench.last_known}"]
    lines += [f"<!-- /benchmark:{bench.name} -->", ""]
    return lines


def render_page(machine: dict[str, str], outcomes: list[Outcome], run: dict[str, str],
                previous_page: str = "") -> str:
    lines = ["# Benchmarks", "",
             f"<!-- Generated by {COMMAND}: edit the scripts or report.py, not this page. -->",
             f"The latest figures of every script in `benchmarks/`. Regenerate this page (every benchmark, "
             f"then this file) with `{COMMAND}`, as root, in an environment with the plugin wheel and the "
             "host installed (see the docstring of `report.py` for its options).", "",
             "Every benchmark runs against local emulators on loopback (moto, a local registry), never AWS "
             "(`build.py` and `host_requirement_size.sh` download packages from PyPI and Debian's mirrors). "
             "Each one measures the host's own implementation (or the named reference) in the same run on "
             "the same machine, so the ratios are the figures to compare; absolute times depend on the "
             "machine and its load.", "", RATIO_HELP, "",
             "## This run", "",
             "| | |", "|---|---|"]
    lines += [f"| {_cell(key)} | {_cell(value)} |" for key, value in {**run, **machine}.items()]
    lines += [""]
    ran = [o.benchmark.script for o in outcomes if o.results is not None]
    not_run = [o.benchmark.script for o in outcomes if o.results is None]
    lines += [f"Ran: {', '.join(ran) or 'none'}." + (f" Not run: {', '.join(not_run)} (see their sections)."
                                                      if not_run else ""), ""]
    for outcome in outcomes:
        lines += render_section(outcome, previous_page)
    return "\n".join(lines).rstrip("\n") + "\n"


# ---------------------------------------------------------------------------------------------
# Running

def why_not(bench: Benchmark, options: argparse.Namespace) -> str:
    if bench.name in options.skip:
        return "skipped with `--skip`"
    if bench.needs_root and (not hasattr(os, "geteuid") or os.geteuid() != 0):
        return "it needs root (it chroots into the stand-in image); run the page generator as root"
    missing = [tool for tool in bench.needs if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not on PATH here"
    return ""


def run_one(bench: Benchmark, options: argparse.Namespace, results_dir: Path) -> Outcome:
    outcome = Outcome(bench, started=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    reason = why_not(bench, options)
    if reason:
        outcome.reason = reason
        return outcome
    json_file = results_dir / f"{bench.name}.json"
    log_file = results_dir / f"{bench.name}.log"
    argv = bench.argv(options, json_file)
    print(f"== {bench.script}: {' '.join(argv[1:] if argv[0] == sys.executable else argv)}", flush=True)
    load_before = load_average()
    started = time.monotonic()
    with log_file.open("w") as log:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   cwd=HERE.parent)
        assert process.stdout is not None
        for line in process.stdout:  # shown as it comes, kept for the page's error message
            print("   " + line, end="", flush=True)
            log.write(line)
            outcome.log.append(line.rstrip("\n"))
        outcome.exit_code = process.wait()
    outcome.seconds = time.monotonic() - started
    outcome.load = (load_before, load_average())
    try:
        if bench.parse:
            outcome.results = bench.parse("\n".join(outcome.log))
        elif json_file.is_file():
            outcome.results = json.loads(json_file.read_text())
    except ValueError as error:
        outcome.reason = str(error)
    if outcome.results is None:
        tail = " / ".join(line.strip() for line in outcome.log[-3:] if line.strip())[-400:]
        outcome.reason = (outcome.reason or f"it failed (exit status {outcome.exit_code})") + \
            (f"; its last output: `{tail}`" if tail else "")
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (the page says so)")
    parser.add_argument("--skip", action="append", default=[], choices=[b.name for b in BENCHMARKS],
                        help="do not run this benchmark; keep its previous figures (repeatable)")
    parser.add_argument("--build-cold", action="store_true", help="build.py --cold: empty pip's cache first")
    parser.add_argument("--work", help="build.py --work DIR (its stand-in image and pip cache)")
    parser.add_argument("--output", default=str(PAGE), help="the page to write (default: benchmarks/README.md)")
    parser.add_argument("--results", help="keep each benchmark's JSON and log here (default: a new temp dir)")
    options = parser.parse_args(argv)

    output = Path(options.output)
    previous_page = output.read_text() if output.is_file() else ""
    results_dir = Path(options.results or tempfile.mkdtemp(prefix="iaf-bench-report-"))
    results_dir.mkdir(parents=True, exist_ok=True)
    started_at = datetime.now(timezone.utc)
    load_start = load_average()
    started = time.monotonic()
    machine = machine_info()
    outcomes = [run_one(bench, options, results_dir) for bench in BENCHMARKS]
    minutes = (time.monotonic() - started) / 60
    flags = " ".join(["--quick"] * options.quick + [f"--skip {name}" for name in options.skip]
                     + ["--build-cold"] * options.build_cold)
    run = {
        "date": started_at.strftime("%Y-%m-%d %H:%M UTC"),
        "command": f"`{COMMAND}{' ' + flags if flags else ''}`"
                   + (" (quick: fewer repetitions than the default)" if options.quick else ""),
        "total run time": f"{minutes:.1f} min",
        "load average (1/5/15 min) at start": load_start,
        "load average (1/5/15 min) at end": load_average(),
        "other load": "the load averages count every process on the machine, not only the benchmarks: "
                      "one near or above the number of cores means they shared the CPU with other work "
                      "(per benchmark in its section), and absolute times are then higher than on an idle "
                      "machine",
    }
    output.write_text(render_page(machine, outcomes, run, previous_page))
    print(f"wrote {output} ({minutes:.1f} min); logs and JSON in {results_dir}")
    failed = [o.benchmark.script for o in outcomes if o.results is None and o.benchmark.name not in options.skip]
    if failed:
        print(f"not measured: {', '.join(failed)} (the page says why)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
