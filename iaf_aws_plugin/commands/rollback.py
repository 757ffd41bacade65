"""``rollback-aws-lambda``: point the live alias at the previous (or a given) kept version."""
from __future__ import annotations

import click

from . import handle_errors
from ._target import confirm_or_refuse, echo, make_target, target_options


@click.command(name="rollback-aws-lambda", epilog="""\b
Examples (in the bot's project folder):
  investing-algorithm-framework rollback-aws-lambda            # to the previous version
  investing-algorithm-framework rollback-aws-lambda --to 3 --yes
  investing-algorithm-framework rollback-aws-lambda --steps 2   # two kept versions back
\b
The next deploy-aws-lambda moves the alias to the project's current image again.""")
@target_options
@click.option("--to", "to", default=None, help="The version to roll back to (default: the one before the current).")
@click.option("--steps", "-n", "steps", default=None, type=click.IntRange(min=1), metavar="N",
              help="Roll back N kept versions (default 1: the previous one).")
@click.option("--dry-run", "--dry_run", "dry_run", is_flag=True, default=False, help="Show the change; change nothing.")
@click.option("--yes", "-y", is_flag=True, default=False, help="Do not ask for confirmation.")
@handle_errors
def rollback_aws_lambda(function_name: str | None, region: str | None, profile: str | None,
                        project_dir: str | None, to: str | None, dry_run: bool, yes: bool,
                        steps: int | None = None) -> None:
    """Undo a bad deploy: the schedule runs an older kept version from now on."""
    from ..errors import PluginError
    from ..operate.rollback import apply_rollback, plan_rollback

    if steps is not None and to is not None:
        raise PluginError("--steps and --to both choose the version.", fix="Pass one of them.")
    target = make_target(function_name, region, profile, project_dir)
    plan = plan_rollback(target, to, steps or 1)
    echo(f"Rollback of {plan.function}:")
    for change in plan.changes:
        echo(target.masker.mask(f"  {change}"))
    if dry_run:
        echo("Dry run: nothing was changed.")
        return
    if not yes and not confirm_or_refuse("Roll back?", what="the rollback", has_dry_run=True):
        raise PluginError("rollback cancelled: nothing was changed.", fix="Pass --yes to roll back without asking.")
    apply_rollback(target, plan)
    echo(f"Rolled back: the live alias runs version {plan.target} (was {plan.current}). "
         f"Undo with: rollback-aws-lambda --to {plan.current}")
    if plan.drop_keep_active:
        echo(f"Deleted the keep-active schedule {plan.drop_keep_active}: version {plan.target} might trade on its "
             "ping. The next deploy-aws-lambda creates it again.")
