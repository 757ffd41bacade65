"""The deploy, end to end: settings -> desired state -> live state -> plan -> apply -> save.

:func:`deploy` is what ``deploy-aws-lambda`` calls. Everything it prints goes through a
:class:`~iaf_aws_plugin.deploy.environment.Masker` holding the secret values, and so does the
message of any :class:`PluginError` it raises.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable, Mapping

from ..errors import PluginError
from . import settings as settings_module
from .awsclient import INDEX_MEDIA_TYPES
from .settings import DeployOptions, DeploySettings
from .stages import DEFAULT_STAGE

if TYPE_CHECKING:  # pragma: no cover - typing only
    import boto3

    from ..builders import Builder
    from .awsclient import AWSClient
    from .cost import CostEstimate
    from .lease import DeployLease
    from .environment import Masker, Placement
    from .models import DesiredState, LiveState, Plan
    from .names import Names
    from .rename import PreviousBot

Echo = Callable[[str], None]
#: Builder name -> factory: the registry the command collects from the plugins and passes in.
Builders = Mapping[str, Callable[[], "Builder"]]
_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9._/-]+?)(?::(?P<tag>[\w.-]{1,128}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$")


@dataclass(frozen=True)
class DeployResult:
    settings: DeploySettings
    plan: Plan
    applied: bool
    names: Names
    mask: Callable[[str], str] = str  # masks the deploy's secret values (for what the caller prints)


def resolve_image(client: AWSClient, image_uri: str, region: str, architecture: str = "x86_64",
                  echo: Echo | None = None) -> str:
    """``--image-uri`` verified to exist in ECR, returned by digest (``repo@sha256:…``). A
    multi-architecture index (what buildx pushes by default) is resolved to its image for the
    function's architecture: Lambda refuses an index."""
    match = _ECR_IMAGE.match(image_uri.strip())
    if not match:
        raise PluginError(f"--image-uri {image_uri!r} is not an Amazon ECR image "
                          "(ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY[:TAG|@sha256:DIGEST]).",
                          fix="Lambda runs images from ECR only: push the image to ECR first.")
    if match["region"] != region:
        raise PluginError(f"--image-uri is in region {match['region']}, the function in {region}.",
                          fix="Lambda needs the image in the function's region: push it there.")
    repository_uri = image_uri.strip().split("@")[0]
    repository_uri = repository_uri.rsplit(":", 1)[0] if match["tag"] else repository_uri
    digest = client.image_digest(match["repository"], match["account"], tag=match["tag"], digest=match["digest"])
    what = match["digest"] or f"tag {match['tag'] or 'latest'}"
    if digest is None:
        raise PluginError(f"--image-uri: image {what} does not exist in ECR repository {match['repository']}.",
                          fix="Push the image first, or check the repository, tag and region.")
    found = client.image_manifest(match["repository"], match["account"], digest)
    if found is not None and found[0] in INDEX_MEDIA_TYPES:
        child, platforms = image_for_architecture(found[1], architecture)
        if child is None:
            raise PluginError(f"--image-uri: {what} is a multi-architecture index with no linux/"
                              f"{_PLATFORM_ARCHITECTURE.get(architecture, architecture)} image "
                              f"(it has: {', '.join(platforms) or 'none'}).",
                              fix="Push an image for the function's --architecture, or pass the --architecture "
                                  "the index has.")
        if echo is not None:
            echo(f"--image-uri {what} is a multi-architecture index: deploying its linux/"
                 f"{_PLATFORM_ARCHITECTURE.get(architecture, architecture)} image {child}.")
        digest = child
    return f"{repository_uri}@{digest}"


#: Lambda's architecture names -> the OCI platform's.
_PLATFORM_ARCHITECTURE = {"x86_64": "amd64", "arm64": "arm64"}


