"""Provisioned concurrency on the alias (``--provisioned-concurrency`` 0 or 1): kept warm, paid
for every second. Not managed (never read or changed) until the settings name it."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..models import (CREATE, DELETE, UNCHANGED, UPDATE, ActionGroup, Call, DesiredState, LiveState, PlanContext,
                      Spec, Step)
from ..names import ALIAS

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..awsclient import AWSClient

RESOURCE = "Provisioned concurrency"


def desired(spec: Spec) -> dict[str, Any]:
    return {"provisioned_concurrency": spec.provisioned_concurrency}


def read(client: AWSClient, spec: Spec, live: LiveState) -> dict[str, Any]:
    if spec.destroy or spec.provisioned_concurrency is None or live.alias_version is None:
        return {}  # a destroy removes it with the function
    return {"provisioned_concurrency": client.provisioned_concurrency(spec.names.function, ALIAS)}


def plan(want_state: DesiredState | None, live: LiveState, ctx: PlanContext) -> list[Step]:
    want = None if want_state is None else want_state.provisioned_concurrency
    have = live.provisioned_concurrency
    if want is None or (want == have and not (want and live.alias_version is None)):
        return [] if not want else [Step(RESOURCE, f"{ctx.names.function}:{ALIAS}", UNCHANGED, (str(want),))]
    subject, where = f"{ctx.names.function}:{ALIAS}", {"function": ctx.names.function, "qualifier": ALIAS}
    if want == 0:
        return [Step(RESOURCE, subject, DELETE, (f"{have} -> 0",), (Call("delete_provisioned_concurrency", where),))]
    return [Step(RESOURCE, subject, CREATE if not have else UPDATE, (f"{have} -> {want}",),
                 (Call("put_provisioned_concurrency", {**where, "count": want}),))]


def actions(spec: Spec) -> list[ActionGroup]:
    if spec.destroy or spec.provisioned_concurrency is None:
        return []
    change = "lambda:PutProvisionedConcurrencyConfig" if spec.provisioned_concurrency else \
        "lambda:DeleteProvisionedConcurrencyConfig"
    return [ActionGroup(spec.names.alias_arn, ("lambda:GetProvisionedConcurrencyConfig", change))]
