"""``init-aws-lambda``: scaffold a trading bot project ready for AWS Lambda."""
from __future__ import annotations

import click

from . import handle_errors


@click.command(name="init-aws-lambda")
@click.option("--path", default=None,
              help="Directory to create the project in (created with its parents); default: the current one.")
@click.option("--replace", is_flag=True, default=False, help="Overwrite files that already exist.")
@handle_errors
def init_aws_lambda(path: str | None, replace: bool) -> None:
    """Create an AWS Lambda trading bot project (same as `init --type aws-lambda`)."""
    from ..scaffold import scaffold_aws_lambda

    scaffold_aws_lambda(path=path, replace=replace)
