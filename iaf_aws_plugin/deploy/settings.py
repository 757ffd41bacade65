"""Deploy settings: the command's flags, merged over the settings saved in the project.

A successful deploy writes :data:`SETTINGS_FILE` (small, sorted JSON, no secrets: meant
to be reviewed and committed) so that running ``deploy-aws-lambda`` again in the folder
with no flags redeploys the same bot. Flags override saved values. Region and credentials
resolve like the AWS CLI: flag, saved settings, ``--profile``, ``AWS_REGION`` /
``AWS_DEFAULT_REGION``; ``AWS_ENDPOINT_URL`` is honoured by botocore itself.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from ..errors import PluginError
from ..files import write_text_atomic
from .stages import DEFAULT_STAGE, FILE_KEYS, check_file, chosen_stage, section, stage_function, with_section

SETTINGS_FILE = "iaf-aws-lambda.json"
SETTINGS_VERSION = 1
HANDLER_FILE = "aws_function.py"

DEFAULT_MEMORY_SIZE = 3000  # MB, as the host's built-in command
DEFAULT_TIMEOUT = 900  # seconds, as the host's built-in command
DEFAULT_ARCHITECTURE = "x86_64"
DEFAULT_TIMEZONE = "UTC"
DEFAULT_BUILDER = "auto"  # native unless the Dockerfile needs Docker (deploy/image.py)
from ..builders import ARCHITECTURES
MEMORY_RANGE = (128, 10240)
TIMEOUT_RANGE = (1, 900)
DEFAULT_LOG_RETENTION_DAYS = 30
#: The retention periods CloudWatch Logs accepts (PutRetentionPolicy).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)
DEFAULT_ROLLBACK_WINDOW = 5
DEFAULT_EPHEMERAL_STORAGE = 512  # MB of /tmp, Lambda's default
EPHEMERAL_STORAGE_RANGE = (512, 10240)
ROLLBACK_WINDOW_RANGE = (1, 100)

_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SAVED_KEYS = ("function_name", "region", "memory_size", "timeout", "architecture", "schedule",
               "schedule_timezone", "role_arn", "builder", "image_uri", "profile", "account_id", "env",
               "log_retention_days", "rollback_window", "secret_names", "plain_names", "ephemeral_storage",
               "alert_email", "provisioned_concurrency", "base_image", "output", "stored_secrets", "slim",
               "prune_unused", "schedule_source", "tags", "alert_topic")


@dataclass(frozen=True)
class DeployOptions:
    """What the user asked for on the command line; ``None`` means "not given"."""

    project_dir: Path
    function_name: str | None = None
    region: str | None = None
    memory_size: int | None = None
    timeout: int | None = None
    env: tuple[tuple[str, str], ...] = ()
    schedule: str | None = None
    schedule_timezone: str | None = None
    architecture: str | None = None
    image_uri: str | None = None
    builder: str | None = None
    role_arn: str | None = None
    profile: str | None = None
    base_image: str | None = None
    output: str | None = None
    dry_run: bool = False
    yes: bool = False
    force_unlock: bool = False  # remove another deploy's lease first (deploy/lease.py)
    log_retention_days: int | None = None
    rollback_window: int | None = None
    ephemeral_storage: int | None = None
    secret_names: tuple[str, ...] = ()  # --secret NAME: into SSM whatever its name and value
    plain_names: tuple[str, ...] = ()  # --plain NAME: a plain variable whatever its name and value
    alert_email: str | None = None  # --alert-email ADDRESS, or "none" to remove the alerts
    provisioned_concurrency: int | None = None  # --provisioned-concurrency N (0 removes it)
    slim: bool | None = None  # --slim/--no-slim (native builder)
    prune_unused: bool | None = None  # --prune-unused/--no-prune-unused (native builder)
    stage: str | None = None  # --stage NAME (deploy/stages.py); None: the file's default_stage
    tags: tuple[str, ...] | None = None  # --tag KEY=VALUE (repeatable; replaces the saved set; "none": no tags)
    alert_topic: str | None = None  # --alert-topic ARN (the user's own SNS topic), or "none"
    rename: bool = False  # --rename: deploy under the new name, then stop the folder's previous function (rename.py)


@dataclass(frozen=True)
class DeploySettings:
    """The resolved settings of one deploy (flags over saved settings over defaults)."""

    project_dir: Path
    function_name: str
    region: str
    memory_size: int = DEFAULT_MEMORY_SIZE
    timeout: int = DEFAULT_TIMEOUT
    architecture: str = DEFAULT_ARCHITECTURE
    schedule: str | None = None  # None: not chosen yet (derive on first deploy); "none": no schedule
    schedule_timezone: str = DEFAULT_TIMEZONE
    #: "derived": the schedule follows the strategies (derived again at every deploy); "explicit":
    #: --schedule chose it; None: not recorded (settings of earlier versions: kept as saved).
    schedule_source: str | None = None
    role_arn: str | None = None
    builder: str = DEFAULT_BUILDER
    image_uri: str | None = None
    profile: str | None = None
    account_id: str | None = None
    base_image: str | None = None  # --base-image: the native builder's base (default: Lambda's Python image)
    output: str | None = None  # --output oci:DIR: also write the built image there
    env_overrides: Mapping[str, str] = field(default_factory=dict)  # -e values (secrets included, never saved)
    log_retention_days: int = DEFAULT_LOG_RETENTION_DAYS
    rollback_window: int = DEFAULT_ROLLBACK_WINDOW
    ephemeral_storage: int = DEFAULT_EPHEMERAL_STORAGE
    secret_names: tuple[str, ...] = ()
    plain_names: tuple[str, ...] = ()
    alert_email: str | None = None  # None or "none": no alerts
    provisioned_concurrency: int = 0
    provisioned_known: bool = False  # given now or saved before: the live setting must be read
    # Variables whose value only SSM holds (given once with -e, or set with secrets-aws-lambda): their
    # names are saved, never their values; a later deploy keeps them.
    stored_secrets: tuple[str, ...] = ()
    slim: bool = True  # the native builder drops tests, C sources, stubs, debug symbols (--no-slim keeps them)
    prune_unused: bool = False  # the native builder leaves out packages Lambda never imports (--prune-unused)
    named_after_folder: bool = False  # no name given nor saved: the folder's (never saved as such)
    profile_from_env: bool = False  # AWS_PROFILE chose the profile: profile_saved is what is saved
    profile_saved: str | None = None
    stage: str = DEFAULT_STAGE  # the settings file's section this deploy reads and writes
    tags: Mapping[str, str] = field(default_factory=dict)  # the user's own tags on every resource
    dropped_tags: tuple[str, ...] = ()  # saved before, not asked for now: removed by this deploy (never saved)
    alert_topic: str | None = None  # the user's SNS topic the alarms also notify (None or "none": none)
    # The function (and region) the saved settings name when the deploy asks for another one (never saved).
    previous_function: str | None = None
    previous_region: str | None = None

    def saved_form(self, secret_names: set[str]) -> dict[str, Any]:
        """What goes into the settings file: no secret value, no project path."""
        data = asdict(self)
        data["env"] = {k: v for k, v in sorted(self.env_overrides.items()) if k not in secret_names}
        data["secret_names"] = sorted(self.secret_names)
        data["plain_names"] = sorted(self.plain_names)
        data["stored_secrets"] = sorted(self.stored_secrets)
        data["tags"] = dict(sorted(self.tags.items()))
        if self.profile_from_env:
            data["profile"] = self.profile_saved
        saved = {key: data[key] for key in _SAVED_KEYS if data.get(key) not in (None, {}, "", [])}
        if not self.provisioned_known:  # never chosen: not managed, not saved
            saved.pop("provisioned_concurrency", None)
        for key, default in (("slim", True), ("prune_unused", False)):  # saved only when not the default
            if saved.get(key) is default:
                saved.pop(key)
        return {"version": SETTINGS_VERSION, **saved}


def settings_path(project_dir: Path) -> Path:
    return Path(project_dir) / SETTINGS_FILE


def load_saved(project_dir: Path, stage: str | None = None) -> dict[str, Any]:
    """The saved settings of the project's stage ``stage`` (``--stage``; ``None``: the file's default
    stage), ``{}`` when there are none."""
    data = load_file(project_dir)
    return section(data, chosen_stage(data, stage))


def load_file(project_dir: Path) -> dict[str, Any]:
    """The whole settings file (every stage), ``{}`` when there is none."""
    path = settings_path(project_dir)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PluginError(f"cannot read the deploy settings {path}: {exc}.",
                          fix="Fix the JSON, or delete the file and pass the flags again.") from None
    if not isinstance(data, dict):
        raise PluginError(f"the deploy settings {path} are not a JSON object.",
                          fix="Fix the file, or delete it and pass the flags again.")
    unknown = sorted(set(data) - set(_SAVED_KEYS) - {"version"} - set(FILE_KEYS))
    if unknown:
        raise PluginError(f"the deploy settings {path} have unknown keys: {', '.join(unknown)}.",
                          fix=f"Keep only: {', '.join(_SAVED_KEYS)}.")
    check_file(data, path, _SAVED_KEYS)
    return data


def save(settings: DeploySettings, secret_names: set[str]) -> Path:
    """Write the settings of the deploy's stage atomically (sorted keys, trailing newline); the
    file's other stages are kept."""
    return save_section(settings.project_dir, settings.stage, settings.saved_form(secret_names))


