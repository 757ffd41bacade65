"""Which deployed bot a command operates on: flags over the project's saved settings.

In the project folder the saved ``iaf-aws-lambda.json`` (written by ``deploy-aws-lambda``,
read here, never changed) names the function, the region, the profile and the account, so
the commands need no flags. Outside it, ``--lambda-function-name`` and ``--region`` suffice.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..deploy.stages import DEFAULT_STAGE
from ..errors import PluginError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import boto3

    from ..deploy.awsclient import AWSClient
    from ..deploy.environment import Masker
    from ..deploy.names import Names


@dataclass(frozen=True)
class TargetOptions:
    """The flags every operate command shares; ``None`` means "not given"."""

    project_dir: Path | None = None
    function_name: str | None = None
    region: str | None = None
    profile: str | None = None
    stage: str | None = None  # --stage; None: the settings file's default stage


@dataclass(frozen=True)
class Target:
    """A resolved bot: its names in AWS, a client, and a masker for its secret values."""

    project_dir: Path | None  # the project folder, when there is one
    saved: dict[str, Any]
    names: Names
    client: AWSClient
    session: boto3.Session
    masker: Masker
    profile: str | None
    stage: str = DEFAULT_STAGE  # the settings file's section (deploy/stages.py)

    @property
    def function(self) -> str:
        return self.names.function

    @property
    def region(self) -> str:
        return self.names.region

    def mask_deployed_secrets(self, warn: Callable[[str], None]) -> None:
        """Also mask every value the deployed bot keeps in SSM: a secret given once with ``-e`` (never
        saved) is only there. Without read access to them: one warning, and the known values masked."""
        try:
            parameters = self.client.parameters_by_path(self.names.ssm_path)
        except PluginError as error:
            warn(f"Warning: could not read the bot's SSM parameters below {self.names.ssm_path} to mask their "
                 f"values ({error.message}); a secret the function prints may show.")
            return
        for parameter in parameters.values():
            self.masker.add(parameter.value)

    def s3_client(self) -> Any:
        """An S3 client of the same session (profile, region, AWS_ENDPOINT_URL) for the state code."""
        from botocore.config import Config

        return self.session.client("s3", region_name=self.region,
                                   config=Config(retries={"mode": "standard", "max_attempts": 5},
                                                 max_pool_connections=20))


def _project(options: TargetOptions) -> tuple[Path | None, dict[str, Any]]:
    from ..deploy.settings import load_file, settings_path

    project = Path(options.project_dir) if options.project_dir else Path.cwd()
    if options.project_dir and not project.is_dir():
        raise PluginError(f"project folder {project} does not exist.", fix="Pass --project-dir PATH.")
    if not settings_path(project).is_file():
        return (project if options.project_dir else None), {}
    return project.resolve(), load_file(project)


def resolve_target(options: TargetOptions, *, session: boto3.Session | None = None,
                   sleep: Any = None) -> Target:
    """Flags over saved settings; checks the credentials' account against the saved one."""
    import time

    import boto3
    import botocore.exceptions

    from ..deploy.awsclient import AWSClient
    from ..deploy.environment import Masker, project_secret_values
    from ..deploy.names import Names
    from ..deploy.settings import SETTINGS_FILE, default_region, validate_function_name, validate_region
    from ..deploy.stages import chosen_stage, section, stage_function

    project, data = _project(options)
    stage = chosen_stage(data, options.stage)
    saved = section(data, stage)
    function = stage_function(data, stage, options.function_name)
    if not function and data:
        raise PluginError(f"no Lambda function name: stage {stage} has not been deployed from {project}.",
                          fix="Pass --stage NAME (status-aws-lambda --all-stages lists the stages), or "
                              "--lambda-function-name NAME (the stage is appended).")
    if not function:
        raise PluginError(f"no Lambda function name: there is no {SETTINGS_FILE} in "
                          f"{project or Path.cwd()} (this folder has not been deployed from).",
                          fix="Run the command in the bot's project folder, or pass --lambda-function-name NAME "
                              "(and --region).")
    from ..deploy.profiles import choose_profile

    profile, _ = choose_profile(options.profile, saved.get("profile"))
    region = options.region or saved.get("region") or default_region(profile)
    if not region:
        raise PluginError("no AWS region is set.", fix="Pass --region (e.g. eu-west-1), or set AWS_REGION.")
    validate_function_name(str(function))
    validate_region(str(region))
    if session is None:
        try:
            session = boto3.Session(profile_name=profile, region_name=str(region))
        except botocore.exceptions.ProfileNotFound:
            raise PluginError(f"the AWS profile {profile!r} does not exist.",
                              fix="Check --profile against ~/.aws/config (aws configure list-profiles).") from None
    client = AWSClient(session, str(region), sleep=sleep or time.sleep)
    account = str(client.caller_identity()["Account"])
    saved_account = saved.get("account_id")
    same_function = saved.get("function_name") == function
    if saved_account and same_function and saved_account != account:
        raise PluginError(f"{function} was deployed to AWS account {saved_account}, but your credentials are for "
                          f"account {account}.", fix="Use the right --profile (or AWS_PROFILE).")
    # The deploy's own rule for what is a secret (name, value, --secret/--plain saved): mask those values.
    return Target(project_dir=project, saved=saved, names=Names.derive(account, str(region), str(function)),
                  client=client, session=session, masker=Masker(project_secret_values(project, stage, saved)),
                  profile=profile, stage=stage)
