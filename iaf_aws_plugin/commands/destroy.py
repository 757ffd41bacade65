"""``destroy-aws-lambda``: remove the deployed bot (its trading state is kept unless --delete-state)."""
from __future__ import annotations

import click

from . import handle_errors
from ._target import confirm_or_refuse, echo, make_target, target_options


@click.command(name="destroy-aws-lambda", epilog="""\b
Examples (in the bot's project folder):
  investing-algorithm-framework destroy-aws-lambda --dry-run
  investing-algorithm-framework destroy-aws-lambda --yes
  investing-algorithm-framework destroy-aws-lambda --delete-state --yes --confirm my-trading-bot
\b
The state bucket and iaf-aws-lambda.json are kept by default: deploy-aws-lambda brings the bot
back with its trading state.""")
@target_options
@click.option("--delete-state", "--delete_state", "delete_state", is_flag=True, default=False,
              help="Also delete the state bucket with every snapshot (asks you to type the function name).")
@click.option("--keep-logs", "--keep_logs", "keep_logs", is_flag=True, default=False,
              help="Keep the log group (the trade audit trail) with its retention.")
@click.option("--confirm", "confirm_name", default=None,
              help="With --yes --delete-state: the function name, typed out, to delete the state unattended.")
@click.option("--dry-run", "--dry_run", "dry_run", is_flag=True, default=False, help="Show the plan; delete nothing.")
@click.option("--yes", "-y", is_flag=True, default=False, help="Do not ask for confirmation.")
@handle_errors
def destroy_aws_lambda(function_name: str | None, region: str | None, profile: str | None,
                       project_dir: str | None, delete_state: bool, confirm_name: str | None, dry_run: bool,
                       yes: bool, keep_logs: bool = False) -> None:
    """Remove schedule, alias, function and versions, roles, image repository, log group and
    secrets of the bot."""
    import sys

    from ..errors import PluginError
    from ..operate.destroy import destroy, plan_destroy, render

    target = make_target(function_name, region, profile, project_dir)
    if delete_state and not dry_run and yes and confirm_name != target.function:
        raise PluginError(f"--delete-state with --yes needs --confirm {target.function} (the function name typed "
                          "out): nothing was deleted.", fix=f"Add --confirm {target.function}.")
    plan = plan_destroy(target, delete_state=delete_state, keep_logs=keep_logs)
    echo(f"Destroying {target.function} in account {target.names.account}, region {target.region}:")
    for line in render(plan, target):
        echo(line)
    if dry_run:
        echo("Dry run: nothing was deleted.")
        return
    if plan.is_noop:
        return
    state_step = any(step.resource == "S3 state bucket" and step.action == "delete" for step in plan.steps)
    if not yes:
        if state_step:
            if not sys.stdin or not sys.stdin.isatty():
                raise PluginError("deleting the trading state needs the function name typed on a terminal: "
                                  "nothing was deleted.", fix=f"Pass --yes --confirm {target.function}.")
            typed = click.prompt(f"This deletes the trading state for good. Type {target.function} to go on",
                                 default="", show_default=False)
            if typed.strip() != target.function:
                raise PluginError("destroy cancelled: the name did not match; nothing was deleted.")
        elif not confirm_or_refuse("Delete these resources?", what="destroy", has_dry_run=True):
            raise PluginError("destroy cancelled: nothing was deleted.", fix="Pass --yes to destroy without asking.")
    destroy(target, plan, echo=echo)
    kept = "" if state_step else f" The trading state stays in s3://{target.names.bucket}."
    if keep_logs:
        kept += f" The logs stay in {target.names.log_group}."
    echo(f"Destroyed {target.function}.{kept} Run deploy-aws-lambda to deploy it again.")