def save_section(project_dir: Path, stage: str, saved: Mapping[str, Any]) -> Path:
    """Replace one stage's section of the settings file (written atomically); the others are kept."""
    path = settings_path(project_dir)
    text = json.dumps(with_section(load_file(project_dir), stage, saved), indent=2, sort_keys=True) + "\n"
    write_text_atomic(path, text)
    return path


# --- validation --------------------------------------------------------------------------

def validate_function_name(name: str) -> str:
    if not _FUNCTION_NAME.match(name or ""):
        raise PluginError(f"invalid --lambda-function-name {name!r}: use 1 to 64 letters, digits, '-' or '_'.",
                          fix="For example: --lambda-function-name my-trading-bot")
    return name


def _in_range(value: int, flag: str, limits: tuple[int, int], allowed: str, example: int) -> int:
    """``value`` when within ``limits``; else one line: ``invalid FLAG VALUE: ALLOWED`` (``{low}``/``{high}``
    filled in) with an example."""
    low, high = limits
    if not low <= value <= high:
        raise PluginError(f"invalid {flag} {value}: {allowed.format(low=low, high=high)}.",
                          fix=f"For example: {flag} {example}")
    return value


def validate_memory(value: int) -> int:
    return _in_range(value, "--memory-size", MEMORY_RANGE, "Lambda allows {low} to {high} MB", 3000)


