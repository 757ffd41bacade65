"""The deployed function's environment: ``.env`` and ``-e`` values, which of them are
secrets, and masking secret values in everything the deploy prints."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from ..errors import PluginError
from ..function_env import MANAGED_ENV_NAMES, OFFLINE_ENV_NAMES

__all__ = [
    "ENVIRONMENT_LIMIT_BYTES",
    "MASK",
    "Masker",
    "Placement",
    "check_environment_size",
    "environment_size",
    "place_variables",
    "secret_value_reason",
    "RESERVED_ENV_NAMES",
    "SECRET_NAME_MARKERS",
    "TOKEN_MIN_LENGTH",
    "is_secret_name",
    "merge_env",
    "dotenv_name",
    "read_dotenv",
    "split_secrets",
    "validate_env_name",
]

MASK = "****"

# Keys Lambda sets itself and refuses in a function's configuration
# (Lambda developer guide, "Defined runtime environment variables").
RESERVED_ENV_NAMES = frozenset({
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    "TZ",
})
_ENV_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9_]+")
# Which variables are secrets (markers in names, credential-looking values): one documented module.
from ..secret_detection import SECRET_NAME_MARKERS, TOKEN_MIN_LENGTH, classify, name_marker, secret_value_reason


@dataclass(frozen=True)
class Placement:
    """Where one environment variable goes (``secret``: SSM SecureString, else plain) and why."""

    name: str
    secret: bool
    reason: str

    def describe(self) -> str:
        return f"{self.name}: {'SSM SecureString' if self.secret else 'plain variable'} ({self.reason})"


def place_variables(env: Mapping[str, str], *, secret_names: Iterable[str] = (),
                    plain_names: Iterable[str] = ()) -> list[Placement]:
    """Decide for each variable whether it is a secret: ``--secret``/``--plain`` first, then its
    name, then its value. Sorted by name."""
    forced_secret, forced_plain = set(secret_names), set(plain_names)
    return [Placement(d.name, d.secret, d.reason)
            for d in (classify(name, env[name], secret_names=forced_secret, plain_names=forced_plain)
                      for name in sorted(env))]


def dotenv_name(project_dir: Path, stage: str | None = None) -> str:
    """The file a stage's variables come from, as the Serverless Framework does: ``.env.<stage>`` for a
    stage other than the default one when that file exists, else ``.env``. Nothing else is merged in:
    a stage with its own file never gets the other stages' keys."""
    from .stages import DEFAULT_STAGE

    if stage and stage != DEFAULT_STAGE and (Path(project_dir) / f".env.{stage}").is_file():
        return f".env.{stage}"
    return ".env"


