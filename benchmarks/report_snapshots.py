"""Benchmark: report-aws-lambda's reading of 1,000 state snapshots, cold and from its cache.

Starts its own moto S3 server (a ThreadedMotoServer in a child process) on 127.0.0.1 (random
port, fake credentials) and stores 1,000 snapshots in the state layout of iaf-aws-plugin, each
holding a database with the host's tables (``portfolios``, ``positions``, ``orders``, ``trades``;
about 160 KB; a real paper-market database is about 100 KB), whose cash and price move from one
snapshot to the next. Then it measures what ``report-aws-lambda`` does (the library calls it
makes, without the CLI's start-up): read every snapshot's figures and render the page,

- cold: an empty cache (every manifest and database downloaded);
- cached: every snapshot in the cache (median of 3 runs);
- 10 new snapshots: the cache holds the first 1,000;

with the S3 requests of each. The host has no report to compare with. Run it in an environment
with the plugin installed:

    python benchmarks/report_snapshots.py [--snapshots 1000] [--json FILE]

``--json FILE`` also writes the figures as JSON (the format ``benchmarks/report.py`` reads).
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from state_sync import RequestCounter, start_moto, use_emulator  # noqa: E402  (same emulator set-up)

DATABASE = "databases/prod-database.sqlite3"
GOALS = {"cached": 2.0}  # seconds for 1,000 snapshots from the cache


def seed_database(path: Path) -> None:
    """The host's four tables (the columns the report reads, as 8.x and 9.x define them), with a
    history of 400 closed trades and their orders (about 160 KB)."""
    with sqlite3.connect(path) as db:
        db.executescript("""
            CREATE TABLE portfolios (id INTEGER PRIMARY KEY, identifier VARCHAR, trading_symbol VARCHAR,
                market VARCHAR, realized VARCHAR, total_net_gain VARCHAR, net_size VARCHAR, unallocated VARCHAR);
            CREATE TABLE positions (id INTEGER PRIMARY KEY, symbol VARCHAR, amount VARCHAR, cost VARCHAR,
                portfolio_id INTEGER);
            CREATE TABLE orders (id INTEGER PRIMARY KEY, external_id VARCHAR, target_symbol VARCHAR,
                trading_symbol VARCHAR, order_side VARCHAR, order_type VARCHAR, price VARCHAR, amount VARCHAR,
                remaining VARCHAR, filled VARCHAR, cost VARCHAR, status VARCHAR, position_id INTEGER,
                created_at DATETIME, updated_at DATETIME);
            CREATE TABLE trades (id INTEGER PRIMARY KEY, target_symbol VARCHAR, trading_symbol VARCHAR,
                closed_at DATETIME, opened_at DATETIME, open_price VARCHAR, amount VARCHAR,
                available_amount VARCHAR, filled_amount VARCHAR, remaining VARCHAR, net_gain VARCHAR,
                cost VARCHAR, last_reported_price VARCHAR, last_reported_price_datetime DATETIME,
                updated_at DATETIME, status VARCHAR);
        """)
        db.execute("INSERT INTO portfolios VALUES (1, 'bitvavo', 'EUR', 'BITVAVO', '0', '0', '1000', '1000')")
        db.execute("INSERT INTO positions VALUES (1, 'EUR', '1000', '0', 1)")
        db.execute("INSERT INTO positions VALUES (2, 'BTC', '0.01', '400', 1)")
        start = datetime(2026, 1, 1)
        for i in range(400):
            opened, closed = start + timedelta(hours=i), start + timedelta(hours=i, minutes=30)
            for side, when in (("BUY", opened), ("SELL", closed)):
                db.execute("INSERT INTO orders (external_id, target_symbol, trading_symbol, order_side, order_type, "
                           "price, amount, remaining, filled, cost, status, position_id, created_at, updated_at) "
                           "VALUES (?, 'BTC', 'EUR', ?, 'LIMIT', '40000', '0.001', '0', '0.001', '40', 'CLOSED', "
                           "2, ?, ?)", (f"x{i}{side}", side, str(when), str(when)))
            db.execute("INSERT INTO trades (target_symbol, trading_symbol, closed_at, opened_at, open_price, amount, "
                       "available_amount, filled_amount, remaining, net_gain, cost, last_reported_price, "
                       "last_reported_price_datetime, updated_at, status) VALUES ('BTC', 'EUR', ?, ?, '40000', "
                       "'0.001', '0', '0.001', '0', '0.5', '40', '40500', ?, ?, 'CLOSED')",
                       (str(closed), str(opened), str(closed), str(closed)))
        db.execute("INSERT INTO trades (target_symbol, trading_symbol, opened_at, open_price, amount, "
                   "available_amount, filled_amount, remaining, net_gain, cost, last_reported_price, "
                   "last_reported_price_datetime, updated_at, status) VALUES ('BTC', 'EUR', '2026-01-20 00:00:00', "
                   "'40000', '0.01', '0.01', '0.01', '0', '0', '400', '40000', '2026-01-20 00:00:00', "
                   "'2026-01-20 00:00:00', 'OPEN')")
    db.close()


def snapshot_database(seed: bytes, index: int, price: float, folder: Path) -> bytes:
    path = folder / f"db-{index}.sqlite3"
    path.write_bytes(seed)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE positions SET amount = ? WHERE symbol = 'EUR'", (str(600 + index * 0.01),))
        db.execute("UPDATE trades SET last_reported_price = ?, last_reported_price_datetime = ? WHERE status = 'OPEN'",
                   (f"{price:.2f}", str(datetime(2026, 2, 1) + timedelta(hours=index))))
    db.close()
    data = path.read_bytes()
    path.unlink()
    return data


def store_snapshots(client: Any, bucket: str, seed: bytes, first: int, count: int, folder: Path,
                    rng: random.Random) -> None:
    """Snapshots ``first`` .. ``first + count - 1`` in the plugin's layout; HEAD names the last."""
    from iaf_aws_plugin.state.manifest import FileEntry, Layout, Manifest, Pointer, sha256_bytes

    layout = Layout("")
    prices = [40000.0]
    for _ in range(count):
        prices.append(prices[-1] * (1 + rng.uniform(-0.01, 0.0105)))
    created = datetime(2026, 2, 1, tzinfo=timezone.utc)

    def put(index: int) -> tuple[int, str, bytes]:
        generation = first + index
        data = snapshot_database(seed, generation, prices[index + 1], folder)
        sha = sha256_bytes(data)
        client.put_object(Bucket=bucket, Key=layout.object(sha), Body=data)
        manifest = Manifest(generation, {DATABASE: FileEntry(sha, len(data))}, {"databases"},
                            created_at=(created + timedelta(hours=generation)).isoformat(timespec="seconds"))
        key = layout.new_snapshot_key(generation)
        body = manifest.to_json()
        client.put_object(Bucket=bucket, Key=key, Body=body)
        return generation, key, body

    with ThreadPoolExecutor(8) as pool:
        written = list(pool.map(put, range(count)))
    generation, key, body = written[-1]
    client.put_object(Bucket=bucket, Key=layout.head, Body=Pointer(generation, key, sha256_bytes(body)).to_json())


