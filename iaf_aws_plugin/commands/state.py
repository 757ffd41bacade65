"""``state-aws-lambda``: look at, download, upload, restore and prune the bot's trading state."""
from __future__ import annotations

from typing import TYPE_CHECKING

import click

from . import handle_errors
from ._target import confirm_or_refuse, echo, make_target, target_options

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..operate.state import StateLocation
    from ..operate.target import Target


def _located(function_name: str | None, region: str | None, profile: str | None,
             project_dir: str | None) -> tuple[Target, StateLocation]:
    from ..operate.state import state_location

    target = make_target(function_name, region, profile, project_dir)
    return target, state_location(target)


@click.group(name="state-aws-lambda", epilog="""\b
Examples (in the bot's project folder):
  investing-algorithm-framework state-aws-lambda history
  investing-algorithm-framework state-aws-lambda pull ./state-copy
  investing-algorithm-framework state-aws-lambda restore 12 --yes
  investing-algorithm-framework state-aws-lambda push ./prepared-state --yes
  investing-algorithm-framework state-aws-lambda prune --keep 30 --dry-run""")
def state_aws_lambda() -> None:
    """The deployed bot's trading state in S3: every save is a snapshot; nothing is lost until you prune."""


@state_aws_lambda.command(name="pull", epilog="""\b
Example:
  investing-algorithm-framework state-aws-lambda pull ./state-copy""")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--replace", is_flag=True, default=False,
              help="Make a non-empty DIRECTORY equal to the stored state (removes its other files).")
@target_options
@handle_errors
def pull(directory: str, replace: bool, function_name: str | None, region: str | None, profile: str | None,
         project_dir: str | None) -> None:
    """Download the current state into DIRECTORY (for inspection or a backtest); does not block the bot."""
    from ..files import human_size
    from ..operate.state import state_errors
    from ..state.admin import pull as pull_state

    target, location = _located(function_name, region, profile, project_dir)
    with state_errors(target):
        got = pull_state(location.bucket, target.s3_client(), directory, prefix=location.prefix, replace=replace)
    echo(f"Pulled snapshot {got.generation} (saved {got.saved_at}) from {location.url}: {got.files} files, "
         f"{human_size(got.size)} into {directory}")


@state_aws_lambda.command(name="push", epilog="""\b
Example:
  investing-algorithm-framework state-aws-lambda push ./prepared-state --yes
\b
Never uploaded: .env, .env.*, key files (*.pem, *.key, *.p12, *.pfx, id_*) and any file holding one of
the bot's secret values; the command lists what it left out. An empty folder is always refused.""")
@click.argument("directory", type=click.Path(file_okay=False, exists=True))
@click.option("--yes", "-y", is_flag=True, default=False, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, default=False,
              help="Push a folder that does not look like a bot's state (no databases/*.sqlite3, a project folder).")
@target_options
@handle_errors
def push(directory: str, yes: bool, force: bool, function_name: str | None, region: str | None,
         profile: str | None, project_dir: str | None) -> None:
    """Make DIRECTORY the bot's current state (a new snapshot; older ones stay restorable).

    Shows what changes against the current snapshot first. Takes the state lease like a run, so it is
    refused while a run holds it."""
    from ..errors import PluginError
    from ..files import human_size
    from ..operate.state import state_errors, storage_warning
    from ..state.admin import preview_push
    from ..state.admin import push as push_state

    target, location = _located(function_name, region, profile, project_dir)
    target.mask_deployed_secrets(lambda line: click.echo(line, err=True))
    with state_errors(target):
        preview = preview_push(location.bucket, target.s3_client(), directory, prefix=location.prefix,
                               secret_values=target.masker.values)
    mask = target.masker.mask
    if preview.left_out:
        echo(f"Left out (never pushed): {len(preview.left_out)} files")
        for rel, why in preview.left_out[:_LISTED]:
            echo(mask(f"  {rel}: {why}"))
        _more(len(preview.left_out))
    if preview.not_state and not force:
        raise PluginError(mask(f"{directory} does not look like a bot's state: {'; '.join(preview.not_state)}. "
                               "Nothing was changed."),
                          fix="Push the folder holding the bot's state (e.g. one made with `state-aws-lambda pull`), "
                              "or pass --force if this really is the state to trade on.")
    if preview.unchanged:
        echo(f"Nothing to push: {directory} equals the current snapshot {preview.current.generation} of "
             f"{location.url}.")
        return
    was = (f"current snapshot {preview.current.generation}: {preview.current.files} files, "
           f"{human_size(preview.current.size)}" if preview.current.key else "no snapshot yet")
    echo(mask(f"Push {directory} to {location.url}: {len(preview.files)} files, {human_size(preview.size)} "
              f"({was})."))
    rows = ([f"  added    {rel}  {human_size(size)}" for rel, size in preview.added]
            + [f"  changed  {rel}  {human_size(old)} -> {human_size(new)}" for rel, old, new in preview.changed]
            + [f"  removed  {rel}  {human_size(size)}" for rel, size in preview.removed])
    for row in rows[:_LISTED]:
        echo(mask(row))
    _more(len(rows))
    for reason in preview.not_state:
        click.echo(mask(f"Warning: --force: {directory} does not look like a bot's state: {reason}."), err=True)
    warning = storage_warning(preview.size, location.ephemeral_storage)
    if warning:
        click.echo(f"Warning: {warning}", err=True)
    if not yes and not confirm_or_refuse(f"The bot's next run trades on the state in {directory}. Push it?",
                                         what="push"):
        raise PluginError("push cancelled: nothing was changed.", fix="Pass --yes to push without asking.")
    with state_errors(target):
        got = push_state(location.bucket, target.s3_client(), directory, prefix=location.prefix,
                         lease_timeout=location.lease_timeout, preview=preview)
    echo(f"Pushed {directory} to {location.url}: current snapshot {got.generation}, {got.files} files, "
         f"{human_size(got.size)} (older snapshots stay restorable).")


