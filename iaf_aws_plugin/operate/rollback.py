"""``rollback-aws-lambda``: point the ``live`` alias (what the schedule runs) at an older kept
version. Nothing is deleted or rebuilt: versions are immutable, so a rollback is one alias update,
and rolling forward again is another (or the next ``deploy-aws-lambda``). One exception: a version
without the keep-active mark (built by a release before the ping, or a prebuilt ``--image-uri``)
might trade on the weekly keep-active ping, so rolling back to it deletes the keep-active schedule
first (the next deploy creates it again)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..deploy.names import SCHEDULE_GROUP
from ..errors import PluginError
from ..function_env import KEEP_ACTIVE_ENV

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .target import Target

Echo = Callable[[str], None]
_ECR_IMAGE = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
                        r"(?P<repository>[a-z0-9._/-]+?)(?::[\w.-]+)?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$")


@dataclass(frozen=True)
class RollbackPlan:
    function: str
    current: str
    target: str
    changes: tuple[str, ...]
    #: The keep-active schedule to delete before the alias moves (the target version may trade on a ping).
    drop_keep_active: str | None = None


def _config(found: dict[str, Any] | None) -> dict[str, Any]:
    config = dict((found or {}).get("Configuration", {}))
    config["ImageUri"] = (found or {}).get("Code", {}).get("ImageUri", "")
    return config


def _digest(uri: str) -> str:
    return uri.rsplit("@", 1)[1] if "@" in uri else uri or "?"


def plan_rollback(target: Target, to: str | None = None, steps: int = 1) -> RollbackPlan:
    """To version ``to``, else ``steps`` kept versions back from the one the alias runs (1: the previous)."""
    from ..deploy.names import ALIAS

    client, function = target.client, target.function
    alias = client.get_alias(function, ALIAS)
    if alias is None:
        raise PluginError(f"{function} has no {ALIAS} alias in {target.region}: nothing to roll back.",
                          fix="Deploy it with deploy-aws-lambda first.")
    current = str(alias["FunctionVersion"])
    versions = [str(v["Version"]) for v in client.list_versions(function)]
    if to is not None:
        wanted = to.strip()
        if wanted not in versions:
            raise PluginError(f"version {wanted!r} of {function} does not exist (kept versions: "
                              f"{', '.join(versions) or 'none'}).", fix="Pick one with --to VERSION.")
        if wanted == current:
            raise PluginError(f"the {ALIAS} alias already points at version {wanted}: nothing to change.",
                              fix="Pick another version with --to (status-aws-lambda lists the kept ones).")
    else:
        older = sorted((v for v in versions if v.isdigit() and current.isdigit() and int(v) < int(current)), key=int)
        if not older:
            raise PluginError(f"nothing to roll back to: version {current} is the oldest kept version of {function}.",
                              fix="Deploy the wanted image with deploy-aws-lambda --image-uri instead.")
        if steps > len(older):
            raise PluginError(f"cannot roll back {steps} versions: {len(older)} older than version {current} "
                              f"{'is' if len(older) == 1 else 'are'} kept ({', '.join(older)}).",
                              fix=f"Pass --steps {len(older)} or less (or --to VERSION); the rollback window "
                                  "(deploy-aws-lambda --rollback-window) sets how many are kept.")
        wanted = older[-steps]
    have = _config(client.get_function(function, current))
    want = _config(client.get_function(function, wanted))
    image = _ECR_IMAGE.match(str(want["ImageUri"]))
    if image and image["digest"]:
        exists = client.image_digest(image["repository"], image["account"], digest=image["digest"])
        if exists is None:
            raise PluginError(f"cannot roll back to version {wanted}: its image {image['digest']} is no longer in ECR "
                              f"repository {image['repository']} (Lambda could not start it).",
                              fix="Pick a newer version with --to, or redeploy that image with deploy-aws-lambda.")
    changes = [f"alias {ALIAS}: version {current} -> {wanted}"]
    if have["ImageUri"] != want["ImageUri"]:
        changes.append(f"image {_digest(str(have['ImageUri']))} -> {_digest(str(want['ImageUri']))}")
    for key, label, unit in (("MemorySize", "memory", " MB"), ("Timeout", "timeout", " s")):
        if have.get(key) != want.get(key):
            changes.append(f"{label} {have.get(key)}{unit} -> {want.get(key)}{unit}")
    env_have = have.get("Environment", {}).get("Variables", {})
    env_want = want.get("Environment", {}).get("Variables", {})
    names = sorted(k for k in set(env_have) | set(env_want) if env_have.get(k) != env_want.get(k))
    if names:
        changes.append("environment " + " ".join(names))  # names only: values may be sensitive
    drop = None
    if env_want.get(KEEP_ACTIVE_ENV) != "1":
        ping = target.names.keep_active_schedule
        if client.describe_schedule(ping, SCHEDULE_GROUP) is not None:
            drop = ping
            changes.append(f"keep-active schedule {ping}: deleted (version {wanted} was not marked as answering "
                           "the weekly ping without trading, so it might trade on it; the next deploy-aws-lambda "
                           "creates it again)")
    elif client.describe_schedule(target.names.keep_active_schedule, SCHEDULE_GROUP) is None \
            and env_have.get(KEEP_ACTIVE_ENV) != "1":
        changes.append("no keep-active schedule: deploy-aws-lambda creates it again if the schedule needs one")
    return RollbackPlan(function, current, wanted, tuple(changes), drop)


def apply_rollback(target: Target, plan: RollbackPlan) -> None:
    from ..deploy.names import ALIAS

    if plan.drop_keep_active:  # before the alias moves: no ping ever reaches the unmarked version
        target.client.delete_schedule(plan.drop_keep_active, SCHEDULE_GROUP)
    target.client.update_alias(plan.function, ALIAS, plan.target)
