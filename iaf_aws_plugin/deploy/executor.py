"""Run a :class:`~iaf_aws_plugin.deploy.models.Plan`: one progress line per step.

:func:`display` is the display-only path (``--dry-run``): it prints the plan and never
touches the client, so a dry run makes no write call at all.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Mapping

from ..errors import PluginError
from .awsclient import DeferredChange
from .models import Call, Plan, Ref, SecretsDigest

_PAST = {"create": "created", "update": "updated", "delete": "deleted", "build": "built"}
Echo = Callable[[str], None]
ImageBuilder = Callable[[str], str]  # builder name -> image URI (by digest)


def display(plan: Plan, echo: Echo) -> None:
    """Print the plan; no AWS call."""
    for line in plan.render():
        echo(line)
    for note in plan.notes:
        echo(f"Note: {note}")


def _resolve(value: Any, variables: Mapping[str, Any]) -> Any:
    if isinstance(value, Ref):
        if value.name not in variables:
            raise PluginError(f"internal error: the plan uses {value.name!r} before it is produced.")
        return variables[value.name]
    if isinstance(value, SecretsDigest):
        return value.resolve({name: int(_resolve(v, variables)) for name, v in value.versions.items()})
    if isinstance(value, dict):
        return {k: _resolve(v, variables) for k, v in value.items()}
    return value


class Executor:
    """Runs each call of each changing step against ``client`` (an AWSClient)."""

    def __init__(self, client: Any, *, echo: Echo, build_image: ImageBuilder | None = None,
                 clock: Callable[[], float] = time.monotonic, warn: Echo | None = None) -> None:
        self._client = client
        self._echo = echo
        self._warn = warn or echo
        self._build_image = build_image
        self._clock = clock
        self.variables: dict[str, Any] = {}
        self.deferred: list[str] = []  # changes AWS refused for now (warned; the next deploy retries)

    def _run_call(self, call: Call) -> Any:
        params = {k: _resolve(v, self.variables) for k, v in call.params.items()}
        if call.method == "build_image":
            if self._build_image is None:
                raise PluginError("internal error: the plan builds an image but no builder was given.")
            result = self._build_image(params["builder"])
        else:
            result = getattr(self._client, call.method)(**params)
        if call.output:
            self.variables[call.output] = result
        return result

    def execute(self, plan: Plan) -> None:
        changing = plan.changes
        current = None
        try:
            for index, step in enumerate(changing, start=1):
                current = step
                started = self._clock()
                for call in step.calls:
                    try:
                        self._run_call(call)
                    except DeferredChange as deferred:
                        self.deferred.append(deferred.message)
                        self._warn(deferred.message)
                elapsed = self._clock() - started
                done = _PAST.get(step.action, step.action)
                self._echo(f"[{index}/{len(changing)}] {done} {step.subject} in {elapsed:.1f} s")
        except KeyboardInterrupt:
            where = f" during: {current.action} {current.resource} {current.name}" if current else ""
            self._echo(f"Interrupted{where}. Nothing is lost: run the same deploy again and it continues "
                       "where it stopped.")
            raise
