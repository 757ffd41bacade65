"""The Lambda function with everything that runs it: the image build, ``$LATEST``, the published
version the ``live`` alias points at, the trading safety (reserved concurrency 1, no
asynchronous retries) and, after an apply, pruning of versions beyond the rollback window."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ...function_env import (FUNCTION_TIMEOUT_ENV, KEEP_ACTIVE_ENV, MANAGED_ENV_NAMES, SECRETS_DIGEST_ENV, SSM_PARAMETER_PATH_ENV,
                             STATE_BUCKET_ENV, STATE_PREFIX, STATE_PREFIX_ENV)
from ..environment import check_environment_size
from ..models import (BUILD, CREATE, DELETE, SECRETS_DIGEST_LENGTH, UNCHANGED, UPDATE, ActionGroup, Call,
                      DesiredState, FunctionConfig, LiveState, LiveVersions, PlanContext, Prune, Ref, SecretsDigest,
                      Spec, Step, secrets_digest)
from ..names import ALIAS, Names
from .common import digest_of, same_image
from .secrets import version_output

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..awsclient import AWSClient


def desired_function(spec: Spec) -> FunctionConfig:
    names = spec.names
    environment = {k: v for k, v in spec.plain_env.items() if k not in MANAGED_ENV_NAMES}
    # The timeout lets the handler size its state lease to outlive a run.
    environment.update({STATE_BUCKET_ENV: names.bucket, STATE_PREFIX_ENV: STATE_PREFIX,
                        FUNCTION_TIMEOUT_ENV: str(spec.timeout)})
    if spec.with_secrets:
        environment[SSM_PARAMETER_PATH_ENV] = names.ssm_path
    from .keep_active import marks_keep_active

    if marks_keep_active(spec):  # this version answers the keep-active ping (keep_active.py)
        environment[KEEP_ACTIVE_ENV] = "1"
    return FunctionConfig(image_uri=spec.image_uri, memory_size=spec.memory_size, timeout=spec.timeout,
                          architecture=spec.architecture, environment=dict(sorted(environment.items())),
                          role_arn=spec.role_arn or names.role_arn, ephemeral_storage=spec.ephemeral_storage)


def desired(spec: Spec) -> dict[str, Any]:
    return {"function": desired_function(spec), "alias": ALIAS,
            "build_with": None if spec.image_uri else spec.builder, "rollback_window": spec.rollback_window,
            "placements": spec.placements}


def read(client: AWSClient, spec: Spec, live: LiveState) -> dict[str, Any]:
    name = spec.names.function
    if spec.destroy:
        if client.get_function(name) is None:
            return {}
        # Removal needs to know only that it exists (its configuration is not read).
        return {"function": FunctionConfig(None, 0, 0, "", {}, ""),
                "alias_version": client.alias_version(name, ALIAS),
                "versions": tuple(client.published_versions(name))}
    function = client.function_config(name)
    if function is None:
        return {"account_concurrency": client.account_concurrency()}
    alias_version = client.alias_version(name, ALIAS)
    alias_function = None
    if alias_version and alias_version != "$LATEST":
        alias_function = client.function_config(name, alias_version)
    # A run stopped between publishing and moving the alias left a version nobody uses yet:
    # the planner points the alias at it instead of publishing a duplicate.
    latest_version = client.latest_published_version(name)
    reserved = client.get_function_concurrency(name)
    latest_function = alias_function if latest_version == alias_version else (
        client.function_config(name, latest_version) if latest_version else None)
    return {"function": function, "alias_version": alias_version, "alias_function": alias_function,
            "latest_version": latest_version, "latest_function": latest_function, "reserved_concurrency": reserved,
            "event_invoke": client.event_invoke_config(name, ALIAS) if alias_version else None,
            "account_concurrency": client.account_concurrency() if reserved is None else None}


# --- comparisons ------------------------------------------------------------------------------

def env_changes(desired: Mapping[str, str], live: Mapping[str, str]) -> list[str]:
    """Names only (values may be sensitive): ``+NEW``, ``~CHANGED``, ``-REMOVED``."""
    added = [f"+{k}" for k in sorted(desired) if k not in live]
    changed = [f"~{k}" for k in sorted(desired) if k in live and live[k] != desired[k]]
    removed = [f"-{k}" for k in sorted(live) if k not in desired]
    return added + changed + removed


def function_code_changes(want: FunctionConfig, have: FunctionConfig) -> list[str]:
    changes = []
    if want.image_uri is None:
        changes.append("image: new build")
    elif not same_image(want.image_uri, have.image_uri):
        changes.append(f"image {digest_of(have.image_uri) or '?'} -> {digest_of(want.image_uri)}")
    if want.architecture != have.architecture:
        changes.append(f"architecture {have.architecture} -> {want.architecture}")
    return changes


def function_config_changes(want: FunctionConfig, have: FunctionConfig) -> list[str]:
    changes = []
    if want.memory_size != have.memory_size:
        changes.append(f"memory {have.memory_size} -> {want.memory_size} MB")
    if want.timeout != have.timeout:
        changes.append(f"timeout {have.timeout} -> {want.timeout} s")
    if want.ephemeral_storage != have.ephemeral_storage:
        changes.append(f"ephemeral storage {have.ephemeral_storage} -> {want.ephemeral_storage} MB")
    env = env_changes(want.environment, have.environment)
    if env:
        changes.append("environment " + " ".join(env))
    if want.role_arn != have.role_arn:
        changes.append(f"role -> {want.role_arn}")
    return changes


# --- planning ---------------------------------------------------------------------------------

def with_secrets_digest(want: DesiredState, live: LiveState, written: set[str]) -> DesiredState:
    """The desired function environment with :data:`SECRETS_DIGEST_ENV`, when it loads secrets:
    the live versions of the parameters it loads, the new versions of those written during apply."""
    path = want.names.ssm_path
    names = set(want.secrets) | set(live.parameters)
    if not names or want.function.environment.get(SSM_PARAMETER_PATH_ENV) != path:
        return want
    versions: dict[str, Any] = {n: Ref(version_output(n)) if n in written else live.parameters[n].version
                                for n in sorted(names)}
    value: Any = (SecretsDigest(versions) if any(isinstance(v, Ref) for v in versions.values())
                  else secrets_digest(versions))
    environment = {**want.function.environment, SECRETS_DIGEST_ENV: value}
    return replace(want, function=replace(want.function, environment=dict(sorted(environment.items()))))


def check_size(environment: Mapping[str, Any]) -> None:
    """Lambda's 4 KB limit, checked on the plain environment before anything changes."""
    check_environment_size({k: "x" * SECRETS_DIGEST_LENGTH if isinstance(v, SecretsDigest) else str(v)
                            for k, v in environment.items()})


