"""Benchmark the native builder on the Lambda stand-in, with the scaffold's real requirement set.

    sudo python benchmarks/build.py [--work DIR] [--cold] [--json FILE]

Needs root (chroot), mmdebstrap, umoci, skopeo and docker-registry (``.ci/run`` installs them),
and pip access to PyPI for the first run. Starts its own moto server and loopback registry,
builds the stand-in of Lambda's Python 3.11 image (tests/builders/standin.py), scaffolds a
bot and measures:

- cold build: an empty builder cache (``--cold`` also empties pip's HTTP cache), seconds per
  phase; push to the emulated ECR: seconds, bytes;
- warm rebuild after a change of one source file: seconds, bytes uploaded (only the app layer);
- image size: the native dependency layer against the same requirements installed the way the
  Dockerfile template does it (``pip install --target``, pip's own byte code, docker's gzip);
- the stand-in's cold start (first invocation through the Runtime API, one trading iteration,
  state in the emulated S3) with the image's byte code and without it (``__pycache__`` removed:
  a read-only /var/task makes every cold start compile again).

The stand-in base image and pip's HTTP cache are kept under ``--work`` (default ``$IAF_CI_DIR``
or ``~/.cache/iaf-bench``) between runs; the builder's own cache is always empty for the cold
build. ``--json FILE`` also writes the figures as JSON (the format ``benchmarks/report.py`` reads),
including whether pip's cache was empty (a truly cold build) or not.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # deploy_fixtures (stops the stand-in's processes)
sys.path.insert(0, str(REPO / "tests" / "builders"))
sys.path.insert(0, str(REPO / "tests" / "state"))

import standin  # noqa: E402  (the stand-in image and the Runtime API of the acceptance test)


def start_registry(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = work / "registry.yml"
    config.write_text(f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n"
                      f"    rootdirectory: {work / 'registry'}\nhttp:\n  addr: 127.0.0.1:{port}\n")
    process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    return process, f"127.0.0.1:{port}"


def tar_gz_size(root: Path) -> tuple[int, int]:
    """(gzip bytes, tar bytes) of a folder, the way ``docker build`` stores a RUN layer."""
    with tempfile.TemporaryFile() as raw:
        with tarfile.open(fileobj=raw, mode="w") as tar:
            tar.add(root, arcname="var/task")
        size = raw.tell()
        raw.seek(0)
        with tempfile.TemporaryFile() as packed:
            with gzip.GzipFile(fileobj=packed, mode="wb", compresslevel=6) as gz:
                shutil.copyfileobj(raw, gz, 1 << 20)
            return packed.tell(), size


def tree_size(root: Path) -> int:
    """Bytes of the files under ``root`` (0 when it does not exist)."""
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file()) if root.is_dir() else 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", default=os.environ.get("IAF_CI_DIR", str(Path.home() / ".cache" / "iaf-bench")))
    parser.add_argument("--cold", action="store_true", help="also empty pip's cache before the cold build")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    args = parser.parse_args()
    cache = Path(args.work) / "cache"
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    os.environ["MOTO_LAMBDA_STUB_ECR"] = "false"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    aws = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1"}
    os.environ.update(aws)
    import boto3

    from iaf_aws_plugin.builders import BuildRequest
    from iaf_aws_plugin.builders.native import NativeBuilder
    from iaf_aws_plugin.builders.native.blobs import BlobStore
    from iaf_aws_plugin.scaffold import scaffold
    from test_end_to_end import CANDLES, install_offline_runner

    with tempfile.TemporaryDirectory(prefix="iaf-build-bench-") as tmp:
        work = Path(tmp)
        registry_process, registry = start_registry(work)
        try:
            base = standin.standin_image(cache / "standin", registry, work)
            project = work / "bot"
            scaffold(project)
            install_offline_runner(project)
            (project / "offline_handler.py").write_text(standin.OFFLINE_HANDLER)
            (project / "paper").mkdir()  # .dockerignore keeps data/ out of the image
            shutil.copy(CANDLES, project / "paper" / "btc_eur_1h.csv")
            ecr = boto3.client("ecr")
            ecr.create_repository(repositoryName="bench")
            uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/bench"
            if args.cold:
                shutil.rmtree(cache / "pip", ignore_errors=True)
            pip_cache_before = tree_size(cache / "pip")
            pip_cache_empty = pip_cache_before == 0
            rows: list[dict[str, object]] = []
            os.environ["PIP_CACHE_DIR"] = str(cache / "pip")
            builder = NativeBuilder(BlobStore(work / "builder-cache"))  # empty: a cold build
            request = BuildRequest(project, "x86_64", uri, "v1", base_image=base)
            started = time.monotonic()
            cold = builder.prepare(request, echo=lambda _: None)
            cold_seconds = time.monotonic() - started
            _, pushed = builder.push(cold, uri, "v1", ecr=ecr, echo=lambda _: None)
            print(f"cold build: {cold_seconds:.1f} s ({', '.join(f'{k} {v:.1f} s' for k, v in cold.phases.items())}); "
                  f"{pushed.uploaded_bytes / 1e6:.1f} MB uploaded in {cold.phases['push']:.1f} s")
            for line in cold.report():
                print("  " + line)
            phases = ", ".join(f"{k} {v:.1f} s" for k, v in cold.phases.items() if k != "push")
            rows.append({"measure": "cold build (empty builder cache; pip's cache "
                                    f"{'empty' if pip_cache_empty else 'kept from an earlier run'})",
                         "unit": "s", "ours": cold_seconds, "host": "not measurable here", "note": phases})
            rows.append({"measure": "first push to the emulated ECR", "unit": "s", "ours": cold.phases["push"],
                         "host": None, "note": f"{pushed.uploaded_bytes / 1e6:.1f} MB uploaded"})

            (project / "strategies" / "my_strategy.py").write_text(
                (project / "strategies" / "my_strategy.py").read_text() + "\n# changed\n")
            started = time.monotonic()
            warm = builder.prepare(request, echo=lambda _: None)
            warm_seconds = time.monotonic() - started
            _, again = builder.push(warm, uri, "v2", ecr=ecr, echo=lambda _: None)
            print(f"warm rebuild after one source change: {warm_seconds:.2f} s build + {warm.phases['push']:.2f} s push, "
                  f"{again.uploaded_bytes} bytes uploaded ({again.uploaded_blobs} blobs: app layer + config)")
            rows.append({"measure": "warm rebuild after one source change (build + push)", "unit": "s",
                         "ours": warm_seconds + warm.phases["push"], "host": "not measurable here",
                         "note": f"{warm_seconds:.2f} s build + {warm.phases['push']:.2f} s push; "
                                 f"{again.uploaded_bytes} bytes uploaded in {again.uploaded_blobs} blobs"})

            deps = next(layer for layer in cold.image.layers if layer.origin == "dependencies")
            template = work / "template-way"
            from iaf_aws_plugin.builders.native.dependencies import find_interpreter, platform_tags
            from iaf_aws_plugin.builders.native.plugin_wheel import plugin_wheel

            python = find_interpreter(standin.STANDIN_PYTHON).path
            if python:
                command = [python, "-m", "pip", "install", "--quiet", "--target", str(template), "--only-binary=:all:",
                           "--implementation", "cp", "--python-version", standin.STANDIN_PYTHON,
                           "-r", str(project / "requirements.txt"), str(plugin_wheel(BlobStore(work / "w")))]
                for tag in platform_tags("x86_64", (2, 26)):
                    command += ["--platform", tag]
                env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
                subprocess.run(command, check=True, env=env)
                packed, raw = tar_gz_size(template)
                print(f"dependency layer: native {deps.size / 1e6:.1f} MB gzip / {(deps.uncompressed or 0) / 1e6:.1f} MB tar; "
                      f"Dockerfile-template way (pip install --target, pip's byte code) {packed / 1e6:.1f} MB gzip / "
                      f"{raw / 1e6:.1f} MB tar")
                way = "reference: the Dockerfile way (`pip install --target`, pip's byte code)"
                rows.append({"measure": "dependency layer, gzip", "unit": "bytes", "ours": deps.size,
                             "host": packed, "note": way})
                rows.append({"measure": "dependency layer, uncompressed tar", "unit": "bytes",
                             "ours": deps.uncompressed, "host": raw, "note": way})

            layout = work / "oci"
            builder.write_output(cold, f"oci:{layout}", "v1", echo=lambda _: None)
            bundle = work / "bundle"
            subprocess.run(["umoci", "unpack", "--rootless", "--image", f"{layout}:v1", str(bundle)], check=True,
                           capture_output=True)
            root = bundle / "rootfs"
            s3 = boto3.client("s3")
            s3.create_bucket(Bucket="bench-state", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
            cold_starts: dict[str, tuple[float, str]] = {}
            for label in ("with byte code", "without byte code"):
                if label.startswith("without"):
                    for cache_dir in sorted((root / "var" / "task").rglob("__pycache__"), reverse=True):
                        cache_dir.chmod(0o755)
                        shutil.rmtree(cache_dir)
                standin.prepare_rootfs(root)
                api = standin.RuntimeAPI()
                env = {"PATH": "/usr/bin:/bin", "LAMBDA_TASK_ROOT": "/var/task", "HOME": "/tmp",
                       "AWS_LAMBDA_RUNTIME_API": api.address, "AWS_S3_STATE_BUCKET_NAME": "bench-state",
                       "OHLCV_CSV": "/var/task/paper/btc_eur_1h.csv", "BITVAVO_API_KEY": "k",
                       "BITVAVO_SECRET_KEY": "s", **aws}
                started = time.monotonic()
                process = standin.start_function(root, "offline_handler.handler", env, work / "function.log")
                try:
                    kind, payload = api.invoke({})
                finally:
                    standin.stop(process)
                    api.close()
                elapsed = time.monotonic() - started
                print(f"stand-in cold start + one iteration, {label}: {elapsed:.2f} s ({kind})")
                cold_starts[label] = (elapsed, kind)
            rows.append({"measure": "stand-in cold start + one trading iteration", "unit": "s",
                         "ours": cold_starts["with byte code"][0], "host": cold_starts["without byte code"][0],
                         "note": "reference: the same image without `__pycache__` (compiled at every cold "
                                 f"start); invocation results {cold_starts['with byte code'][1]} / "
                                 f"{cold_starts['without byte code'][1]}"})
            if args.json:
                Path(args.json).write_text(json.dumps({
                    "benchmark": "build.py", "ours_label": "native builder", "host_label": "reference",
                    "pip_cache_empty": pip_cache_empty,
                    "tables": [{"title": "Native builder, scaffolded bot with its real requirement set, "
                                         "Lambda stand-in (Python 3.11, x86_64)", "rows": rows}],
                    "notes": [f"pip's cache under `--work` ({cache / 'pip'}): {pip_cache_before / 1e6:.1f} MB "
                              f"before the cold build, {tree_size(cache / 'pip') / 1e6:.1f} MB at the end; "
                              + ("empty before: a cold build, every wheel fetched again." if pip_cache_empty
                                 else "downloads may come from that cache; the builder's own cache was empty."),
                              "The host's deploy builds with `docker build`: no Docker engine here, so it has no "
                              "build time; the reference for sizes is the Dockerfile way of installing the same "
                              "requirements."],
                }, indent=2))
        finally:
            registry_process.terminate()
            registry_process.wait()
            server.stop()


if __name__ == "__main__":
    main()
