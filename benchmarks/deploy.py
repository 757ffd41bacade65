"""Benchmark deploy-aws-lambda on a moto server: a first deploy and a no-op redeploy.

    python benchmarks/deploy.py [--runs 3] [--json FILE]

Starts its own moto server on 127.0.0.1 (fake credentials, nothing leaves the machine),
scaffolds a bot, pushes a small image into the emulated ECR and runs the real host console
script (``investing-algorithm-framework deploy-aws-lambda --image-uri ...``). Prints:

- the wall time of a first deploy and of a no-op redeploy (median of ``--runs``), next to
  the host CLI's own start-up time (``investing-algorithm-framework --help``) measured in
  the same run, which is most of a no-op redeploy;
- the number of requests and of WRITE requests the no-op redeploy sent, read from moto's
  own request log (the recorder), i.e. counted on the emulator's side. Goal: 0 writes.

The host's built-in deploy-aws-lambda cannot run here (it needs a Docker engine and the
AWS CLI, and it always builds), so there is no ratio against it: it would be infinite for
"no-op" (the host has none: every run rebuilds, pushes and updates). ``--json FILE`` also
writes the figures as JSON (the format ``benchmarks/report.py`` reads).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HOST_CLI = Path(sys.executable).parent / "investing-algorithm-framework"
READ_PREFIXES = ("Get", "List", "Describe", "Head", "BatchGet", "BatchCheck", "Simulate")


def push_image(ecr, repository: str, tag: str) -> str:
    uri = ecr.create_repository(repositoryName=repository)["repository"]["repositoryUri"]
    blobs = []
    for data in (json.dumps({"architecture": "amd64", "os": "linux"}).encode(), b"layer"):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        upload = ecr.initiate_layer_upload(repositoryName=repository)
        ecr.upload_layer_part(repositoryName=repository, uploadId=upload["uploadId"], partFirstByte=0,
                              partLastByte=len(data) - 1, layerPartBlob=data)
        ecr.complete_layer_upload(repositoryName=repository, uploadId=upload["uploadId"], layerDigests=[digest])
        blobs.append((digest, len(data)))
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": blobs[0][0],
                   "size": blobs[0][1]},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": blobs[1][0],
                    "size": blobs[1][1]}]})
    ecr.put_image(repositoryName=repository, imageManifest=manifest, imageTag=tag,
                  imageDigest="sha256:" + hashlib.sha256(manifest.encode()).hexdigest())
    return f"{uri}:{tag}"


def operation_of(entry: dict) -> tuple[str, bool]:
    """(operation, is_write) of one request in moto's recording."""
    headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
    target = headers.get("x-amz-target")
    if target:
        operation = target.rsplit(".", 1)[-1]
        return operation, not operation.startswith(READ_PREFIXES)
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        import base64

        body = base64.b64decode(body).decode(errors="replace")
    if "Action=" in body:
        operation = body.split("Action=", 1)[1].split("&", 1)[0]
        return operation, not operation.startswith(READ_PREFIXES)
    method = entry["method"]
    return f"{method} {entry['url'].split('?')[0][-60:]}", method not in ("GET", "HEAD")


