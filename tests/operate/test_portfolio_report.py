"""portfolio-aws-lambda and report-aws-lambda on the databases of real runs.

The scaffolded bot runs on the quick start's paper market (six warm invocations in one process,
each saving a snapshot; from the fourth on the market is 15 % higher, so the take profit sells at
a gain). After each run the host's own API reports cash, positions, open orders, trades and the
realized P&L of the database it saved; the commands must show the same figures, and the report's
chart one point per snapshot with the value those figures give. The page is then opened in a real
browser (Debian's chromium, headless): no request but the page itself, one point per snapshot,
a screenshot under IAF_CI_DIR.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

pytestmark = pytest.mark.host

REPO = Path(__file__).resolve().parents[2]
RUNS, RISE_FROM = 6, 4


def run_the_bot(bot: Any, container: Path) -> list[dict[str, Any]]:
    """RUNS runs of the scaffolded bot against the deployed bot's state bucket; the host's figures after each."""
    project = bot.project
    shutil.copy(REPO / "tests" / "state" / "e2e" / "run_offline.py", project)
    shutil.copy(REPO / "quickstart" / "paper_market.py", project)
    shutil.copy(Path(__file__).parent / "e2e" / "host_figures.py", project)
    (project / "data").mkdir(exist_ok=True)
    shutil.copy(REPO / "quickstart" / "data" / "BTC-EUR-1h.csv", project / "data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(bot.env, AWS_S3_STATE_BUCKET_NAME=bot.bucket, RESOURCE_DIRECTORY=str(container),
               BITVAVO_API_KEY="paper-key", BITVAVO_SECRET_KEY="paper-secret", E2E_RUNS=str(RUNS),
               E2E_RISE_FROM=str(RISE_FROM))
    result = subprocess.run([sys.executable, "host_figures.py"], cwd=project, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    found = [json.loads(line[len("HOST-FIGURES "):]) for line in result.stdout.splitlines()
             if line.startswith("HOST-FIGURES ")]
    assert [f["run"] for f in found] == list(range(1, RUNS + 1)) and all(f["status"] == 200 for f in found)
    return found


def host_value(figures: dict[str, Any]) -> float:
    """Cash + positions at the newest market price the host reports on their trades (else at cost)
    + what open orders hold back (a buy at its price, a sell at the asset's price)."""
    prices: dict[str, float] = {}
    for _id, symbol, _amount, _gain, _open, last_price, _status in sorted(figures["trades"]):
        if last_price is not None:
            prices[symbol] = last_price
    value = figures["cash"]
    for symbol, position in figures["positions"].items():
        value += position["amount"] * prices[symbol] if symbol in prices else position["cost"]
    for _id, side, amount, remaining, price, symbol in figures["open_orders"]:
        left = amount if remaining is None else remaining
        value += left * (prices.get(symbol, price) if side == "SELL" else price)
    return float(value)


def invoke(command: Any, *args: str) -> Any:
    result = CliRunner().invoke(command, list(args), catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


def test_portfolio_and_report_show_what_the_host_reports(host_cli, deployed_bot, op, tmp_path, monkeypatch):
    from iaf_aws_plugin.commands.portfolio import portfolio_aws_lambda
    from iaf_aws_plugin.commands.report import report_aws_lambda

    bot = deployed_bot
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    where = ["--project-dir", str(bot.project)]
    page = tmp_path / "out" / "report.html"

    # Before the first run: one clear line, nothing written.
    for command, extra in ((portfolio_aws_lambda, []), (report_aws_lambda, ["--output", str(page)])):
        empty = invoke(command, *where, *extra)
        assert empty.exit_code == 1, empty.output
        assert empty.output.strip() == (f"Error: No snapshots in s3://{bot.bucket}/ yet: the bot has not saved any "
                                        "state. Fix: run the bot once (invoke-aws-lambda), or wait for its schedule.")
    assert not page.exists()

    figures = run_the_bot(bot, tmp_path / "container")
    last = figures[-1]
    assert last["realized"] > 0, "the take profit sold at a gain"

    # portfolio-aws-lambda --json through the host's console script.
    shown = op.cli(host_cli, bot, "portfolio-aws-lambda", "--json")
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    view = doc["view"]
    assert doc["generation"] == RUNS and doc["database"] == "databases/prod-database.sqlite3"
    assert doc["saved_at"][:4].isdigit()
    assert view["trading_symbol"] == last["trading_symbol"]
    assert view["cash_total"] == pytest.approx(last["cash"])
    assert {p["symbol"]: {"amount": p["amount"], "cost": p["cost"]} for p in view["positions"]} == last["positions"]
    assert sorted([o["external_id"], o["side"], o["amount"], o["remaining"], o["price"], o["symbol"].split("/")[0]]
                  for o in view["open_orders"]) == last["open_orders"]
    assert sorted([t["id"], t["symbol"].split("/")[0], t["amount"], t["net_gain"], t["open_price"],
                   t["last_reported_price"], t["status"]] for t in view["trades"]) == last["trades"]
    assert view["trade_count"] == len(last["trades"])
    assert view["realized_pnl"] == pytest.approx(last["realized"])
    assert view["value"] == pytest.approx(host_value(last))
    assert view["estimated"] == []  # every position has a market price in the database

    text = invoke(portfolio_aws_lambda, *where)
    assert text.exit_code == 0, text.output
    assert f"snapshot {RUNS} (" in text.output and f"Realized P&L  {last['realized']:,.2f} EUR" in text.output
    assert f"Last {len(last['trades'])} of {len(last['trades'])} trades" in text.output

    # The report: one point per snapshot, at the value the host's figures give. Progress shows once
    # reading takes longer than QUIET_SECONDS (here: at once).
    monkeypatch.setattr("iaf_aws_plugin.commands.report.QUIET_SECONDS", 0.0)
    first = invoke(report_aws_lambda, *where, "--output", str(page))
    assert first.exit_code == 0, first.output
    assert f"{RUNS} snapshots (0 from the cache, " in first.output, first.output
    assert f"Reading snapshots: {RUNS}/{RUNS} (" in first.output
    values = [float(v) for v in re.findall(r'class="point" data-snapshot="[^"]+" data-value="([^"]+)"',
                                            page.read_text())]
    assert values == pytest.approx([host_value(f) for f in figures])
    assert 'class="trade-mark"' in page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page.read_text()), "an external resource"

    # A new snapshot (snapshot 1 restored): the second report reads only that one.
    from iaf_aws_plugin.state.admin import restore

    restore(bot.bucket, __import__("boto3").client("s3"), "1")
    second = invoke(report_aws_lambda, *where, "--output", str(page))
    assert second.exit_code == 0, second.output
    assert f"{RUNS + 1} snapshots ({RUNS} from the cache, 0 databases downloaded)" in second.output, second.output
    html = page.read_text()
    assert len(re.findall(r'class="point"', html)) == RUNS + 1
    assert f"current snapshot {RUNS + 1} (" in html

    # An existing file that is not a report is not overwritten without --replace.
    other = tmp_path / "notes.html"
    other.write_text("my notes")
    refused = invoke(report_aws_lambda, *where, "--output", str(other))
    assert refused.exit_code == 1 and "--replace" in refused.output and other.read_text() == "my notes"

    check_in_a_browser(page, RUNS + 1, tmp_path)


def check_in_a_browser(page: Path, points: int, tmp_path: Path) -> None:
    from cdp_browser import Browser, chromium

    executable = chromium()
    if executable is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium)")
    control = tmp_path / "control.html"  # proves that a request to the network would be seen
    control.write_text('<!DOCTYPE html><img src="http://example.invalid/pixel.png">')
    count = {"points": "document.querySelectorAll('#value-chart circle.point').length",
             "marks": "document.querySelectorAll('#value-chart .trade-mark').length",
             "value": "document.getElementById('value').textContent"}
    browser = Browser(executable)
    try:
        visit = browser.visit(page.resolve().as_uri(), count)
        seen = browser.visit(control.resolve().as_uri(), {})
    finally:
        browser.close()
    assert any(url.startswith("http://example.invalid/") for url in seen.requests), seen.requests
    assert visit.requests == [page.resolve().as_uri()], visit.requests  # the page alone, from file://
    assert visit.failed == []
    assert visit.results["points"] == points and visit.results["marks"] >= 1
    assert visit.results["value"].endswith(" EUR")
    assert visit.screenshot.startswith(b"\x89PNG")
    out = Path(os.environ.get("IAF_CI_DIR") or tmp_path)
    (out / f"report-iaf{version('investing-algorithm-framework')}.png").write_bytes(visit.screenshot)
