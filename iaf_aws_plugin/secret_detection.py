"""Which environment variables hold secrets: decided by name and by value. Pure: no I/O, no AWS.

A variable is a secret when **either** holds:

- **its name** contains one of :data:`SECRET_NAME_MARKERS` (any case, anywhere in the name:
  ``EXCHANGE_PASS``, ``telegramToken``, ``SLACK_WEBHOOK_URL``);
- **its value** looks like a credential (:func:`secret_value_reason`):

  - a URL with a password (``postgres://bob:pw@host/db``), a credential in its query
    (``?token=…``), a token as its user (``https://ghp_…@github.com``) or a path segment of 20+
    high-entropy characters (Slack, Discord, Teams webhooks: the secret is in the path);
  - ``user:password`` (``bob:pa55word``) or ``digits:token`` (a Telegram bot token);
  - a JWT, or a PEM block (``-----BEGIN … KEY-----``);
  - ``password=…`` / ``"secret": …`` inside a longer value (a libpq DSN, a JSON document);
  - a token with a well-known prefix (``xoxb-``, ``ghp_``, ``sk_live_``, ``AKIA`` …);
  - a long high-entropy string (20+ characters of a key alphabet: API keys, base64 secrets,
    hex keys, UUIDs).

Symbols (``BTC/EUR``), numbers, dates, file paths, log levels, image references
(``python:3.11-slim``) and URLs without credentials stay plain. The deploy's ``--secret NAME`` /
``--plain NAME`` override both (:func:`classify`). Erring on the safe side is deliberate: a plain
value wrongly kept in SSM costs nothing, a secret wrongly made a plain Lambda variable is readable by
anyone with ``lambda:GetFunctionConfiguration``.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Mapping

__all__ = ["SECRET_NAME_MARKERS", "TOKEN_MIN_LENGTH", "Decision", "classify", "classify_all",
           "name_marker", "secret_value_reason"]

#: A name holding one of these (any case, anywhere) is a secret. PASS also covers PASSWORD,
#: PASSWD and PASSPHRASE; KEY covers API_KEY and PRIVATE_KEY. Substrings on purpose: ``MONKEY`` or
#: ``COMPASS`` land in SSM too, the safe side.
SECRET_NAME_MARKERS: tuple[str, ...] = (
    "KEY", "SECRET", "TOKEN", "PASS", "PWD", "CREDENTIAL", "AUTH", "PRIVATE", "SIGNATURE", "SALT",
    "COOKIE", "SESSION", "DSN", "WEBHOOK", "BEARER", "JWT",
)

#: Shortest value the high-entropy check looks at (API keys are 20+ characters; shorter ones stay plain).
TOKEN_MIN_LENGTH = 20

_SCHEME = r"[a-zA-Z][a-zA-Z0-9+.-]*://"
_URL = re.compile(rf"^{_SCHEME}\S+$")
#: ``scheme://user:password@host``: a non-empty password.
_URL_WITH_PASSWORD = re.compile(rf"^{_SCHEME}[^/@\s:]*:[^/@\s]+@")
#: ``scheme://token@host``: a user part only (tokens are sent that way to git hosts).
_URL_USER = re.compile(rf"^{_SCHEME}(?P<user>[^/@\s:]+)@")
_URL_QUERY_CREDENTIAL = re.compile(
    rf"^{_SCHEME}[^?#\s]*\?(?:[^#\s]*&)?"
    r"(?:[^=&#\s]*(?:key|token|secret|sig|signature|password|passwd|pwd|auth|credential|session)[^=&#\s]*)=[^&#\s]+",
    re.IGNORECASE)
_PEM_BLOCK = re.compile(r"-----BEGIN [A-Z0-9 ]+-----")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
#: ``user:password``: a user (name, e-mail) and a password without '/', '@' or another ':'.
_USER_PASSWORD = re.compile(r"^(?P<user>[A-Za-z0-9._%+-]{1,64}(?:@[A-Za-z0-9.-]+)?):(?P<password>[^\s:/@]{6,})$")
#: A Telegram bot token: the bot's numeric id, ':', then 30+ characters.
_DIGITS_TOKEN = re.compile(r"^\d{5,15}:[A-Za-z0-9_-]{30,}$")
#: What follows ``name:`` in a value that is not a password: a port, a version or an image tag.
_NOT_A_PASSWORD = re.compile(r"^(?:\d+|v?\d+(?:\.\d+)+(?:[-_.][A-Za-z0-9]+)*|\d+(?:-[a-z][a-z0-9]*)+|latest)$")
_HASH_NAMES = frozenset({"md5", "sha1", "sha224", "sha256", "sha384", "sha512"})
#: ``password=…`` or ``"secret": …`` inside a longer value (a libpq DSN, a JSON document, a header).
_EMBEDDED_CREDENTIAL = re.compile(
    r"""(?:^|[\s;,&{"'])["']?(?:password|passwd|pwd|secret|api[_-]?key|api[_-]?secret|private[_-]?key|token|"""
    r"""access[_-]?token|client[_-]?secret)["']?\s*[=:]\s*["']?[^\s"',;&}]{4,}""", re.IGNORECASE)
#: Prefixes of well-known credentials (Slack, GitHub, GitLab, Stripe, OpenAI, AWS, Google, SendGrid).
_KNOWN_PREFIX = re.compile(r"^(?:xox[abposr]-|xapp-|ghp_|gho_|ghu_|ghs_|ghr_|github_pat_|glpat-|sk_live_|"
                           r"rk_live_|sk_test_|sk-|AKIA|ASIA|AIza|SG\.)[A-Za-z0-9_.-]{12,}$")
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9+/=_.~-]+$")


def _entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _looks_random(text: str) -> bool:
    """20+ characters that look generated, not written: hex of 32+ characters (hex keys, UUIDs);
    letters and digits mixed within a word, with high entropy; or mixed-case letters of very high
    entropy with runs of capitals (not CamelCase). Not paths, not words and numbers joined by
    separators (``europe-west1-production``, ``report-2024-01-01``)."""
    if len(text) < TOKEN_MIN_LENGTH or not _TOKEN_CHARS.match(text) or text.startswith(("/", ".", "~")):
        return False
    letters = sum(c.isalpha() for c in text)
    digits = sum(c.isdigit() for c in text)
    upper, lower = any(c.isupper() for c in text), any(c.islower() for c in text)
    if re.fullmatch(r"[0-9a-fA-F-]{32,}", text) and digits:
        return True
    if not letters:
        return False
    entropy = _entropy(text)
    if digits:
        segments = [s for s in re.split(r"[-_./+=~]+", text) if s]
        if all(s.isalpha() or s.isdigit() for s in segments):
            return False
        return (upper and lower and entropy >= 3.5) or (digits / len(text) >= 0.3 and entropy >= 3.0)
    # Random letters only (no digit drawn): capitals next to capitals, which CamelCase words lack.
    capital_pairs = sum(1 for a, b in zip(text, text[1:]) if a.isupper() and b.isupper())
    return upper and lower and entropy >= 4.0 and capital_pairs >= 3


def _url_reason(text: str) -> str | None:
    if _URL_WITH_PASSWORD.match(text):
        return "value is a URL with a password"
    if _URL_QUERY_CREDENTIAL.match(text):
        return "value is a URL with a credential in its query"
    user = _URL_USER.match(text)
    if user and (_looks_random(user["user"]) or _KNOWN_PREFIX.match(user["user"])):
        return "value is a URL with a token as its user"
    path = text.split("://", 1)[1].split("?", 1)[0].split("#", 1)[0]
    for segment in path.split("/")[1:]:
        telegram = _DIGITS_TOKEN.match(segment.removeprefix("bot"))  # api.telegram.org/bot<token>/sendMessage
        if len(segment) >= TOKEN_MIN_LENGTH and (_looks_random(segment) or telegram):
            return "value is a URL with a secret in its path (a webhook)"
    return None


def _is_user_password(text: str, user: str, password: str) -> bool:
    """``user:password``, not a Windows path (``C:\\x``), a hash (``sha256:…``), ``host:port``, an image
    tag (``python:3.11-slim``) or ``name:word``: the password has a digit, a symbol or a capital, or
    is 12+ letters long."""
    if re.match(r"^[A-Za-z]:\\", text) or user.lower() in _HASH_NAMES or _NOT_A_PASSWORD.match(password):
        return False
    return any(not c.isalpha() for c in password) or password.lower() != password or len(password) >= 12


def secret_value_reason(value: str) -> str | None:
    """Why ``value`` looks like a credential whatever its name (one short phrase), or None."""
    text = value.strip()
    if not text:
        return None
    if _PEM_BLOCK.search(text):
        return "value is a PEM block (a key)"
    if _JWT.search(text):
        return "value is a JWT"
    if _URL.match(text):
        return _url_reason(text)
    if _DIGITS_TOKEN.match(text):
        return "value is a bot token (digits:token)"
    pair = _USER_PASSWORD.match(text)
    if pair and _is_user_password(text, pair["user"], pair["password"]):
        return "value is user:password"
    if _EMBEDDED_CREDENTIAL.search(text):
        return "value holds a password= or secret= pair"
    for piece in re.split(r"[\s,;]+", text):
        if _KNOWN_PREFIX.match(piece):
            return "value is a token of a known service"
        if _looks_random(piece):
            return "value looks like a random token"
    return None


def name_marker(name: str) -> str | None:
    """The longest marker of :data:`SECRET_NAME_MARKERS` in ``name`` (any case), or None."""
    upper = name.upper()
    found = [marker for marker in SECRET_NAME_MARKERS if marker in upper]
    return max(found, key=len) if found else None


@dataclass(frozen=True)
class Decision:
    """Where one variable goes (``secret``: an SSM SecureString, else a plain Lambda variable) and why."""

    name: str
    secret: bool
    reason: str


def classify(name: str, value: str, *, secret_names: Iterable[str] = (),
             plain_names: Iterable[str] = ()) -> Decision:
    """``--secret`` / ``--plain`` first, then the name, then the value."""
    if name in set(secret_names):
        return Decision(name, True, "--secret")
    if name in set(plain_names):
        looks = name_marker(name) and f"name contains {name_marker(name)}" or secret_value_reason(value)
        return Decision(name, False, f"--plain; {looks}" if looks else "--plain")
    marker = name_marker(name)
    if marker:
        return Decision(name, True, f"name contains {marker}")
    reason = secret_value_reason(value)
    return Decision(name, reason is not None, reason or "no secret marker in name or value")


def classify_all(env: Mapping[str, str], *, secret_names: Iterable[str] = (),
                 plain_names: Iterable[str] = ()) -> list[Decision]:
    """:func:`classify` for every variable, sorted by name."""
    forced_secret, forced_plain = set(secret_names), set(plain_names)
    return [classify(name, env[name], secret_names=forced_secret, plain_names=forced_plain) for name in sorted(env)]
