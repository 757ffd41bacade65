"""The quick start's embedded AWS emulator: moto's server on 127.0.0.1 (a random port), in this
process, for as long as the ``with`` block lasts. Its state is in memory: it is gone at the end."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REGION = "eu-west-1"
CREDENTIAL = "quickstart"  # the emulator takes any key; never a real one


class Emulator:
    def __init__(self) -> None:
        self._server: Any = None

    def __enter__(self) -> "Emulator":
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    @property
    def endpoint(self) -> str:
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def environment(self, base: dict[str, str], config_dir: Path) -> dict[str, str]:
        """``base`` with every AWS setting pointed at the emulator: fake credentials, no profile and
        empty AWS config files, so a real ``~/.aws`` is never read and no real account is reached."""
        env = {k: v for k, v in base.items() if not k.startswith("AWS_")}
        config_dir.mkdir(parents=True, exist_ok=True)
        for name in ("config", "credentials"):
            (config_dir / name).write_text("")
        env.update({
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": CREDENTIAL, "AWS_SECRET_ACCESS_KEY": CREDENTIAL,
            "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": str(config_dir / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(config_dir / "credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        })
        return env

    def allow_plain_http(self, bucket: str) -> None:
        """Emulator only: drop the state bucket's TLS-only statement. moto ignores the condition of a
        bucket policy, so ``Deny unless aws:SecureTransport`` denies every request, HTTPS included;
        on AWS the statement stays and the bot's requests (HTTPS) pass it."""
        import boto3

        s3 = boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION,
                          aws_access_key_id=CREDENTIAL, aws_secret_access_key=CREDENTIAL)
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        kept = [s for s in policy["Statement"]
                if "aws:SecureTransport" not in json.dumps(s.get("Condition", {}))]
        if kept:
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(dict(policy, Statement=kept)))
        else:
            s3.delete_bucket_policy(Bucket=bucket)
