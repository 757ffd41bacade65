"""Desired state vs live state -> a :class:`Plan` of plain-data instructions.

No AWS call here: the planner is a pure function of two data structures, so it is tested
on in-memory data. Each resource gets one :class:`Step`: ``create``, ``update`` (with what
changes), ``delete``, ``build`` or ``unchanged``; only the first four carry calls.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from ..function_env import SECRETS_DIGEST_ENV, SSM_PARAMETER_PATH_ENV
from .alerts import plan_alerts
from .desired import DesiredState
from .environment import check_environment_size
from .models import FunctionConfig, Role, Schedule
from .remote import LiveState, LiveVersions

CREATE, UPDATE, DELETE, BUILD, UNCHANGED = "create", "update", "delete", "build", "unchanged"


@dataclass(frozen=True)
class Ref:
    """The output of an earlier call of the same plan (e.g. the published version)."""

    name: str


@dataclass(frozen=True)
class SecretsDigest:
    """The value of :data:`~iaf_aws_plugin.function_env.SECRETS_DIGEST_ENV` once the versions of the
    parameters written during apply are known (``versions``: name -> version or :class:`Ref`)."""

    versions: Mapping[str, Any]

    def resolve(self, versions: Mapping[str, int]) -> str:
        return secrets_digest(versions)


#: Length of the digest value (known before apply, for the environment size check).
SECRETS_DIGEST_LENGTH = 16


def secrets_digest(versions: Mapping[str, int]) -> str:
    """A digest of the SSM parameter names and versions the function loads at cold start: a
    changed (or rotated) secret changes it, so a new version is published and warm instances
    holding the old value are replaced."""
    import hashlib

    text = "\n".join(f"{name}={versions[name]}" for name in sorted(versions))
    return hashlib.sha256(text.encode()).hexdigest()[:SECRETS_DIGEST_LENGTH]


@dataclass(frozen=True)
class Prune:
    """Versions (and images) to delete after an apply; ``kept``: the versions of the rollback window."""

    versions: tuple[str, ...]
    digests: tuple[str, ...]
    kept: tuple[str, ...]
    alias_version: str | None = None


@dataclass(frozen=True)
class Call:
    """One call of :class:`~iaf_aws_plugin.deploy.awsclient.AWSClient` (or ``build_image``)."""

    method: str
    params: Mapping[str, Any]
    output: str | None = None


@dataclass(frozen=True)
class Step:
    resource: str
    name: str
    action: str
    changes: tuple[str, ...] = ()
    calls: tuple[Call, ...] = ()

    @property
    def subject(self) -> str:
        """What the step is about, with what changes: ``IAM role x (inline policy)``."""
        detail = f" ({', '.join(self.changes)})" if self.changes else ""
        return f"{self.resource} {self.name}{detail}"

    def describe(self) -> str:
        return f"{self.action:>9}  {self.subject}"


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = field(default=())
    environment: tuple[str, ...] = field(default=())  # where each user variable goes, and why

    @property
    def changes(self) -> tuple[Step, ...]:
        return tuple(step for step in self.steps if step.action != UNCHANGED)

    @property
    def is_noop(self) -> bool:
        return not self.changes

    def render(self) -> list[str]:
        lines = [step.describe() for step in self.steps]
        if self.environment:
            lines.append("Environment variables:")
            lines += [f"    {line}" for line in self.environment]
        if self.is_noop:
            lines.append("Nothing to change: the deployed bot already matches (same image digest, same settings).")
        else:
            counts: dict[str, int] = {}
            for step in self.changes:
                counts[step.action] = counts.get(step.action, 0) + 1
            lines.append("Plan: " + ", ".join(f"{n} to {a}" for a, n in counts.items()) + ".")
        return lines


# --- comparisons ------------------------------------------------------------------------------

def _digest(image_uri: str | None) -> str | None:
    if not image_uri:
        return None
    return image_uri.rsplit("@", 1)[-1] if "@" in image_uri else image_uri


def same_image(desired: str | None, live: str | None) -> bool:
    return desired is not None and live is not None and (
        desired == live or ("@" in desired and "@" in live and _digest(desired) == _digest(live)
                            and desired.split("@")[0] == live.split("@")[0]))


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
        changes.append(f"image {_digest(have.image_uri) or '?'} -> {_digest(want.image_uri)}")
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


def canonical(value: Any) -> Any:
    """A policy document in a comparable form: AWS may give back ``"x"`` for ``["x"]``."""
    if isinstance(value, Mapping):
        return {k: canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        items = [canonical(v) for v in value]
        if len(items) == 1:
            return items[0]
        return sorted(items, key=repr) if all(isinstance(i, str) for i in items) else items
    return value


def _policy_equal(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    return a is not None and b is not None and canonical(a) == canonical(b)


# --- per-resource planning --------------------------------------------------------------------

def plan_bucket(desired: DesiredState, live: LiveState) -> Step:
    want, names = desired.bucket, desired.names
    where = {"bucket": want.name, "account": names.account}
    put_pab = Call("put_public_access_block", {**where, "configuration": want.public_access_block})
    put_enc = Call("put_bucket_encryption", {**where, "configuration": want.encryption})
    put_ver = Call("put_bucket_versioning", where)
    put_pol = Call("put_bucket_policy", {**where, "policy": want.policy})
    have = live.bucket
    if have is None:
        create = Call("create_bucket", {"bucket": want.name, "region": names.region})
        put_life = Call("put_bucket_lifecycle", {**where, "rules": [dict(r) for r in want.lifecycle_rules]})
        return Step("S3 state bucket", want.name, CREATE,
                    ("public access blocked", "encrypted", "versioned", "TLS only", "lifecycle rules"),
                    (create, put_pab, put_enc, put_ver, put_pol, put_life))
    changes, calls = [], []
    if have.public_access_block != want.public_access_block:
        changes.append("block public access")
        calls.append(put_pab)
    if not have.encryption:  # any default encryption is kept (a user's own KMS key included)
        changes.append("default encryption")
        calls.append(put_enc)
    if have.versioning != want.versioning:
        changes.append("versioning")
        calls.append(put_ver)
    if not _policy_equal(have.policy, want.policy):
        changes.append("TLS-only bucket policy")
        calls.append(put_pol)
    rules = merged_lifecycle_rules(want.lifecycle_rules, have.lifecycle_rules)
    if rules is not None:
        kept = len(have.lifecycle_rules) - sum(1 for r in have.lifecycle_rules
                                               if r.get("ID") in {w.get("ID") for w in want.lifecycle_rules})
        changes.append("lifecycle rules" + (f" (its {kept} other rule(s) kept)" if kept else ""))
        calls.append(Call("put_bucket_lifecycle", {**where, "rules": rules}))
    return Step("S3 state bucket", want.name, UPDATE if calls else UNCHANGED, tuple(changes), tuple(calls))


def _rule_matches(want: Mapping[str, Any], have: Mapping[str, Any]) -> bool:
    """A live lifecycle rule equals ours (S3 may spell an empty filter ``{}`` or ``{"Prefix": ""}``)."""
    if dict(have.get("Filter") or {}) not in ({}, {"Prefix": ""}) or "Prefix" in have and have["Prefix"]:
        return False
    return all(canonical(have.get(key)) == canonical(value) for key, value in want.items() if key != "Filter")


def merged_lifecycle_rules(want: tuple[Mapping[str, Any], ...], have: tuple[Mapping[str, Any], ...]
                           ) -> list[dict[str, Any]] | None:
    """Our rules merged into a bucket's rules (theirs never dropped); None when nothing changes."""
    by_id = {str(r.get("ID")): r for r in have}
    if all(str(w["ID"]) in by_id and _rule_matches(w, by_id[str(w["ID"])]) for w in want):
        return None
    ours = {str(w["ID"]) for w in want}
    return [dict(r) for r in have if str(r.get("ID")) not in ours] + [dict(w) for w in want]