def plan_function(desired: DesiredState, live: LiveState) -> Step:
    want, name = desired.function, desired.names.function
    image: Any = want.image_uri if want.image_uri is not None else Ref("image_uri")
    if live.function is None:
        return Step("Lambda function", name, CREATE,
                    (f"image {digest_of(want.image_uri) or '(built during apply)'}", f"memory {want.memory_size} MB",
                     f"timeout {want.timeout} s", want.architecture),
                    (Call("create_function", {"name": name, "role_arn": want.role_arn, "image_uri": image,
                                              "memory_size": want.memory_size, "timeout": want.timeout,
                                              "architecture": want.architecture,
                                              "environment": dict(want.environment),
                                              "ephemeral_storage": want.ephemeral_storage}),))
    code, config = function_code_changes(want, live.function), function_config_changes(want, live.function)
    calls = []
    if code:
        calls.append(Call("update_function_code", {"name": name, "image_uri": image,
                                                   "architecture": want.architecture}))
    if config:
        calls.append(Call("update_function_configuration", {
            "name": name, "role_arn": want.role_arn, "memory_size": want.memory_size,
            "timeout": want.timeout, "environment": dict(want.environment),
            "ephemeral_storage": want.ephemeral_storage}))
    return Step("Lambda function", name, UPDATE if calls else UNCHANGED, tuple(code + config), tuple(calls))


