"""Stages: several bots (``paper``, ``live``…) deployed from one project folder. Pure.

The settings file keeps today's keys at its top level: that is the ``default`` stage, so a
file written before stages existed is read, deployed and operated on unchanged. Every other
stage has a section of the same keys under ``stages``; ``default_stage`` (optional) says which
stage a command without ``--stage`` targets::

    {"function_name": "bot", "region": "eu-west-1", ...,          <- stage "default"
     "default_stage": "paper",
     "stages": {"paper": {"function_name": "bot-paper", ...},
                "live": {"function_name": "bot-live", ...}}}

A stage's function is ``<name>-<stage>`` (``<name>`` alone for the default stage), where
``<name>`` is ``--lambda-function-name``, else the default stage's saved function, else the
folder's name. Once deployed, a stage's section saves its function name, and every other
resource name (bucket, roles, schedule, parameters, queue, log group…) derives from that
function name as for any bot (deploy/names.py): each stage has its own resources and state.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from ..errors import PluginError

__all__ = ["DEFAULT_STAGE", "FILE_KEYS", "FUNCTION_NAME_MAX", "chosen_stage", "check_file", "section",
           "stage_function", "stage_function_name", "stages_of", "validate_stage", "with_section"]

#: The stage of the settings file's top level (every bot deployed before stages existed).
DEFAULT_STAGE = "default"
#: The settings file's keys about stages (besides each stage's own settings keys).
FILE_KEYS = ("default_stage", "stages")
#: Lambda function names: "If you specify only the function name, it is limited to 64 characters"
#: (botocore's service model, CreateFunction.FunctionName; tests/operate/test_stages.py reads it there).
FUNCTION_NAME_MAX = 64
#: Short, lowercase: it ends up in every resource name of the stage.
STAGE_MAX = 16
_STAGE = re.compile(r"^[a-z](?:[a-z0-9-]{0,%d}[a-z0-9])?$" % (STAGE_MAX - 2))


def validate_stage(name: str, where: str = "--stage") -> str:
    """A stage name: 1 to 16 lowercase letters, digits and '-', starting with a letter, not ending with '-'."""
    if not _STAGE.match(name or "") or "--" in name:
        raise PluginError(f"invalid {where} {name!r}: use 1 to {STAGE_MAX} lowercase letters, digits or '-', "
                          "starting with a letter (it becomes part of every resource name of the stage).",
                          fix="For example: --stage paper (or --stage live).")
    return name


def chosen_stage(data: Mapping[str, Any], flag: str | None) -> str:
    """``--stage``, else the file's ``default_stage``, else the top level (``default``)."""
    if flag is not None:
        return validate_stage(flag)
    return str(data.get("default_stage") or DEFAULT_STAGE)


def section(data: Mapping[str, Any], stage: str) -> dict[str, Any]:
    """The saved settings of one stage (``{}`` when it has none yet)."""
    if stage == DEFAULT_STAGE:
        return {key: value for key, value in data.items() if key not in FILE_KEYS}
    return dict((data.get("stages") or {}).get(stage) or {})


def with_section(data: Mapping[str, Any], stage: str, saved: Mapping[str, Any]) -> dict[str, Any]:
    """The whole file with one stage's section replaced; the other stages are kept as they are."""
    if stage == DEFAULT_STAGE:
        return {**saved, **{key: data[key] for key in FILE_KEYS if key in data}}
    result = dict(data)
    result.setdefault("version", saved.get("version"))
    result["stages"] = {**(data.get("stages") or {}), stage: {k: v for k, v in saved.items() if k != "version"}}
    return result


def stages_of(data: Mapping[str, Any]) -> list[str]:
    """The stages the file has settings for: ``default`` (when its top level names a function) first."""
    found = [DEFAULT_STAGE] if data.get("function_name") else []
    return found + sorted(data.get("stages") or {})


def stage_function_name(base: str, stage: str) -> str:
    """``base`` for the default stage, ``base-stage`` for another; one line when that is too long."""
    if stage == DEFAULT_STAGE:
        return base
    name = f"{base}-{stage}"
    if len(name) > FUNCTION_NAME_MAX:
        raise PluginError(f"the function name {name!r} of stage {stage} has {len(name)} characters; Lambda allows "
                          f"{FUNCTION_NAME_MAX}.",
                          fix=f"Use a name of at most {FUNCTION_NAME_MAX - len(stage) - 1} characters "
                              "(--lambda-function-name), or a shorter stage name.")
    return name


def stage_function(data: Mapping[str, Any], stage: str, flag: str | None) -> str | None:
    """The function of ``stage``: from ``--lambda-function-name`` (the bot's name, the stage appended),
    else saved in the stage's section, else the default stage's saved name with the stage appended."""
    if flag:
        return stage_function_name(flag, stage)
    saved = section(data, stage).get("function_name")
    if saved:
        return str(saved)
    base = data.get("function_name")
    return stage_function_name(str(base), stage) if base and stage != DEFAULT_STAGE else None


def check_file(data: Mapping[str, Any], path: Any, known_keys: tuple[str, ...]) -> None:
    """``default_stage`` and ``stages`` of a settings file are well formed (one line naming the problem)."""
    if "default_stage" in data:
        validate_stage(str(data["default_stage"]), f"default_stage in {path}:")
    stages = data.get("stages", {})
    if not isinstance(stages, dict):
        raise PluginError(f"'stages' in {path} must be an object of stage name: settings.")
    for name, saved in stages.items():
        validate_stage(str(name), f"stage name in {path}:")
        if name == DEFAULT_STAGE:
            raise PluginError(f"'stages' in {path} has a section named {DEFAULT_STAGE!r}: that stage's settings "
                              "are the file's top level.", fix=f"Move them to the top level of {path}.")
        if not isinstance(saved, dict):
            raise PluginError(f"stage {name} in {path} is not a JSON object.")
        unknown = sorted(set(saved) - set(known_keys))
        if unknown:
            raise PluginError(f"stage {name} in {path} has unknown keys: {', '.join(unknown)}.",
                              fix=f"Keep only: {', '.join(known_keys)}.")
