"""``pause-aws-lambda`` / ``resume-aws-lambda``: the kill switch (the schedule off and on again)."""
from __future__ import annotations

import click

from . import handle_errors
from ._target import echo, make_target, target_options


@click.command(name="pause-aws-lambda", epilog="""\b
Example (in the bot's project folder):
  investing-algorithm-framework pause-aws-lambda
\b
The saved settings are not changed; a deploy keeps the bot paused; resume-aws-lambda starts it again.""")
@target_options
@handle_errors
def pause_aws_lambda(function_name: str | None, region: str | None, profile: str | None,
                     project_dir: str | None) -> None:
    """Stop the bot from trading: disable its schedule (nothing else changes)."""
    from ..operate.pause import pause

    pause(make_target(function_name, region, profile, project_dir), echo)


@click.command(name="resume-aws-lambda")
@target_options
@handle_errors
def resume_aws_lambda(function_name: str | None, region: str | None, profile: str | None,
                      project_dir: str | None) -> None:
    """Start a paused bot again: enable its schedule."""
    from ..operate.pause import resume

    resume(make_target(function_name, region, profile, project_dir), echo)
