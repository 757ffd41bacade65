"""One bot per folder: deploying a folder under another ``--lambda-function-name`` than the deployed one.

Without ``--rename`` that is refused before any change (two functions would trade the same exchange
account, each with its own state). With ``--rename``, once the plan is confirmed and before anything is
applied, every schedule that starts the old bot is disabled with the pause marker (:mod:`..schedules.pause`:
status shows it, a deploy of the old name keeps it paused): never two bots at once, a missed run at worst.
The new name has its own, empty state bucket: when the old bot's bucket holds state, the new bot is
deployed paused (its schedule created DISABLED with the marker) and the exact commands that carry the
state over and start it are printed. Nothing of the old bot is deleted here: its state and logs stay
until the printed destroy command runs.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..errors import PluginError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .awsclient import AWSClient
    from .models import LiveState
    from .names import Names
    from .settings import DeploySettings

__all__ = ["PreviousBot", "carry_over_commands", "carry_secrets", "destroy_command", "done_lines", "find_previous",
           "holds_state", "old_bot_command", "paused_marker", "plan_lines", "refuse_without_rename",
           "secret_names_in_ssm", "stop_previous", "target_args"]

Echo = Callable[[str], None]


@dataclass(frozen=True)
class PreviousBot:
    """The function this folder deployed before, still deployed."""

    function: str
    region: str
    client: AWSClient


def find_previous(settings: DeploySettings, client: AWSClient) -> PreviousBot | None:
    """The folder's saved function when the deploy asks for another one and the saved one still exists."""
    if not settings.previous_function:
        return None
    region = settings.previous_region or settings.region
    if region != client.region:
        from .awsclient import AWSClient

        client = AWSClient(client.session, region)
    if client.get_function(settings.previous_function) is None:
        return None
    return PreviousBot(settings.previous_function, region, client)


def _old_ssm_path(previous: PreviousBot, names: Names) -> str:
    from .names import Names

    return Names.derive(names.account, previous.region, previous.function).ssm_path


def secret_names_in_ssm(client: AWSClient, names: Names, previous: PreviousBot | None) -> set[str]:
    """The variable names the bot's SSM parameters hold (with --rename, the old name's too: they move)."""
    paths = [names.ssm_path] + ([_old_ssm_path(previous, names)] if previous is not None else [])
    owners = [client] + ([previous.client] if previous is not None else [])
    return {path.rsplit("/", 1)[1] for owner, below in zip(owners, paths) for path in owner.parameter_names(below)}


def carry_secrets(previous: PreviousBot | None, settings: DeploySettings, live: LiveState, names: Names,
                  given: Mapping[str, str]) -> tuple[DeploySettings, LiveState]:
    """With --rename, every secret only the old name's SSM holds (not given now in .env or -e) moves to the
    new name: (settings naming them as stored, the live state as the stored-secret lookup sees it). The
    plan itself still compares with the real live state, so it creates them under the new name."""
    if previous is None:
        return settings, live
    carried = {f"{names.ssm_path}{key.rsplit('/', 1)[1]}": value
               for key, value in previous.client.parameters_by_path(_old_ssm_path(previous, names)).items()}
    only_there = {key.rsplit("/", 1)[1] for key in carried} - set(given)
    return (replace(settings, stored_secrets=tuple(sorted(set(settings.stored_secrets) | only_there))),
            replace(live, parameters={**carried, **live.parameters}))


def refuse_without_rename(previous: PreviousBot, settings: DeploySettings) -> None:
    old = previous.function if previous.region == settings.region else f"{previous.function} in {previous.region}"
    raise PluginError(
        f"this folder's bot is {old} (saved in iaf-aws-lambda.json), and it is still deployed: "
        f"deploying the folder as {settings.function_name} would leave two bots trading the same account. "
        "Nothing was changed.",
        fix=f"Pass --rename to deploy {settings.function_name} and stop {previous.function}'s schedule, or drop "
            f"--lambda-function-name to deploy {previous.function}.")


