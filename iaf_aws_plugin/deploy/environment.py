"""The deployed function's environment: ``.env`` and ``-e`` values, which of them are
secrets, and masking secret values in everything the deploy prints."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from ..errors import PluginError
from ..function_env import MANAGED_ENV_NAMES

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
_SECRET_MARKERS = ("KEY", "SECRET", "TOKEN", "PASSWORD", "PASSPHRASE", "PASSWD", "PWD", "CREDENTIAL", "AUTH",
                   "PRIVATE", "COOKIE", "SESSION", "DSN", "WEBHOOK")
#: A URL with a password in it: ``scheme://user:password@host``.
_URL_WITH_PASSWORD = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/@\s:]*:[^/@\s]+@")
#: A URL whose query carries a credential (``?token=...``, ``&sig=...``, ``api_key=...``).
_URL_QUERY_CREDENTIAL = re.compile(
    r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^?#\s]*\?(?:[^#\s]*&)?"
    r"(?:[^=&#\s]*(?:key|token|secret|sig|signature|password|passwd|pwd|auth|credential|session)[^=&#\s]*)=[^&#\s]+",
    re.IGNORECASE)
_PRIVATE_KEY_BLOCK = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9+/=_.~-]+$")
#: Shortest value the token heuristic looks at (API keys are 20+ characters; shorter ones stay plain).
TOKEN_MIN_LENGTH = 20


def _entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    import math
    from collections import Counter

    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _looks_random(text: str) -> bool:
    """Hex of 32+ characters (UUIDs, hex keys), or upper case, lower case and digits mixed with high
    entropy, or a digit-heavy token; not words joined by separators (``europe-west1-production``)."""
    letters = sum(c.isalpha() for c in text)
    digits = sum(c.isdigit() for c in text)
    if not digits or not letters or text.startswith(("/", ".")):
        return False
    if re.fullmatch(r"[0-9a-fA-F-]{32,}", text):
        return True
    if any(c.isupper() for c in text) and any(c.islower() for c in text) and _entropy(text) >= 3.5:
        return True
    return digits / len(text) >= 0.3 and _entropy(text) >= 3.0


def secret_value_reason(value: str) -> str | None:
    """Why ``value`` looks like a credential whatever its name, or None.

    A URL with a password (``postgres://u:pw@h/db``) or a credential in its query, a PEM
    private key block, or a long random-looking token (20+ characters of a key alphabet,
    letters and digits mixed, high entropy: API keys, UUIDs, base64 secrets).
    """
    text = value.strip()
    if _URL_WITH_PASSWORD.match(text):
        return "value is a URL with a password"
    if _URL_QUERY_CREDENTIAL.match(text):
        return "value is a URL with a credential in its query"
    if _PRIVATE_KEY_BLOCK.search(text):
        return "value is a private key"
    if len(text) >= TOKEN_MIN_LENGTH and _TOKEN_CHARS.match(text) and _looks_random(text):
        return "value looks like a random token"
    return None


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
    placements = []
    for name in sorted(env):
        if name in forced_secret:
            placements.append(Placement(name, True, "--secret"))
        elif name in forced_plain:
            placements.append(Placement(name, False, "--plain"))
        elif is_secret_name(name):
            marker = next(m for m in _SECRET_MARKERS if m in name.upper())
            placements.append(Placement(name, True, f"name contains {marker}"))
        else:
            reason = secret_value_reason(env[name])
            placements.append(Placement(name, reason is not None, reason or "no secret marker in name or value"))
    return placements



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
    PASSPHRASE, PASSWD, PWD, CREDENTIAL, AUTH, PRIVATE, COOKIE, SESSION, DSN, WEBHOOK anywhere
    in it, any case): such values go to SSM, never into plain Lambda environment variables."""
    upper = name.upper()
    return any(marker in upper for marker in _SECRET_MARKERS)


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

    def mask(self, text: str) -> str:
        """``text`` with every occurrence of every secret value replaced by ``****``."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def __repr__(self) -> str:
        return f"Masker(<{len(self._values)} values>)"
