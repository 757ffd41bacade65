"""The kinds of AWS resource a deployed bot is made of, one module each, and :data:`KINDS`, the
one list the deploy loops over: to build the desired state, read the live state, plan (deploy
and destroy) and ask the permission preflight.

Each kind module has four functions (:class:`Kind`):

- ``desired(spec)``: its fields of the :class:`~..models.DesiredState`, from the settings;
- ``read(client, spec, live)``: its fields of the :class:`~..models.LiveState` (read calls
  only; ``live`` holds what the kinds before it read; ``spec.destroy``: only what removal needs);
- ``plan(want, have, ctx)``: its steps; ``want`` is None for a destroy (delete steps);
- ``actions(spec)``: every IAM action its reads and plan may call for these settings.

Adding a resource: its model in ``models.py`` (with fields on the two states), a module here,
its place in :data:`KINDS`, its calls in ``awsclient.py``, its test (README, Development).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Protocol

from . import (alerts, bucket, dead_letter, function, keep_active, log_group, provisioned, repository, roles, schedule,
               secrets, tags)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..awsclient import AWSClient
    from ..models import ActionGroup, DesiredState, LiveState, PlanContext, Spec, Step

__all__ = ["KINDS", "Kind"]


class Kind(Protocol):
    """What the planner and the preflight need of one kind of resource (a module)."""

    def desired(self, spec: Spec, /) -> Mapping[str, Any]: ...

    def read(self, client: AWSClient, spec: Spec, live: LiveState, /) -> Mapping[str, Any]: ...

    def plan(self, want: DesiredState | None, live: LiveState, ctx: PlanContext, /) -> list[Step]: ...

    def actions(self, spec: Spec, /) -> list[ActionGroup]: ...


#: In dependency order: what the function needs comes before it. A plan's deletions run after its
#: other steps, in the reverse order (a schedule goes before its queue and its role).
KINDS: tuple[Kind, ...] = (bucket, repository, roles, log_group, secrets, function, dead_letter, schedule, keep_active,
                           alerts, provisioned, tags)