def plan_alias(desired: DesiredState, live: LiveState, function_step: Step) -> Step:
    want, name, alias = desired.function, desired.names.function, desired.alias
    stale = function_step.action != UNCHANGED or live.alias_function is None or bool(
        function_code_changes(want, live.alias_function) or function_config_changes(want, live.alias_function))
    if not stale:
        return Step("Lambda alias", f"{name}:{alias}", UNCHANGED, (f"version {live.alias_version}",))
    action = CREATE if live.alias_version is None else UPDATE
    reusable = live.latest_function is not None and live.latest_version != live.alias_version and not (
        function_code_changes(want, live.latest_function) or function_config_changes(want, live.latest_function))
    if function_step.action == UNCHANGED and reusable:  # published by an interrupted run: no duplicate
        return Step("Lambda alias", f"{name}:{alias}", action,
                    (f"version {live.alias_version or 'none'} -> {live.latest_version}",),
                    (Call("put_alias", {"function": name, "alias": alias, "version": live.latest_version,
                                        "exists": live.alias_version is not None}),))
    change = (f"version {live.alias_version} -> new version" if live.alias_version else "new version",)
    calls = (Call("publish_version", {"name": name, "description": "deploy-aws-lambda"}, output="version"),
             Call("put_alias", {"function": name, "alias": alias, "version": Ref("version"),
                                "exists": live.alias_version is not None}))
    return Step("Lambda alias", f"{name}:{alias}", action, change, calls)


def plan_trading_safety(desired: DesiredState, live: LiveState) -> Step:
    name, reserved, invoke = desired.names.function, desired.reserved_concurrency, desired.event_invoke
    changes, calls = [], []
    if live.reserved_concurrency != reserved:
        was = "none" if live.reserved_concurrency is None else live.reserved_concurrency
        account = live.account_concurrency
        if account is not None and not account.can_reserve(reserved, live.reserved_concurrency or 0):
            changes.append(f"reserved concurrency {was} -> {reserved}: the account's concurrency quota "
                           f"({account.limit}) leaves none to reserve; the deploy warns and goes on (runs stay "
                           "single through the S3 state lease) and retries on the next deploy")
        else:
            changes.append(f"reserved concurrency {was} -> {reserved}")
        calls.append(Call("put_function_concurrency", {"function": name, "reserved": reserved}))
    if live.event_invoke != invoke:
        changes.append(f"async retries {invoke.retries}, max event age {invoke.max_event_age} s")
        calls.append(Call("put_event_invoke_config", {"function": name, "qualifier": desired.alias,
                                                      "retries": invoke.retries, "max_age": invoke.max_event_age}))
    action = UNCHANGED if not calls else CREATE if live.function is None else UPDATE
    return Step("Trading safety", name, action, tuple(changes) or ("concurrency 1, no async retries",), tuple(calls))


def _destroy(live: LiveState, names: Names) -> list[Step]:
    if live.function is None:
        return []
    steps = []
    if live.alias_version is not None:
        steps.append(Step("Lambda alias", f"{names.function}:{ALIAS}", DELETE, (),
                          (Call("delete_alias", {"function": names.function, "alias": ALIAS}),)))
    steps.append(Step("Lambda function", names.function, DELETE,
                      (f"versions {', '.join(live.versions)}" if live.versions else "no published version",),
                      (Call("delete_function", {"function": names.function}),)))
    return steps


