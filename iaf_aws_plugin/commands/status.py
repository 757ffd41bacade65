"""``status-aws-lambda``: is the bot deployed, scheduled, running, and what state does it hold."""
from __future__ import annotations

import click

from . import handle_errors
from ._target import current_stage, echo, make_target, target_options


@click.command(name="status-aws-lambda", epilog="""\b
Example (in the bot's project folder; no flags needed after a deploy):
  investing-algorithm-framework status-aws-lambda
  investing-algorithm-framework status-aws-lambda --json --invocations 20
  investing-algorithm-framework status-aws-lambda --all-stages""")
@target_options
@click.option("--json", "as_json", is_flag=True, default=False, help="Print the status as JSON.")
@click.option("--invocations", "-n", default=5, type=click.IntRange(0, 1000), show_default=True,
              help="How many recent invocations to show.")
@click.option("--all-stages", "--all_stages", "all_stages", is_flag=True, default=False,
              help="One line per stage of the project (function, schedule, state).")
@handle_errors
def status_aws_lambda(function_name: str | None, region: str | None, profile: str | None, project_dir: str | None,
                      as_json: bool, invocations: int, all_stages: bool = False) -> None:
    """Show the deployed bot: function, image, alias, concurrency, schedule and next run, recent
    invocations, and its trading state (current snapshot and lease holder)."""
    from ..operate.status import show_status

    if all_stages:
        from pathlib import Path

        from ..operate.stage_status import show_all_stages
        from ..operate.target import TargetOptions

        show_all_stages(TargetOptions(project_dir=Path(project_dir) if project_dir else None,
                                      function_name=function_name, region=region, profile=profile,
                                      stage=current_stage()), echo=echo, as_json_output=as_json)
        return
    target = make_target(function_name, region, profile, project_dir)
    show_status(target, echo=echo, as_json_output=as_json, invocations=invocations)
