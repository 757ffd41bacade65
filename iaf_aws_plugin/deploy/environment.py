"""The deployed function's environment: ``.env`` and ``-e`` values, which of them are
secrets, and masking secret values in everything the deploy prints."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable, Mapping

from ..errors import PluginError
from ..function_env import MANAGED_ENV_NAMES

__all__ = [
    "MASK",
    "Masker",
    "RESERVED_ENV_NAMES",
    "is_secret_name",
    "merge_env",
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
_SECRET_MARKERS = ("KEY", "SECRET", "TOKEN", "PASSWORD", "PASSPHRASE")


def read_dotenv(project_dir: Path) -> dict[str, str]:
    """The variables of ``<project_dir>/.env``, parsed by python-dotenv.

    Quotes, comments, ``export`` and ``${VAR}`` interpolation work as in
    python-dotenv. A missing file gives ``{}``; keys without a value (``KEY`` or
    ``KEY=``) are left out: nothing is deployed for them.
    """
    path = Path(project_dir) / ".env"
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    try:
        values = dotenv_values(path, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PluginError(f"Cannot read {path}: {error}.",
                          fix="Fix the file (UTF-8 text, KEY=value lines) or remove it.") from None
    return {key: value for key, value in values.items() if key and value}


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
    if name in MANAGED_ENV_NAMES:
        raise PluginError(f"Environment variable {name!r} is set by deploy-aws-lambda itself.",
                          fix="Remove it from .env / -e.")
    if not isinstance(name, str) or not _ENV_NAME.fullmatch(name) or not name.isascii():
        raise PluginError(f"Invalid environment variable name {name!r}: Lambda accepts letters, "
                          f"digits and '_', starting with a letter, at least two characters.",
                          fix="Rename it in .env / -e (e.g. BITVAVO_API_KEY).")
    return name


def is_secret_name(name: str) -> bool:
    """True when ``name`` looks like it holds a secret (KEY, SECRET, TOKEN, PASSWORD,
    PASSPHRASE anywhere in it, any case): such values go to SSM, never into plain
    Lambda environment variables."""
    upper = name.upper()
    return any(marker in upper for marker in _SECRET_MARKERS)


def split_secrets(env: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Split ``env`` into ``(plain, secrets)`` by :func:`is_secret_name`."""
    plain: dict[str, str] = {}
    secrets: dict[str, str] = {}
    for key, value in env.items():
        (secrets if is_secret_name(key) else plain)[key] = value
    return plain, secrets


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

    def mask(self, text: str) -> str:
        """``text`` with every occurrence of every secret value replaced by ``****``."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def __repr__(self) -> str:
        return f"Masker(<{len(self._values)} values>)"
