"""The bot's secrets: SSM SecureString parameters below its own path, loaded by the function at
cold start. A parameter no longer in ``.env`` or ``-e`` is kept (a note says how to delete it)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..models import (CREATE, DELETE, UNCHANGED, UPDATE, ActionGroup, Call, DesiredState, LiveState, Parameter,
                      PlanContext, Secret, Spec, Step)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..awsclient import AWSClient

RESOURCE = "SSM secrets"


def version_output(parameter: str) -> str:
    """The plan variable holding the version a parameter gets when it is written."""
    return f"version:{parameter}"


def desired(spec: Spec) -> dict[str, Any]:
    return {"secrets": {f"{spec.names.ssm_path}{k}": Secret(v) for k, v in sorted(spec.secrets.items())}}


def read(client: AWSClient, spec: Spec, live: LiveState) -> dict[str, Any]:
    if spec.destroy:  # names only: a destroy never decrypts
        return {"parameters": {name: Parameter("") for name in client.parameter_names(spec.names.ssm_path)}}
    return {"parameters": client.parameters_by_path(spec.names.ssm_path)}


def plan(want: DesiredState | None, live: LiveState, ctx: PlanContext) -> list[Step]:
    path = ctx.names.ssm_path

    def short(name: str) -> str:
        return name[len(path):] if name.startswith(path) else name

    if want is None:
        names = sorted(live.parameters)
        return [] if not names else [Step(RESOURCE, path, DELETE, tuple(short(n) for n in names),
                                          (Call("delete_parameters", {"names": names}),))]
    created = [n for n in want.secrets if n not in live.parameters]
    updated = [n for n in want.secrets
               if n in live.parameters and live.parameters[n].value != want.secrets[n].value]
    kept = sorted(n for n in live.parameters if n not in want.secrets)
    changes = [f"+{short(n)}" for n in created] + [f"~{short(n)}" for n in updated]
    calls = tuple(Call("put_secure_parameter", {"name": n, "value": want.secrets[n]}, output=version_output(n))
                  for n in created + updated)
    action = CREATE if created and not updated and not live.parameters else UPDATE if calls else UNCHANGED
    ctx.notes.extend(f"SSM parameter {n} is not in .env or -e any more: kept (it is still loaded at cold start); "
                     f"delete it with `investing-algorithm-framework secrets-aws-lambda rm {short(n)}` if it is "
                     "obsolete." for n in kept)
    return [Step(RESOURCE, f"{path} ({len(want.secrets)} SecureString)", action, tuple(changes), calls)]


def actions(spec: Spec) -> list[ActionGroup]:
    parameters = spec.names.arn("ssm", f"parameter{spec.names.ssm_path.rstrip('/')}/*")
    if spec.destroy:
        return [ActionGroup(parameters, ("ssm:GetParametersByPath", "ssm:DeleteParameters"))]
    return [ActionGroup(parameters, ("ssm:GetParametersByPath", "ssm:PutParameter"))]
