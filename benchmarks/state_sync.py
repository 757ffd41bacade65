"""Benchmark: the host's built-in S3 state handler vs iaf-aws-plugin's, on the same data.

Starts its own moto S3 server (a ThreadedMotoServer in a child process) on 127.0.0.1 (random
port, fake credentials), then for two data sets - 200 files + a 5 MB SQLite database, and
2,000 small files - measures with each handler:

- warm unchanged load: the same handler instance loads again into the folder it just saved;
- unchanged save: saving again with nothing changed;
- cold load: a new handler instance loads into an empty folder (a cold Lambda container).

and prints the times, the ratios (host / ours) against the goals (>= 50x, >= 50x, >= 3x) and
the number of S3 requests our handler made. Run it in an environment with the plugin installed:

    python benchmarks/state_sync.py [--json FILE]

``--json FILE`` also writes the figures as JSON (the format ``benchmarks/report.py`` reads).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

GOALS = {"warm unchanged load": 50.0, "unchanged save": 50.0, "cold load": 3.0}
REPEATS = {"host": 2, "ours": 5}


def _serve(queue: Any, stop: Any) -> None:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    queue.put(server.get_host_and_port())
    stop.wait()
    server.stop()


def start_moto() -> tuple[Callable[[], None], str]:
    """A ThreadedMotoServer in a child process: like real S3, the server does not compete with
    the handlers for this process's GIL (both handlers are measured against the same server)."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    queue, stop = context.Queue(), context.Event()
    process = context.Process(target=_serve, args=(queue, stop), daemon=True)
    process.start()
    host, port = queue.get(timeout=60)

    def shutdown() -> None:
        stop.set()
        process.join(10)

    return shutdown, f"http://{host}:{port}"


def use_emulator(endpoint: str, scratch: Path) -> None:
    """Point every AWS SDK call of this process at the emulator, with fake credentials only."""
    config = scratch / "aws-config"
    config.write_text("[default]\nregion = eu-west-1\n")
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update({
        "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "benchmark", "AWS_SECRET_ACCESS_KEY": "benchmark",
        "AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "eu-west-1", "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(config), "AWS_EC2_METADATA_DISABLED": "true",
    })


def make_sqlite(path: Path, size: int, rng: random.Random) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, payload BLOB)")
        while path.stat().st_size < size:
            db.executemany("INSERT INTO orders (payload) VALUES (?)",
                           [(rng.randbytes(2048),) for _ in range(256)])
            db.commit()
    db.close()


def make_dataset(root: Path, files: int, db_bytes: int) -> None:
    rng = random.Random(files)
    for i in range(files):
        path = root / f"folder{i % 10}" / f"file{i:05d}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randint(200, 4000)))
    if db_bytes:
        make_sqlite(root / "databases" / "prod-database.sqlite3", db_bytes, rng)


def timed(action: Callable[[], Any], repeats: int, before: Callable[[], Any] | None = None) -> float:
    """Median wall time of ``action`` over ``repeats`` runs (``before`` runs untimed each time)."""
    times = []
    for _ in range(repeats):
        if before:
            before()
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class RequestCounter:
    def __init__(self, client: Any) -> None:
        self.count = 0
        client.meta.events.register("before-send", self._count)

    def _count(self, **_: Any) -> None:
        self.count += 1


def bench_host(bucket: str, data: Path, scratch: Path) -> dict[str, float]:
    from investing_algorithm_framework import AWSS3StorageStateHandler as HostHandler

    handler = HostHandler(bucket_name=bucket)
    handler.initialize()
    handler.save(str(data))
    results = {"unchanged save": timed(lambda: handler.save(str(data)), REPEATS["host"])}
    warm = scratch / "host-warm"
    handler.load(str(warm))
    results["warm unchanged load"] = timed(lambda: handler.load(str(warm)), REPEATS["host"])
    cold = scratch / "host-cold"

    def fresh() -> None:
        shutil.rmtree(cold, ignore_errors=True)

    def cold_load() -> None:
        other = HostHandler(bucket_name=bucket)
        other.initialize()
        other.load(str(cold))

    results["cold load"] = timed(cold_load, REPEATS["host"], fresh)
    results["files loaded by cold load"] = sum(len(f) for _, _, f in os.walk(cold))
    return results