def image_for_architecture(index_text: str, architecture: str) -> tuple[str | None, list[str]]:
    """(the digest of the index's linux image for ``architecture`` or None, the platforms it has).
    Attestation manifests (platform unknown/unknown) are not images."""
    import json

    try:
        manifests = json.loads(index_text).get("manifests") or []
    except (ValueError, AttributeError):
        return None, []
    wanted = _PLATFORM_ARCHITECTURE.get(architecture, architecture)
    platforms, child = [], None
    for manifest in manifests:
        platform = manifest.get("platform") or {}
        os_name, arch = str(platform.get("os", "unknown")), str(platform.get("architecture", "unknown"))
        if os_name == "unknown" or (manifest.get("annotations") or {}).get("vnd.docker.reference.type"):
            continue
        platforms.append(f"{os_name}/{arch}" + (f"/{platform['variant']}" if platform.get("variant") else ""))
        if child is None and os_name == "linux" and arch == wanted:
            child = str(manifest.get("digest"))
    return child, platforms


def pushed_image(client: AWSClient, names: Names, repository_uri: str, tag: str, reported: str) -> str:
    """The image a builder pushed, by the digest ECR itself resolves the tag to; a builder
    that reported another digest is an error (never deploy an image nobody verified)."""
    resolved = client.image_digest(names.repository, names.account, tag=tag)
    if resolved is None:
        raise PluginError(f"the image was pushed as {repository_uri}:{tag}, but ECR does not know that tag.",
                          fix="Check the builder's push (registry, repository, credentials), then deploy again.")
    if resolved != reported:
        raise PluginError(f"the builder reported digest {reported} for {repository_uri}:{tag}, but ECR resolves "
                          f"the tag to {resolved}: not deployed.",
                          fix="Another push may have moved the tag, or the builder misreported it; deploy again.")
    return f"{repository_uri}@{resolved}"


def plan_document(result: DeployResult) -> dict[str, object]:
    """The plan as plain data (``deploy-aws-lambda --dry-run --json``): no call parameters, masked."""
    from .models import UNCHANGED

    mask = result.mask
    return {
        "function": result.names.function, "account": result.names.account, "region": result.names.region,
        "changes_pending": not result.plan.is_noop,
        "steps": [{"action": step.action, "resource": step.resource, "name": mask(step.name),
                   "changes": [mask(change) for change in step.changes]} for step in result.plan.steps],
        "counts": {action: sum(1 for step in result.plan.steps if step.action == action)
                   for action in sorted({step.action for step in result.plan.steps}) if action != UNCHANGED},
        "notes": [mask(note) for note in result.plan.notes],
        "settings": {"schedule": result.settings.schedule, "schedule_timezone": result.settings.schedule_timezone,
                     "memory_size": result.settings.memory_size, "timeout": result.settings.timeout,
                     "architecture": result.settings.architecture, "tags": dict(result.settings.tags),
                     "alert_topic": result.settings.alert_topic},
    }


def _take_lease(client: AWSClient, names: Names, caller: str, force_unlock: bool, echo: Echo, warn: Echo,
                leases: list[tuple[AWSClient, DeployLease]]) -> None:
    """The bot's deploy lease (deploy/lease.py), when its state bucket exists (a first deploy creates it).
    Held by another deploy: one line, nothing changed. Not takeable (e.g. no s3:PutObject on it): a warning."""
    from .lease import LEASE_KEY, LeaseHeld, acquire, force_unlock as unlock, lease_holder

    if force_unlock:
        unlock(client, names.bucket, echo)
    try:
        if not client.bucket_exists(names.bucket, names.account):
            return
        leases.append((client, acquire(client, names.bucket, lease_holder(caller))))
    except LeaseHeld:
        raise
    except PluginError as exc:
        warn(f"could not take the deploy lease s3://{names.bucket}/{LEASE_KEY} ({exc.message.rstrip('.')}): "
             "deploying without it, so a deploy started at the same time elsewhere is not stopped.")


def _release(leases: list[tuple[AWSClient, DeployLease]], warn: Echo) -> None:
    from .lease import release

    for client, lease in leases:
        try:
            release(client, lease)
        except PluginError as exc:  # it expires by itself
            warn(f"the deploy lease was not released ({exc.message.rstrip('.')}); it expires by itself within the hour "
                 "(or: deploy-aws-lambda --force-unlock).")


def prune(client: AWSClient, names: Names, keep: int, echo: Echo) -> None:
    """After a successful apply: versions beyond the rollback window go (see the function kind)."""
    from .resources.function import prune as prune_versions

    prune_versions(client, names, keep, echo)


