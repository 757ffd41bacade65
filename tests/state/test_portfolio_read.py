"""The portfolio package on snapshots saved by the real state handler (moto S3), read while a run
holds the lease (which stays untouched): a position with no market price is valued at its last
trade price and the page says so, a snapshot without a database is not plotted, a file that is not
the host's database is one line, and progress is reported.
The databases of real runs are tested in tests/operate/test_portfolio_report.py."""
from __future__ import annotations

import shutil
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.anyhost

SCHEMA = """
CREATE TABLE portfolios (id INTEGER PRIMARY KEY, trading_symbol VARCHAR, market VARCHAR, total_net_gain VARCHAR);
CREATE TABLE positions (id INTEGER PRIMARY KEY, symbol VARCHAR, amount VARCHAR, cost VARCHAR, portfolio_id INTEGER);
CREATE TABLE orders (id INTEGER PRIMARY KEY, external_id VARCHAR, target_symbol VARCHAR, trading_symbol VARCHAR,
    order_side VARCHAR, order_type VARCHAR, price VARCHAR, amount VARCHAR, remaining VARCHAR, filled VARCHAR,
    status VARCHAR, created_at DATETIME, updated_at DATETIME);
CREATE TABLE trades (id INTEGER PRIMARY KEY, target_symbol VARCHAR, trading_symbol VARCHAR, closed_at DATETIME,
    opened_at DATETIME, open_price VARCHAR, amount VARCHAR, net_gain VARCHAR, last_reported_price VARCHAR,
    last_reported_price_datetime DATETIME, status VARCHAR);
"""


def database(path: Path, cash: str, *, market_price: str | None) -> None:
    """The host's tables (plain SQL, the columns 8.x and 9.x share): 0.5 ETH bought at 2,000 (a
    filled order), then an open buy of 0.1 ETH at 1,900; a market price only if given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA)
        db.execute("INSERT INTO portfolios VALUES (1, 'USDT', 'BINANCE', '12.5')")
        db.execute("INSERT INTO positions VALUES (1, 'USDT', ?, '0', 1)", (cash,))
        db.execute("INSERT INTO positions VALUES (2, 'ETH', '0.5', '1000', 1)")
        db.execute("INSERT INTO orders VALUES (1, 'a1', 'ETH', 'USDT', 'BUY', 'LIMIT', '2000', '0.5', '0', '0.5', "
                   "'CLOSED', '2026-01-01 10:00:00', '2026-01-01 11:00:00')")
        db.execute("INSERT INTO orders VALUES (2, 'a2', 'ETH', 'USDT', 'BUY', 'LIMIT', '1900', '0.1', '0.1', '0', "
                   "'OPEN', '2026-01-02 10:00:00', '2026-01-02 10:00:00')")
        db.execute("INSERT INTO trades VALUES (1, 'ETH', 'USDT', NULL, '2026-01-01 11:00:00', '2000', '0.5', '0', ?, "
                   "?, 'OPEN')", (market_price, "2026-01-02 09:00:00" if market_price else None))
    db.close()


def save(bucket: str, files: dict[str, Path | str], work: Path) -> None:
    """One run's save through the real state handler: the snapshot holds exactly ``files``."""
    from iaf_aws_plugin import AWSS3StorageStateHandler

    handler = AWSS3StorageStateHandler(bucket)
    handler.initialize()
    shutil.rmtree(work, ignore_errors=True)
    handler.load(str(work))
    for entry in work.iterdir():
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for rel, source in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, Path):
            shutil.copy(source, work / rel)
        else:
            (work / rel).write_text(source)
    handler.save(str(work))