def bench_ours(bucket: str, data: Path, scratch: Path) -> tuple[dict[str, float], dict[str, int]]:
    from iaf_aws_plugin import AWSS3StorageStateHandler

    work = scratch / "ours-warm"
    shutil.copytree(data, work)
    handler = AWSS3StorageStateHandler(bucket)
    handler.initialize()
    counter = RequestCounter(handler.s3_client)
    handler.load(str(work))
    handler.save(str(work))
    requests: dict[str, int] = {}
    results: dict[str, float] = {}

    handler.load(str(work))
    counter.count = 0
    results["unchanged save"] = timed(lambda: handler.save(str(work)), 1)
    requests["unchanged save"] = counter.count
    for _ in range(REPEATS["ours"] - 1):
        handler.load(str(work))
        results["unchanged save"] = min(results["unchanged save"], timed(lambda: handler.save(str(work)), 1))

    counter.count = 0
    results["warm unchanged load"] = timed(lambda: handler.load(str(work)), 1)
    requests["warm unchanged load"] = counter.count
    handler.save(str(work))
    loads = []
    for _ in range(REPEATS["ours"] - 1):
        loads.append(timed(lambda: handler.load(str(work)), 1))
        handler.save(str(work))
    results["warm unchanged load"] = statistics.median(loads + [results["warm unchanged load"]])

    cold = scratch / "ours-cold"
    cold_times = []
    for _ in range(REPEATS["ours"]):
        shutil.rmtree(cold, ignore_errors=True)
        other = AWSS3StorageStateHandler(bucket)
        other.initialize()
        other_counter = RequestCounter(other.s3_client)
        start = time.perf_counter()
        other.load(str(cold))
        cold_times.append(time.perf_counter() - start)
        requests["cold load"] = other_counter.count
        other.save(str(cold))
    results["cold load"] = statistics.median(cold_times)
    results["files loaded by cold load"] = sum(len(f) for _, _, f in os.walk(cold))

    # One changed file: what does the save upload?
    handler.load(str(work))
    changed = next(work.rglob("*.json"))
    changed.write_bytes(b"changed" + changed.read_bytes())
    counter.count = 0
    start = time.perf_counter()
    handler.save(str(work))
    results["save, one file changed"] = time.perf_counter() - start
    requests["save, one file changed"] = counter.count
    return results, requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    options = parser.parse_args()
    import boto3

    tables: list[dict[str, Any]] = []
    scratch = Path(tempfile.mkdtemp(prefix="iaf-state-bench-"))
    stop_moto, endpoint = start_moto()
    failed = False
    try:
        use_emulator(endpoint, scratch)
        s3 = boto3.client("s3")
        print(f"moto S3 at {endpoint}; Python {sys.version.split()[0]}")
        for label, files, db_bytes in (("200 files + 5 MB SQLite DB", 200, 5 * 1024 * 1024),
                                       ("2,000 files", 2_000, 0)):
            data = scratch / f"data-{files}"
            make_dataset(data, files, db_bytes)
            buckets = {}
            for who in ("host", "ours"):
                buckets[who] = f"bench-{who}-{files}"
                s3.create_bucket(Bucket=buckets[who],
                                 CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
            host = bench_host(buckets["host"], data, scratch / f"h{files}")
            ours, requests = bench_ours(buckets["ours"], data, scratch / f"o{files}")
            print(f"\n== {label}")
            print(f"{'':24}{'host':>10}{'ours':>10}{'ratio':>9}{'goal':>7}  requests (ours)")
            for name, goal in GOALS.items():
                ratio = host[name] / ours[name]
                ok = ratio >= goal
                failed |= not ok
                print(f"{name:24}{host[name]:9.3f}s{ours[name]:9.3f}s{ratio:8.1f}x{goal:6.0f}x  "
                      f"{requests[name]:>5}  {'ok' if ok else 'BELOW GOAL'}")
            print(f"{'save, one file changed':24}{'':10}{ours['save, one file changed']:9.3f}s"
                  f"{'':16}  {requests['save, one file changed']:>5}")
            expected = files + (1 if db_bytes else 0)
            print(f"files after cold load: host {host['files loaded by cold load']}, "
                  f"ours {ours['files loaded by cold load']} (of {expected})")
            rows = [{"measure": name, "unit": "s", "ours": ours[name], "host": host[name],
                     "goal": f">= {goal:g}x", "met": host[name] / ours[name] >= goal,
                     "note": f"{requests[name]} S3 request(s) (ours)"} for name, goal in GOALS.items()]
            rows.append({"measure": "save, one file changed", "unit": "s", "ours": ours["save, one file changed"],
                         "host": None, "note": f"{requests['save, one file changed']} S3 request(s) (ours)"})
            short = ""
            if host["files loaded by cold load"] < expected:
                # The host's handler lists the bucket with one list_objects_v2 call (no continuation
                # token): S3 returns at most 1,000 keys, the rest of the state is silently not loaded.
                short = (f"the host's handler loaded {host['files loaded by cold load']} of {expected} files "
                         "(one list_objects_v2 call, no pagination: at most 1,000 keys), so its cold-load time "
                         "above covers only those")
                print(f"note: {short}")
            rows.append({"measure": "files after cold load", "unit": "files",
                         "ours": ours["files loaded by cold load"], "host": host["files loaded by cold load"],
                         "goal": f"{expected}", "met": ours["files loaded by cold load"] == expected,
                         "ratio": False, "note": short})
            tables.append({"title": label, "rows": rows})
    finally:
        stop_moto()
        shutil.rmtree(scratch, ignore_errors=True)
    if options.json:
        Path(options.json).write_text(json.dumps({
            "benchmark": "state_sync.py", "ours_label": "iaf-aws-plugin handler",
            "host_label": "host's AWSS3StorageStateHandler", "tables": tables,
            "notes": [f"Median wall time: host {REPEATS['host']} runs, ours {REPEATS['ours']} runs "
                      "(unchanged save: the best of ours); moto S3 server in a child process on loopback."],
        }, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