def validate_timeout(value: int) -> int:
    return _in_range(value, "--timeout", TIMEOUT_RANGE, "Lambda allows {low} to {high} seconds", 900)


def validate_log_retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        raise PluginError(f"invalid --log-retention-days {value}: CloudWatch Logs accepts "
                          f"{', '.join(map(str, LOG_RETENTION_DAYS))}.", fix="For example: --log-retention-days 30")
    return value


def validate_ephemeral_storage(value: int) -> int:
    return _in_range(value, "--ephemeral-storage", EPHEMERAL_STORAGE_RANGE,
                     "Lambda allows {low} to {high} MB of /tmp", 2048)


def validate_rollback_window(value: int) -> int:
    return _in_range(value, "--rollback-window", ROLLBACK_WINDOW_RANGE, "keep {low} to {high} published versions", 5)


def _names(value: Any, key: str, project: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PluginError(f"'{key}' in {settings_path(project)} must be a list of variable names.")
    return tuple(value)


def validate_provisioned_concurrency(value: int) -> int:
    """0 or 1: Lambda provisions at most the reserved concurrency, and the bot reserves 1 (never two runs)."""
    if value not in (0, 1):
        raise PluginError(f"invalid --provisioned-concurrency {value}: the bot reserves a concurrency of 1 (it must "
                          "never run twice at once) and Lambda cannot provision more than is reserved.",
                          fix="Pass --provisioned-concurrency 1 (one warm instance) or 0 (none).")
    return value


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def validate_alert_email(value: str) -> str:
    """An e-mail address, or ``none`` (remove the alerts)."""
    text = value.strip()
    if text.lower() == "none":
        return "none"
    if not _EMAIL.match(text) or len(text) > 254:
        raise PluginError(f"invalid --alert-email {value!r}: expected an e-mail address or 'none'.",
                          fix="For example: --alert-email me@example.com (or --alert-email none to remove alerts).")
    return text


def _alert_email(value: Any) -> str | None:
    return None if value is None else validate_alert_email(str(value))


def validate_architecture(value: str) -> str:
    if value not in ARCHITECTURES:
        raise PluginError(f"invalid --architecture {value!r}: choose {' or '.join(ARCHITECTURES)}.")
    return value


def known_regions() -> set[str]:
    import botocore.session

    session = botocore.session.get_session()
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("lambda", partition_name=partition))
    return regions


def validate_region(region: str) -> str:
    if region not in known_regions():
        raise PluginError(f"unknown AWS region {region!r}.",
                          fix="Pass a Lambda region such as --region eu-west-1 (upgrade boto3 if the region is new).")
    return region


