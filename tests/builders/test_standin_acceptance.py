"""ACCEPTANCE: a bot deployed with ``--builder native --prune-unused`` (no Docker; slim, the
default, and pruned) has an image that umoci unpacks with verified digests and that runs two
trading iterations under AWS's own Runtime Interface Emulator (``aws-lambda-rie``, from the
aws-sam-cli wheel; the test skips, saying why, when it cannot be fetched) through AWS's runtime
interface client, its state carried between them in S3. The emulator's ``REPORT`` and ``INIT
REPORT`` lines give Lambda's own cold-start figures.

The base image is a faithful stand-in of Lambda's Python 3.11 image (see standin.py) served by a
loopback docker-registry; the requirement set is the scaffold's real one (IAF and its ~1.4 GB of
wheels for cp311 manylinux x86_64, from PyPI through pip). Takes minutes cold; the Debian root
file system, the runtime client, the emulator and the dependency layer are cached below
``$IAF_CI_DIR/cache``.
Select it with ``-m standin``; it needs root (chroot), mmdebstrap, umoci, skopeo, docker-registry.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from ..state.test_end_to_end import CANDLES, install_offline_runner
from .conftest import need
from .standin import OFFLINE_HANDLER, Emulator, emulator_binary, prepare_rootfs, standin_image

pytestmark = [pytest.mark.standin, pytest.mark.host]


def ci_cache() -> Path:
    base = os.environ.get("IAF_CI_DIR") or str(Path.home() / ".cache" / "iaf-aws-plugin-tests")
    return Path(base) / "cache"


@pytest.fixture(scope="session")
def standin(registry: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    if os.geteuid() != 0:
        pytest.skip("the stand-in runs in a chroot: needs root")
    need("mmdebstrap", "umoci", "skopeo")
    return standin_image(ci_cache() / "standin", registry, tmp_path_factory.mktemp("standin"))


@pytest.fixture(scope="session")
def rie() -> Path:
    binary, why = emulator_binary(ci_cache() / "standin")
    if binary is None:
        pytest.skip(f"AWS's Runtime Interface Emulator could not be fetched: {why}")
    return binary


def lambda_env(function_env: dict[str, str], aws_env: dict[str, str], **extra: str) -> dict[str, str]:
    """What Lambda puts into the function's environment (the deployed variables, the runtime's own;
    the emulator adds ``AWS_LAMBDA_RUNTIME_API``)."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": ":/etc/localtime",
           "LAMBDA_TASK_ROOT": "/var/task", "LAMBDA_RUNTIME_DIR": "/var/runtime", "HOME": "/tmp",
           "AWS_LAMBDA_FUNCTION_NAME": "bot",
           "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3000", "AWS_LAMBDA_FUNCTION_VERSION": "1",
           "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bot", "AWS_LAMBDA_LOG_STREAM_NAME": "test",
           "_HANDLER": "offline_handler.handler"}
    env.update(function_env)
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION"):
        env[name] = aws_env[name]
    env.update(extra)
    return env


