"""A corpus for the secret classifier: made-up credentials of every kind a trading bot's ``.env`` holds
(none of them real: random characters in the real formats) and look-alike values that are not secrets.

The names carry no secret marker on purpose (``VALUE_1`` …): the corpus tests detection by value. The
session hook in tests/conftest.py also scans every settings file the tests wrote for these values.
"""
from __future__ import annotations

import random
import string

_rng = random.Random(20)  # fixed: the same corpus every run
_ALNUM = string.ascii_letters + string.digits


def _pick(alphabet: str, length: int) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(length))


_HEX = "0123456789abcdef"
_B64 = _ALNUM + "+/"
_URLSAFE = _ALNUM + "_-"

TELEGRAM_TOKEN = f"7123456789:AAH{_pick(_URLSAFE, 32)}"
SLACK_WEBHOOK = f"https://hooks.slack.com/services/T0{_pick(string.ascii_uppercase + string.digits, 9)}/" \
                f"B0{_pick(string.ascii_uppercase + string.digits, 9)}/{_pick(_ALNUM, 24)}"
DISCORD_WEBHOOK = f"https://discord.com/api/webhooks/11876543210{_pick(string.digits, 8)}/{_pick(_URLSAFE, 68)}"
SMTP_LOGIN = "bob:pa55word-" + _pick(string.ascii_lowercase, 4)
EXCHANGE_PASS = "Tr4d1ng-" + _pick(_ALNUM, 6)  # short: only its name (…_PASS) says it is a secret