def _repository_arn(image_uri: str | None, names: Names) -> str | None:
    match = _ECR_IMAGE.match(image_uri or "")
    if not match:
        return None
    return f"arn:{names.partition}:ecr:{match['region']}:{match['account']}:repository/{match['repository']}"


def _session(settings: DeploySettings) -> boto3.Session:
    import boto3
    import botocore.exceptions

    try:
        return boto3.Session(profile_name=settings.profile, region_name=settings.region)
    except botocore.exceptions.ProfileNotFound:
        raise PluginError(f"the AWS profile {settings.profile!r} does not exist.",
                          fix="Check --profile against ~/.aws/config (aws configure list-profiles).") from None


def _schedule(settings: DeploySettings, echo: Echo, warn: Echo) -> tuple[str | None, str | None, str]:
    """(expression or None, value to save, its time zone) for the deploy; prints how a derived schedule
    was found.

    A derived schedule always runs in UTC: exchanges close candles on UTC boundaries, and 9.x
    ``Schedule``s are in UTC. ``--schedule-timezone`` applies to an explicit ``--schedule`` only; a
    saved or given zone other than UTC gets a note, not a refusal (it stays saved for the day an
    explicit cron needs it).
    """
    from ..schedules.expressions import parse_schedule, validate_timezone
    from ..schedules.strategy_scan import (derive_schedule, every_strategy_runs_warning, faster_than_strategies_warning,
                                           slower_than_strategies_warning)

    zone_name = validate_timezone(settings.schedule_timezone)
    if settings.schedule is not None:
        expression = parse_schedule(settings.schedule)
        if expression is not None:
            try:
                derived = derive_schedule(settings.project_dir)
            except PluginError:
                derived = None  # --schedule replaces a schedule that cannot be derived
            for message in (faster_than_strategies_warning(expression, derived),
                            slower_than_strategies_warning(expression, derived),
                            every_strategy_runs_warning(expression, derived)):
                if message:
                    warn(message.removeprefix("Warning: "))
        return expression, expression or "none", zone_name
    derived = derive_schedule(settings.project_dir)
    if derived is None:
        warn("no --schedule given and no strategy with a schedule (time_unit and interval, or "
             "schedule = Schedule...) was found: the function gets no schedule and will not run by itself. "
             "Pass --schedule 'rate(1 hour)' (or 'none').")
        return None, "none", zone_name
    zone = " (UTC)" if derived.expression.startswith("cron(") else ""
    echo(f"Schedule: {derived.expression}{zone}, derived from {'; '.join(derived.sources)} "
         "(override with --schedule).")
    if derived.set_by:
        echo(f"  Set by the most frequent schedule: {derived.set_by}.")
    if not derived.exact:
        echo(f"  EventBridge has no cron for exactly these times: this one fires more often, and "
             f"{derived.skip_rule} (aws_function.py asks the framework's Schedule.is_due; a skipped run "
             "succeeds, logged as \"not due\").")
    if derived.note:
        echo(f"  Note: {derived.note}.")
    if zone_name not in _UTC_NAMES:
        echo(f"  Note: a derived schedule runs in UTC, when exchanges close candles; --schedule-timezone "
             f"{zone_name} applies to an explicit --schedule only.")
        zone_name = "UTC"
    message = every_strategy_runs_warning(derived.expression, derived)
    if message:
        warn(message.removeprefix("Warning: "))
    return derived.expression, derived.expression, zone_name


_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "UCT", "Etc/UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu",
                        "GMT", "Etc/GMT", "Etc/GMT0", "Etc/GMT+0", "Etc/GMT-0", "GMT0", "GMT+0", "GMT-0",
                        "Greenwich", "Etc/Greenwich"})


def builder_factory(name: str, builders: Builders) -> Callable[[], Builder]:
    """The factory of the builder registered under ``name``, or one line naming the known ones."""
    if name not in builders:
        raise PluginError(f"unknown --builder {name!r}.",
                          fix=f"Choose one of: {', '.join(sorted(builders)) or '(none installed)'}, "
                              "or deploy a prebuilt image with --image-uri.")
    return builders[name]