def validate_role_arn(arn: str) -> str:
    if not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$", arn):
        raise PluginError(f"invalid --role-arn {arn!r}: expected arn:aws:iam::ACCOUNT:role/NAME.")
    return arn


def validate_base_image(value: str | None) -> str | None:
    if value is None:
        return None
    from ..builders.native.reference import parse_reference

    return str(parse_reference(value)) if value.strip() else None


def validate_output(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    if not value.startswith("oci:") or len(value) <= 4:
        raise PluginError(f"invalid --output {value!r}: only an OCI image layout is supported.",
                          fix="For example: --output oci:build/image")
    return value


def project_dir_of(path: str | Path | None) -> Path:
    project = Path(path) if path else Path.cwd()
    if not project.is_dir():
        raise PluginError(f"project folder {project} does not exist.", fix="Pass --project-dir PATH.")
    if not (project / HANDLER_FILE).is_file():
        raise PluginError(f"{project} has no {HANDLER_FILE}: it is not an AWS Lambda trading bot project.",
                          fix="Run `investing-algorithm-framework init-aws-lambda` there, or pass --project-dir.")
    return project.resolve()


def default_region(profile: str | None) -> str | None:
    """The region the AWS CLI would use: AWS_REGION, AWS_DEFAULT_REGION, then the profile's."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if os.environ.get(name):
            return os.environ[name]
    import botocore.exceptions
    import botocore.session

    try:
        session = botocore.session.Session(profile=profile)
        region = session.get_config_variable("region")
        return str(region) if region else None
    except botocore.exceptions.ProfileNotFound:
        raise PluginError(f"the AWS profile {profile!r} does not exist.",
                          fix="Check --profile against ~/.aws/config (aws configure list-profiles).") from None


def resolve(options: DeployOptions) -> DeploySettings:
    """Flags over saved settings over defaults, validated. Raises PluginError on bad input."""
    project = project_dir_of(options.project_dir)
    data = load_file(project)
    stage = chosen_stage(data, options.stage)
    saved = section(data, stage)

    def pick(flag: Any, key: str, default: Any = None) -> Any:
        return flag if flag is not None else saved.get(key, default)

    function_name = stage_function(data, stage, options.function_name)
    named_after_folder = False
    if not function_name:  # a fresh bot folder: named after the folder (shown in the plan, saved on deploy)
        folder_name = function_name_from_folder(project)
        function_name, named_after_folder = folder_name and stage_function(data, stage, folder_name), True
    if not function_name:
        raise PluginError(f"no Lambda function name: this project has not been deployed yet and its folder's "
                          f"name {project.name!r} makes no valid one.",
                          fix="Pass --lambda-function-name NAME (it is saved for later deploys).")
    from .profiles import choose_profile

    profile, profile_source = choose_profile(options.profile, saved.get("profile"))
    region = options.region or saved.get("region") or default_region(profile)
    if not region:
        raise PluginError("no AWS region is set.", fix="Pass --region (e.g. eu-west-1), or set AWS_REGION.")
    saved_env = saved.get("env") or {}
    if not isinstance(saved_env, dict):
        raise PluginError(f"'env' in {settings_path(project)} must be an object of NAME: value.")
    env_overrides = {str(k): str(v) for k, v in saved_env.items()}
    env_overrides.update({k: v for k, v in options.env})
    role_arn = pick(options.role_arn, "role_arn")
    # --secret / --plain add to the saved lists; naming a variable in one removes it from the other.
    secret_names = set(_names(saved.get("secret_names", []), "secret_names", project))
    plain_names = set(_names(saved.get("plain_names", []), "plain_names", project))
    for name in options.secret_names:
        secret_names.add(name)
        plain_names.discard(name)
    for name in options.plain_names:
        if name in options.secret_names:
            raise PluginError(f"{name} is given both as --secret and --plain.", fix="Choose one.")
        plain_names.add(name)
        secret_names.discard(name)
    # A derived schedule is derived again at every deploy (the strategies may have changed);
    # --schedule makes it explicit. Settings of earlier versions (no source) keep their schedule.
    schedule_source = ("explicit" if options.schedule is not None else
                       "derived" if saved.get("schedule_source") == "derived" or "schedule" not in saved else
                       saved.get("schedule_source"))
    settings = DeploySettings(
        project_dir=project,
        function_name=validate_function_name(str(function_name)),
        region=validate_region(str(region)),
        memory_size=validate_memory(int(pick(options.memory_size, "memory_size", DEFAULT_MEMORY_SIZE))),
        timeout=validate_timeout(int(pick(options.timeout, "timeout", DEFAULT_TIMEOUT))),
        architecture=validate_architecture(str(pick(options.architecture, "architecture", DEFAULT_ARCHITECTURE))),
        schedule=options.schedule if options.schedule is not None else
        None if schedule_source == "derived" else saved.get("schedule"),
        schedule_source=schedule_source,
        schedule_timezone=str(pick(options.schedule_timezone, "schedule_timezone", DEFAULT_TIMEZONE)),
        role_arn=validate_role_arn(role_arn) if role_arn else None,
        builder=str(pick(options.builder, "builder", DEFAULT_BUILDER)),
        # --image-uri is saved (a rerun redeploys that image: a moved tag is resolved again);
        # an explicit --builder drops it and builds.
        image_uri=options.image_uri if options.image_uri or options.builder else saved.get("image_uri"),
        profile=profile,
        account_id=saved.get("account_id"),
        base_image=validate_base_image(pick(options.base_image, "base_image")),
        output=validate_output(pick(options.output, "output")),
        env_overrides=env_overrides,
        log_retention_days=validate_log_retention(
            int(pick(options.log_retention_days, "log_retention_days", DEFAULT_LOG_RETENTION_DAYS))),
        rollback_window=validate_rollback_window(
            int(pick(options.rollback_window, "rollback_window", DEFAULT_ROLLBACK_WINDOW))),
        secret_names=tuple(sorted(secret_names)),
        plain_names=tuple(sorted(plain_names)),
        ephemeral_storage=validate_ephemeral_storage(
            int(pick(options.ephemeral_storage, "ephemeral_storage", DEFAULT_EPHEMERAL_STORAGE))),
        alert_email=_alert_email(pick(options.alert_email, "alert_email")),
        provisioned_concurrency=validate_provisioned_concurrency(
            int(pick(options.provisioned_concurrency, "provisioned_concurrency", 0))),
        provisioned_known=options.provisioned_concurrency is not None or "provisioned_concurrency" in saved,
        stored_secrets=_names(saved.get("stored_secrets", []), "stored_secrets", project),
        slim=bool(pick(options.slim, "slim", True)),
        prune_unused=bool(pick(options.prune_unused, "prune_unused", False)),
        stage=stage,
    )
    settings = _with_tags_and_topic(settings, options, saved)
    if profile_source == "AWS_PROFILE":  # used for this run; the saved one stays saved
        settings = replace(settings, profile_saved=saved.get("profile"), profile_from_env=True)
    saved_name, saved_region = saved.get("function_name"), saved.get("region")
    if saved_name and (saved_name, saved_region or settings.region) != (settings.function_name, settings.region):
        settings = replace(settings, previous_function=str(saved_name), previous_region=saved_region)
    return replace(settings, named_after_folder=True) if named_after_folder else settings


def function_name_from_folder(project: Path) -> str:
    """The folder's name made a valid Lambda function name (letters, digits, '-', '_'; at most 64),
    ``""`` when nothing of it is left."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", project.name)
    return re.sub(r"-{2,}", "-", name).strip("-_")[:64].strip("-_")