#: Lines of a list (changes, files left out) shown before "… and N more".
_LISTED = 50


def _more(count: int) -> None:
    if count > _LISTED:
        echo(f"  … and {count - _LISTED} more")


@state_aws_lambda.command(name="history", epilog="""\b
Example:
  investing-algorithm-framework state-aws-lambda history --limit 50""")
@click.option("--limit", "-n", default=20, show_default=True, type=click.IntRange(0),
              help="Show the newest N snapshots (0: all).")
@click.option("--json", "as_json", is_flag=True, default=False, help="Print JSON.")
@target_options
@handle_errors
def history(limit: int, as_json: bool, function_name: str | None, region: str | None, profile: str | None,
            project_dir: str | None) -> None:
    """List the stored snapshots with their time, files and size; * marks the current one."""
    import json

    from ..files import human_size
    from ..operate.state import as_json as to_json
    from ..operate.state import state_errors
    from ..state.admin import history as list_history

    target, location = _located(function_name, region, profile, project_dir)
    with state_errors(target):
        rows = list_history(location.bucket, target.s3_client(), prefix=location.prefix, limit=limit or None)
    if as_json:
        echo(json.dumps(to_json(rows), indent=2))
        return
    if not rows:
        echo(f"No snapshots in {location.url} yet.")
        return
    echo(f"Snapshots in {location.url} (oldest first):")
    for row in rows:
        files = "?" if row.files is None else str(row.files)
        echo(f"{'*' if row.current else ' '} {row.generation:>6}  {row.saved_at:%Y-%m-%d %H:%M:%S} UTC  "
             f"{files:>6} files  {human_size(row.size):>9}  {row.key.rsplit('/', 1)[-1].removesuffix('.json')}")


@state_aws_lambda.command(name="restore", epilog="""\b
Examples:
  investing-algorithm-framework state-aws-lambda restore 12
  investing-algorithm-framework state-aws-lambda restore 000000000012-3f9a1c0b2d4e --yes""")
@click.argument("snapshot")
@click.option("--yes", "-y", is_flag=True, default=False, help="Do not ask for confirmation.")
@target_options
@handle_errors
def restore(snapshot: str, yes: bool, function_name: str | None, region: str | None, profile: str | None,
            project_dir: str | None) -> None:
    """Make SNAPSHOT (a generation from `history`, or its name) current again, as a new snapshot."""
    from ..errors import PluginError
    from ..operate.state import state_errors
    from ..state.admin import restore as restore_state

    target, location = _located(function_name, region, profile, project_dir)
    if not yes and not confirm_or_refuse(f"The bot's next run trades on snapshot {snapshot}. Restore it?",
                                         what="restore"):
        raise PluginError("restore cancelled: nothing was changed.", fix="Pass --yes to restore without asking.")
    with state_errors(target):
        info = restore_state(location.bucket, target.s3_client(), snapshot, prefix=location.prefix,
                             lease_timeout=location.lease_timeout)
    echo(f"Restored snapshot {snapshot} as snapshot {info.generation} ({info.key}); nothing was deleted.")


@state_aws_lambda.command(name="prune", epilog="""\b
Example:
  investing-algorithm-framework state-aws-lambda prune --keep 30 --dry-run""")
@click.option("--keep", required=True, type=click.IntRange(1), help="How many of the newest snapshots to keep.")
@click.option("--dry-run", "--dry_run", "dry_run", is_flag=True, default=False, help="Show what would go.")
@click.option("--yes", "-y", is_flag=True, default=False, help="Do not ask for confirmation.")
@target_options
@handle_errors
def prune(keep: int, dry_run: bool, yes: bool, function_name: str | None, region: str | None, profile: str | None,
          project_dir: str | None) -> None:
    """Delete older snapshots and the stored files no kept snapshot uses (for good)."""
    from ..errors import PluginError
    from ..files import human_size
    from ..operate.state import state_errors
    from ..state.admin import PruneResult
    from ..state.admin import prune as prune_state

    target, location = _located(function_name, region, profile, project_dir)

    def describe(result: PruneResult) -> str:
        return (f"{len(result.snapshots)} snapshots and {len(result.objects)} stored objects "
                f"({result.versions} S3 object versions, {human_size(result.bytes)}); keeping {len(result.kept)} "
                "snapshots")

    def confirm(result: PruneResult) -> bool:
        if yes or confirm_or_refuse(f"Delete {describe(result)}? This cannot be undone.", what="prune",
                                    has_dry_run=True):
            return True
        raise PluginError("prune cancelled: nothing was deleted.", fix="Pass --yes to prune without asking.")

    with state_errors(target):
        result = prune_state(location.bucket, target.s3_client(), keep, prefix=location.prefix, dry_run=dry_run,
                             lease_timeout=location.lease_timeout, confirm=None if dry_run else confirm)
    if dry_run:
        echo(f"Would delete {describe(result)}. Dry run: nothing was deleted.")
    elif not result.snapshots and not result.objects:
        echo(f"Nothing to prune: {len(result.kept)} snapshots, every stored object is in use.")
    else:
        echo(f"Deleted {describe(result)}.")
