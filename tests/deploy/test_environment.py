""".env reading, -e overrides, Lambda's variable-name rules, secrets and masking."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from iaf_aws_plugin.deploy.environment import (Masker, is_secret_name, merge_env, read_dotenv, split_secrets,
                                        validate_env_name)
from iaf_aws_plugin.errors import PluginError

pytestmark = pytest.mark.anyhost  # the result does not depend on the host version: CI runs it in one leg


def test_dotenv_quotes_comments_export_and_empty_keys(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "# exchange settings\n"
        "export BITVAVO_API_KEY=abc123\n"
        "BITVAVO_API_SECRET='s3cr#t with spaces'\n"
        'MESSAGE="line1\\nline2"  # trailing comment\n'
        "PLAIN=value # comment\n"
        "EMPTY=\n"
        "NO_VALUE\n"
        "\n"
        "URL=https://example.com/?a=1&b=2\n"
        "REF=${PLAIN}-x\n"
    )
    assert read_dotenv(tmp_path) == {
        "BITVAVO_API_KEY": "abc123",
        "BITVAVO_API_SECRET": "s3cr#t with spaces",
        "MESSAGE": "line1\nline2",
        "PLAIN": "value",
        "URL": "https://example.com/?a=1&b=2",
        "REF": "value-x",
    }


def test_missing_dotenv_is_empty(tmp_path: Path) -> None:
    assert read_dotenv(tmp_path) == {}


def test_dotenv_that_is_not_a_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / ".env").mkdir()
    assert read_dotenv(tmp_path) == {}


def test_scaffolded_env_example_values_are_not_deployed_empty(tmp_path: Path) -> None:
    """The template's .env.example has empty keys: copied as is, nothing empty gets deployed."""
    from iaf_aws_plugin.scaffold import scaffold_aws_lambda

    scaffold_aws_lambda(str(tmp_path))
    (tmp_path / ".env").write_text((tmp_path / ".env.example").read_text())
    assert read_dotenv(tmp_path) == {}


def test_flags_win_over_dotenv() -> None:
    dotenv = {"A": "from-file", "B": "file-only"}
    merged = merge_env(dotenv, [("A", "from-flag"), ("C", "new"), ("C", "last-wins")])
    assert merged == {"A": "from-flag", "B": "file-only", "C": "last-wins"}
    assert dotenv == {"A": "from-file", "B": "file-only"}  # input untouched


def test_empty_flag_value_removes_a_dotenv_value() -> None:
    assert merge_env({"A": "x", "B": "y"}, [("A", "")]) == {"B": "y"}


@pytest.mark.parametrize("name", ["AB", "MY_VAR", "bitvavo_api_key", "X1", "A_", "AWS_LAMBDA_EXEC_WRAPPER"])
def test_valid_env_names(name: str) -> None:
    assert validate_env_name(name) == name


@pytest.mark.parametrize("name", ["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                  "AWS_SESSION_TOKEN", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_RUNTIME_API",
                                  "AWS_EXECUTION_ENV", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "_HANDLER",
                                  "_X_AMZN_TRACE_ID", "TZ"])
def test_reserved_env_names(name: str) -> None:
    with pytest.raises(PluginError, match="reserved by AWS Lambda") as caught:
        validate_env_name(name)
    assert name in str(caught.value)


@pytest.mark.parametrize("name", ["A", "1ABC", "MY-VAR", "MY VAR", "", "ÄPFEL", "A.B", "_PRIVATE"])
def test_invalid_env_names(name: str) -> None:
    with pytest.raises(PluginError, match="Invalid environment variable name"):
        validate_env_name(name)


def test_plugin_owned_name_is_refused() -> None:
    with pytest.raises(PluginError, match="set by deploy-aws-lambda"):
        validate_env_name("IAF_SSM_PARAMETER_PATH")


@pytest.mark.parametrize("name, secret", [
    ("BITVAVO_API_KEY", True), ("api_secret", True), ("GithubToken", True), ("DB_PASSWORD", True),
    ("OKX_PASSPHRASE", True), ("KEYRING", True), ("MONKEY", True),  # contains KEY: safe side
    ("LOG_LEVEL", False), ("TRADING_SYMBOL", False), ("PASSWD", True), ("MY_PWD", True), ("DB_DSN", True),
    ("SLACK_WEBHOOK", True), ("AUTH_HEADER", True), ("SESSION_ID", True), ("GCP_CREDENTIALS", True),
    ("PRIVATE_PEM", True), ("COOKIE_JAR", True),
])
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_split_secrets() -> None:
    plain, secrets = split_secrets({"BITVAVO_API_KEY": "k", "BITVAVO_API_SECRET": "s", "LOG_LEVEL": "INFO"})
    assert plain == {"LOG_LEVEL": "INFO"}
    assert secrets == {"BITVAVO_API_KEY": "k", "BITVAVO_API_SECRET": "s"}


def test_masker_masks_every_occurrence_longest_first() -> None:
    masker = Masker(["abc", "abcdef", ""])
    assert masker.mask("x abcdef y abc z abcdefabc") == "x **** y **** z ********"
    assert masker.mask("nothing here") == "nothing here"


def test_masker_add_and_regex_characters() -> None:
    masker = Masker([])
    assert masker.mask("a.b+c") == "a.b+c"
    masker.add("a.b+c")
    masker.add("")
    assert masker.mask("key=a.b+c; other=aXb+c") == "key=****; other=aXb+c"


def test_masker_masks_json_escaped_values() -> None:
    secret = 'p"ss\\word'
    masker = Masker([secret])
    dumped = json.dumps({"Variables": {"X": secret}})
    assert secret not in masker.mask(dumped) and "p\\\"ss" not in masker.mask(dumped)
    assert masker.mask(dumped) == '{"Variables": {"X": "****"}}'


def test_masker_repr_shows_no_values() -> None:
    assert "hunter2" not in repr(Masker(["hunter2"]))


def test_unreadable_dotenv_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"KEY=\xff\xfe latin-1 bytes\n")
    with pytest.raises(PluginError, match=r"Cannot read .*\.env") as caught:
        read_dotenv(tmp_path)
    assert "UTF-8" in str(caught.value)


@pytest.mark.parametrize("name", ["AWS_S3_STATE_BUCKET_NAME", "IAF_STATE_PREFIX", "IAF_SSM_PARAMETER_PATH"])
def test_every_name_the_deploy_sets_is_refused_alike(name: str) -> None:
    with pytest.raises(PluginError, match=f"'{name}' is set by deploy-aws-lambda itself"):
        validate_env_name(name)
