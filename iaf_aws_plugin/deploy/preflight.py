"""Permission preflight: simulate every action the deploy will use before changing anything.

The actions are those the kinds of :mod:`.resources` will call for the given settings
(:func:`actions_for`), simulated in the context AWS evaluates them in: ``aws:RequestedRegion``,
and ``iam:PassedToService`` for each role passed to a service. Works for IAM users and for
assumed-role / SSO sessions (the session ARN is mapped to its role, with the role's path when
``iam:GetRole`` tells it). When the simulation itself is denied or unsupported, it warns once
and the deploy continues. A result that depends on context the simulation cannot have (MFA,
source IP...) is reported as "cannot tell in advance" and the deploy continues; actions
certainly denied are listed in one message.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..errors import PluginError
from .models import ActionGroup, Spec
from .names import ALIAS, Names
from .resources import KINDS

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .awsclient import AWSClient

_ASSUMED_ROLE = re.compile(r"^arn:(?P<partition>[\w-]+):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/.+$")


def principal_arn(caller_arn: str, client: AWSClient | None = None) -> str | None:
    """The IAM ARN to simulate for ``caller_arn``, or None when it cannot be simulated (root...)."""
    match = _ASSUMED_ROLE.match(caller_arn)
    if match:
        role = match["role"]
        fallback = f"arn:{match['partition']}:iam::{match['account']}:role/{role}"
        if client is None:
            return fallback
        try:  # a role with a path (/aws-reserved/sso.amazonaws.com/...) only shows in GetRole
            found = client.get_role(role)
        except PluginError:
            return fallback
        return str(found["Arn"]) if found else fallback
    if re.match(r"^arn:[\w-]+:iam::\d{12}:(user|role)/", caller_arn):
        return caller_arn
    return None


def actions_for(spec: Spec) -> list[ActionGroup]:
    """Every IAM action the kinds will call for these settings (a deploy, or with ``spec.destroy``
    a destroy), grouped by the resource it acts on."""
    groups: list[ActionGroup] = []
    for kind in KINDS:
        groups += kind.actions(spec)
    return groups


def required_actions(names: Names, *, manage_role: bool, build: bool, schedule: bool,
                     role_arn: str | None = None, image_repository: str | None = None,
                     alerts: bool = False, provisioned: int | None = None) -> list[ActionGroup]:
    """:func:`actions_for` of a deploy described by flags (kept for old callers): ``alerts`` False
    means they are being removed, ``schedule`` True any schedule."""
    return actions_for(Spec(names, role_arn=None if manage_role else (role_arn or "?"), builds=build,
                            schedule="rate(1 hour)" if schedule else None, image_repository=image_repository,
                            alert_email="alerts@example.com" if alerts else "none",
                            provisioned_concurrency=provisioned))


def _missing_context(result: Mapping[str, Any]) -> list[str]:
    """The context keys a simulation result says it lacked (for the action, or per resource)."""
    keys = list(result.get("MissingContextValues") or [])
    for specific in result.get("ResourceSpecificResults") or []:
        keys += list(specific.get("MissingContextValues") or [])
    return sorted(set(keys))


def check_permissions(client: AWSClient, caller_arn: str, groups: list[ActionGroup],
                      warn: Callable[[str], None]) -> list[str]:
    """Simulate ``groups`` for the caller; raise one PluginError listing every missing action.

    Returns the allowed actions checked ([] when the check was skipped after a warning).
    """
    principal = principal_arn(caller_arn, client)
    if principal is None:
        warn(f"Cannot check permissions up front for {caller_arn} (only IAM users and roles can be "
             "simulated); continuing.")
        return []
    missing: list[str] = []
    checked: list[str] = []
    uncertain: dict[str, list[str]] = {}
    for group in groups:
        context = {"aws:RequestedRegion": client.region, **group.context}
        try:
            results = client.simulate_principal_policy_for(principal, list(group.actions), group.resource,
                                                           context=context)
        except Exception as exc:  # denied, unsupported (moto: HTTP 500), throttled...
            reason = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
            warn(f"Could not check your permissions up front (iam:SimulatePrincipalPolicy: {reason}); "
                 "continuing: a missing permission will stop the deploy at the step that needs it.")
            return []
        for result in results:
            action = result.get("EvalActionName", "?")
            if result.get("EvalDecision") == "allowed":
                checked.append(action)
            elif _missing_context(result):  # denied only for want of context the simulation lacks
                uncertain.setdefault(action, []).extend(_missing_context(result))
            elif action not in missing:
                missing.append(action)
    if uncertain:
        warn("Permission preflight: cannot tell in advance: "
             + "; ".join(f"{action} (depends on {', '.join(sorted(set(keys)))})" for action, keys in uncertain.items())
             + "; continuing: if one is denied, the deploy stops at the step that needs it.")
    if missing:
        raise PluginError(
            f"Permission preflight: {principal} may not call {len(missing)} action(s) the deploy needs: "
            f"{', '.join(missing)}.",
            fix="Add them to your IAM policy (scoped to the resources named iaf-*/the function), then deploy again.")
    return checked


__all__ = ["ALIAS", "ActionGroup", "actions_for", "check_permissions", "principal_arn", "required_actions"]
