"""iaf-aws-plugin's own hook implementations: a built-in plugin, registered first by our plugin
manager (``BUILTIN_PLUGINS``) through the same hooks as any outside plugin, and declared in the
``investing_algorithm_framework`` entry point group for hosts that load that group themselves.

Only click is imported here; each command imports its library code when it runs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .hookspecs import hookimpl

if TYPE_CHECKING:  # pragma: no cover - typing only
    import click

    from .builders import Builder
    from .hookspecs import RegisterAppType, RegisterBuilder
    from .scaffold import WrittenFile


@hookimpl
def register_commands(cli: click.Group) -> None:
    from .commands.deploy import deploy_aws_lambda
    from .commands.destroy import destroy_aws_lambda
    from .commands.init import init_aws_lambda
    from .commands.invoke import invoke_aws_lambda
    from .commands.logs import logs_aws_lambda
    from .commands.portfolio import portfolio_aws_lambda
    from .commands.report import report_aws_lambda
    from .commands.rollback import rollback_aws_lambda
    from .commands.secrets import secrets_aws_lambda
    from .commands.state import state_aws_lambda
    from .commands.status import status_aws_lambda

    # Same name as the host's built-in command: ours replaces it.
    cli.add_command(deploy_aws_lambda)
    cli.add_command(init_aws_lambda)
    # Operating a deployed bot.
    for command in (status_aws_lambda, logs_aws_lambda, invoke_aws_lambda, rollback_aws_lambda,
                    destroy_aws_lambda, state_aws_lambda, secrets_aws_lambda):
        cli.add_command(command)
    # How the bot is doing, from its state snapshots.
    cli.add_command(portfolio_aws_lambda)
    cli.add_command(report_aws_lambda)
    # The kill switch: the schedule off and on, the settings untouched.
    from .commands.pause import pause_aws_lambda, resume_aws_lambda

    cli.add_command(pause_aws_lambda)
    cli.add_command(resume_aws_lambda)


def scaffold_aws_lambda(path: str | None, replace: bool) -> list[WrittenFile]:
    """``init --type aws-lambda``; the scaffolding code loads only when it runs."""
    from .scaffold import scaffold_aws_lambda as scaffold

    return scaffold(path=path, replace=replace)


@hookimpl
def register_app_types(register: RegisterAppType) -> None:
    register("aws-lambda", scaffold_aws_lambda, aliases=("aws_lambda",),
             help="A trading bot for AWS Lambda, deployed with deploy-aws-lambda.")


def docker_builder() -> Builder:
    from .builders.docker import DockerBuilder

    return DockerBuilder()


def native_builder() -> Builder:
    from .builders.native import NativeBuilder

    return NativeBuilder()


@hookimpl
def register_builders(register: RegisterBuilder) -> None:
    register("docker", docker_builder)
    register("native", native_builder)
