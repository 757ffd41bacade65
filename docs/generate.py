"""Write the generated parts of the documentation from the installed iaf-aws-plugin.

    python docs/generate.py           # rewrite docs/commands.md and the generated blocks
    python docs/generate.py --check   # exit 1 and name the stale pages (what the tests run)

Run it with the Python that has the plugin installed (the wheel, as the tests use it); it
imports the package's own click commands, policy builders and cost model, so the pages say
exactly what the code does:

- ``docs/commands.md`` entirely: every command, argument and option with its default.
- blocks between ``<!-- BEGIN GENERATED: NAME -->`` and ``<!-- END GENERATED: NAME -->`` in the
  other pages: the IAM, bucket and repository policies for an example bot (``security.md``) and
  the monthly cost table (``cost.md``). Everything outside the blocks is written by hand.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

DOCS = Path(__file__).resolve().parent
CLI = "investing-algorithm-framework"

#: The example bot the generated policies are written for.
EXAMPLE_ACCOUNT = "123456789012"
EXAMPLE_REGION = "eu-west-1"
EXAMPLE_FUNCTION = "my-bot"

#: The cost table: schedules x memory x duration, priced for one region.
COST_REGION = "us-east-1"
COST_SCHEDULES = (("every 5 minutes", "cron(0/5 * * * ? *)"), ("every 15 minutes", "cron(0/15 * * * ? *)"),
                  ("hourly", "cron(0 * * * ? *)"), ("daily", "cron(0 0 * * ? *)"))
COST_MEMORY_MB = (1024, 2048)
COST_DURATIONS_S = (10.0, 30.0)

BLOCK = re.compile(r"(<!-- BEGIN GENERATED: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END GENERATED: (?P=name) -->)",
                   re.DOTALL)


# --- commands.md ------------------------------------------------------------------------------

def plugin_commands() -> list[Any]:
    """The commands the plugin adds, in the order the README lists them."""
    from iaf_aws_plugin.commands.deploy import deploy_aws_lambda
    from iaf_aws_plugin.commands.destroy import destroy_aws_lambda
    from iaf_aws_plugin.commands.init import init_aws_lambda
    from iaf_aws_plugin.commands.invoke import invoke_aws_lambda
    from iaf_aws_plugin.commands.logs import logs_aws_lambda
    from iaf_aws_plugin.commands.portfolio import portfolio_aws_lambda
    from iaf_aws_plugin.commands.report import report_aws_lambda
    from iaf_aws_plugin.commands.rollback import rollback_aws_lambda
    from iaf_aws_plugin.commands.secrets import secrets_aws_lambda
    from iaf_aws_plugin.commands.state import state_aws_lambda
    from iaf_aws_plugin.commands.status import status_aws_lambda

    return [init_aws_lambda, deploy_aws_lambda, status_aws_lambda, logs_aws_lambda, invoke_aws_lambda,
            rollback_aws_lambda, destroy_aws_lambda, state_aws_lambda, secrets_aws_lambda, portfolio_aws_lambda,
            report_aws_lambda]


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _default(param: Any) -> str:
    import click

    if getattr(param, "is_flag", False) and not getattr(param, "count", False):
        return "off"
    if getattr(param, "multiple", False):
        return "none"
    default = param.default
    if default is None or callable(default):
        return "—"
    if isinstance(default, (tuple, list)):
        return "none" if not default else ", ".join(map(str, default))
    return f"`{default}`" if not isinstance(param.type, click.types.BoolParamType) else str(default).lower()


def _metavar(param: Any, ctx: Any) -> str:
    """The placeholder of an option's value (``--memory-size INTEGER``), click-version independent."""
    import click

    if getattr(param, "is_flag", False):
        return ""
    if param.metavar:
        return str(param.metavar)
    if isinstance(param.type, click.Choice):
        return "[" + "|".join(map(str, param.type.choices)) + "]"
    if isinstance(param.type, click.types.IntRange):
        return "INTEGER"
    return str(param.type.name).upper()


def _options_table(command: Any, ctx: Any) -> list[str]:
    import click

    rows = ["| option | value | default | meaning |", "| --- | --- | --- | --- |"]
    for param in command.params:
        if not isinstance(param, click.Option):
            continue
        spellings = sorted(param.opts, key=lambda o: (o.startswith("--") is False, "_" in o)) + list(param.secondary_opts)
        flags = ", ".join(f"`{o}`" for o in spellings)
        rows.append(f"| {flags} | {_cell(_metavar(param, ctx))} | {_default(param)} | {_cell(param.help or '')} |")
    rows.append("| `--help` |  |  | Show the command's help and exit. |")
    return rows