def report_once(client: Any, bucket: str, cache: Path, output: Path) -> tuple[float, int, Any]:
    from iaf_aws_plugin.portfolio.html import render
    from iaf_aws_plugin.portfolio.snapshots import ReadStats, read_all

    counter = RequestCounter(client)
    stats = ReadStats()
    start = time.perf_counter()
    points = read_all(bucket, client, cache_dir=cache, stats=stats)
    current = next(p for p in reversed(points) if p.current)
    output.write_text(render(points, current, url=f"s3://{bucket}/", generated_at=datetime.now(timezone.utc)))
    seconds = time.perf_counter() - start
    client.meta.events.unregister("before-send", counter._count)
    return seconds, counter.count, stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=int, default=1000, help="how many snapshots to store (default 1000)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    options = parser.parse_args()
    import boto3

    count = options.snapshots
    scratch = Path(tempfile.mkdtemp(prefix="iaf-report-bench-"))
    stop_moto, endpoint = start_moto()
    rows: list[dict[str, Any]] = []
    try:
        use_emulator(endpoint, scratch)
        client = boto3.client("s3")
        bucket = "bench-report"
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        seed_path = scratch / "seed.sqlite3"
        seed_database(seed_path)
        seed = seed_path.read_bytes()
        rng = random.Random(7)
        started = time.perf_counter()
        store_snapshots(client, bucket, seed, 1, count, scratch, rng)
        print(f"moto S3 at {endpoint}; stored {count} snapshots ({len(seed):,} B database each) in "
              f"{time.perf_counter() - started:.1f} s; Python {sys.version.split()[0]}")
        cache, page = scratch / "cache", scratch / "report.html"
        cold, cold_requests, cold_stats = report_once(client, bucket, cache, page)
        cached_runs = [report_once(client, bucket, cache, page) for _ in range(3)]
        cached = statistics.median(run[0] for run in cached_runs)
        store_snapshots(client, bucket, seed, count + 1, 10, scratch, rng)
        new, new_requests, new_stats = report_once(client, bucket, cache, page)
        points = page.read_text().count('class="point"')
        print(f"cold:     {cold:7.2f} s  {cold_requests:5} S3 requests  {cold_stats.downloaded} databases downloaded")
        print(f"cached:   {cached:7.2f} s  {cached_runs[0][1]:5} S3 requests  (median of 3; goal <= {GOALS['cached']} s)")
        print(f"+10 new:  {new:7.2f} s  {new_requests:5} S3 requests  {new_stats.downloaded} databases downloaded")
        print(f"page: {page.stat().st_size:,} B, {points} points")
        rows = [
            {"measure": f"cold report, {count:,} snapshots", "unit": "s", "ours": cold, "host": None,
             "note": f"{cold_requests} S3 requests, {cold_stats.downloaded} databases downloaded"},
            {"measure": f"cached report, {count:,} snapshots", "unit": "s", "ours": cached, "host": None,
             "goal": f"<= {GOALS['cached']:g} s", "met": cached <= GOALS["cached"],
             "note": f"{cached_runs[0][1]} S3 requests (list + HEAD), median of 3"},
            {"measure": "10 new snapshots on a cached report", "unit": "s", "ours": new, "host": None,
             "note": f"{new_requests} S3 requests, {new_stats.downloaded} databases downloaded"},
            {"measure": "page size", "unit": "bytes", "ours": page.stat().st_size, "host": None,
             "note": f"{points} chart points, self-contained"},
        ]
        failed = not (points == count + 10 and cached <= GOALS["cached"])
    finally:
        stop_moto()
        shutil.rmtree(scratch, ignore_errors=True)
    if options.json:
        Path(options.json).write_text(json.dumps({
            "benchmark": "report_snapshots.py", "ours_label": "report-aws-lambda", "host_label": None,
            "tables": [{"title": f"{count:,} snapshots of a ~160 KB database on moto S3", "rows": rows}],
            "notes": ["The host has no report to compare with. Library calls of the command (read every "
                      "snapshot's figures, render and write the page), without the CLI's start-up; moto S3 "
                      "server in a child process on loopback; 8 downloads in flight."],
        }, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