class Recording:
    """Requests the moto server received while the block ran (its recorder, moto-api)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.operations: list[tuple[str, bool]] = []

    def _post(self, action: str) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/recorder/{action}", method="POST"))

    def __enter__(self) -> "Recording":
        self._post("reset-recording")
        self._post("start-recording")
        return self

    def __exit__(self, *exc: object) -> None:
        self._post("stop-recording")
        with urllib.request.urlopen(f"{self.endpoint}/moto-api/recorder/download-recording") as response:
            entries = [json.loads(line) for line in response.read().decode().splitlines() if line.strip()]
        self.operations = [operation_of(entry) for entry in entries]


def run(args: list[str], cwd: Path, env: dict) -> float:
    started = time.perf_counter()
    result = subprocess.run([str(HOST_CLI), *args], cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="iaf-deploy-bench-"))
    recording = work / "moto-recording.jsonl"
    os.environ.update(MOTO_LAMBDA_STUB_ECR="false", MOTO_RECORDER_FILEPATH=str(recording))
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    (work / "config").write_text("[default]\nregion = eu-west-1\n")
    (work / "credentials").write_text("[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_"))}
    env.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_REGION="eu-west-1", AWS_DEFAULT_REGION="eu-west-1", AWS_CONFIG_FILE=str(work / "config"),
               AWS_SHARED_CREDENTIALS_FILE=str(work / "credentials"), AWS_EC2_METADATA_DISABLED="true")
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    import boto3

    ecr = boto3.client("ecr", region_name="eu-west-1")
    startup, first, noop = [], [], []
    requests = writes = first_writes = 0
    write_operations: list[str] = []
    try:
        for index in range(options.runs):
            startup.append(run(["--help"], work, env))
            project = work / f"bot{index}"
            run(["init-aws-lambda", "--path", str(project)], work, env)
            (project / ".env").write_text("BITVAVO_API_KEY=bench-key\nBITVAVO_SECRET_KEY=bench-secret\nLOG_LEVEL=INFO\n")
            image = push_image(ecr, f"prebuilt-bench{index}", "v1")
            with Recording(endpoint) as recorded_first:
                first.append(run(["deploy-aws-lambda", "--lambda-function-name", f"bench{index}", "--image-uri",
                                  image, "--yes"], project, env))
            first_writes = max(first_writes, len([op for op, is_write in recorded_first.operations if is_write]))
            with Recording(endpoint) as recorded:
                noop.append(run(["deploy-aws-lambda"], project, env))  # saved settings, same image
            requests = max(requests, len(recorded.operations))
            write_operations = [op for op, is_write in recorded.operations if is_write]
            writes = max(writes, len(write_operations))
    finally:
        server.stop()

    def med(values: list[float]) -> float:
        return statistics.median(values)

    print(f"deploy-aws-lambda on moto ({options.runs} runs, median wall time through the host console script)")
    print(f"  host CLI start-up (--help)        {med(startup):6.2f} s")
    print(f"  first deploy (--image-uri)        {med(first):6.2f} s   ({med(first) - med(startup):5.2f} s above start-up)")
    print(f"  no-op redeploy (saved settings)   {med(noop):6.2f} s   ({med(noop) - med(startup):5.2f} s above start-up)")
    print(f"  first deploy WRITE calls (moto log) {first_writes}   (shows the counting works)")
    print(f"  no-op redeploy requests (moto log) {requests}")
    print(f"  no-op redeploy WRITE calls        {writes}   (goal 0){'  ' + ', '.join(write_operations) if writes else ''}")
    print("  host built-in deploy-aws-lambda: not measurable here (needs Docker and the AWS CLI; "
          "it rebuilds and updates on every run, so it has no no-op)")
    if options.json:
        not_here = "not measurable here"
        rows = [
            {"measure": "host CLI start-up (`--help`, plugins loaded)", "unit": "s", "ours": med(startup),
             "host": None, "note": "the floor under every command below"},
            {"measure": "first deploy (`--image-uri`, prebuilt image)", "unit": "s", "ours": med(first),
             "host": not_here, "note": f"{med(first) - med(startup):.2f} s above start-up; "
                                       f"{first_writes} write calls"},
            {"measure": "no-op redeploy (saved settings, same image)", "unit": "s", "ours": med(noop),
             "host": not_here, "note": f"{med(noop) - med(startup):.2f} s above start-up"},
            {"measure": "no-op redeploy: requests (moto's log)", "unit": "requests", "ours": requests,
             "host": None},
            {"measure": "no-op redeploy: write calls (moto's log)", "unit": "calls", "ours": writes,
             "host": None, "goal": "0", "met": writes == 0,
             "note": ", ".join(write_operations) if writes else ""},
        ]
        Path(options.json).write_text(json.dumps({
            "benchmark": "deploy.py", "ours_label": "iaf-aws-plugin deploy-aws-lambda",
            "host_label": "host's deploy-aws-lambda",
            "tables": [{"title": f"deploy-aws-lambda on moto (median of {options.runs} runs, through the host "
                                 "console script)", "rows": rows}],
            "notes": ["The host's built-in deploy-aws-lambda cannot run here: it needs a Docker engine and the "
                      "AWS CLI, and it rebuilds, pushes and updates on every run (it has no no-op)."],
        }, indent=2))


if __name__ == "__main__":
    main()