def test_last_trade_price_fallback_unplotted_snapshot_and_progress(bucket: str, s3: Any, tmp_path: Path) -> None:
    from iaf_aws_plugin.portfolio.database import LAST_TRADE, MARKET
    from iaf_aws_plugin.portfolio.html import render
    from iaf_aws_plugin.portfolio.snapshots import ReadStats, read_all, read_current

    db = "databases/prod-database.sqlite3"
    database(tmp_path / "a.sqlite3", "500", market_price=None)
    database(tmp_path / "b.sqlite3", "310", market_price="2100")
    save(bucket, {db: tmp_path / "a.sqlite3"}, tmp_path / "run")
    save(bucket, {"notes.txt": "no database in this one"}, tmp_path / "run")
    save(bucket, {db: tmp_path / "b.sqlite3", "databases/backtest-database.sqlite3": tmp_path / "a.sqlite3"},
         tmp_path / "run")

    # A run holds the lease: reading the committed snapshot neither waits for it nor touches it.
    from iaf_aws_plugin.state.manifest import lease_document

    s3.put_object(Bucket=bucket, Key=".iaf-state/lease.json",
                  Body=lease_document(owner="run", holder="Lambda run 7", timeout=900, state="held"))
    lease = s3.head_object(Bucket=bucket, Key=".iaf-state/lease.json")["ETag"]
    current = read_current(bucket, s3)
    view = current.view
    assert current.generation == 3 and current.database == db
    assert (view.cash_total, view.realized_pnl, view.in_orders) == (310.0, 12.5, pytest.approx(190.0))
    [eth] = view.positions
    assert (eth.amount, eth.cost, eth.price, eth.price_source) == (0.5, 1000.0, 2100.0, MARKET)
    assert view.value == pytest.approx(310 + 0.5 * 2100 + 0.1 * 1900) and view.estimated == []
    assert [o.external_id for o in view.open_orders] == ["a2"] and [t.id for t in view.trades] == [1]

    calls: list[tuple[int, int]] = []
    stats = ReadStats()
    points = read_all(bucket, s3, cache_dir=tmp_path / "cache", progress=lambda d, t: calls.append((d, t)),
                      stats=stats)
    assert calls[0] == (0, 3) and calls[-1] == (3, 3) and len(calls) == 4
    assert (stats.snapshots, stats.cached, stats.downloaded) == (3, 0, 2)
    first, empty, last = points
    assert empty.view is None and last.current and not first.current
    assert first.view is not None and first.view.positions[0].price_source == LAST_TRADE
    assert first.view.positions[0].price == 2000.0 and first.view.estimated == ["ETH"]
    assert first.view.value == pytest.approx(500 + 0.5 * 2000 + 0.1 * 1900)

    page = render(points, last, url=f"s3://{bucket}/", generated_at=datetime.now(timezone.utc))
    assert page.count('class="point"') == 2
    assert "valued at its last trade price" in page and "1 snapshot(s) hold no database and are not plotted" in page

    again = ReadStats()
    assert read_all(bucket, s3, cache_dir=tmp_path / "cache", stats=again) == points
    assert (again.cached, again.downloaded) == (3, 0)
    assert s3.head_object(Bucket=bucket, Key=".iaf-state/lease.json")["ETag"] == lease


def test_a_file_that_is_not_the_hosts_database_is_one_line(bucket: str, s3: Any, tmp_path: Path) -> None:
    """portfolio: one line. report: that snapshot is not plotted, the page says why, the others are."""
    from iaf_aws_plugin.errors import PluginError
    from iaf_aws_plugin.portfolio.html import render
    from iaf_aws_plugin.portfolio.snapshots import read_all, read_current

    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (text VARCHAR)")
    db.close()
    database(tmp_path / "good.sqlite3", "500", market_price="2100")
    save(bucket, {"databases/prod-database.sqlite3": tmp_path / "good.sqlite3"}, tmp_path / "run")
    save(bucket, {"databases/prod-database.sqlite3": other}, tmp_path / "run")
    points = read_all(bucket, s3, cache_dir=tmp_path / "cache")
    assert points[0].view is not None and points[1].view is None and "no table portfolios" in str(points[1].error)
    page = render(points, points[1], url=f"s3://{bucket}/", generated_at=datetime.now(timezone.utc))
    assert page.count('class="point"') == 1 and "1 snapshot(s) have a database that could not be read" in page
    with pytest.raises(PluginError) as failed:
        read_current(bucket, s3)
    message = str(failed.value)
    assert "is not an investing-algorithm-framework database (no table portfolios, positions, orders, trades)" \
        in message and "\n" not in message and "Fix:" in message
