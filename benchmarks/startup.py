"""What iaf-aws-plugin costs every Python process of the environment it is installed in.

The start-up hook (``iaf_aws_plugin.pth``) runs in every interpreter. This script measures,
in the current environment (install the wheel first, as ``.ci/run`` does):

- ``python -X importtime -c pass``: the import time of our start-up modules (goal <= 3 ms);
- whole processes, ``python -c pass``, hook on vs off (``IAF_AWS_PLUGIN_AUTOLOAD=0``);
- the host CLI, ``investing-algorithm-framework --help``, with plugins vs the host alone.

Run: python benchmarks/startup.py [--runs N] [--json FILE]
(``--json FILE`` also writes the figures as JSON, the format ``benchmarks/report.py`` reads).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

GOAL_MS = 3.0


def run_times(argv: list[str], envs: list[dict[str, str]], runs: int) -> list[float]:
    """Median wall time (ms) of ``argv`` under each environment, runs interleaved to share any drift."""
    times: list[list[float]] = [[] for _ in envs]
    for _ in range(runs):
        for env, samples in zip(envs, times):
            start = time.perf_counter()
            subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            samples.append((time.perf_counter() - start) * 1000)
    return [statistics.median(samples) for samples in times]


def import_time_ms(env: dict[str, str], runs: int) -> float:
    """Median cumulative import time (ms) of iaf_aws_plugin modules imported at start-up."""
    samples = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-X", "importtime", "-c", "pass"], env=env, check=True,
                             capture_output=True, text=True).stderr
        total = 0
        for line in out.splitlines():
            match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
            if match and match.group(4).split(".")[0] == "iaf_aws_plugin":
                total += int(match.group(1))  # self time: nested modules are counted once
        samples.append(total / 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items() if k != "IAF_AWS_PLUGIN_AUTOLOAD"}
    on, off = dict(base), dict(base, IAF_AWS_PLUGIN_AUTOLOAD="0")

    imported = import_time_ms(on, args.runs)
    print(f"start-up imports of iaf_aws_plugin (-X importtime, median): {imported:.2f} ms "
          f"(goal <= {GOAL_MS} ms: {'met' if imported <= GOAL_MS else 'MISSED'})")
    if import_time_ms(off, 3) != 0:
        print("warning: IAF_AWS_PLUGIN_AUTOLOAD=0 did not switch the hook off")

    py = [sys.executable, "-c", "pass"]
    run_times(py, [on, off], 3)  # warm the file cache
    m_on, m_off = run_times(py, [on, off], args.runs)
    print(f"python -c pass, median of {args.runs}: hook on {m_on:.2f} ms, off {m_off:.2f} ms, "
          f"difference {m_on - m_off:+.2f} ms, ratio {m_on / m_off:.3f}")

    rows = [
        {"measure": "start-up imports of iaf_aws_plugin (`-X importtime`)", "unit": "ms", "ours": imported,
         "host": None, "goal": f"<= {GOAL_MS:g} ms", "met": imported <= GOAL_MS,
         "note": f"median of {args.runs}"},
        {"measure": "`python -c pass`", "unit": "ms", "ours": m_on, "host": m_off,
         "note": f"median of {args.runs}; difference {m_on - m_off:+.2f} ms"},
    ]
    cli = Path(sys.executable).parent / "investing-algorithm-framework"
    if cli.exists():
        runs = max(3, args.runs // 6)
        run_times([str(cli), "--help"], [on, off], 1)
        c_on, c_off = run_times([str(cli), "--help"], [on, off], runs)
        print(f"investing-algorithm-framework --help, median of {runs}: with plugins {c_on:.0f} ms, "
              f"host alone {c_off:.0f} ms, ratio {c_on / c_off:.3f}")
        rows.append({"measure": "`investing-algorithm-framework --help`", "unit": "ms", "ours": c_on,
                     "host": c_off, "note": f"median of {runs}; ours = with plugins loaded"})
    if args.json:
        Path(args.json).write_text(json.dumps({
            "benchmark": "startup.py", "ours_label": "start-up hook on", "host_label": "host alone (hook off)",
            "tables": [{"title": "What the start-up hook costs every Python process", "rows": rows}],
            "notes": ["Hook off = `IAF_AWS_PLUGIN_AUTOLOAD=0` in the same environment; runs interleaved."],
        }, indent=2))


if __name__ == "__main__":
    main()
