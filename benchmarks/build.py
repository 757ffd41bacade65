"""Benchmark the native builder on the Lambda stand-in, with the scaffold's real requirement set,
against the Dockerfile way of installing the same requirements, in the same run.

    sudo python benchmarks/build.py [--work DIR] [--cold] [--json FILE]

Needs root (chroot), mmdebstrap, umoci, skopeo and docker-registry (``.ci/run`` installs them),
and pip access to PyPI. Starts its own moto server and loopback registry, builds the stand-in of
Lambda's Python 3.11 image (tests/builders/standin.py), scaffolds a bot and measures:

- cold dependency build: the Dockerfile way (``pip install --target`` + ``compileall -j 0``) and
  ours (an empty builder cache), each with empty download caches of its own (``--cold``; otherwise
  pip's and uv's caches under ``--work`` are kept between runs); our phases in wall and CPU seconds;
- warm build after one package is added to ``requirements.txt``: the Dockerfile way runs its whole
  ``pip install`` layer again (its download cache warm), ours builds what the package adds;
- a code-only change: build + push seconds and bytes uploaded;
- dependency layer gzip: the Dockerfile way, ours (slim, the default) and ours ``--prune-unused``;
- cold start under AWS's Runtime Interface Emulator (``aws-lambda-rie`` from the aws-sam-cli wheel):
  ``INIT REPORT`` (the init alone) and ``REPORT`` (the first invocation: one trading iteration, state
  in the emulated S3, secrets from the emulated SSM) of the bot, with and without byte code, against
  the same bot on the host alone (no plugin: no secrets, no S3 state, no lease) in the same image:
  what the plugin adds to the host's own cold start (the median of interleaved pairs' differences;
  the host-only bot starts with the trading state ours restores), and the plugin's own steps timed
  in the handler; garbage collection, page faults and system CPU of each phase, for both.

The stand-in base image and the download caches are kept under ``--work`` (default ``$IAF_CI_DIR``
or ``~/.cache/iaf-bench``). ``--json FILE`` also writes the figures (the format ``report.py`` reads).
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

import standin  # noqa: E402  (the stand-in image and the emulator of the acceptance test)


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


DOCKERFILE_CPU: list[float] = []  # CPU seconds of each dockerfile_way run (pip + compileall processes)


def _children_cpu() -> float:
    times = os.times()
    return times.children_user + times.children_system


def dockerfile_way(python: str, project: Path, wheel: Path, target: Path, pip_cache: Path) -> tuple[float, float]:
    """The Dockerfile template's RUN step: ``pip install --target`` then ``compileall -j 0`` (unchecked
    hash, as ours); (pip seconds, compile seconds)."""
    from iaf_aws_plugin.builders.native.dependencies import platform_tags

    shutil.rmtree(target, ignore_errors=True)
    command = [python, "-m", "pip", "install", "--quiet", "--target", str(target), "--only-binary=:all:",
               "--no-compile", "--disable-pip-version-check", "--implementation", "cp",
               "--python-version", standin.STANDIN_PYTHON, "-r", str(project / "requirements.txt"), str(wheel)]
    for tag in platform_tags("x86_64", (2, 26)):
        command += ["--platform", tag]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PIP_CACHE_DIR"] = str(pip_cache)
    started, cpu = time.monotonic(), _children_cpu()
    subprocess.run(command, check=True, env=env)
    pip_seconds = time.monotonic() - started
    started = time.monotonic()
    subprocess.run([python, "-m", "compileall", "-q", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
                    str(target)], env=env)
    DOCKERFILE_CPU.append(_children_cpu() - cpu)
    return pip_seconds, time.monotonic() - started


def one_package_index() -> str:
    """Both ways read the same single package index (pip's own, else PyPI): a machine whose pip
    configuration adds more (this one has local mirrors and a find-links folder) would otherwise make
    ours resolve with pip (uv takes each release from the first index that lists it, pip merges
    them), and the reference read wheels from a local disk. The note for the page."""
    from iaf_aws_plugin.builders.native.pip_config import pip_settings, values

    settings = pip_settings()
    index = (values(settings, "index-url") or ["https://pypi.org/simple"])[0]
    for name in ("PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX"):
        os.environ.pop(name, None)
    os.environ.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=index)
    if settings.get("cert"):
        os.environ["PIP_CERT"] = settings["cert"]
    return (f"Both ways read one package index, {index} (pip's configuration files are not read: "
            "PIP_CONFIG_FILE=/dev/null), as a user without mirrors does; with several indexes configured the "
            "builder resolves with pip, as uv would not merge their files as pip does.")


def run_cold_start(binary: Path, root: Path, handler: str, env: dict[str, str], log: Path) -> dict[str, object]:
    """One cold container under the emulator, one invocation: its INIT REPORT and REPORT figures (ms)."""
    log.unlink(missing_ok=True)
    emulator = standin.Emulator(binary, root, handler, env, log)
    started = time.monotonic()
    try:
        kind, payload = emulator.invoke({})
    finally:
        emulator.stop()
    lines = emulator.reports()
    init = next((line for line in lines if line["kind"] == "INIT REPORT"), {})
    invoke = next((line for line in lines if line["kind"] == "INVOKE"), {})
    return {"kind": kind, "wall": time.monotonic() - started, "init_ms": init.get("durationMs"),
            "duration_ms": invoke.get("durationMs"), "payload": payload}


def cold_start_pairs(binary: Path, root: Path, env: dict[str, str], work: Path,
                     count: int) -> dict[str, list[dict[str, object]]]:
    """``count`` interleaved pairs of cold starts, each a new container: the host-only bot, then ours
    (both see the same load). The host-only bot starts with the trading state ours saved at the end
    of its previous cold start, copied into its ``/tmp/resources`` (as if that state were on a local
    disk): both iterations then trade on the same database, and ours loads it from S3 (the first
    pair has none, for both). Without it the reference built a new database at every cold start,
    about 0.05 s of its first invocation that ours, restoring a database, did not have to do."""
    runs: dict[str, list[dict[str, object]]] = {"host": [], "bot": [], "timed": []}
    saved = work / "bot-state"
    resources = root / "tmp" / "resources"
    for _ in range(count):
        # "bot": the scaffolded aws_function imported first, as Lambda imports it (the figure); "timed": the
        # same bot with the plugin's steps timed, for their breakdown only. Importing the framework and the
        # plugin's modules ahead of aws_function to wrap its steps costs the process about 15,000 more
        # minor page faults and 0.1-0.2 s of INIT under the emulator (measured: 98,700 against 74,900 for
        # the scaffolded module imported first), work the bot as deployed never does.
        for kind, handler in (("host", "host_handler.handler"), ("bot", "bot_handler.handler"),
                              ("timed", "timed_handler.handler")):
            shutil.rmtree(root / "tmp", ignore_errors=True)
            standin.prepare_rootfs(root)
            if kind == "host" and saved.is_dir():
                shutil.copytree(saved, resources)
                for folder, _dirs, files in os.walk(resources):
                    for name in [folder, *(os.path.join(folder, f) for f in files)]:
                        os.chown(name, standin.LAMBDA_UID, standin.LAMBDA_UID)
            runs[kind].append(run_cold_start(binary, root, handler, env, work / "function.log"))
            if kind == "bot" and resources.is_dir():
                shutil.rmtree(saved, ignore_errors=True)
                shutil.copytree(resources, saved)
    shutil.rmtree(root / "tmp", ignore_errors=True)
    standin.prepare_rootfs(root)
    return runs


def cold_start_summary(runs: dict[str, list[dict[str, object]]]) -> dict[str, object]:
    """Medians (seconds) of the pairs of :func:`cold_start_pairs`: each handler's INIT REPORT, first
    invocation and garbage collection in each, the per-pair difference of init + first invocation
    (ours minus the host-only bot of the same pair) with its spread, and each timed step of ours."""
    import statistics

    def seconds(run: dict[str, object], key: str) -> float:
        return float(run[key] or 0) / 1000  # type: ignore[arg-type]

    def gc_seconds(run: dict[str, object], phase: str) -> float:
        payload = run["payload"]
        return float(payload.get("gc_seconds", {}).get(phase, 0.0)) if isinstance(payload, dict) else 0.0

    def usage(run: dict[str, object], phase: str, index: int) -> float:
        payload = run["payload"]
        found = payload.get("faults_system_seconds", {}).get(phase) if isinstance(payload, dict) else None
        return float(found[index]) if found else 0.0

    summary: dict[str, object] = {}
    for kind, items in ((k, v) for k, v in runs.items() if k != "timed"):
        summary[kind] = {
            "init": statistics.median(seconds(r, "init_ms") for r in items),
            "invocation": statistics.median(seconds(r, "duration_ms") for r in items),
            "gc init": statistics.median(gc_seconds(r, "init") for r in items),
            "gc invocation": statistics.median(gc_seconds(r, "invocation") for r in items),
            "faults init": statistics.median(usage(r, "init", 0) for r in items),
            "system init": statistics.median(usage(r, "init", 1) for r in items),
            "faults invocation": statistics.median(usage(r, "invocation", 0) for r in items),
            "system invocation": statistics.median(usage(r, "invocation", 1) for r in items),
            "kinds": sorted({str(r["kind"]) for r in items}),
        }
    differences = sorted(seconds(bot, "init_ms") + seconds(bot, "duration_ms") - seconds(host, "init_ms")
                         - seconds(host, "duration_ms") for host, bot in zip(runs["host"], runs["bot"]))
    quartiles = statistics.quantiles(differences, n=4, method="inclusive") if len(differences) > 1 else differences * 3
    summary["added"] = statistics.median(differences)
    summary["added spread"] = (differences[0], quartiles[0], quartiles[2], differences[-1])
    steps: dict[str, list[float]] = {}
    for run in runs["timed"]:
        payload = run["payload"]
        for name, value in (payload.get("plugin_seconds") or {}).items() if isinstance(payload, dict) else ():
            steps.setdefault(name, []).append(float(value))
    summary["steps"] = {name: statistics.median(values) for name, values in steps.items()}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", default=os.environ.get("IAF_CI_DIR", str(Path.home() / ".cache" / "iaf-bench")))
    parser.add_argument("--cold", action="store_true", help="empty download caches for both ways (every wheel "
                                                            "fetched again)")
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
    from iaf_aws_plugin.builders.native.dependencies import find_interpreter
    from iaf_aws_plugin.builders.native.uv_binary import find_uv
    from iaf_aws_plugin.builders.native.plugin_wheel import plugin_wheel
    from iaf_aws_plugin.scaffold import scaffold
    from test_end_to_end import CANDLES, install_offline_runner

    rows: list[dict[str, object]] = []
    notes: list[str] = [one_package_index()]

    def row(measure: str, unit: str, ours: object, host: object, note: str = "", goal: str = "",
            met: bool | None = None) -> None:
        item: dict[str, object] = {"measure": measure, "unit": unit, "ours": ours, "host": host, "note": note}
        if goal:
            item.update(goal=goal, met=bool(met))
        rows.append(item)
        print(f"{measure}: ours {ours} / reference {host} {note}", flush=True)

    with tempfile.TemporaryDirectory(prefix="iaf-build-bench-") as tmp:
        work = Path(tmp)
        registry_process, registry = start_registry(work)
        try:
            base = standin.standin_image(cache / "standin", registry, work)
            project = work / "bot"
            scaffold(project)
            install_offline_runner(project)
            (project / "offline_handler.py").write_text(standin.OFFLINE_HANDLER)
            (project / "phase_probe.py").write_text(PHASE_PROBE)
            (project / "host_function.py").write_text(HOST_FUNCTION)
            (project / "host_handler.py").write_text(HOST_HANDLER)
            (project / "timed_handler.py").write_text(TIMED_HANDLER)
            (project / "bot_handler.py").write_text(BOT_HANDLER)
            (project / "paper").mkdir()  # .dockerignore keeps data/ out of the image
            shutil.copy(CANDLES, project / "paper" / "btc_eur_1h.csv")
            ecr = boto3.client("ecr")
            ecr.create_repository(repositoryName="bench")
            uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/bench"
            downloads = (work if args.cold else cache) / "downloads"
            os.environ["PIP_CACHE_DIR"] = str(downloads / "pip-ours")
            os.environ["UV_CACHE_DIR"] = str(downloads / "uv-ours")
            python = find_interpreter(standin.STANDIN_PYTHON).path
            if python is None:
                raise SystemExit(f"no Python {standin.STANDIN_PYTHON} here: it compiles the byte code of both ways")
            wheel = plugin_wheel(BlobStore(work / "w"))
            installer = "uv" if find_uv() else "pip"

            # 1. cold dependency build, both ways
            template = work / "template-way"
            pip_s, compile_s = dockerfile_way(python, project, wheel, template, downloads / "pip-dockerfile")
            docker_cold = pip_s + compile_s
            builder = NativeBuilder(BlobStore(work / "builder-cache"))  # empty: a cold build
            request = BuildRequest(project, "x86_64", uri, "v1", base_image=base)
            cold = builder.prepare(request, echo=lambda _: None)
            deps_cold = sum(v for k, v in cold.phases.items() if k.startswith("dependencies"))
            for line in cold.report():
                print("  " + line)
            phases = ", ".join(f"{name} {wall:.1f} s (CPU {cpu:.1f} s)" for name, wall, cpu in cold.dependencies.phases)
            state = "empty download caches" if args.cold else "download caches kept from an earlier run"
            ours_cpu = sum(cpu for _, _, cpu in cold.dependencies.phases)
            row(f"cold dependency build ({state})", "s", deps_cold, docker_cold,
                f"reference: the Dockerfile way, pip {pip_s:.1f} s + compileall {compile_s:.1f} s (CPU "
                f"{DOCKERFILE_CPU[-1]:.1f} s); ours (installs with {installer}), CPU {ours_cpu:.1f} s in all: {phases}",
                ">= 2x", docker_cold >= 2 * deps_cold)
            row("cold dependency build, CPU seconds", "s", ours_cpu, DOCKERFILE_CPU[-1],
                "every process of the build (the wall clock above also counts waiting for a shared CPU)")
            row("cold dependency build, 30 s goal", "s", deps_cold, None, "on this machine's 2 cores, shared",
                "<= 30 s", deps_cold <= 30)
            _, pushed = builder.push(cold, uri, "v1", ecr=ecr, echo=lambda _: None)
            row("first push to the emulated ECR", "s", cold.phases["push"], None,
                f"{pushed.uploaded_bytes / 1e6:.1f} MB uploaded")

            # 2. a code-only change
            (project / "strategies" / "my_strategy.py").write_text(
                (project / "strategies" / "my_strategy.py").read_text() + "\n# changed\n")
            started = time.monotonic()
            code = builder.prepare(request, echo=lambda _: None)
            code_seconds = time.monotonic() - started
            _, again = builder.push(code, uri, "v2", ecr=ecr, echo=lambda _: None)
            row("code-only change (build + push)", "s", code_seconds + code.phases["push"], None,
                f"{again.uploaded_bytes} bytes uploaded in {again.uploaded_blobs} blobs", "< 1 s",
                code_seconds + code.phases["push"] < 1)

            # 3. warm: one package added
            with (project / "requirements.txt").open("a") as handle:
                handle.write(f"{ADDED}\n")
            pip_w, compile_w = dockerfile_way(python, project, wheel, template, downloads / "pip-dockerfile")
            started = time.monotonic()
            warm = builder.prepare(request, echo=lambda _: None)
            warm_seconds = time.monotonic() - started
            compiled = next((cpu for name, _, cpu in warm.dependencies.phases if name == "compile"), 0.0)
            phases = ", ".join(f"{name} {wall:.1f} s (CPU {cpu:.1f} s)" for name, wall, cpu in warm.dependencies.phases)
            row(f"build after adding one package ({ADDED})", "s", warm_seconds, pip_w + compile_w,
                f"reference: the Dockerfile way runs its pip layer again (pip {pip_w:.1f} s + compileall "
                f"{compile_w:.1f} s); ours: {phases}; built: {', '.join(warm.dependencies.built) or 'nothing'}",
                "<= 5 s + its compile", warm_seconds <= 5 + compiled)

            # Where the old builder's other half went: after pip and compileall, one thread wrote the
            # whole tree as one tar, gzip level 6, hashed twice (diff_id and digest).
            from iaf_aws_plugin.builders.native.dependencies import cpu_seconds
            from iaf_aws_plugin.builders.native.layers import tree_entries, write_layer

            started, cpu = time.monotonic(), cpu_seconds()
            write_layer(BlobStore(work / "single-thread"), tree_entries(template, "var/task"))
            single, single_cpu = time.monotonic() - started, cpu_seconds() - cpu
            shutil.rmtree(work / "single-thread")
            gzip_phase = next(((wall, c) for name, wall, c in cold.dependencies.phases if name.startswith("tar")), (0, 0))
            assemble_phase = next(((wall, c) for name, wall, c in cold.dependencies.phases
                                   if name.startswith("assemble")), (0, 0))
            row("layer writing: tar + gzip + hashes of the whole tree", "s", gzip_phase[0] + assemble_phase[0], single,
                f"reference: the earlier builder's single-threaded write of the Dockerfile-way tree "
                f"(CPU {single_cpu:.1f} s); ours: gzip members in parallel {gzip_phase[0]:.1f} s (CPU "
                f"{gzip_phase[1]:.1f} s) + assembly, decompress and hash for the diff_id {assemble_phase[0]:.1f} s "
                f"(CPU {assemble_phase[1]:.1f} s)")
            row("cold dependency build to a pushable layer (install, compile, layer written)", "s", deps_cold,
                docker_cold + single, f"reference: the Dockerfile way {docker_cold:.1f} s plus a single-threaded "
                f"gzip write of its tree {single:.1f} s, standing in for the layer Docker compresses before a push "
                "(the row above); ours: the cold build above, which ends with the layer written")

            # 4. sizes
            packed, raw = tar_gz_size(template)
            deps = next(layer for layer in warm.image.layers if layer.origin == "dependencies")
            tests, sources, symbols, files = warm.dependencies.removed
            row("dependency layer, gzip (slim, the default)", "bytes", deps.size, packed,
                f"reference: the Dockerfile way (pip install --target + compileall); slim removed "
                f"{(tests + sources + symbols) / 1e6:.0f} MB installed (tests/ {tests / 1e6:.0f}, sources "
                f"{sources / 1e6:.0f}, debug symbols {symbols / 1e6:.0f})", "<= 0.86x", deps.size <= 0.86 * packed)
            row("dependency layer, uncompressed tar (slim)", "bytes", deps.uncompressed, raw, "")
            pruned_request = BuildRequest(project, "x86_64", uri, "v3", base_image=base, prune_unused=True)
            started = time.monotonic()
            pruned = builder.prepare(pruned_request, echo=lambda _: None)
            pruned_seconds = time.monotonic() - started
            pruned_deps = next(layer for layer in pruned.image.layers if layer.origin == "dependencies")
            row("dependency layer, gzip (--prune-unused)", "bytes", pruned_deps.size, packed,
                f"{len(pruned.dependencies.pruned)} distributions left out; built in {pruned_seconds:.1f} s "
                "from the cache", "<= 0.6x", pruned_deps.size <= 0.6 * packed)

            # 5. cold start under AWS's Runtime Interface Emulator
            binary, why = standin.emulator_binary(cache / "standin")
            if binary is None:
                notes.append(f"Cold start not measured: AWS's Runtime Interface Emulator could not be fetched ({why}).")
            else:
                s3 = boto3.client("s3")
                s3.create_bucket(Bucket="bench-state", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
                env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LAMBDA_TASK_ROOT": "/var/task", "HOME": "/tmp",
                       "LAMBDA_RUNTIME_DIR": "/var/runtime", "AWS_S3_STATE_BUCKET_NAME": "bench-state",
                       "OHLCV_CSV": "/var/task/paper/btc_eur_1h.csv", "BITVAVO_API_KEY": "k",
                       "BITVAVO_SECRET_KEY": "s", **aws}
                ssm = boto3.client("ssm")
                for name in ("BOT_SECRET_A", "BOT_SECRET_B"):  # load_secrets reads them at every cold start
                    ssm.put_parameter(Name=f"/bench/{name}", Value="s3cr3t", Type="SecureString")
                env["IAF_SSM_PARAMETER_PATH"] = "/bench"
                for label, image in (("slim", warm), ("--prune-unused", pruned)):
                    layout = work / f"oci-{label.strip('-')}"
                    builder.write_output(image, f"oci:{layout}", "v", echo=lambda _: None)
                    bundle = work / f"bundle-{label.strip('-')}"
                    subprocess.run(["umoci", "unpack", "--rootless", "--image", f"{layout}:v", str(bundle)],
                                   check=True, capture_output=True)
                    root = bundle / "rootfs"
                    standin.prepare_rootfs(root)
                    pairs = cold_start_pairs(binary, root, env, work, COLD_STARTS)
                    summary = cold_start_summary(pairs)
                    bot, host = summary["bot"], summary["host"]
                    assert isinstance(bot, dict) and isinstance(host, dict)
                    outcome = f"results {'/'.join(bot['kinds'])} / {'/'.join(host['kinds'])}"
                    row(f"cold start, image {label}: INIT REPORT (init alone)", "s", bot["init"], host["init"],
                        "reference: the same bot on the host alone (no plugin: no secrets, no S3 state, no lease), "
                        f"same image; {outcome}; in the handler's import, ours / reference: garbage collection "
                        f"{bot['gc init']:.2f} / {host['gc init']:.2f} s, minor page faults {bot['faults init']:,.0f} / "
                        f"{host['faults init']:,.0f}, system CPU {bot['system init']:.2f} / {host['system init']:.2f} s")
                    row(f"cold start, image {label}: first invocation (one trading iteration)", "s", bot["invocation"],
                        host["invocation"], "ours: state loaded from and saved to the emulated S3 under the lease; "
                        "reference: the same state already in its local folder (copied there before it starts); "
                        f"garbage collection {bot['gc invocation']:.2f} / {host['gc invocation']:.2f} s, minor page "
                        f"faults {bot['faults invocation']:,.0f} / {host['faults invocation']:,.0f}")
                    added = summary["added"]
                    low, q1, q3, high = summary["added spread"]  # type: ignore[misc]
                    row(f"cold start, image {label}: what the plugin adds to the host's own cold start", "s", added,
                        None, f"INIT REPORT + first invocation, bot minus the host-only bot (secrets from SSM, the "
                        f"conditional-writes check, the S3 client, state load + lease, save + release): median of "
                        f"{COLD_STARTS} interleaved pairs' differences (middle half {q1:.3f}-{q3:.3f} s, all "
                        f"{low:.3f}-{high:.3f} s); the scaffolded aws_function imported first, as Lambda imports it",
                        "<= 0.3 s", added <= 0.3)  # type: ignore[operator]
                    steps = summary["steps"]
                    if steps:
                        assert isinstance(steps, dict)
                        own = sum(steps.values())
                        row(f"cold start, image {label}: the plugin's own steps, timed in the handler", "s", own, None,
                            ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in steps.items())
                            + f" (medians of {COLD_STARTS} cold starts of a handler that wraps them: it imports the "
                            "framework and the plugin before aws_function, which alone costs more than the steps; "
                            "the row above is the bot as deployed)")
                    else:
                        notes.append(f"Cold start, image {label}: the timed handler returned no timings: "
                                     f"{str(pairs['timed'][0]['payload'])[:300]}")
                    if label == "slim":
                        for cache_dir in sorted((root / "var" / "task").rglob("__pycache__"), reverse=True):
                            cache_dir.chmod(0o755)
                            shutil.rmtree(cache_dir)
                        standin.prepare_rootfs(root)
                        nobyte = run_cold_start(binary, root, "bot_handler.handler", env, work / "function.log")
                        row("cold start, slim image without byte code: INIT REPORT", "s",
                            bot["init"], (nobyte["init_ms"] or 0) / 1000,  # type: ignore[operator]
                            f"reference: the same image without `__pycache__` (compiled at every cold start); "
                            f"first invocation {(nobyte['duration_ms'] or 0) / 1000:.2f} s, result {nobyte['kind']}")  # type: ignore[operator]
            if args.json:
                Path(args.json).write_text(json.dumps({
                    "benchmark": "build.py", "ours_label": "native builder", "host_label": "reference",
                    "pip_cache_empty": args.cold,
                    "tables": [{"title": "Native builder vs the Dockerfile way, scaffolded bot with its real "
                                         "requirement set, Lambda stand-in (Python 3.11, x86_64)", "rows": rows}],
                    "notes": [*notes,
                              f"Load average at the end: {' / '.join(f'{x:.1f}' for x in os.getloadavg())} on "
                              f"{os.cpu_count()} cores. When the machine is shared (other builds and tests running), "
                              "wall-clock seconds include waiting for the CPU: the CPU seconds in the notes are the "
                              "work itself, and the ratios compare two ways measured under the same load.",
                              "The host's deploy builds with `docker build`: no Docker engine here; the reference "
                              "is the Dockerfile template's RUN step (`pip install --target` + `compileall`) run "
                              "directly, measured in the same run with its own download cache.",
                              "Cold start: AWS's Runtime Interface Emulator (aws-lambda-rie from the aws-sam-cli "
                              "wheel) runs the unpacked image in a chroot; its INIT REPORT and REPORT lines.",
                              "Cold start, what the plugin adds: INIT + first invocation of the bot as deployed (the scaffolded "
                              "aws_function imported first, as Lambda imports it) minus the host-only bot, the median "
                              "of the interleaved pairs' differences. The plugin's steps are timed in separate cold "
                              "starts by a handler that wraps them: it imports the framework and the plugin ahead of "
                              "aws_function, which under the emulator alone costs the process about 15,000 more minor "
                              "page faults and 0.1-0.2 s of INIT, work the deployed bot never does, so "
                              "its cold starts are not the figure."],
                }, indent=2))
        finally:
            registry_process.terminate()
            registry_process.wait()
            server.stop()


COLD_STARTS = 9  # pairs per image (host-only bot, then ours, then ours timed); the median of the pairs' differences


ADDED = "cachetools"  # a small package the scaffold's requirement set does not have
HOST_FUNCTION = """# The scaffolded aws_function.py on the host alone: no secrets, no S3 state, no lease (the reference).
# Its garbage collection is the template's (iaf_aws_plugin.cold_start, spelled out): paused until the
# set-up is done, then what the set-up made frozen; so the difference is the plugin's work.
import gc
import logging.config
import os

gc.disable()
from dotenv import load_dotenv
from investing_algorithm_framework import AWS_LAMBDA_LOGGING_CONFIG, RESOURCE_DIRECTORY, create_app
from strategies.my_strategy import MyTradingStrategy

load_dotenv()
logging.config.dictConfig(AWS_LAMBDA_LOGGING_CONFIG)
app = create_app(config={RESOURCE_DIRECTORY: os.environ.get(RESOURCE_DIRECTORY, os.path.join("/tmp", "resources"))})
app.add_market(market="BITVAVO", trading_symbol="EUR", initial_balance=1000)
app.add_strategy(MyTradingStrategy)
gc.freeze()
gc.enable()


def lambda_handler(event, context):
    app.run(number_of_iterations=1)
    return {"statusCode": 200, "body": "Trading iteration completed."}
"""
PHASE_PROBE = """# Imported first by both handlers (the reference and ours): per phase, the handler's import (init)
# and its first invocation, the seconds the garbage collector ran, minor page faults and system CPU.
import gc
import resource
import time

SECONDS = {"init": 0.0, "invocation": 0.0}
USAGE = {}
_phase = ["init"]
_started = [0.0]


def _usage():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_minflt, usage.ru_stime


def _callback(phase, info):
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        SECONDS[_phase[0]] += time.perf_counter() - _started[0]


gc.callbacks.append(_callback)
_at = [_usage()]


def invoking():
    now = _usage()
    USAGE["init"] = [now[0] - _at[0][0], now[1] - _at[0][1]]
    _at[0] = now
    _phase[0] = "invocation"


def collecting():
    return SECONDS["init"] + SECONDS["invocation"]


def report():
    now = _usage()
    USAGE["invocation"] = [now[0] - _at[0][0], now[1] - _at[0][1]]
    return {"gc_seconds": SECONDS, "faults_system_seconds": USAGE}
"""
HOST_HANDLER = """import phase_probe  # noqa: F401  (first: it counts from here on)
import sys

import host_function

sys.modules["aws_function"] = host_function  # the offline paper market attaches to this app
import paper_market  # noqa: E402


def handler(event, context):
    phase_probe.invoking()
    return {"result": paper_market.lambda_handler(event, context), **phase_probe.report()}
"""
BOT_HANDLER = """import phase_probe  # noqa: F401  (first: it counts from here on)

import aws_function  # noqa: F401  (the bot as scaffolded, imported first, as Lambda imports it)
import paper_market  # noqa: E402  (the offline paper market attaches to that app)


def handler(event, context):
    phase_probe.invoking()
    return {"result": paper_market.lambda_handler(event, context), **phase_probe.report()}
"""
TIMED_HANDLER = """# The scaffolded aws_function.py, unchanged, on the offline paper market; the plugin's steps timed.
import phase_probe  # first: it counts from here on
import time

import iaf_aws_plugin.cold_start  # noqa: F401  (as in aws_function: before the framework, collector paused)
import investing_algorithm_framework  # noqa: F401  (the host's own import comes first, as in aws_function)

SECONDS = {}  # each step's seconds without the garbage collection in it (that is in phase_probe)
_started, _collected = time.perf_counter(), phase_probe.collecting()
import iaf_aws_plugin  # noqa: E402
import iaf_aws_plugin.function_env  # noqa: E402,F401
import iaf_aws_plugin.runtime  # noqa: E402
import iaf_aws_plugin.schedule_gate  # noqa: E402,F401
from iaf_aws_plugin import AWSS3StorageStateHandler  # noqa: E402
SECONDS["plugin import"] = time.perf_counter() - _started - (phase_probe.collecting() - _collected)


def _timed(name, function):
    def run(*args, **kwargs):
        started, collected = time.perf_counter(), phase_probe.collecting()
        try:
            return function(*args, **kwargs)
        finally:
            spent = time.perf_counter() - started - (phase_probe.collecting() - collected)
            SECONDS[name] = SECONDS.get(name, 0.0) + spent
    return run


iaf_aws_plugin.runtime.load_secrets = _timed("secrets (SSM)", iaf_aws_plugin.runtime.load_secrets)
iaf_aws_plugin.runtime.require_s3_conditional_writes = _timed(
    "conditional-writes check", iaf_aws_plugin.runtime.require_s3_conditional_writes)
AWSS3StorageStateHandler.__init__ = _timed("state handler set-up", AWSS3StorageStateHandler.__init__)
# its S3 client, created when the app first runs: part of the first invocation
AWSS3StorageStateHandler.initialize = _timed("S3 client set-up", AWSS3StorageStateHandler.initialize)
AWSS3StorageStateHandler.load = _timed("state load + lease", AWSS3StorageStateHandler.load)
AWSS3StorageStateHandler.save = _timed("state save + release", AWSS3StorageStateHandler.save)
import paper_market  # noqa: E402  (imports aws_function: the bot as scaffolded)


def handler(event, context):
    phase_probe.invoking()
    result = paper_market.lambda_handler(event, context)
    return {"result": result, "plugin_seconds": SECONDS, **phase_probe.report()}
"""


if __name__ == "__main__":
    main()