def _arguments(command: Any) -> list[str]:
    import click

    return [p.human_readable_name for p in command.params if isinstance(p, click.Argument)]


def _render_command(command: Any, path: list[str], level: int) -> list[str]:
    import click

    name = " ".join(path)
    ctx = click.Context(command, info_name=name)
    usage = " ".join([CLI, name, "[OPTIONS]"] + _arguments(command))
    if isinstance(command, click.Group):
        usage = f"{CLI} {name} COMMAND [ARGS]..."
    out = [f"{'#' * level} `{name}`", "", "```console", f"$ {usage}", "```", ""]
    help_text = (command.help or "").strip()
    if help_text:
        out += [line.rstrip() for line in _unwrap(help_text)] + [""]
    args = [p for p in command.params if isinstance(p, click.Argument)]
    for arg in args:
        required = "required" if arg.required else "optional"
        out.append(f"Argument `{arg.human_readable_name}` ({required}).")
        out.append("")
    if isinstance(command, click.Group):
        out.append("Subcommands: " + ", ".join(f"`{sub}`" for sub in command.commands) + ".")
        out.append("")
    else:
        out += _options_table(command, ctx) + [""]
    if command.epilog:
        epilog = command.epilog.replace("\b\n", "").replace("\b", "").strip("\n")
        out += ["```text", *[line.rstrip() for line in epilog.splitlines()], "```", ""]
    if isinstance(command, click.Group):
        for sub_name, sub in command.commands.items():
            out += _render_command(sub, path + [sub_name], level + 1)
    return out


def _unwrap(text: str) -> list[str]:
    """A docstring's paragraphs, each on one line; ``\\b`` blocks are kept as they are."""
    paragraphs = re.split(r"\n\s*\n", text)
    lines: list[str] = []
    for paragraph in paragraphs:
        if paragraph.lstrip().startswith("\b"):
            lines += ["```text", *paragraph.replace("\b", "").strip("\n").splitlines(), "```"]
        else:
            lines.append(" ".join(paragraph.split()))
        lines.append("")
    return lines[:-1]


def render_commands() -> str:
    out = [
        "# Commands",
        "",
        "<!-- Generated by docs/generate.py from the click commands of the installed package: do not edit; "
        "run `python docs/generate.py`. -->",
        "",
        f"Every command iaf-aws-plugin adds to the `{CLI}` command line (the host's own commands are "
        "unchanged), with every option, its value and its default, as `--help` shows them. "
        "An option shown with `_` and `-` spellings accepts both (the host's built-in "
        "`deploy-aws-lambda` used `--lambda_function_name`). A default of `—` means: taken from "
        "`iaf-aws-lambda.json` when the project has one, otherwise the default named in the meaning "
        "(see [settings.md](settings.md)). Every failure is one line starting with `Error:` and exit "
        "status 1 ([troubleshooting.md](troubleshooting.md)). What they print, from real runs: "
        "[output.md](output.md).",
        "",
        f"Also: `{CLI} init --type aws-lambda` (or `aws_lambda`) runs `init-aws-lambda` through the host's "
        f"`init`; `python -m iaf_aws_plugin ARGS` is the host CLI with plugins loaded explicitly.",
        "",
    ]
    commands = plugin_commands()
    out += ["| command | what it does |", "| --- | --- |"]
    for command in commands:
        summary = command.get_short_help_str(limit=200)
        out.append(f"| [`{command.name}`](#{command.name}) | {_cell(summary)} |")
    out.append("")
    for command in commands:
        out += _render_command(command, [command.name], 2)
    return "\n".join(out).rstrip("\n") + "\n"


# --- security.md blocks -----------------------------------------------------------------------

def _names() -> Any:
    from iaf_aws_plugin.deploy.desired import Names

    return Names.derive(EXAMPLE_ACCOUNT, EXAMPLE_REGION, EXAMPLE_FUNCTION)


def _json(doc: Any) -> list[str]:
    return ["```json", *json.dumps(doc, indent=2).splitlines(), "```"]