def merged_policy(want: Mapping[str, Any], have: Mapping[str, Any] | None) -> dict[str, Any]:
    """``want``'s statements replacing the live ones with the same Sid; other statements kept."""
    statements = (have or {}).get("Statement") or []
    if isinstance(statements, Mapping):
        statements = [statements]
    ours = {s.get("Sid") for s in want["Statement"]}
    kept = [s for s in statements if s.get("Sid") not in ours]
    return {**want, "Statement": kept + list(want["Statement"])}


def plan_repository(desired: DesiredState, live: LiveState) -> Step:
    want = desired.repository
    put_lifecycle = Call("put_lifecycle_policy", {"name": want.name, "policy": want.lifecycle_policy})
    have = live.repository
    registry = live.registry_scanning
    if have is None:
        policy = Call("set_repository_policy", {"name": want.name, "policy": want.policy})
        return Step("ECR repository", want.name, CREATE, ("scan on push", "lifecycle policy", "Lambda may pull"),
                    (Call("create_repository", {"name": want.name}), put_lifecycle, policy))
    changes, calls = [], []
    registry_governs = registry is not None and registry.governs  # the repository's own setting is ignored then
    if want.scan_on_push and not have.scan_on_push and not registry_governs:
        changes.append("scan on push")
        calls.append(Call("put_image_scanning", {"name": want.name}))
    if not _policy_equal(have.lifecycle_policy, want.lifecycle_policy):
        changes.append("lifecycle policy")
        calls.append(put_lifecycle)
    if want.policy is not None:
        policy_doc = merged_policy(want.policy, have.policy)
        if not _policy_equal(have.policy, policy_doc):
            changes.append("Lambda may pull")
            calls.append(Call("set_repository_policy", {"name": want.name, "policy": policy_doc}))
    return Step("ECR repository", want.name, UPDATE if calls else UNCHANGED, tuple(changes), tuple(calls))


