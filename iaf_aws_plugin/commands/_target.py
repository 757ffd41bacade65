"""The options every operate command shares, and turning them into a Target."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, TypeVar

import click

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..operate.target import Target

F = TypeVar("F", bound=Callable[..., Any])

#: Where ``--stage`` leaves its value for :func:`current_stage` (the command's click context: no global state).
_STAGE_KEY = "iaf_aws_plugin.stage"


def _remember_stage(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    ctx.meta[_STAGE_KEY] = value


def stage_option(fn: F) -> F:
    """``--stage NAME``: which of the project's stages (deploy/stages.py) the command targets. Not passed
    to the command: :func:`make_target` (and the deploy) read it with :func:`current_stage`."""
    return click.option("--stage", default=None, expose_value=False, callback=_remember_stage, metavar="NAME",
                        help="The stage (e.g. paper, live): its own function, resources, state and settings "
                             "section; default: default_stage in iaf-aws-lambda.json, else the file's top level.")(fn)


def current_stage() -> str | None:
    """The ``--stage`` of the running command (``None``: not given)."""
    ctx = click.get_current_context(silent=True)
    return None if ctx is None else ctx.meta.get(_STAGE_KEY)


def target_options(fn: F) -> F:
    """``--lambda-function-name``, ``--region``, ``--profile``, ``--project-dir``, ``--stage`` (all optional
    in the project folder: the saved iaf-aws-lambda.json has them)."""
    fn = stage_option(fn)
    for option in reversed([
        click.option("--lambda-function-name", "--lambda_function_name", "function_name", default=None,
                     help="The bot's Lambda function (with --stage: the bot's name, the stage appended); default: "
                          "the one saved in iaf-aws-lambda.json."),
        click.option("--region", default=None, help="AWS region; default: saved, AWS_REGION, or your profile's."),
        click.option("--profile", default=None, help="AWS profile from ~/.aws/config; default: saved or AWS_PROFILE."),
        click.option("--project-dir", "--project_dir", "project_dir", default=None,
                     type=click.Path(file_okay=False), help="The bot's folder; default: the current one."),
    ]):
        fn = option(fn)
    return fn


def make_target(function_name: str | None, region: str | None, profile: str | None,
                project_dir: str | None) -> Target:
    from pathlib import Path

    from ..operate.target import TargetOptions, resolve_target

    return resolve_target(TargetOptions(project_dir=Path(project_dir) if project_dir else None,
                                        function_name=function_name, region=region, profile=profile,
                                        stage=current_stage()))


def confirm_or_refuse(question: str, *, what: str, has_dry_run: bool = False) -> bool:
    """Ask on a terminal; refuse (one line) when there is none to ask on."""
    import sys

    from ..errors import PluginError

    if not sys.stdin or not sys.stdin.isatty():
        raise PluginError(f"{what} needs a confirmation but the input is not a terminal: nothing was changed.",
                          fix="Pass --yes to go ahead without asking"
                              + (" (or --dry-run to only see what would happen)." if has_dry_run else "."))
    return click.confirm(question, default=False)


def echo(line: str) -> None:
    click.echo(line)