def block_names() -> list[str]:
    from iaf_aws_plugin.deploy.desired import ALIAS, SCHEDULE_GROUP

    n = _names()
    rows = [("state bucket", f"`{n.bucket}`"), ("ECR repository", f"`{n.repository}`"),
            ("execution role", f"`{n.role}` with the inline policy `{n.role_policy}`"),
            ("scheduler role", f"`{n.scheduler_role}` with the inline policy `{n.scheduler_policy}`"),
            ("schedule", f"`{n.schedule}` in the schedule group `{SCHEDULE_GROUP}`"),
            ("dead-letter queue (with a schedule)", f"`{n.dead_letter_queue}` (SQS, encrypted)"),
            ("keep-active schedule (runs over 7 days apart)", f"`{n.keep_active_schedule}` (weekly)"),
            ("function alias", f"`{n.function}:{ALIAS}` (`{n.alias_arn}`)"),
            ("SSM parameter path", f"`{n.ssm_path}`"), ("log group", f"`{n.log_group}`"),
            ("alerts topic (with `--alert-email`)", f"`{n.function}-iaf-alerts`"),
            ("alarms (with `--alert-email`)",
             f"`{n.function}-iaf-errors`, `{n.function}-iaf-throttles`, `{n.function}-iaf-missed-runs`, "
             f"`{n.function}-iaf-undelivered-runs`")]
    return ["| resource | name |", "| --- | --- |", *[f"| {what} | {name} |" for what, name in rows]]


def block_execution_role() -> list[str]:
    from iaf_aws_plugin.deploy.desired import function_policy, lambda_trust_policy

    n = _names()
    return (["Trust policy (who may assume it):", ""] + _json(lambda_trust_policy(n))
            + ["", f"Inline policy `{n.role_policy}` (the role has no managed policy):", ""] + _json(function_policy(n)))


def block_scheduler_role() -> list[str]:
    from iaf_aws_plugin.deploy.desired import scheduler_policy, scheduler_trust_policy

    n = _names()
    return (["Trust policy:", ""] + _json(scheduler_trust_policy(n))
            + ["", f"Inline policy `{n.scheduler_policy}`:", ""] + _json(scheduler_policy(n)))


def block_bucket() -> list[str]:
    from iaf_aws_plugin.deploy.desired import ENCRYPTION, PUBLIC_ACCESS_BLOCK, bucket_policy, state_lifecycle_rules

    n = _names()
    return (["Bucket policy:", ""] + _json(bucket_policy(n))
            + ["", "Public access block:", ""] + _json(PUBLIC_ACCESS_BLOCK)
            + ["", "Default encryption:", ""] + _json(ENCRYPTION)
            + ["", "Versioning: `Enabled`. Lifecycle rules (added to any rules a reused bucket already has):", ""]
            + _json({"Rules": list(state_lifecycle_rules())}))


def block_repository() -> list[str]:
    from iaf_aws_plugin.deploy.desired import lifecycle_policy, repository_policy

    n = _names()
    return (["Repository policy:", ""] + _json(repository_policy(n))
            + ["", "Lifecycle policy:", ""] + _json(lifecycle_policy()))


def block_function_environment() -> list[str]:
    from iaf_aws_plugin.deploy.desired import build_desired

    n = _names()
    desired = build_desired(n, memory_size=3000, timeout=900, architecture="x86_64", plain_env={"LOG_LEVEL": "INFO"},
                            secrets={"BITVAVO_API_KEY": "x"}, image_uri=None, role_arn=None, schedule=None,
                            timezone="UTC", builder="native")
    return _json(desired.function.environment)


def block_deployer_permissions() -> list[str]:
    from iaf_aws_plugin.deploy.models import Spec
    from iaf_aws_plugin.deploy.preflight import actions_for

    n = _names()
    groups = actions_for(Spec(n, builds=True, schedule="rate(1 hour)", alert_email="me@example.com"))
    rows = ["| resource | actions | only when |", "| --- | --- | --- |"]
    for group in groups:
        condition = ", ".join(f"`{key}` = `{value}`" for key, value in group.context.items())
        rows.append(f"| `{group.resource}` | {', '.join(f'`{a}`' for a in group.actions)} | {condition} |")
    return rows


# --- cost.md blocks ---------------------------------------------------------------------------

