"""``status-aws-lambda --all-stages``: one line per stage of the project (deploy/stages.py).

Each stage is resolved as ``--stage NAME`` would resolve it and read with the status's own
reads; a stage that cannot be resolved or read says why on its line, the others are still shown.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from ..errors import PluginError
from .target import TargetOptions, resolve_target

Echo = Callable[[str], None]


def _problem(part: Any) -> str | None:
    if isinstance(part, dict) and "error" in part:
        return f"unknown ({part['error']})"
    return None


def stage_line(stage: str, status: dict[str, Any]) -> str:
    """``STAGE  FUNCTION (REGION): function; schedule; state`` from :func:`collect_status`'s data."""
    head = f"{stage:<10} {status['function_name']} ({status['region']})"
    fn = status["function"]
    if fn is None:
        return f"{head}: not deployed"
    parts = [_problem(fn) or f"{fn['state']}, version {fn['version']}"]
    sched = status["schedule"]
    if _problem(sched):
        parts.append(f"schedule {_problem(sched)}")
    elif sched is None:
        parts.append("no schedule")
    elif sched.get("paused_since"):
        parts.append(f"schedule {sched['expression']} PAUSED since {sched['paused_since']}")
    else:
        parts.append(f"schedule {sched['expression']} {sched['state']}")
    st = status["state"]
    if _problem(st):
        parts.append(f"state {_problem(st)}")
    else:
        generation = st["snapshot"]["generation"]
        parts.append(f"state {st['location']} " + ("no snapshot yet" if generation is None else
                                                   f"snapshot {generation} saved {st['snapshot']['saved_at']}"))
    return f"{head}: " + "; ".join(parts)


def show_all_stages(options: TargetOptions, *, echo: Echo, as_json_output: bool = False) -> dict[str, Any]:
    """Every stage the project's settings file has, one line each (or one JSON object by stage)."""
    import json

    from ..deploy.settings import SETTINGS_FILE, load_file, settings_path
    from ..deploy.stages import stages_of
    from .status import collect_status

    if options.stage is not None:
        raise PluginError("--all-stages and --stage name the stages twice.", fix="Pass one of them.")
    project = Path(options.project_dir) if options.project_dir else Path.cwd()
    stages = stages_of(load_file(project)) if settings_path(project).is_file() else []
    if not stages:
        raise PluginError(f"no stages: there is no deployed bot in {project / SETTINGS_FILE}.",
                          fix="Run it in the bot's project folder (or pass --project-dir), after a deploy-aws-lambda.")
    found: dict[str, Any] = {}
    maskers: list[Callable[[str], str]] = []
    for stage in stages:
        try:
            target = resolve_target(replace(options, stage=stage))
        except PluginError as error:
            found[stage] = {"error": error.message}
            if not as_json_output:
                echo(f"{stage:<10} unknown: {error.message}")
            continue
        maskers.append(target.masker.mask)
        status = collect_status(target, invocations=0)
        found[stage] = status
        if not as_json_output:
            echo(target.masker.mask(stage_line(stage, status)))
    if as_json_output:
        text = json.dumps({"stages": found}, indent=2, default=str)
        for mask in maskers:  # each stage's own secrets (its target's masker)
            text = mask(text)
        echo(text)
    return found
