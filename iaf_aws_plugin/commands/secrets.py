"""``secrets-aws-lambda``: list, set and remove the deployed bot's secrets (SSM) without a full deploy."""
from __future__ import annotations

import click

from . import handle_errors
from ._target import confirm_or_refuse, echo, make_target, target_options


@click.group(name="secrets-aws-lambda", epilog="""\b
Examples (in the bot's project folder):
  investing-algorithm-framework secrets-aws-lambda list
  investing-algorithm-framework secrets-aws-lambda set BITVAVO_SECRET_KEY      # asks for the value
  printf %s "$NEW_KEY" | investing-algorithm-framework secrets-aws-lambda set BITVAVO_API_KEY
  investing-algorithm-framework secrets-aws-lambda rm OLD_WEBHOOK --yes""")
def secrets_aws_lambda() -> None:
    """The bot's secrets in SSM: names and versions only, values never shown; a change is live at the next run."""


@secrets_aws_lambda.command(name="list", epilog="""\b
Example:
  investing-algorithm-framework secrets-aws-lambda list""")
@target_options
@handle_errors
def list_command(function_name: str | None, region: str | None, profile: str | None, project_dir: str | None) -> None:
    """Show each secret's name, version and last change (never its value)."""
    from ..operate.secrets import list_secrets

    target = make_target(function_name, region, profile, project_dir)
    rows = list_secrets(target)
    if not rows:
        echo(f"{target.function} has no secrets in SSM below {target.names.ssm_path}.")
        return
    echo(f"Secrets of {target.function} in SSM below {target.names.ssm_path} (values are never shown):")
    width = max(len("NAME"), *(len(row.name) for row in rows))
    echo(f"  {'NAME':<{width}}  VERSION  LAST CHANGE")
    for row in rows:
        when = f"{row.last_modified:%Y-%m-%d %H:%M:%S %Z}".strip() if row.last_modified else "?"
        echo(f"  {row.name:<{width}}  {row.version:>7}  {when}")


def _read_value(name: str) -> str:
    """The value from a hidden prompt on a terminal, else all of stdin (one trailing newline dropped)."""
    import sys

    if sys.stdin is not None and sys.stdin.isatty():
        return str(click.prompt(f"Value of {name}", hide_input=True, confirmation_prompt=True))
    data = sys.stdin.read() if sys.stdin is not None else ""
    return data.removesuffix("\n").removesuffix("\r")


@secrets_aws_lambda.command(name="set", epilog="""\b
Examples:
  investing-algorithm-framework secrets-aws-lambda set BITVAVO_SECRET_KEY      # asks for the value
  printf %s "$NEW_KEY" | investing-algorithm-framework secrets-aws-lambda set BITVAVO_API_KEY
\b
The value is read from a hidden prompt, or from stdin when it is not a terminal: never from an
argument (arguments end up in the shell history and in the process list).""")
@click.argument("name")
@target_options
@handle_errors
def set_command(name: str, function_name: str | None, region: str | None, profile: str | None,
                project_dir: str | None) -> None:
    """Store NAME in SSM and publish a new version, so the next run uses the new value."""
    from ..operate.secrets import set_secret

    target = make_target(function_name, region, profile, project_dir)
    value = _read_value(name)
    version, published = set_secret(target, name, value, warn=lambda line: click.echo(line, err=True))
    echo(f"Stored {name} (SSM version {version}) below {target.names.ssm_path}.")
    _said(published)


@secrets_aws_lambda.command(name="rm", epilog="""\b
Example:
  investing-algorithm-framework secrets-aws-lambda rm OLD_WEBHOOK --yes
\b
A name that is also in .env comes back with the next deploy-aws-lambda: remove it there too.""")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, default=False, help="Do not ask for confirmation.")
@target_options
@handle_errors
def rm_command(name: str, yes: bool, function_name: str | None, region: str | None, profile: str | None,
               project_dir: str | None) -> None:
    """Delete NAME from SSM (every version, for good) and publish a new version without it."""
    from ..errors import PluginError
    from ..operate.secrets import remove_secret

    target = make_target(function_name, region, profile, project_dir)
    if not yes and not confirm_or_refuse(f"Delete the secret {name} of {target.function}? Its value cannot be "
                                         "recovered.", what="rm"):
        raise PluginError("rm cancelled: nothing was changed.", fix="Pass --yes to delete without asking.")
    published = remove_secret(target, name, warn=lambda line: click.echo(line, err=True))
    echo(f"Deleted {name} from SSM.")
    _said(published)


def _said(published: object) -> None:
    from ..operate.secrets import Published

    assert isinstance(published, Published)
    if published.version is None:
        click.echo(f"Warning: {published.reason}.", err=True)
    else:
        echo(f"Published version {published.version} (was {published.previous or 'none'}): the live alias runs it, "
             "so the next run loads the new secrets.")