def block_cost_table() -> list[str]:
    from iaf_aws_plugin.deploy.cost import PRICE_TABLE_DATE, estimate, runs_per_month

    header = "| schedule | runs a month | " + " | ".join(
        f"{memory} MB, {duration:.0f} s" for memory in COST_MEMORY_MB for duration in COST_DURATIONS_S) + " |"
    rows = [header, "| --- | ---: | " + " | ".join("---:" for _ in COST_MEMORY_MB for _ in COST_DURATIONS_S) + " |"]
    for label, expression in COST_SCHEDULES:
        runs = runs_per_month(expression, "UTC")
        cells = []
        for memory in COST_MEMORY_MB:
            for duration in COST_DURATIONS_S:
                total = estimate(region=COST_REGION, architecture="x86_64", memory_mb=memory, runs=runs,
                                 duration_s=duration).total
                cells.append(f"${total:,.2f}")
        rows.append(f"| {label} (`{expression}`) | {runs:,.0f} | " + " | ".join(cells) + " |")
    rows += ["", f"{COST_REGION}, x86_64, price table of {PRICE_TABLE_DATE}, USD a month before free tiers; no "
                 "alerts, no provisioned concurrency, log retention 30 days, rollback window 5 (6 images)."]
    return rows


def block_cost_example() -> list[str]:
    from iaf_aws_plugin.deploy.cost import estimate, runs_per_month

    lines = estimate(region=COST_REGION, architecture="x86_64", memory_mb=2048,
                     runs=runs_per_month("cron(0/15 * * * ? *)", "UTC"), duration_s=30.0, alarm_metrics=4).render()
    return ["```text", *lines, "```"]


def block_prices() -> list[str]:
    from iaf_aws_plugin.deploy.cost import PRICES

    keys = list(PRICES["us-east-1"])
    rows = ["| price | " + " | ".join(PRICES) + " |", "| --- | " + " | ".join("---:" for _ in PRICES) + " |"]
    for key in keys:
        cells = []
        for region in PRICES:
            value = PRICES[region][key]
            if isinstance(value, dict):
                cells.append(" / ".join(f"{v:.10f}".rstrip("0") for v in value.values()))
            else:
                cells.append(f"{float(value):.10f}".rstrip("0").rstrip("."))  # type: ignore[arg-type]
        rows.append(f"| `{key}` | " + " | ".join(cells) + " |")
    return rows


# --- ci.md blocks ---------------------------------------------------------------------------------

def block_ci_workflow() -> list[str]:
    from iaf_aws_plugin.ci import github_workflow

    return ["```yaml", *github_workflow().splitlines(), "```"]


def block_ci_trust_policy() -> list[str]:
    from iaf_aws_plugin.ci import trust_policy

    return _json(trust_policy(EXAMPLE_ACCOUNT, "my-org/my-bot", "main"))


def block_ci_deploy_policy() -> list[str]:
    from iaf_aws_plugin.ci import ci_specs, deploy_policy

    return _json(deploy_policy(ci_specs(_names())))


BLOCKS: dict[str, Callable[[], list[str]]] = {
    "names": block_names,
    "execution-role": block_execution_role,
    "scheduler-role": block_scheduler_role,
    "bucket": block_bucket,
    "repository": block_repository,
    "function-environment": block_function_environment,
    "deployer-permissions": block_deployer_permissions,
    "cost-table": block_cost_table,
    "cost-example": block_cost_example,
    "prices": block_prices,
    "ci-workflow": block_ci_workflow,
    "ci-trust-policy": block_ci_trust_policy,
    "ci-deploy-policy": block_ci_deploy_policy,
}


def fill_blocks(text: str, where: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in BLOCKS:
            raise SystemExit(f"{where}: unknown generated block {name!r}")
        return match.group(1) + "\n".join(BLOCKS[name]()) + "\n" + match.group(4)

    return BLOCK.sub(replace, text)


def expected_pages(docs: Path = DOCS) -> dict[Path, str]:
    """Every page the generator owns (whole or in part), as it should read now."""
    pages = {docs / "commands.md": render_commands()}
    for path in sorted(docs.glob("*.md")):
        if path.name == "commands.md":
            continue
        text = path.read_text(encoding="utf-8")
        if BLOCK.search(text):
            pages[path] = fill_blocks(text, str(path))
    return pages


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path, text in expected_pages().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            stale.append(path)
            if not check:
                path.write_text(text, encoding="utf-8")
    if check and stale:
        print("out of date (run python docs/generate.py): " + ", ".join(str(p) for p in stale), file=sys.stderr)
        return 1
    for path in stale:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