def test_a_natively_built_pruned_bot_runs_two_iterations_under_aws_runtime_interface_emulator(
        standin, rie, host_cli, aws_env, unique_name, tmp_path):
    import boto3

    project = tmp_path / "bot"
    scaffold = host_cli(["init-aws-lambda", "--path", str(project)])
    assert scaffold.returncode == 0, scaffold.stderr
    install_offline_runner(project)
    (project / "offline_handler.py").write_text(OFFLINE_HANDLER)
    (project / "paper").mkdir()  # .dockerignore keeps data/ out of the image
    shutil.copy(CANDLES, project / "paper" / "btc_eur_1h.csv")
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace('CMD ["aws_function.lambda_handler"]',
                                                         'CMD ["offline_handler.handler"]'))
    (project / ".env").write_text("BITVAVO_API_KEY=paper-key\nBITVAVO_SECRET_KEY=paper-secret\n")
    layout = tmp_path / "oci"
    cache = ci_cache()
    env = dict(aws_env, IAF_AWS_CACHE_DIR=str(cache / "native"), PIP_CACHE_DIR=str(cache / "pip"))
    started = time.monotonic()
    deploy = host_cli(["deploy-aws-lambda", "--lambda-function-name", unique_name, "--builder", "native",
                       "--base-image", standin, "--output", f"oci:{layout}", "--schedule", "none", "--prune-unused",
                       "--yes"],
                      cwd=project, env=env, timeout=3600)
    build_seconds = time.monotonic() - started
    assert deploy.returncode == 0, deploy.stdout[-3000:] + deploy.stderr[-3000:]
    print(f"deploy with native build: {build_seconds:.1f} s")
    assert "Builder: native (--builder native)" in deploy.stdout
    assert "Byte code: compiled with Python 3.11" in deploy.stdout
    assert "Slim: removed " in deploy.stdout and "Pruned (--prune-unused): " in deploy.stdout, deploy.stdout
    assert "debugpy" in deploy.stdout.split("Pruned (--prune-unused): ")[1].splitlines()[0]
    print("\n".join(line for line in deploy.stdout.splitlines()
                    if line.startswith(("Image sha256", "Slim:", "Pruned", "Dependencies:", "Time:"))))

    # An unchanged project redeploys as a no-op: the digest is compared before planning.
    again = host_cli(["deploy-aws-lambda", "--yes"], cwd=project, env=env, timeout=3600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already in ECR: nothing to upload" in again.stdout and "Nothing to change" in again.stdout, again.stdout

    # The image Lambda runs is the one in the OCI layout, byte for byte.
    index = json.loads((layout / "index.json").read_text())["manifests"][0]
    ref_name = index["annotations"]["org.opencontainers.image.ref.name"]
    function = boto3.client("lambda").get_function(FunctionName=unique_name)
    assert function["Code"]["ImageUri"].endswith("@" + index["digest"])
    ecr = boto3.client("ecr")
    repository = function["Code"]["ImageUri"].split("/", 1)[1].split("@")[0]
    stored = ecr.batch_get_image(repositoryName=repository, imageIds=[{"imageDigest": index["digest"]}],
                                 acceptedMediaTypes=["application/vnd.oci.image.manifest.v1+json"])["images"][0]
    assert stored["imageManifest"].encode() == (layout / "blobs" / "sha256" / index["digest"][7:]).read_bytes()

    bundle = tmp_path / "bundle"
    unpack = subprocess.run(["umoci", "unpack", "--rootless", "--image", f"{layout}:{ref_name}", str(bundle)],
                            capture_output=True, text=True, timeout=900)
    assert unpack.returncode == 0, unpack.stderr  # every layer checked against its diff_id
    root = bundle / "rootfs"
    task = root / "var" / "task"
    assert (task / "iaf_aws_plugin" / "state" / "handler.py").is_file()
    assert not (task / ".env").exists()
    assert list((task / "investing_algorithm_framework").glob("__pycache__/*.cpython-311.pyc"))
    assert not (task / "debugpy").exists() and not (task / "jupyterlab").exists()  # pruned
    assert len(list((task / "azure" / "mgmt" / "web").glob("v20*"))) < 5  # of 17: the API versions it loads
    assert not (task / "pandas" / "tests").exists() and not list(task.glob("numpy/**/*.pyi"))  # slim
    prepare_rootfs(root)

    # Lambda's environment, as deployed; the emulator's S3 has no TLS: drop the TLS-only policy
    # of the state bucket (on AWS the function talks HTTPS).
    variables = boto3.client("lambda").get_function_configuration(
        FunctionName=unique_name)["Environment"]["Variables"]
    boto3.client("s3").delete_bucket_policy(Bucket=variables["AWS_S3_STATE_BUCKET_NAME"])
    reports = []
    figures = []
    for number in (1, 2):  # two cold containers: the state must come from S3
        shutil.rmtree(root / "tmp", ignore_errors=True)
        prepare_rootfs(root)
        log = tmp_path / f"function-{number}.log"
        emulator = Emulator(rie, root, "offline_handler.handler", lambda_env(
            variables, aws_env, OHLCV_CSV="/var/task/paper/btc_eur_1h.csv"), log)
        try:
            started = time.monotonic()
            kind, payload = emulator.invoke({})
            print(f"invocation {number}: {time.monotonic() - started:.1f} s (cold start included)")
        finally:
            emulator.stop()
        assert kind == "response", f"{kind}: {payload}\n{log.read_text()[-4000:]}"
        reports.append(payload)
        lines = emulator.reports()
        print("\n".join(line["line"] for line in lines))
        figures.append(lines)
    # Lambda's own figures: the init (imports, the plugin's start) in INIT REPORT, the invocation in REPORT.
    for lines in figures:
        init = [line for line in lines if line["kind"] == "INIT REPORT"]
        invoke = [line for line in lines if line["kind"] == "INVOKE"]
        report = [line for line in lines if line["kind"] == "REPORT"]
        assert len(init) == len(invoke) == len(report) == 1, lines
        assert invoke[0]["status"] == "success" and 0 < init[0]["durationMs"] < report[0]["Duration"], lines
    # The keep-active ping (deploy/resources/keep_active.py) in a third cold container, through the
    # scaffolded entry point itself: answered before the state handler runs, the bucket untouched.
    from iaf_aws_plugin.function_env import KEEP_ACTIVE_EVENT_SOURCE
    from iaf_aws_plugin.schedule_gate import KEEP_ACTIVE_ANSWER

    s3 = boto3.client("s3")
    state_bucket = variables["AWS_S3_STATE_BUCKET_NAME"]

    def state_objects() -> list[tuple[str, str]]:
        listed = s3.list_objects_v2(Bucket=state_bucket).get("Contents", [])
        return sorted((item["Key"], item["ETag"]) for item in listed)

    saved = state_objects()
    assert saved, "the two iterations left state in the bucket"
    shutil.rmtree(root / "tmp", ignore_errors=True)
    prepare_rootfs(root)
    log = tmp_path / "function-ping.log"
    emulator = Emulator(rie, root, "aws_function.lambda_handler", lambda_env(
        variables, aws_env, _HANDLER="aws_function.lambda_handler"), log)
    try:
        kind, payload = emulator.invoke({"source": KEEP_ACTIVE_EVENT_SOURCE, "schedule": f"{unique_name}-ping"})
    finally:
        emulator.stop()
    assert kind == "response" and payload == {"statusCode": 200, "body": KEEP_ACTIVE_ANSWER}, \
        f"{kind}: {payload}\n{log.read_text()[-4000:]}"
    assert state_objects() == saved
    assert not (root / "tmp" / "resources" / "databases").exists() and not list((root / "tmp").glob("**/*.sqlite3"))

    first, second = reports
    assert first["result"]["statusCode"] == 200
    assert first["plugin"].startswith("/var/task/") and first["boto3"].startswith("/var/task/")
    assert first["boto3_version"] != "1.34.0"  # ours, not the runtime's older copy
    assert len(first["orders"]) == 1 and " BUY BTC/EUR " in first["orders"][0], first
    assert first["trades"], first
    assert set(first["orders"]) <= set(second["orders"]) and set(first["trades"]) <= set(second["trades"])
    assert [p for p in second["positions"] if p.startswith("EUR ")] == ["EUR 750.0"], second
    assert any(s.endswith(" CLOSED") for s in second["order_status"]), second

