"""``invoke-aws-lambda``: run the bot now (on Lambda, or locally with --local)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import click

from . import handle_errors
from ._target import confirm_or_refuse, echo, make_target, target_options

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..operate.target import Target

#: Exit status of a run the state lease locked out (another run was going on).
EXIT_SKIPPED = 3


@click.command(name="invoke-aws-lambda", epilog="""\b
Examples (in the bot's project folder):
  investing-algorithm-framework invoke-aws-lambda
  investing-algorithm-framework invoke-aws-lambda --event @event.json
  investing-algorithm-framework invoke-aws-lambda --local --yes
\b
Exit status: 0 the run succeeded, 1 it failed, 3 skipped (another run held the state).""")
@target_options
@click.option("--event", default=None, help="The event: JSON text or @file.json (default {}).")
@click.option("--local", is_flag=True, default=False,
              help="Run the project's handler on this machine with the deployed configuration (it trades for real).")
@click.option("--handler", default=None,
              help="With --local: MODULE.FUNCTION to run (default: the Dockerfile's CMD).")
@click.option("--yes", "-y", is_flag=True, default=False,
              help="Do not ask for confirmation (--local, or a paused bot).")
@handle_errors
def invoke_aws_lambda(function_name: str | None, region: str | None, profile: str | None, project_dir: str | None,
                      event: str | None, local: bool, handler: str | None, yes: bool) -> None:
    """Run one trading iteration now and print its result and log."""
    from ..errors import PluginError
    from ..operate.invoke import BUSY, SKIPPED, failure, invoke_local, invoke_remote, parse_event, report

    target = make_target(function_name, region, profile, project_dir)
    payload = parse_event(event, target.project_dir)
    if local:
        _ask_if_paused(target, yes)
        if not yes and not confirm_or_refuse(
                f"Run {target.function}'s handler here with its deployed configuration? It trades for real.",
                what="invoke --local"):
            raise PluginError("invoke --local cancelled: nothing ran.", fix="Pass --yes to run without asking.")
        try:
            result = invoke_local(target, payload, echo=echo, handler=handler)
        except KeyboardInterrupt:
            raise PluginError("interrupted: the local run was stopped; its state was not saved if it had not "
                              "finished.", fix="Check status-aws-lambda (the lease expires by itself).") from None
        report(result, target, echo, where="local")
    else:
        if handler:
            raise PluginError("--handler only applies with --local.", fix="Add --local, or drop --handler.")
        _ask_if_paused(target, yes)
        result = invoke_remote(target, payload, echo=echo)
        report(result, target, echo, where="lambda")
    problem = failure(result, target)
    if problem is not None:
        click.echo(f"Error: {problem}", err=True)
        raise SystemExit(EXIT_SKIPPED if result.outcome in (SKIPPED, BUSY) else 1)


def _ask_if_paused(target: Target, yes: bool) -> None:
    """A paused bot (pause-aws-lambda) runs now only if the user says so."""
    from ..errors import PluginError
    from ..operate.pause import pause_state

    since = pause_state(target)
    if since and not yes and not confirm_or_refuse(
            f"{target.function} is paused since {since}. Run it anyway (it may trade)?",
            what=f"{target.function} is paused since {since}: invoking it"):
        raise PluginError(f"invoke cancelled: {target.function} is paused since {since}; nothing ran.",
                          fix="Pass --yes to run it anyway, or resume-aws-lambda first.")