def plan_role(resource: str, want: Role, have: Role | None) -> Step:
    put_policy = Call("put_role_policy", {"role": want.name, "policy": want.policy_name, "document": want.policy})
    if have is None:
        return Step(resource, want.name, CREATE, ("inline least-privilege policy",),
                    (Call("create_role", {"name": want.name, "trust_policy": want.trust_policy,
                                          "description": want.description}),
                     put_policy))
    changes, calls = [], []
    if not _policy_equal(have.trust_policy, want.trust_policy):
        changes.append("trust policy")
        calls.append(Call("update_assume_role_policy", {"name": want.name, "trust_policy": want.trust_policy}))
    if not _policy_equal(have.policy, want.policy):
        changes.append("inline policy")
        calls.append(put_policy)
    return Step(resource, want.name, UPDATE if calls else UNCHANGED, tuple(changes), tuple(calls))


def plan_log_group(desired: DesiredState, live: LiveState) -> Step:
    want, have = desired.log_group, live.log_group
    retention = f"{want.retention_days} days" if want.retention_days else "kept forever"
    if have is None:
        return Step("Log group", want.name, CREATE, (f"retention {retention}",),
                    (Call("create_log_group", {"name": want.name, "retention_days": want.retention_days}),))
    if have.retention_days == want.retention_days:
        return Step("Log group", want.name, UNCHANGED, (f"retention {retention}",))
    was = f"{have.retention_days} days" if have.retention_days else "forever"
    return Step("Log group", want.name, UPDATE, (f"retention {was} -> {retention}",),
                (Call("put_retention_policy", {"name": want.name, "retention_days": want.retention_days}),))


def version_output(parameter: str) -> str:
    """The plan variable holding the version a parameter gets when it is written."""
    return f"version:{parameter}"


def plan_secrets(desired: DesiredState, live: LiveState) -> tuple[Step, list[str]]:
    path = desired.names.ssm_path
    created = [n for n in desired.secrets if n not in live.parameters]
    updated = [n for n in desired.secrets
               if n in live.parameters and live.parameters[n].value != desired.secrets[n].value]
    kept = sorted(n for n in live.parameters if n not in desired.secrets)

    def short(name: str) -> str:
        return name[len(path):] if name.startswith(path) else name

    changes = [f"+{short(n)}" for n in created] + [f"~{short(n)}" for n in updated]
    calls = tuple(Call("put_secure_parameter", {"name": n, "value": desired.secrets[n]}, output=version_output(n))
                  for n in created + updated)
    action = CREATE if created and not updated and not live.parameters else UPDATE if calls else UNCHANGED
    notes = [f"SSM parameter {n} is not in .env or -e any more: kept (it is still loaded at cold start); "
             f"delete it with `aws ssm delete-parameter --name {n}` if it is obsolete." for n in kept]
    return Step("SSM secrets", f"{path} ({len(desired.secrets)} SecureString)", action, tuple(changes), calls), notes


