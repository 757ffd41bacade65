"""``init-aws-lambda``: scaffold a trading bot project ready for AWS Lambda."""
from __future__ import annotations

import click

from . import handle_errors


@click.command(name="init-aws-lambda")
@click.option("--path", default=None,
              help="Directory to create the project in (created with its parents); default: the current one.")
@click.option("--replace", is_flag=True, default=False, help="Overwrite files that already exist.")
@click.option("--ci", "ci", default=None, type=click.Choice(["github"]),
              help="Also write a CI workflow that deploys on push to main: github (GitHub Actions with OIDC, "
                   ".github/workflows/deploy-aws-lambda.yml).")
@click.option("--stage", default=None, metavar="NAME",
              help="With --ci: the workflow deploys this stage (.github/workflows/deploy-aws-lambda-NAME.yml); "
                   "default: the settings file's default stage.")
@handle_errors
def init_aws_lambda(path: str | None, replace: bool, ci: str | None = None, stage: str | None = None) -> None:
    """Create an AWS Lambda trading bot project (same as `init --type aws-lambda`)."""
    from ..scaffold import scaffold_aws_lambda

    if stage is not None and not ci:
        from ..errors import PluginError

        raise PluginError("--stage of init-aws-lambda names the stage a CI workflow deploys: it needs --ci.",
                          fix="Add --ci github, or leave out --stage (deploy-aws-lambda --stage NAME picks a stage).")
    if stage is not None:
        from ..deploy.stages import validate_stage

        validate_stage(stage)  # before anything is written
    scaffold_aws_lambda(path=path, replace=replace)
    if ci:
        from pathlib import Path

        from ..ci import write_ci

        write_ci(Path(path) if path else Path.cwd(), ci, replace=replace, echo=click.echo, stage=stage)