def with_account(settings: DeploySettings, account_id: str) -> DeploySettings:
    """Refuse to deploy a saved bot into another account by accident."""
    if settings.account_id and settings.account_id != account_id:
        raise PluginError(
            f"this project was deployed to AWS account {settings.account_id}, but your credentials are for "
            f"account {account_id}.",
            fix=f"Use the right --profile, or remove account_id from {SETTINGS_FILE} to deploy to {account_id}.")
    return replace(settings, account_id=account_id)


def _with_tags_and_topic(settings: DeploySettings, options: DeployOptions, saved: Mapping[str, Any]) -> DeploySettings:
    """``--tag`` (replacing the saved set; the saved keys not given any more are dropped) and ``--alert-topic``."""
    from .alert_topic import validate_alert_topic
    from .tags import parse_tag_options, validate_tags

    before = saved.get("tags") or {}
    if not isinstance(before, dict):
        raise PluginError(f"'tags' in {settings_path(settings.project_dir)} must be an object of KEY: value.")
    before = validate_tags({str(k): str(v) for k, v in before.items()},
                           where=f"tags in {settings_path(settings.project_dir)}:")
    tags = parse_tag_options(options.tags) if options.tags is not None else before
    topic = options.alert_topic if options.alert_topic is not None else saved.get("alert_topic")
    return replace(settings, tags=tags, dropped_tags=tuple(sorted(set(before) - set(tags))),
                   alert_topic=None if topic is None else validate_alert_topic(str(topic), settings.region))