#: (kind, value): every one must be found by its value alone.
SECRETS: tuple[tuple[str, str], ...] = (
    ("telegram bot token", TELEGRAM_TOKEN),
    ("telegram bot token", f"{_pick(string.digits, 10)}:AAE{_pick(_URLSAFE, 32)}"),
    ("telegram API URL", f"https://api.telegram.org/bot{TELEGRAM_TOKEN}/sendMessage"),
    ("slack webhook", SLACK_WEBHOOK),
    ("discord webhook", DISCORD_WEBHOOK),
    ("teams webhook", f"https://contoso.webhook.office.com/webhookb2/{_pick(_HEX, 8)}-{_pick(_HEX, 4)}-"
                      f"{_pick(_HEX, 4)}-{_pick(_HEX, 4)}-{_pick(_HEX, 12)}/IncomingWebhook/{_pick(_HEX, 32)}/x"),
    ("generic webhook", f"https://hooks.zapier.com/hooks/catch/1234567/{_pick(_ALNUM, 22)}/"),
    ("user:password", SMTP_LOGIN),
    ("user:password", f"alice@example.com:Winter{_pick(string.digits, 4)}!"),
    ("user:password", f"trader:{_pick(string.ascii_lowercase, 14)}"),
    ("URL with password", f"postgres://trader:{_pick(_ALNUM, 12)}@db.example.com:5432/bot"),
    ("URL with password", f"redis://:{_pick(_ALNUM, 16)}@cache.internal:6379/0"),
    ("URL with password", f"smtp://bob:{_pick(string.ascii_lowercase, 8)}@mail.example.com:587"),
    ("URL with query credential", f"https://api.example.com/feed?symbol=BTC&apikey={_pick(_ALNUM, 16)}"),
    ("URL with token user", f"https://ghp_{_pick(_ALNUM, 36)}@github.com/acme/bot.git"),
    ("sentry DSN", f"https://{_pick(_HEX, 32)}@o{_pick(string.digits, 6)}.ingest.sentry.io/{_pick(string.digits, 7)}"),
    ("JWT", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib3QiLCJpYXQiOjE3MDAwMDAwMDB9." + _pick(_URLSAFE, 43)),
    ("bearer JWT", "Bearer eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJleGNoYW5nZSJ9." + _pick(_URLSAFE, 86)),
    ("PEM private key", "-----BEGIN PRIVATE KEY-----\n" + _pick(_B64, 64) + "\n-----END PRIVATE KEY-----"),
    ("PEM EC key", "-----BEGIN EC PRIVATE KEY-----\\n" + _pick(_B64, 64) + "\\n-----END EC PRIVATE KEY-----"),
    ("OpenSSH key", "-----BEGIN OPENSSH PRIVATE KEY-----\n" + _pick(_B64, 70) + "\n-----END OPENSSH PRIVATE KEY-----"),
    ("exchange API key (64 alnum)", _pick(_ALNUM, 64)),
    ("exchange secret (base64)", _pick(_B64, 86) + "=="),
    ("hex key", _pick(_HEX, 64)),
    ("UUID key", f"{_pick(_HEX, 8)}-{_pick(_HEX, 4)}-4{_pick(_HEX, 3)}-a{_pick(_HEX, 3)}-{_pick(_HEX, 12)}"),
    ("AWS-style secret key", _pick(_ALNUM + "/+", 40)),
    ("letters-only key", "".join(_rng.choice((str.upper, str.lower))(_rng.choice(string.ascii_letters))
                                 for _ in range(32))),
    ("slack bot token", f"xoxb-{_pick(string.digits, 11)}-{_pick(string.digits, 13)}-{_pick(_ALNUM, 24)}"),
    ("github token", f"ghp_{_pick(_ALNUM, 36)}"),
    ("stripe key", f"sk_live_{_pick(_ALNUM, 24)}"),
    ("openai key", f"sk-proj-{_pick(_URLSAFE, 48)}"),
    ("AWS access key id", f"AKIA{_pick(string.ascii_uppercase + string.digits, 16)}"),
    ("libpq DSN", f"host=db.example.com user=bob password={_pick(_ALNUM, 10)} dbname=bot"),
    ("JSON credentials", '{"apiKey": "' + _pick(_ALNUM, 12) + '", "secret": "' + _pick(_ALNUM, 12) + '"}'),
)

#: Values that look a bit like secrets and are not: each one found is a false positive.
LOOKALIKES: tuple[str, ...] = (
    "BTC/EUR", "BTC-EUR", "BTC/EUR,ETH/EUR,SOL/EUR", "ETH/USDT:USDT", "BTC:USDT", "BTCUSDT", "0.05", "100",
    "-1.5", "1e-4", "3000", "INFO", "DEBUG", "WARNING", "true", "false", "UTC", "Europe/Amsterdam",
    "America/New_York", "/var/task/resources", "./data/backtests", "~/bots/data/market_data_cache",
    "C:\\bots\\data", "data/backtests/2024_01_01/results_v2.json", "databases/prod-database.sqlite3",
    "https://api.bitvavo.com/v2", "https://example.com/?a=1&b=2",
    "https://api.binance.com/api/v3/ticker/price?symbol=BTCUSDT", "https://hooks.example.com/health",
    "postgres://db.example.com:5432/trading", "redis://localhost:6379/0", "localhost:5432", "127.0.0.1:8080",
    "12:30", "09:30:00", "2024-01-01T00:00:00Z", "2024-01-01", "python:3.11-slim", "postgres:15-alpine",
    "nginx:latest", "ubuntu:22.04", "env:production", "arn:aws:s3:::my-bucket",
    "arn:aws:sns:eu-west-1:123456789012:alerts", "alice@example.com", "My Trading Bot",
    "europe-west1-production", "my-trading-bot-2024", "cron(0 9 * * ? *)", "rate(1 hour)", "1h", "15m",
    "bitvavo", "SMA_CROSSOVER_50_200", "MyTradingStrategyForBitcoin", "TheQuickBrownFoxJumpsOverTheLazyDog",
    "eu-west-1", "https://github.com/coding-kitties/investing-algorithm-framework",
    "https://s3.eu-west-1.amazonaws.com/my-bucket/reports/report-2024-01-01.html", "BTC,ETH,SOL,ADA",
    "0 9 * * *", "en_US.UTF-8", "123456789012", "s3://my-bucket/state/", "iaf-my-bot-123456789012-eu-west-1",
    "trading_bot_v2_final_release", "https://discord.com/invite/abc123", "investing_algorithm_framework.app",
    "strategies.sma_crossover:SmaCrossover", "sqlite:///databases/prod.sqlite3", "%(asctime)s %(message)s",
    "public.ecr.aws/lambda/python:3.11", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/iaf-bot:deploy-1",
    "git@github.com:acme/bot.git", "ssh://git@github.com/acme/bot.git", "https://hooks.slack.com/services/",
    "mysql://db.internal:3306/app", "password", "Bearer", "/tmp/iaf-state-8f3a2b1c9d0e7f6a5b4c3d2e1f0a9b8c",
    "s3://iaf-bot-123456789012-eu-west-1/.iaf-state/", "BTC-USD-PERP", "ETHUSDT_240329", "1h,4h,1d",
    "2024-01-01T00:00:00+01:00", "admin", "user@example.com:587",
    "0x52908400098527886E0F7030069857D2E4169EE7",  # a wallet address: public, but looks like a key (counted)
    "3f9a1c0b2d4e5f6a7b8c9d0e1f2a3b4c5d6e7f80",  # a git commit: looks like a hex key (counted if found)
    "123e4567-e89b-12d3-a456-426614174000",  # an account UUID: looks like a UUID key (counted if found)
)

#: Names whose marker alone makes them secrets (values short or plain-looking).
SECRET_NAMES: tuple[str, ...] = (
    "EXCHANGE_PASS", "DB_PASSWORD", "OKX_PASSPHRASE", "MY_PASSWD", "ADMIN_PWD", "BITVAVO_API_KEY",
    "API_SECRET", "TELEGRAM_TOKEN", "SLACK_WEBHOOK_URL", "SENTRY_DSN", "BASIC_AUTH", "GCP_CREDENTIALS",
    "PRIVATE_PEM", "REQUEST_SIGNATURE", "HASH_SALT", "COOKIE_JAR", "SESSION_ID", "BEARER", "JWT_ISSUER_KEY",
    "apiKey", "telegramToken",
)
PLAIN_NAMES: tuple[str, ...] = ("LOG_LEVEL", "TRADING_SYMBOL", "MARKET", "BOT_NAME", "TIME_FRAME", "REGION")

#: Values the whole-path test (tests/operate/test_secrets.py) deploys with -e or sets with secrets-aws-lambda.
EXTRA_PASS = "xtra-Pa55-given-with-e"  # short and plain-looking: only its name makes it a secret
NEW_EXTRA_PASS = "rotated-Pa55-from-stdin"
DSN = "postgres://trader:Qm9vZ2xlLXBhc3M@db.example.com:5432/bot"

#: Every secret value of the corpus (the settings-file scan in tests/conftest.py looks for each).
SECRET_VALUES: tuple[str, ...] = tuple(value for _, value in SECRETS) + (EXCHANGE_PASS, EXTRA_PASS, NEW_EXTRA_PASS,
                                                                        DSN)