def target_args(function: str, stage: str, region: str, profile: str | None) -> list[str]:
    """The options that make an operate command target ``function`` of ``stage`` whatever the file's
    ``default_stage``: ``--lambda-function-name`` takes the bot's name and appends the stage (stages.py)."""
    from .stages import DEFAULT_STAGE

    suffix = f"-{stage}"
    if stage != DEFAULT_STAGE and function.endswith(suffix) and len(function) > len(suffix):
        args = ["--lambda-function-name", function[:-len(suffix)], "--stage", stage]
    else:  # the top level's name is taken as it is (a stage's name not ending in -STAGE too)
        args = ["--lambda-function-name", function, "--stage", DEFAULT_STAGE]
    return args + ["--region", region] + (["--profile", profile] if profile else [])


def _command(*words: str) -> str:
    import shlex

    return shlex.join(["investing-algorithm-framework", *words])


def destroy_command(previous: PreviousBot, settings: DeploySettings) -> str:
    """The exact command that removes the old bot (its trading state is kept unless --delete-state)."""
    return _command("destroy-aws-lambda",
                    *target_args(previous.function, settings.stage, previous.region, settings.profile))


def old_bot_command(verb: str, previous: PreviousBot, settings: DeploySettings) -> str:
    """``pause-aws-lambda`` / ``resume-aws-lambda`` (``verb``) of the old bot, as it must be typed."""
    return _command(verb, *target_args(previous.function, settings.stage, previous.region, settings.profile))


def holds_state(previous: PreviousBot) -> str | None:
    """What state the old bot's bucket holds (``None``: none, the new bot may start on empty state). A
    bucket that cannot be read counts as holding state: the new bot then waits paused (the safe side)."""
    from ..function_env import STATE_BUCKET_ENV, STATE_PREFIX, STATE_PREFIX_ENV
    from ..state.admin import current_state
    from .names import Names

    try:
        found = (previous.client.get_function(previous.function, "live")
                 or previous.client.get_function(previous.function) or {})
        env = (found.get("Configuration") or {}).get("Environment", {}).get("Variables", {})
        account = str(previous.client.caller_identity()["Account"])
        bucket = str(env.get(STATE_BUCKET_ENV) or Names.derive(account, previous.region, previous.function).bucket)
        if not previous.client.bucket_exists(bucket, account):
            return None
        state = current_state(bucket, previous.client.client("s3"),
                              prefix=str(env.get(STATE_PREFIX_ENV, STATE_PREFIX) or ""))
    except Exception as error:  # noqa: BLE001 - unreadable: assume there is state, never start on empty
        return f"its state could not be read ({str(error).splitlines()[0] if str(error) else type(error).__name__})"
    if state.generation is not None:
        return f"s3://{bucket} holds its state (snapshot {state.generation}, {state.files} files)"
    if state.legacy_files:
        return f"s3://{bucket} holds {state.legacy_files} state files"
    return None


def paused_marker(previous: PreviousBot, now: datetime | None = None) -> str:
    """The Description of the new bot's schedule while the old one's state is not carried over yet."""
    from ..schedules.pause import PAUSED_PREFIX

    when = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (f"{PAUSED_PREFIX}{when} by deploy-aws-lambda --rename from {previous.function}: its state is not "
            "carried over yet (state-aws-lambda pull/push, then resume-aws-lambda).")


def carry_over_commands(previous: PreviousBot, settings: DeploySettings, directory: str) -> list[str]:
    """The commands that copy the old bot's state into the new one and start it, in order."""
    old = target_args(previous.function, settings.stage, previous.region, settings.profile)
    new = target_args(settings.function_name, settings.stage, settings.region, settings.profile)
    # --replace: the folder is the deploy's own (named after the old bot), so a second try works as printed.
    return [_command("state-aws-lambda", "pull", directory, "--replace", *old),
            _command("state-aws-lambda", "push", directory, "--yes", *new),
            _command("resume-aws-lambda", *new)]