def plan_function(desired: DesiredState, live: LiveState) -> Step:
    want, name = desired.function, desired.names.function
    image: Any = want.image_uri if want.image_uri is not None else Ref("image_uri")
    if live.function is None:
        return Step("Lambda function", name, CREATE,
                    (f"image {_digest(want.image_uri) or '(built during apply)'}", f"memory {want.memory_size} MB",
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


def schedule_changes(want: Schedule, have: Schedule, target: str) -> list[str]:
    changes = []
    if have.expression != want.expression:
        changes.append(f"{have.expression} -> {want.expression}")
    if have.timezone != want.timezone:
        changes.append(f"time zone {have.timezone} -> {want.timezone}")
    if have.target_arn != want.target_arn or have.role_arn != want.role_arn:
        changes.append(f"target -> {target}")
    if have.enabled != want.enabled:
        changes.append("enable" if want.enabled else "disable")
    if (have.retries, have.max_event_age) != (want.retries, want.max_event_age):
        changes.append("no retries")
    return changes


def plan_schedule(desired: DesiredState, live: LiveState) -> list[Step]:
    names = desired.names
    want, have = desired.schedule, live.schedule
    if want is None:
        if have is None:
            return [Step("Schedule", names.schedule, UNCHANGED, ("none",))]
        return [Step("Schedule", have.name, DELETE, (f"was {have.expression}",),
                     (Call("delete_schedule", {"name": have.name, "group": have.group}),))]
    steps = []
    if desired.scheduler_role is not None:
        steps.append(plan_role("Scheduler IAM role", desired.scheduler_role, live.scheduler_role))
    target = f"{names.function}:{desired.alias}"
    changes = schedule_changes(want, have, target) if have is not None else []
    if have is not None and not changes:
        steps.append(Step("Schedule", want.name, UNCHANGED, (f"{want.expression} {want.timezone}",)))
        return steps
    call = Call("put_schedule", {"name": want.name, "group": want.group, "expression": want.expression,
                                 "timezone": want.timezone, "target_arn": want.target_arn,
                                 "role_arn": want.role_arn, "exists": have is not None})
    action = CREATE if have is None else UPDATE
    steps.append(Step("Schedule", want.name, action,
                      tuple(changes) or (f"{want.expression} {want.timezone} -> {target}",),
                      (call,)))
    return steps


def with_secrets_digest(desired: DesiredState, live: LiveState, secrets_step: Step) -> DesiredState:
    """The desired function environment with :data:`SECRETS_DIGEST_ENV`, when it loads secrets:
    the live versions of the parameters it loads, the new versions of those written during apply."""
    path = desired.names.ssm_path
    names = set(desired.secrets) | set(live.parameters)
    if not names or desired.function.environment.get(SSM_PARAMETER_PATH_ENV) != path:
        return desired
    written = {c.params["name"] for c in secrets_step.calls}
    versions: dict[str, Any] = {n: Ref(version_output(n)) if n in written else live.parameters[n].version
                                for n in sorted(names)}
    value: Any = (SecretsDigest(versions) if any(isinstance(v, Ref) for v in versions.values())
                  else secrets_digest(versions))
    environment = {**desired.function.environment, SECRETS_DIGEST_ENV: value}
    return replace(desired, function=replace(desired.function, environment=dict(sorted(environment.items()))))


def check_size(environment: Mapping[str, Any]) -> None:
    """Lambda's 4 KB limit, checked on the plain environment before anything changes."""
    check_environment_size({k: "x" * SECRETS_DIGEST_LENGTH if isinstance(v, SecretsDigest) else str(v)
                            for k, v in environment.items()})


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


def plan_provisioned_concurrency(desired: DesiredState, live: LiveState) -> list[Step]:
    """Provisioned concurrency on the alias (0 or 1): kept warm, paid for every second."""
    want, have = desired.provisioned_concurrency, live.provisioned_concurrency
    if want is None or (want == have and not (want and live.alias_version is None)):
        return [] if not want else [Step("Provisioned concurrency", f"{desired.names.function}:{desired.alias}",
                                         UNCHANGED, (str(want),))]
    subject = f"{desired.names.function}:{desired.alias}"
    if want == 0:
        return [Step("Provisioned concurrency", subject, DELETE, (f"{have} -> 0",),
                     (Call("delete_provisioned_concurrency", {"function": desired.names.function,
                                                             "qualifier": desired.alias}),))]
    return [Step("Provisioned concurrency", subject, CREATE if not have else UPDATE, (f"{have} -> {want}",),
                 (Call("put_provisioned_concurrency", {"function": desired.names.function, "qualifier": desired.alias,
                                                       "count": want}),))]


def plan_deploy(desired: DesiredState, live: LiveState) -> Plan:
    """The whole plan, in dependency order (what the function needs comes first)."""
    names = desired.names
    secrets, notes = plan_secrets(desired, live)
    desired = with_secrets_digest(desired, live, secrets)
    check_size(desired.function.environment)
    steps: list[Step] = [plan_bucket(desired, live), plan_repository(desired, live)]
    if desired.role is not None:
        steps.append(plan_role("IAM role", desired.role, live.role))
    steps.append(plan_log_group(desired, live))
    steps.append(secrets)
    if desired.build_with:
        steps.append(Step("Image", names.repository, BUILD, (f"with {desired.build_with}",),
                          (Call("build_image", {"builder": desired.build_with}, output="image_uri"),)))
    function = plan_function(desired, live)
    steps += [function, plan_alias(desired, live, function), plan_trading_safety(desired, live)]
    steps += plan_schedule(desired, live)
    steps += plan_alerts(desired.alerts, live.alerts, names=names)
    steps += plan_provisioned_concurrency(desired, live)
    return Plan(tuple(steps), tuple(notes), tuple(p.describe() for p in desired.placements))
