"""The secret classifier on a corpus (tests/secret_corpus.py): made-up credentials of every kind a bot's
.env holds, and look-alike values that are not secrets. No secret may be missed; the false-positive
rate is printed (run with -s, or see the captured output of a failure)."""
from __future__ import annotations

from typing import Callable

import pytest
from secret_corpus import LOOKALIKES, PLAIN_NAMES, SECRET_NAMES, SECRETS

from iaf_aws_plugin.deploy.environment import place_variables
from iaf_aws_plugin.secret_detection import SECRET_NAME_MARKERS, classify, name_marker, secret_value_reason

pytestmark = pytest.mark.anyhost


def test_no_secret_of_the_corpus_is_missed_and_the_false_positive_rate_is_low(
        report_line: Callable[[str], None]) -> None:
    missed = [(kind, value) for kind, value in SECRETS if secret_value_reason(value) is None]
    flagged = [(value, secret_value_reason(value)) for value in LOOKALIKES if secret_value_reason(value)]
    kinds = sorted({kind for kind, _ in SECRETS})
    line = (f"secret classifier: {len(SECRETS)} secrets of {len(kinds)} kinds, {len(missed)} missed; "
            f"{len(LOOKALIKES)} look-alikes, {len(flagged)} false positives "
            f"({100 * len(flagged) / len(LOOKALIKES):.1f} %): {[value for value, _ in flagged]}")
    print(line)
    report_line(line)
    assert not missed, f"secrets not recognised by value: {[kind for kind, _ in missed]}"
    assert len(flagged) / len(LOOKALIKES) <= 0.05, flagged


def test_every_kind_the_issue_names_is_in_the_corpus() -> None:
    kinds = " ".join(kind for kind, _ in SECRETS)
    for kind in ("telegram", "slack webhook", "discord webhook", "user:password", "URL with password", "JWT",
                 "PEM", "base64", "hex key"):
        assert kind in kinds


def test_names_by_marker() -> None:
    for marker in ("PASS", "PWD", "TOKEN", "WEBHOOK", "DSN", "AUTH", "CREDENTIAL", "PRIVATE", "SIGNATURE", "SALT",
                   "COOKIE", "SESSION", "KEY", "SECRET"):
        assert marker in SECRET_NAME_MARKERS
    assert [name for name in SECRET_NAMES if name_marker(name) is None] == []
    assert [name for name in PLAIN_NAMES if name_marker(name) is not None] == []
    assert name_marker("OKX_PASSPHRASE") == "PASS" and name_marker("exchangePass") == "PASS"


@pytest.mark.parametrize("value", ["BTC/EUR", "0.001", "INFO", "/var/task/data", "https://api.bitvavo.com/v2", ""])
def test_plain_values_stay_plain(value: str) -> None:
    assert classify("SETTING", value).secret is False


def test_overrides_and_reasons() -> None:
    env = {"TELEGRAM_BOT": SECRETS[0][1], "SYMBOL": "BTC/EUR", "PUBLIC_KEY_ID": "abc", "NOTE": "hello"}
    placed = {p.name: p for p in place_variables(env, secret_names=["NOTE"], plain_names=["PUBLIC_KEY_ID"])}
    assert placed["TELEGRAM_BOT"].describe() == "TELEGRAM_BOT: SSM SecureString (value is a bot token (digits:token))"
    assert placed["SYMBOL"].describe() == "SYMBOL: plain variable (no secret marker in name or value)"
    assert placed["PUBLIC_KEY_ID"].describe() == "PUBLIC_KEY_ID: plain variable (--plain; name contains KEY)"
    assert placed["NOTE"].describe() == "NOTE: SSM SecureString (--secret)"
    assert all(SECRETS[0][1] not in p.describe() for p in placed.values())
