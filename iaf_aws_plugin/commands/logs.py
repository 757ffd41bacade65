"""``logs-aws-lambda``: the bot's CloudWatch logs, one invocation's lines together."""
from __future__ import annotations

import click

from . import handle_errors
from ._target import echo, make_target, target_options


@click.command(name="logs-aws-lambda", epilog="""\b
Examples (in the bot's project folder):
  investing-algorithm-framework logs-aws-lambda --since 6h
  investing-algorithm-framework logs-aws-lambda --filter ERROR --since 2d
  investing-algorithm-framework logs-aws-lambda --follow""")
@target_options
@click.option("--since", default="1h", show_default=True,
              help="How far back: 30m, 1h, 2d, 1w, or a UTC time such as 2024-05-01T09:00.")
@click.option("--follow", "-f", is_flag=True, default=False, help="Keep printing new lines until Ctrl-C.")
@click.option("--filter", "filter_text", default=None,
              help="Only invocations with a line containing TEXT (and only those lines).")
@handle_errors
def logs_aws_lambda(function_name: str | None, region: str | None, profile: str | None, project_dir: str | None,
                    since: str, follow: bool, filter_text: str | None) -> None:
    """Print the bot's logs with readable UTC times, grouped per invocation."""
    from ..operate.logs import parse_since, show_logs

    parse_since(since)  # a bad --since fails before any AWS call
    target = make_target(function_name, region, profile, project_dir)
    try:
        show_logs(target, since=since, filter_text=filter_text, echo=echo, follow=follow)
    except KeyboardInterrupt:
        click.echo("--- stopped", err=True)