def read_dotenv(project_dir: Path, stage: str | None = None) -> dict[str, str]:
    """The variables of the stage's env file (:func:`dotenv_name`; ``.env`` without a stage), parsed by
    python-dotenv.

    Quotes, comments, ``export`` and ``${VAR}`` interpolation work as in
    python-dotenv. A missing file gives ``{}``; keys without a value (``KEY`` or
    ``KEY=``) are left out: nothing is deployed for them.
    """
    path = Path(project_dir) / dotenv_name(project_dir, stage)
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    try:
        values = dotenv_values(path, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PluginError(f"Cannot read {path}: {error}.",
                          fix="Fix the file (UTF-8 text, KEY=value lines) or remove it.") from None
    return {key: value for key, value in values.items() if key and value}


def project_secret_values(project_dir: Path | None, stage: str | None,
                          saved: Mapping[str, object] | None = None) -> list[str]:
    """The values the deploy's own rule calls secret, in ``.env`` and the stage's ``.env.<stage>``
    (either may be deployed or loaded), with the saved ``env``, ``secret_names`` and ``plain_names``
    of ``saved`` (a settings section): what output must mask."""
    saved = saved or {}
    saved_env = saved.get("env") or {}
    extra = {str(k): str(v) for k, v in saved_env.items()} if isinstance(saved_env, Mapping) else {}
    files = [read_dotenv(project_dir), read_dotenv(project_dir, stage)] if project_dir is not None else [{}]
    values: list[str] = []
    for dotenv in files:
        every = {**dotenv, **extra}
        placements = place_variables(every, secret_names=_names(saved.get("secret_names")),
                                     plain_names=_names(saved.get("plain_names")))
        values += [every[p.name] for p in placements if p.secret]
    return values


def _names(value: object) -> list[str]:
    return [str(name) for name in value] if isinstance(value, (list, tuple)) else []


def merge_env(dotenv: Mapping[str, str], overrides: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``.env`` values updated by ``-e KEY VALUE`` pairs, which win (the last one per key).

    An override with an empty value removes the key (``-e KEY ""`` keeps a ``.env``
    value out of the deployment).
    """
    merged = dict(dotenv)
    for key, value in overrides:
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def validate_env_name(name: str) -> str:
    """Return ``name`` when Lambda accepts it as an environment variable, else raise.

    Lambda's key pattern is ``[a-zA-Z][a-zA-Z0-9_]+`` (at least two characters) and
    the runtime's own variables (``AWS_REGION``, ``AWS_LAMBDA_FUNCTION_NAME``,
    ``_HANDLER``, ``LAMBDA_TASK_ROOT``, ``TZ`` …) are reserved.
    """
    if name in RESERVED_ENV_NAMES:
        raise PluginError(f"Environment variable {name!r} is reserved by AWS Lambda and cannot be set.",
                          fix="Remove it from .env / -e, or use another name.")
    if name in OFFLINE_ENV_NAMES:
        raise PluginError(f"Environment variable {name!r} belongs to invoke-aws-lambda --local --offline only: "
                          "on Lambda it would keep the state in a folder lost at every cold start.",
                          fix="Remove it from -e (a .env keeps it for offline runs; it is never deployed).")
    if name in MANAGED_ENV_NAMES:
        raise PluginError(f"Environment variable {name!r} is set by deploy-aws-lambda itself.",
                          fix="Remove it from .env / -e.")
    if not isinstance(name, str) or not _ENV_NAME.fullmatch(name) or not name.isascii():
        raise PluginError(f"Invalid environment variable name {name!r}: Lambda accepts letters, "
                          f"digits and '_', starting with a letter, at least two characters.",
                          fix="Rename it in .env / -e (e.g. BITVAVO_API_KEY).")
    return name


def is_secret_name(name: str) -> bool:
    """True when ``name`` holds one of :data:`~iaf_aws_plugin.secret_detection.SECRET_NAME_MARKERS`
    (any case, anywhere in it): such values go to SSM, never into plain Lambda environment variables."""
    return name_marker(name) is not None


def split_secrets(env: Mapping[str, str], placements: Iterable[Placement] | None = None
                  ) -> tuple[dict[str, str], dict[str, str]]:
    """Split ``env`` into ``(plain, secrets)`` by ``placements`` (default: :func:`place_variables`)."""
    secret = {p.name for p in (place_variables(env) if placements is None else placements) if p.secret}
    plain: dict[str, str] = {}
    secrets: dict[str, str] = {}
    for key, value in env.items():
        (secrets if key in secret else plain)[key] = value
    return plain, secrets


#: Lambda's limit on a function's environment: all names and values together.
ENVIRONMENT_LIMIT_BYTES = 4096


def environment_size(environment: Mapping[str, str]) -> int:
    """Bytes Lambda counts against its 4 KB limit: every name and value, UTF-8 encoded."""
    return sum(len(k.encode()) + len(str(v).encode()) for k, v in environment.items())


def check_environment_size(environment: Mapping[str, str]) -> None:
    """One error naming the largest variables when the plain environment is over Lambda's 4 KB."""
    size = environment_size(environment)
    if size <= ENVIRONMENT_LIMIT_BYTES:
        return
    largest = sorted(environment, key=lambda k: (-(len(k.encode()) + len(str(environment[k]).encode())), k))[:3]
    named = ", ".join(f"{k} ({len(k.encode()) + len(str(environment[k]).encode())} B)" for k in largest)
    raise PluginError(
        f"the function's plain environment is {size} bytes, over Lambda's limit of {ENVIRONMENT_LIMIT_BYTES} "
        f"(names and values); largest: {named}. Nothing was changed.",
        fix="Move large values out of the environment (a file in the image, or --secret NAME to keep one in "
            "SSM, read at cold start), or remove them from .env / -e.")


class Masker:
    """Replaces every secret value in a text with ``****`` (longest values first).

    A value is also masked in its JSON-escaped spelling, as it shows up in
    serialized output. Empty values are ignored.
    """

    def __init__(self, secret_values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for value in secret_values:
            self.add(value)

    def add(self, value: str) -> None:
        """Mask ``value`` from now on."""
        if not isinstance(value, str) or not value:
            return
        escaped = json.dumps(value)[1:-1]
        self._values.update({value, escaped})
        ordered = sorted(self._values, key=lambda item: (-len(item), item))
        self._pattern = re.compile("|".join(re.escape(item) for item in ordered))

    @property
    def values(self) -> tuple[str, ...]:
        """Every spelling masked (each value and its JSON-escaped form), longest first."""
        return tuple(sorted(self._values, key=lambda item: (-len(item), item)))

    def mask(self, text: str) -> str:
        """``text`` with every occurrence of every secret value replaced by ``****``."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def __repr__(self) -> str:
        return f"Masker(<{len(self._values)} values>)"
