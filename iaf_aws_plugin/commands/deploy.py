"""``deploy-aws-lambda``: plan, then apply, a least-privilege scheduled deployment.

Thin: parse the flags, call :func:`iaf_aws_plugin.deploy.pipeline.deploy`, print (the
library masks secrets in everything it prints or raises).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import click

from . import handle_errors
from ._target import current_stage, stage_option

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..builders import Builder


def _confirm(question: str) -> bool:
    import sys

    from ..errors import PluginError

    if not sys.stdin or not sys.stdin.isatty():
        raise PluginError("the plan needs a confirmation but the input is not a terminal: nothing was changed.",
                          fix="Pass --yes to apply without asking (or --dry-run to only see the plan).")
    return click.confirm(question, default=False)


@click.command(name="deploy-aws-lambda")
@click.option("--lambda_function_name", "--lambda-function-name", "function_name", default=None,
              help="Name of the Lambda function (saved: later deploys need no flag; with --stage: the bot's "
                   "name, the stage appended).")
@click.option("--region", default=None, help="AWS region; default: saved, AWS_REGION, or your profile's.")
@click.option("--project_dir", "--project-dir", "project_dir", default=None, type=click.Path(file_okay=False),
              help="The bot's folder (with aws_function.py); default: the current one.")
@click.option("--memory_size", "--memory-size", "memory_size", default=None, type=int,
              help="Memory in MB, 128-10240 (default 3000).")
@click.option("--env", "-e", "env", multiple=True, nargs=2, type=str, metavar="KEY VALUE",
              help="Environment variable (repeatable; wins over .env). Secrets (by name or value) go to SSM, "
                   "never into the settings file.")
@click.option("--timeout", default=None, type=int, help="Timeout in seconds, 1-900 (default 900).")
@click.option("--schedule", default=None,
              help="rate(...), cron(...) or none; default on first deploy: derived from the strategies.")
@click.option("--schedule-timezone", "--schedule_timezone", "schedule_timezone", default=None,
              help="IANA time zone of a cron --schedule (default UTC); a derived schedule always runs in UTC.")
@click.option("--architecture", default=None, type=click.Choice(["x86_64", "arm64"]),
              help="Lambda architecture (default x86_64).")
@click.option("--image-uri", "--image_uri", "image_uri", default=None,
              help="Deploy this prebuilt ECR image (tag or digest) instead of building one.")
@click.option("--builder", default=None,
              help="Image builder: native (no Docker), docker, or auto (default: native unless the Dockerfile "
                   "needs Docker).")
@click.option("--base-image", "--base_image", "base_image", default=None,
              help="Base image of the native builder (default public.ecr.aws/lambda/python:<version>).")
@click.option("--output", default=None, help="Also write the built image as an OCI layout: oci:DIR.")
@click.option("--slim/--no-slim", "slim", default=None,
              help="Native builder: leave tests/, C sources, type stubs and debug symbols out of the dependencies, "
                   "and compile no byte code for what --prune-unused would leave out (default; saved).")
@click.option("--prune-unused/--no-prune-unused", "prune_unused", default=None,
              help="Native builder: also leave out the packages the framework declares but a Lambda run never "
                   "imports (Jupyter, debugpy, babel…) and the API versions azure-mgmt never loads; saved).")
@click.option("--role-arn", "--role_arn", "role_arn", default=None,
              help="Use this IAM role instead of creating a least-privilege one.")
@click.option("--profile", default=None, help="AWS profile from ~/.aws/config.")
@click.option("--log-retention-days", "--log_retention_days", "log_retention_days", default=None, type=int,
              help="Days CloudWatch Logs keeps the function's logs (default 30; saved).")
@click.option("--ephemeral-storage", "--ephemeral_storage", "ephemeral_storage", default=None, type=int,
              help="MB of /tmp for the function, 512-10240 (default 512; saved).")
@click.option("--rollback-window", "--rollback_window", "rollback_window", default=None, type=int,
              help="Published versions (and their images) kept for a rollback (default 5; saved).")
@click.option("--secret", "secret_names", multiple=True, metavar="NAME",
              help="Store this variable in SSM whatever its name or value (repeatable; saved).")
@click.option("--plain", "plain_names", multiple=True, metavar="NAME",
              help="Keep this variable a plain Lambda variable although it looks secret (repeatable; saved).")
@click.option("--alert-email", "--alert_email", "alert_email", default=None, metavar="ADDRESS",
              help="E-mail alerts on failed, throttled and missed runs (saved; 'none' removes them).")
@click.option("--alert-topic", "--alert_topic", "alert_topic", default=None, metavar="ARN",
              help="Alarms also notify this SNS topic of yours (Slack via AWS Chatbot, a pager...); never changed or "
                   "deleted by the deploy (saved; 'none' removes it).")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE",
              help="Your own tag on every resource of the bot (repeatable; replaces the saved set; 'none' removes "
                   "them; saved).")
@click.option("--provisioned-concurrency", "--provisioned_concurrency", "provisioned_concurrency", default=None,
              type=int, metavar="N", help="Keep N (0 or 1) instances warm: no cold start, paid per second "
                                          "(its cost is in the plan; saved).")
@click.option("--rename", is_flag=True, default=False,
              help="Deploy this folder under a new --lambda-function-name: first disable the schedules of the "
                   "function it deployed before; the new one starts paused when that one has state (the commands "
                   "that carry the state over and start it are printed, and how to destroy the old one).")
@click.option("--dry-run", "--dry_run", "dry_run", is_flag=True, default=False,
              help="Print the plan; change nothing.")
@click.option("--yes", "-y", is_flag=True, default=False, help="Apply without asking for confirmation.")
@click.option("--force-unlock", "--force_unlock", "force_unlock", is_flag=True, default=False,
              help="Remove another deploy's lease first (only when that deploy died; a lease also expires by itself "
                   "after an hour).")
@click.option("--json", "as_json", is_flag=True, default=False,
              help="With --dry-run: print the plan as JSON on stdout (the other lines go to stderr).")
@click.option("--exit-code", "--exit_code", "exit_code", is_flag=True, default=False,
              help="With --dry-run: exit 0 when nothing would change, 2 when changes are pending (for CI).")
@stage_option
@handle_errors
def deploy_aws_lambda(function_name: str | None, region: str | None, project_dir: str | None,
                      memory_size: int | None, env: tuple[tuple[str, str], ...], timeout: int | None,
                      schedule: str | None, schedule_timezone: str | None, architecture: str | None,
                      image_uri: str | None, builder: str | None, base_image: str | None,
                      output: str | None, role_arn: str | None, profile: str | None,
                      ephemeral_storage: int | None, log_retention_days: int | None, rollback_window: int | None,
                      secret_names: tuple[str, ...], plain_names: tuple[str, ...], alert_email: str | None,
                      provisioned_concurrency: int | None, dry_run: bool, yes: bool, slim: bool | None = None,
                      prune_unused: bool | None = None, force_unlock: bool = False, as_json: bool = False,
                      exit_code: bool = False, alert_topic: str | None = None,
                      tags: tuple[str, ...] = (), rename: bool = False) -> None:
    """Deploy this trading bot to AWS Lambda: print the plan, then apply it."""
    from dataclasses import replace
    from pathlib import Path

    from ..deploy.pipeline import deploy
    from ..deploy.settings import DeployOptions

    options = DeployOptions(
        project_dir=Path(project_dir) if project_dir else Path.cwd(), function_name=function_name, region=region,
        memory_size=memory_size, timeout=timeout, env=tuple((k, v) for k, v in env), schedule=schedule,
        schedule_timezone=schedule_timezone, architecture=architecture, image_uri=image_uri, builder=builder,
        base_image=base_image, output=output, role_arn=role_arn, profile=profile, dry_run=dry_run, yes=yes,
        force_unlock=force_unlock)
    options = replace(options, log_retention_days=log_retention_days, rollback_window=rollback_window,
                      ephemeral_storage=ephemeral_storage,
                      secret_names=tuple(secret_names), plain_names=tuple(plain_names), alert_email=alert_email,
                      provisioned_concurrency=provisioned_concurrency, slim=slim, prune_unused=prune_unused,
                      stage=current_stage(), alert_topic=alert_topic,
                      tags=tuple(tags) if tags else None, rename=rename)
    if (as_json or exit_code) and not dry_run:
        from ..errors import PluginError

        raise PluginError(f"{'--json' if as_json else '--exit-code'} describes a plan: it needs --dry-run.",
                          fix="Add --dry-run (deploy-aws-lambda --dry-run --json --exit-code).")
    echo = (lambda line: click.echo(line, err=True)) if as_json else click.echo
    result = deploy(options, echo=echo, warn=lambda line: click.echo(f"Warning: {line}", err=True),
                    confirm=_confirm, builders=installed_builders())
    if as_json:
        import json

        from ..deploy.pipeline import plan_document

        click.echo(json.dumps(plan_document(result), indent=2, sort_keys=True))
    if exit_code and not result.plan.is_noop:
        click.get_current_context().exit(2)


def installed_builders() -> dict[str, Callable[[], Builder]]:
    """The image builders the plugins register (``--builder`` names), passed to the deploy."""
    from ..plugin_manager import collect_builders, get_plugin_manager

    return collect_builders(get_plugin_manager())


def builder_factory(name: str) -> Callable[[], Builder]:
    """The installed builder ``name``, or one line naming the known ones."""
    from ..deploy.pipeline import builder_factory as lookup

    return lookup(name, installed_builders())
