"""``invoke-aws-lambda``: run the bot now (on Lambda, or locally with --local)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import click

from . import handle_errors
from ._target import confirm_or_refuse, current_stage, echo, make_target, target_options

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..operate.target import Target

#: Exit status of a run the state lease locked out (another run was going on).
EXIT_SKIPPED = 3


@click.command(name="invoke-aws-lambda", epilog="""\b
Examples (in the bot's project folder):
  investing-algorithm-framework invoke-aws-lambda
  investing-algorithm-framework invoke-aws-lambda --event @event.json
  investing-algorithm-framework invoke-aws-lambda --local --yes
  investing-algorithm-framework invoke-aws-lambda --local --offline   # before any deploy: no AWS, no keys
\b
Exit status: 0 the run succeeded, 1 it failed, 3 skipped (another run held the state).""")
@target_options
@click.option("--event", default=None, help="The event: JSON text or @file.json (default {}).")
@click.option("--local", is_flag=True, default=False,
              help="Run the project's handler on this machine with the deployed configuration (it trades for real).")
@click.option("--handler", default=None,
              help="With --local: MODULE.FUNCTION to run (default: the Dockerfile's CMD).")
@click.option("--offline", is_flag=True, default=False,
              help="With --local: no deploy, no AWS, no keys: a paper market, the state in a local folder "
                   "(--state-dir; the next offline run continues from it).")
@click.option("--state-dir", "--state_dir", "state_dir", default=None, type=click.Path(file_okay=False),
              help="With --offline: the state folder (default .iaf-offline in the project).")
@click.option("--yes", "-y", is_flag=True, default=False,
              help="Do not ask for confirmation (--local, or a paused bot).")
@handle_errors
def invoke_aws_lambda(function_name: str | None, region: str | None, profile: str | None, project_dir: str | None,
                      event: str | None, local: bool, handler: str | None, yes: bool, offline: bool = False,
                      state_dir: str | None = None) -> None:
    """Run one trading iteration now and print its result and log."""
    from ..errors import PluginError
    from ..operate.invoke import BUSY, SKIPPED, failure, invoke_local, invoke_remote, parse_event, report

    if offline or state_dir:
        _invoke_offline(local, offline, state_dir, project_dir, event, handler, (function_name, region, profile))
        return
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


def _invoke_offline(local: bool, offline: bool, state_dir: str | None, project_dir: str | None, event: str | None,
                    handler: str | None, aws_flags: tuple[str | None, ...]) -> None:
    """``--local --offline``: no target, no AWS (operate/offline.py)."""
    from pathlib import Path

    from ..errors import PluginError
    from ..operate.invoke import SKIPPED, parse_event
    from ..operate.offline import invoke_offline

    if not (local and offline):
        raise PluginError("--offline runs the handler on this machine and --state-dir is its state folder: both "
                          "need --local --offline.", fix="Run: investing-algorithm-framework invoke-aws-lambda "
                                                        "--local --offline")
    if any(aws_flags):
        raise PluginError("--offline uses no AWS: --lambda-function-name, --region and --profile do not apply.",
                          fix="Drop them (or drop --offline to run with the deployed configuration).")
    payload = parse_event(event, Path(project_dir) if project_dir else Path.cwd())
    result, mask = invoke_offline(project_dir, payload, echo=echo, handler=handler, state_dir=state_dir,
                                  stage=current_stage())
    if result.outcome == "ok":
        import json

        echo(mask(f"Result ({result.seconds:.1f} s): {json.dumps(result.result, default=str)}"))
        echo("Offline run done: nothing was deployed or sent to an exchange. Next: deploy-aws-lambda --dry-run.")
        return
    from ..operate.offline import offline_failure

    click.echo(f"Error: {offline_failure(result, mask)}", err=True)
    raise SystemExit(EXIT_SKIPPED if result.outcome == SKIPPED else 1)
