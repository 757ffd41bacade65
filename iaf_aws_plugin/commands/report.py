"""``report-aws-lambda``: one self-contained HTML page of how the deployed bot is doing."""
from __future__ import annotations

import click

from . import handle_errors
from ._target import echo, make_target, target_options

#: Written into every page; an existing file without it is not replaced without --replace.
GENERATOR = '<meta name="generator" content="iaf-aws-plugin report-aws-lambda">'
#: Progress appears once reading takes longer than this, then at most once a second.
QUIET_SECONDS = 2.0


@click.command(name="report-aws-lambda", epilog="""\b
Examples (in the bot's project folder):
  investing-algorithm-framework report-aws-lambda
  investing-algorithm-framework report-aws-lambda --output ~/bot-report.html --open""")
@click.option("--output", "-o", default="report.html", show_default=True, type=click.Path(dir_okay=False),
              help="The HTML file to write (a previous report there is replaced).")
@click.option("--open", "open_it", is_flag=True, default=False, help="Open the page in the web browser.")
@click.option("--replace", is_flag=True, default=False,
              help="Overwrite OUTPUT even if it is not a page this command wrote.")
@target_options
@handle_errors
def report_aws_lambda(output: str, open_it: bool, replace: bool, function_name: str | None, region: str | None,
                      profile: str | None, project_dir: str | None) -> None:
    """Portfolio value at every snapshot (trades marked), drawdown, positions, orders and trades.

    One HTML file with no external resource: it opens offline and can be mailed. Snapshots already
    read are cached locally (~/.cache/iaf-aws-plugin), so the next report reads only new ones."""
    import os
    import sys
    import time
    from datetime import datetime, timezone
    from pathlib import Path

    from ..errors import PluginError
    from ..operate.state import state_errors, state_location
    from ..portfolio.html import render
    from ..portfolio.snapshots import ReadStats, read_all

    path = Path(output).expanduser()
    if path.exists() and not replace and GENERATOR not in _head(path):
        raise PluginError(f"{path} exists and is not a report written by report-aws-lambda: nothing was written.",
                          fix="Fix: pass --output with another file, or --replace to overwrite it.")
    target = make_target(function_name, region, profile, project_dir)
    location = state_location(target)
    started = time.monotonic()
    shown = [0.0]
    tty = sys.stderr.isatty()
    back = "\r" if tty else ""

    def progress(done: int, total: int) -> None:
        now = time.monotonic() - started
        if now < QUIET_SECONDS or (now - shown[0] < 1.0 and done < total):
            return
        shown[0] = now
        click.echo(f"{back}Reading snapshots: {done}/{total} ({now:.0f} s)",
                   err=True, nl=not tty or done == total)

    stats = ReadStats()
    with state_errors(target):
        points = read_all(location.bucket, target.s3_client(), prefix=location.prefix, progress=progress,
                          stats=stats)
    current = next((p for p in reversed(points) if p.current), points[-1])
    page = render(points, current, url=location.url, generated_at=datetime.now(timezone.utc))
    page = page.replace("<head>", f"<head>{GENERATOR}", 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(page, encoding="utf-8")
    os.replace(temporary, path)
    echo(f"Wrote {path}: {stats.snapshots} snapshots ({stats.cached} from the cache, {stats.downloaded} "
         f"databases downloaded), current snapshot {current.generation}.")
    if open_it:
        import webbrowser

        if not webbrowser.open(path.resolve().as_uri()):
            echo(f"No web browser found here: open {path.resolve()} yourself.")


def _head(path: object) -> str:
    from pathlib import Path

    try:
        with Path(str(path)).open("r", encoding="utf-8", errors="replace") as handle:
            return handle.read(4096)
    except OSError:
        return ""