def _cost(client: AWSClient, desired: DesiredState, live: LiveState, expression: str | None, zone: str,
          settings: DeploySettings) -> CostEstimate:
    """The estimated monthly cost of the desired bot (cost.py), with the duration measured from its logs."""
    from .cost import alarm_metric_count, estimate, runs_per_month

    durations = client.recent_durations(desired.names.log_group) if live.log_group is not None else []
    recent = durations[-20:]
    return estimate(region=desired.names.region, architecture=desired.function.architecture,
                    memory_mb=desired.function.memory_size, runs=runs_per_month(expression, zone),
                    duration_s=sum(recent) / len(recent) if recent else None,
                    alarm_metrics=alarm_metric_count(desired.alerts.alarms if desired.alerts else None),
                    log_retention_days=settings.log_retention_days, kept_images=settings.rollback_window + 1,
                    provisioned=settings.provisioned_concurrency, keep_active=desired.keep_active is not None)


def _answers_keep_active(settings: DeploySettings) -> bool:
    """Whether the project's handler answers the keep-active ping without trading (resources/keep_active.py)."""
    from .resources.keep_active import answers_keep_active

    return answers_keep_active(settings.project_dir / "aws_function.py")


def _stored_secrets(settings: DeploySettings, plain: dict[str, str], secrets: dict[str, str],
                    placements: tuple[Placement, ...], live: LiveState, names: Names, masker: Masker | None,
                    warn: Echo) -> tuple[tuple[str, ...], tuple[Placement, ...]]:
    """The names whose value only SSM holds (saved in the settings, never the values), and the placements
    with those kept from earlier deploys. A secret given with ``-e`` is stored now; one given earlier is
    kept with its SSM value (added to ``secrets``); ``-e NAME ""`` forgets it (its parameter stays)."""
    from .environment import Placement

    forgotten = {k for k, v in settings.env_overrides.items() if not v}
    given = {k for k, v in settings.env_overrides.items() if v and k in secrets}
    stored = (set(settings.stored_secrets) | given) - forgotten - set(plain)  # a plain one is no secret now
    extra = []
    for name in sorted(stored - set(secrets) - set(plain)):
        parameter = live.parameters.get(f"{names.ssm_path}{name}")
        if parameter is None:
            warn(f"{name} is recorded in {settings_module.SETTINGS_FILE} as a secret kept in SSM, but "
                 f"{names.ssm_path}{name} does not exist: it is not deployed. Set it with "
                 f"`secrets-aws-lambda set {name}` (or -e {name} VALUE).")
            stored.discard(name)
            continue
        secrets[name] = parameter.value
        if masker is not None:
            masker.add(parameter.value)
        extra.append(Placement(name, True, "kept in SSM: given earlier with -e or secrets-aws-lambda set"))
    return tuple(sorted(stored)), tuple(sorted((*placements, *extra), key=lambda p: p.name))


def _unsaved_overrides(settings: DeploySettings, plain: dict[str, str], placements: tuple[Placement, ...],
                       warn: Echo) -> set[str]:
    """Names of ``-e`` values the settings file must not hold: every secret, and a ``--plain`` one whose
    value looks like a credential (deployed plain as asked, but never written to a file meant for git)."""
    from ..secret_detection import secret_value_reason

    unsaved = {p.name for p in placements if p.secret} | {
        k for k, v in settings.env_overrides.items() if v and k not in plain}
    for name, value in sorted(settings.env_overrides.items()):
        if value and name in plain and name not in unsaved and secret_value_reason(value):
            warn(f"-e {name} is deployed as a plain variable (--plain), but its value looks like a credential: "
                 f"it is not saved in {settings_module.SETTINGS_FILE}; pass it again with -e on the next deploy "
                 "(or drop --plain to keep it in SSM).")
            unsaved.add(name)
    return unsaved


def _rename_done(previous: PreviousBot, settings: DeploySettings, state: str | None, echo: Echo) -> None:
    """After a --rename deploy: the commands that carry the old bot's state over and start the new one."""
    import tempfile
    from pathlib import Path

    from .rename import done_lines

    directory = str(Path(tempfile.gettempdir()) / f"iaf-state-{previous.function}")
    for line in done_lines(previous, settings, state, directory):
        echo(line)


