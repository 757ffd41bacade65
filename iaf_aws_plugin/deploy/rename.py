"""One bot per folder: deploying a folder under another ``--lambda-function-name`` than the deployed one.

Without ``--rename`` that is refused before any change (two functions would trade the same exchange
account, each with its own state). With ``--rename`` the new function is deployed first; then every
schedule that starts the old one is disabled, with the pause marker (:mod:`..schedules.pause`: status
shows it, a deploy of the old name keeps it paused), and the exact command that removes the old bot is
printed. Nothing of the old bot is deleted here: its state and logs stay until that command runs.
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

__all__ = ["PreviousBot", "carry_secrets", "destroy_command", "find_previous", "refuse_without_rename",
           "secret_names_in_ssm", "stop_previous"]

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


def destroy_command(previous: PreviousBot, settings: DeploySettings) -> str:
    """The exact command that removes the old bot (its trading state is kept unless --delete-state)."""
    command = ["investing-algorithm-framework", "destroy-aws-lambda", "--lambda-function-name", previous.function,
               "--region", previous.region]
    if settings.profile:
        command += ["--profile", settings.profile]
    return " ".join(command)


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
    """Disable every schedule of the old bot (paused, with the marker); returns their names."""
    try:
        return _stop(previous, settings, echo, now)
    except PluginError as error:  # the new bot runs: never leave the old one running without a word
        raise PluginError(
            f"{settings.function_name} is deployed, but stopping {previous.function} failed ({error.message}): both "
            "bots run now.",
            fix=f"Run investing-algorithm-framework pause-aws-lambda --lambda-function-name {previous.function} "
                f"--region {previous.region}, or remove it: {destroy_command(previous, settings)}") from None


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
         f"function, state and logs are still there. Remove it with: {destroy_command(previous, settings)}")
    return stopped
