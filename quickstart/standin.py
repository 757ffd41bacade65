"""The quick start's stand-in image, used when no Lambda base image can be pulled (no internet).

It is what the native builder would push minus the parts that need the internet: the bot's own
files as the native builder lays them out (its app layer, ``.dockerignore`` honoured, ``.env``
never) on an empty base with Lambda's entry point and working folder. It is pushed through the
ECR API into the emulator like a real build. It cannot run on Lambda (no Python in it); nothing
in the quick start runs it: moto's Lambda runs no images, ``invoke-aws-lambda --local`` runs the
same handler in this virtual environment.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from iaf_aws_plugin.builders.native import DEFAULT_TASK_ROOT, NativeBuilder
from iaf_aws_plugin.builders.native.blobs import BlobStore
from iaf_aws_plugin.builders.native.dockerfile import DEFAULT_HANDLER, read_dockerfile
from iaf_aws_plugin.builders.native.ecr import push_image
from iaf_aws_plugin.builders.native.image import assemble
from iaf_aws_plugin.builders.native.reference import parse_reference
from iaf_aws_plugin.builders.native.registry import BaseImage

REPOSITORY = "quickstart-standin"
_CONFIG = {"architecture": "amd64", "os": "linux",
           "config": {"Entrypoint": ["/lambda-entrypoint.sh"], "WorkingDir": DEFAULT_TASK_ROOT,
                      "Env": [f"LAMBDA_TASK_ROOT={DEFAULT_TASK_ROOT}"]}}


def push_standin(project: Path, store_dir: Path, account: str, region: str, echo: Callable[[str], None]) -> str:
    """Build the stand-in of ``project``, push it to the emulated ECR; its image URI (by tag)."""
    import boto3

    store = BlobStore(store_dir)
    base = BaseImage(parse_reference("quickstart/empty-base:1"), "sha256:" + "0" * 64, _CONFIG, ())
    app = NativeBuilder(store).app_layer(project, DEFAULT_TASK_ROOT, None)
    info = read_dockerfile(project)
    image = assemble(store, base, [("app", app, f"COPY . {DEFAULT_TASK_ROOT}/")],
                     handler=info.handler if info else DEFAULT_HANDLER, task_root=DEFAULT_TASK_ROOT)
    ecr = boto3.client("ecr", region_name=region)
    ecr.create_repository(repositoryName=REPOSITORY)
    push_image(ecr, REPOSITORY, account, image, store, "bot",
               fetch_base=lambda digests: None, echo=echo)
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{REPOSITORY}:bot"