def deploy(options: DeployOptions, *, echo: Echo, warn: Echo | None = None,
           confirm: Callable[[str], bool] | None = None, session: boto3.Session | None = None,
           sleep: Callable[[float], None] = time.sleep,
           on_call: Callable[[str, str], None] | None = None, builders: Builders | None = None) -> DeployResult:
    """Deploy (or with ``options.dry_run`` only plan) the bot in ``options.project_dir``.

    ``builders``: the image builders by name (the command collects them from the plugins)."""
    from ..function_env import MANAGED_ENV_NAMES
    from .environment import (Masker, dotenv_name, merge_env, place_variables, read_dotenv, split_secrets,
                              validate_env_name)

    settings = settings_module.resolve(options)
    env_file = dotenv_name(settings.project_dir, settings.stage)  # .env.<stage> when it exists, else .env
    dotenv = read_dotenv(settings.project_dir, settings.stage)
    if settings.stage != DEFAULT_STAGE:
        echo(f"Variables of stage {settings.stage}: {env_file}" + (
            " (only this file: .env is not read)." if env_file != ".env" else
            f" (there is no .env.{settings.stage}; create it to give this stage its own keys)."))
    managed = sorted(MANAGED_ENV_NAMES.intersection(dotenv))
    if managed:
        # A .env also serves local runs, where these names make sense: never deployed, never fatal.
        (warn or echo)(f"{', '.join(managed)} in {env_file}: not deployed, deploy-aws-lambda sets the function's "
                       f"own value ({env_file} keeps serving local runs).")
    env = merge_env({k: v for k, v in dotenv.items() if k not in MANAGED_ENV_NAMES},
                    settings.env_overrides.items())
    placements = place_variables(env, secret_names=settings.secret_names, plain_names=settings.plain_names)
    # Every value that may be a secret is masked: also a .env value an override replaced or removed.
    every = {**dotenv, **settings.env_overrides, **env}
    masker = Masker(every[p.name] for p in place_variables(
        every, secret_names=settings.secret_names, plain_names=settings.plain_names) if p.secret)

    def say(line: str) -> None:
        echo(masker.mask(line))

    def caution(line: str) -> None:
        (warn or echo)(masker.mask(line))
    leases: list[tuple[AWSClient, DeployLease]] = []  # taken by _deploy, released here whatever happens
    try:
        for name in env:
            validate_env_name(name)
        for name in sorted((set(settings.secret_names) | set(settings.plain_names)) - set(env)):
            caution(f"--secret/--plain {name}: no such variable in {env_file} or -e (kept in the settings).")
        plain, secrets = split_secrets(env, placements)
        return _deploy(options, settings, plain, secrets, tuple(placements), say, caution, confirm, session,
                       sleep, on_call, builders or {}, masker=masker, leases=leases, env_file=env_file)
    except PluginError as exc:
        raise PluginError(masker.mask(exc.message), fix=masker.mask(exc.fix) if exc.fix else None) from None
    finally:
        _release(leases, caution)