def plan(want: DesiredState | None, live: LiveState, ctx: PlanContext) -> list[Step]:
    if want is None:
        return _destroy(live, ctx.names)
    written = {str(c.params["name"]) for step in ctx.steps for c in step.calls if c.method == "put_secure_parameter"}
    want = with_secrets_digest(want, live, written)
    check_size(want.function.environment)
    steps = []
    if want.build_with:
        steps.append(Step("Image", want.names.repository, BUILD, (f"with {want.build_with}",),
                          (Call("build_image", {"builder": want.build_with}, output="image_uri"),)))
    function = plan_function(want, live)
    return steps + [function, plan_alias(want, live, function), plan_trading_safety(want, live)]


def actions(spec: Spec) -> list[ActionGroup]:
    names = spec.names
    if spec.destroy:
        return [ActionGroup(names.function_arn, ("lambda:GetFunction", "lambda:GetAlias",
                                                 "lambda:ListVersionsByFunction", "lambda:DeleteFunction")),
                ActionGroup(names.alias_arn, ("lambda:DeleteAlias",))]
    return [
        ActionGroup(names.function_arn, ("lambda:GetFunction", "lambda:CreateFunction", "lambda:TagResource",
                                         "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration",
                                         "lambda:PublishVersion", "lambda:ListVersionsByFunction",
                                         "lambda:ListAliases", "lambda:GetAlias", "lambda:CreateAlias",
                                         "lambda:UpdateAlias", "lambda:GetFunctionConcurrency",
                                         "lambda:PutFunctionConcurrency",
                                         # pruning: versions beyond the rollback window
                                         "lambda:DeleteFunction")),
        ActionGroup(names.alias_arn, ("lambda:GetFunctionEventInvokeConfig", "lambda:PutFunctionEventInvokeConfig")),
        # The account's concurrency quota (read before reserving).
        ActionGroup("*", ("lambda:GetAccountSettings",)),
    ]


# --- after an apply: versions beyond the rollback window -----------------------------------------

def read_versions(client: AWSClient, names: Names) -> LiveVersions:
    """What pruning needs: every version's image digest, the aliases, the repository's images."""
    return LiveVersions(digests=client.version_digests(names.function), aliases=client.aliases(names.function),
                        repository_digests=frozenset(client.repository_digests(names.repository, names.account)))


def plan_prune(versions: LiveVersions, *, keep: int, alias: str) -> Prune:
    """Which versions and images to delete after an apply (pure).

    Kept: the ``keep`` newest published versions, every version an alias points at, and every
    image they or ``$LATEST`` use (by digest, whatever the repository). Deleted: the other
    versions, and those of their images that are in the bot's own repository.
    """
    ordered = sorted((v for v in versions.digests if v.isdigit()), key=int)
    kept = set(ordered[-keep:]) | {v for v in versions.aliases.values() if v.isdigit()}
    doomed = [v for v in ordered if v not in kept]
    kept_digests = {versions.digests[v] for v in kept} | {versions.digests.get("$LATEST")}
    images: list[str] = []
    for version in doomed:
        digest = versions.digests[version]
        if digest in versions.repository_digests and digest not in kept_digests and digest not in images:
            images.append(digest)
    return Prune(versions=tuple(doomed), digests=tuple(images), kept=tuple(sorted(kept, key=int)),
                 alias_version=versions.aliases.get(alias))


def prune(client: AWSClient, names: Names, keep: int, echo: Callable[[str], None]) -> None:
    """After a successful apply: delete published versions beyond the rollback window and their
    images in the bot's own repository, keeping every image a kept version (or $LATEST) uses."""
    doomed = plan_prune(read_versions(client, names), keep=keep, alias=ALIAS)
    if not doomed.versions:
        return
    for version in doomed.versions:
        client.delete_function_version(names.function, version)
    deleted = client.delete_images(names.repository, names.account, list(doomed.digests)) if doomed.digests else []
    echo(f"Pruned version(s) {', '.join(doomed.versions)} and {len(deleted)} image(s); kept version(s) "
         f"{', '.join(doomed.kept)} (rollback window {keep}).")