def _schedules_of(previous: PreviousBot) -> list[dict[str, Any]]:
    """Every schedule (any group) whose target is the old function, any qualifier; as GetSchedule answers."""
    found: list[dict[str, Any]] = []
    for page in previous.client.pages("scheduler", "ListSchedules", where="Listing the schedules (scheduler:"
                                                                             "ListSchedules)"):
        for summary in page.get("Schedules", []):
            arn = str((summary.get("Target") or {}).get("Arn") or "")
            parts = arn.split(":")
            if len(parts) >= 7 and parts[2] == "lambda" and parts[5] == "function" and parts[6] == previous.function:
                schedule = previous.client.describe_schedule(str(summary["Name"]),
                                                             str(summary.get("GroupName") or "default"))
                if schedule is not None:
                    found.append(schedule)
    return found


def stop_previous(previous: PreviousBot, settings: DeploySettings, echo: Echo,
                  now: datetime | None = None) -> list[str]:
    """Disable every schedule of the old bot (paused, with the marker); returns their names. Called before
    the new bot is deployed: when it fails, nothing of the new bot exists yet."""
    try:
        return _stop(previous, settings, echo, now)
    except PluginError as error:  # never deploy the new bot while the old one may still run
        raise PluginError(
            f"stopping {previous.function} failed ({error.message.rstrip('.')}), so {settings.function_name} was "
            f"not deployed: {previous.function} keeps running (a schedule disabled before the failure stays "
            "disabled).",
            fix="Fix that and deploy again, or pause it yourself first: "
                + old_bot_command("pause-aws-lambda", previous, settings)) from None


def _stop(previous: PreviousBot, settings: DeploySettings, echo: Echo, now: datetime | None) -> list[str]:
    from ..schedules.pause import PAUSED_PREFIX

    when = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    description = (f"{PAUSED_PREFIX}{when} by deploy-aws-lambda --rename to {settings.function_name} "
                   "(resume-aws-lambda enables it; destroy-aws-lambda removes the bot).")
    stopped = []
    for schedule in _schedules_of(previous):
        if schedule.get("State") != "DISABLED":
            previous.client.set_schedule_state(schedule, False, description)
        stopped.append(str(schedule["Name"]))
    what = f"schedule(s) {', '.join(stopped)} disabled" if stopped else "it had no schedule"
    echo(f"Stopped {previous.function}, this folder's bot before: {what}; it no longer runs by itself. Its "
         "function, state and logs are still there.")
    return stopped


def plan_lines(previous: PreviousBot, settings: DeploySettings, state: str | None) -> list[str]:
    """What --rename does, for the plan (before the confirmation)."""
    lines = [f"--rename: before anything is applied, every schedule of {previous.function}, this folder's bot "
             "before, is disabled (paused); its function, state and logs stay until you destroy it."]
    if state:
        lines.append(f"--rename: {previous.function}'s {state}, and {settings.function_name} has its own state "
                     f"bucket: {settings.function_name} is deployed PAUSED (its schedule created disabled); the "
                     "commands that carry the state over and start it are printed at the end.")
    else:
        lines.append(f"--rename: {previous.function} has no state: {settings.function_name} starts on empty "
                     "state, its schedule enabled.")
    return lines


def done_lines(previous: PreviousBot, settings: DeploySettings, state: str | None, directory: str) -> list[str]:
    """What to run after the deploy: carry the state over and start the new bot (when paused), then remove
    the old one."""
    lines = []
    if state:
        lines.append(f"{settings.function_name} is paused until {previous.function}'s state is in its bucket. Run, "
                     f"in this order (a run of {previous.function} that was in progress when it was stopped may still "
                     "save its state until its timeout: pull after that):")
        lines += [f"  {command}" for command in carry_over_commands(previous, settings, directory)]
    lines.append(f"Once {settings.function_name} trades, remove {previous.function}. Remove it with: "
                 f"{destroy_command(previous, settings)}")
    return lines