def _deploy(options: DeployOptions, settings: DeploySettings, plain: dict[str, str], secrets: dict[str, str],
            placements: tuple[Placement, ...], echo: Echo, warn: Echo, confirm: Callable[[str], bool] | None, session: boto3.Session | None,
            sleep: Callable[[float], None], on_call: Callable[[str, str], None] | None,
            builders: Builders, *, masker: Masker | None = None,
            leases: list[tuple[AWSClient, DeployLease]] | None = None, env_file: str = ".env") -> DeployResult:
    from .awsclient import AWSClient
    from .executor import Executor, display
    from .models import Spec
    from .names import Names
    from .planner import desired_state, plan_deploy, read_live_state
    from .preflight import actions_for, check_permissions

    expression, saved_schedule, timezone_name = _schedule(settings, echo, warn)
    # Nothing derived: "none" is kept as saved (no warning at every deploy).
    schedule_source = None if settings.schedule_source == "derived" and expression is None else settings.schedule_source
    build_with: str | None = None
    builder: Builder | None = None
    if not settings.image_uri:
        from .image import choose_builder

        choice = choose_builder(settings, lambda name: builder_factory(name, builders))
        build_with = choice.name
        builder = builder_factory(build_with, builders)()
        echo(f"Builder: {choice.name} ({choice.reason}).")

    client = AWSClient(session or _session(settings), settings.region, sleep=sleep, on_call=on_call)
    identity = client.caller_identity()
    settings = settings_module.with_account(settings, str(identity["Account"]))
    names = Names.derive(str(identity["Account"]), settings.region, settings.function_name)
    echo(f"Deploying {names.function} to account {names.account}, region {names.region} "
         f"as {identity['Arn']}" + (f" (stage {settings.stage})." if settings.stage != DEFAULT_STAGE else "."))
    if settings.named_after_folder:
        echo(f"Function name: {names.function}, the folder's name"
             + (" and the stage" if settings.stage != DEFAULT_STAGE else "") + " (saved by the deploy; "
             "--lambda-function-name chooses another).")
    from .rename import find_previous, refuse_without_rename, stop_previous

    previous = find_previous(settings, client)  # one bot per folder (rename.py)
    if previous is not None and not options.rename:
        refuse_without_rename(previous, settings)
    from .market_keys import check_market_keys
    from .rename import holds_state, paused_marker, secret_names_in_ssm

    # --rename: the old bot's state; when there is some, the new bot is created paused (rename.py).
    old_state = holds_state(previous) if previous is not None else None

    # Before any build or change; a key already in SSM counts (the deploy keeps it, the function loads it).
    check_market_keys(settings.project_dir, {**plain, **secrets}, secret_names_in_ssm(client, names, previous),
                      env_file)
    image_uri = resolve_image(client, settings.image_uri, settings.region, settings.architecture,
                              echo) if settings.image_uri else None

    spec = Spec(names, memory_size=settings.memory_size, timeout=settings.timeout,
                architecture=settings.architecture, plain_env=plain, secrets=secrets, image_uri=image_uri,
                role_arn=settings.role_arn, schedule=expression, timezone=timezone_name, builder=build_with,
                log_retention_days=settings.log_retention_days, rollback_window=settings.rollback_window,
                placements=placements, ephemeral_storage=settings.ephemeral_storage,
                alert_email=settings.alert_email,
                provisioned_concurrency=settings.provisioned_concurrency if settings.provisioned_known else None,
                builds=builder is not None, image_repository=_repository_arn(image_uri, names),
                answers_keep_active=_answers_keep_active(settings),
                tags=settings.tags, dropped_tags=settings.dropped_tags, alert_topic=settings.alert_topic,
                paused=paused_marker(previous) if previous is not None and old_state else None)
    check_permissions(client, str(identity["Arn"]), actions_for(spec), warn)
    # Unique per build: an image a kept version runs must never lose its tag (untagged images expire).
    tag = datetime.now(timezone.utc).strftime("deploy-%Y%m%dT%H%M%S%fZ")
    prebuilt = None
    if builder is not None:
        from .image import prebuild

        # Built before planning (when the builder can): the plan compares digests.
        prebuilt = prebuild(builder, settings, f"{names.registry}/{names.repository}", tag, echo=echo,
                            exists=lambda digest: client.image_digest(names.repository, names.account,
                                                                      digest=digest) is not None)
        if prebuilt is not None and prebuilt.existing:
            image_uri, build_with = prebuilt.image_uri, None
    live = read_live_state(client, spec)
    if live.function is not None and live.function.package_type != "Image":
        raise PluginError(f"Lambda function {names.function} exists with package type "
                          f"{live.function.package_type}; Lambda cannot change it to Image.",
                          fix="Delete that function (or deploy under another --lambda-function-name).")
    from .rename import carry_secrets

    secrets_settings, secrets_live = carry_secrets(previous, settings, live, names, {**plain, **secrets})
    stored, placements = _stored_secrets(secrets_settings, plain, secrets, placements, secrets_live, names, masker,
                                         warn)
    spec = replace(spec, image_uri=image_uri, builder=build_with, secrets=dict(secrets), placements=placements,
                   with_secrets=bool(secrets) or bool(live.parameters))
    desired = desired_state(spec)
    plan = plan_deploy(desired, live)
    if previous is not None:  # what --rename does, in the plan (and in --dry-run --json's notes)
        from .rename import plan_lines

        plan = replace(plan, notes=(*plan.notes, *plan_lines(previous, settings, old_state)))
    echo("Plan:")
    display(plan, echo)
    for note in desired.alerts.notes if desired.alerts else ():
        echo(f"Note: alerts: {note}")
    for line in _cost(client, desired, live, expression, timezone_name, settings).render():
        echo(line)
    result = DeployResult(replace(settings, schedule=saved_schedule, schedule_source=schedule_source,
                                  stored_secrets=stored), plan, False, names,
                          mask=masker.mask if masker is not None else str)
    secret_override_names = _unsaved_overrides(settings, plain, placements, warn)
    if options.dry_run:
        echo("Dry run: nothing was changed.")
        return result
    if plan.is_noop:
        if previous is not None:  # nothing to apply, but the old bot is stopped: asked as any change is
            if not options.yes and confirm is not None and not confirm(f"Stop {previous.function}?"):
                raise PluginError("deploy cancelled: nothing was changed.", fix="Pass --yes to apply without asking.")
            stop_previous(previous, settings, echo)
            _rename_done(previous, settings, old_state, echo)
        settings_module.save(result.settings, secret_override_names)
        return result
    if leases is not None:  # one deploy at a time: from here (changes to apply) to the end
        _take_lease(client, names, str(identity["Arn"]), options.force_unlock, echo, warn, leases)
    if builder is not None:
        builder.check()
    if not options.yes and confirm is not None and not confirm("Apply this plan?"):
        raise PluginError("deploy cancelled: nothing was changed.", fix="Pass --yes to apply without asking.")

    def build_image(_name: str) -> str:
        from ..builders import BuildRequest, RegistryCredentials

        if builder is None:  # the planner only plans a build when a builder was chosen
            raise PluginError("internal error: the plan builds an image but no builder was chosen.")
        if prebuilt is not None:
            from .image import push_prebuilt

            pushed = push_prebuilt(builder, prebuilt, tag, ecr=client.client("ecr"), profile=settings.profile,
                                   echo=echo)
            return pushed_image(client, names, prebuilt.repository_uri, tag, pushed.rpartition("@")[2])
        registry, user, password = client.registry_credentials(names.account)
        repository_uri = f"{names.registry}/{names.repository}"
        built = builder.build(BuildRequest(settings.project_dir, settings.architecture, repository_uri, tag,
                                           base_image=settings.base_image, output=settings.output,
                                           profile=settings.profile),
                              RegistryCredentials(registry, user, password), echo=echo)
        return pushed_image(client, names, repository_uri, tag, built.digest)

    if previous is not None:  # before any change: never two bots at once (a missed run is the safe side)
        stop_previous(previous, settings, echo)
    executor = Executor(client, echo=echo, build_image=build_image, warn=warn)
    try:
        executor.execute(plan)
    except PluginError as exc:
        if previous is None:
            raise
        from .rename import old_bot_command

        raise PluginError(f"{exc.message.rstrip('.')}; {previous.function} was stopped before (--rename), so no "
                          "bot runs now.", fix=f"{exc.fix + ' ' if exc.fix else ''}Deploy again; or start the old bot "
                          f"again: {old_bot_command('resume-aws-lambda', previous, settings)}") from None
    settings_module.save(result.settings, secret_override_names)
    try:
        prune(client, names, settings.rollback_window, echo)
    except PluginError as exc:  # the deploy itself succeeded: old versions stay until the next one
        warn(f"pruning old versions failed ({exc.message}); the deploy succeeded, the next one retries.")
    schedule_note = f"runs {expression} ({timezone_name})" if expression else "has no schedule"
    echo(f"Deployed {names.function}: alias {names.alias_arn} {schedule_note}; state in s3://{names.bucket}.")
    for deferred in executor.deferred:
        echo(f"Not applied yet (the next deploy retries): {deferred}")
    if previous is not None:
        _rename_done(previous, settings, old_state, echo)
    echo(f"Settings saved in {settings_module.SETTINGS_FILE}: run deploy-aws-lambda again to redeploy.")
    return replace(result, applied=True)
