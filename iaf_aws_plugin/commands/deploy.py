"""``deploy-aws-lambda``: placeholder until the deploy pipeline lands (issue 4)."""
from __future__ import annotations

import click


@click.command(name="deploy-aws-lambda", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def deploy_aws_lambda(args: tuple[str, ...]) -> None:
    """Deploy this trading bot to AWS Lambda."""
    raise click.ClickException("deploy-aws-lambda is not implemented yet.")
