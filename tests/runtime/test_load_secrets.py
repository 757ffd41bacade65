"""Loading the function's secrets from SSM at cold start, against moto over HTTP."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3
import pytest

from iaf_aws_plugin.errors import PluginError
from iaf_aws_plugin.function_env import SSM_PARAMETER_PATH_ENV, ssm_parameter_path
from iaf_aws_plugin.runtime import load_secrets

pytestmark = [pytest.mark.usefixtures("restore_environ"), pytest.mark.anyhost]


def put_secrets(function_name: str, values: dict[str, str]) -> str:
    ssm = boto3.session.Session().client("ssm")
    path = ssm_parameter_path(function_name)
    for name, value in values.items():
        ssm.put_parameter(Name=f"{path}{name}", Value=value, Type="SecureString")
    return path


def test_parameter_path_is_per_function() -> None:
    assert ssm_parameter_path("my-bot") == "/iaf-aws/my-bot/"
    assert SSM_PARAMETER_PATH_ENV == "IAF_SSM_PARAMETER_PATH"


def test_loads_every_parameter_across_pages(aws_env: dict[str, str], unique_name: str) -> None:
    values = {f"{unique_name.upper()}_KEY_{i:02d}": f"value-{i}-{unique_name}" for i in range(23)}
    path = put_secrets(unique_name, values)
    # Another function's secrets, under a path sharing the prefix, must stay out.
    put_secrets(unique_name + "-other", {f"{unique_name.upper()}_OTHER_KEY": "not-mine"})
    os.environ[SSM_PARAMETER_PATH_ENV] = path

    loaded = load_secrets()

    assert sorted(loaded) == sorted(values)  # 23 > 10 per page: pagination followed
    for name, value in values.items():
        assert os.environ[name] == value  # decrypted
    assert f"{unique_name.upper()}_OTHER_KEY" not in os.environ
    assert not any(value in " ".join(loaded) for value in values.values())  # names only


def test_existing_variables_are_kept_unless_override(aws_env: dict[str, str], unique_name: str) -> None:
    path = put_secrets(unique_name, {"EXCHANGE_API_KEY": "from-ssm", "EXCHANGE_API_SECRET": "secret-from-ssm"})
    os.environ[SSM_PARAMETER_PATH_ENV] = path
    os.environ["EXCHANGE_API_KEY"] = "already-set"

    assert load_secrets() == ["EXCHANGE_API_SECRET"]
    assert os.environ["EXCHANGE_API_KEY"] == "already-set"

    assert sorted(load_secrets(override=True)) == ["EXCHANGE_API_KEY", "EXCHANGE_API_SECRET"]
    assert os.environ["EXCHANGE_API_KEY"] == "from-ssm"


def test_path_without_trailing_slash_works(aws_env: dict[str, str], unique_name: str) -> None:
    path = put_secrets(unique_name, {"SOME_TOKEN": "tok"})
    os.environ[SSM_PARAMETER_PATH_ENV] = path.rstrip("/")
    assert load_secrets() == ["SOME_TOKEN"] and os.environ["SOME_TOKEN"] == "tok"


def test_empty_path_fails_the_cold_start(aws_env: dict[str, str], unique_name: str) -> None:
    path = ssm_parameter_path(unique_name)
    os.environ[SSM_PARAMETER_PATH_ENV] = path
    with pytest.raises(PluginError, match="no SSM parameters under") as caught:
        load_secrets()
    assert path in str(caught.value)


def test_unreachable_ssm_fails_with_the_path(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    os.environ[SSM_PARAMETER_PATH_ENV] = "/iaf-aws/unreachable/"
    with pytest.raises(PluginError, match="/iaf-aws/unreachable/") as caught:
        load_secrets()
    assert "ssm:GetParametersByPath" in str(caught.value)


def test_access_denied_names_path_and_permissions(aws_env: dict[str, str], iam_enforcing_moto: str,
                                                  iam_switch, monkeypatch: pytest.MonkeyPatch) -> None:
    """The role may read single parameters but not by path: one clear error, no value shown."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", iam_enforcing_moto)
    iam_switch(False)
    path = put_secrets("denied-bot", {"EXCHANGE_API_KEY": "very-secret-value"})
    iam = boto3.session.Session().client("iam")
    iam.create_user(UserName="lambda-role-stand-in")
    iam.put_user_policy(UserName="lambda-role-stand-in", PolicyName="too-narrow", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "*"}],
    }))
    key = iam.create_access_key(UserName="lambda-role-stand-in")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    os.environ[SSM_PARAMETER_PATH_ENV] = path
    iam_switch(True)
    with pytest.raises(PluginError) as caught:
        load_secrets()
    iam_switch(False)
    message = str(caught.value)
    assert "AccessDenied" in message
    assert path in message and "ssm:GetParametersByPath" in message and "kms:Decrypt" in message
    assert "very-secret-value" not in message and "\n" not in message
    assert "EXCHANGE_API_KEY" not in os.environ


COLD_START = """
import json, os, sys
from iaf_aws_plugin.runtime import load_secrets
names = load_secrets()
print(json.dumps({"names": names, "boto3": "boto3" in sys.modules,
                  "values": {n: os.environ[n] for n in names}}))
"""


def run_cold_start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    full.update(env)
    return subprocess.run([sys.executable, "-c", COLD_START], env=full, capture_output=True, text=True,
                          timeout=120)


def test_cold_start_in_a_fresh_process(aws_env: dict[str, str], unique_name: str) -> None:
    path = put_secrets(unique_name, {"BITVAVO_API_KEY": "k-123", "BITVAVO_API_SECRET": "s-456"})
    result = run_cold_start({**aws_env, SSM_PARAMETER_PATH_ENV: path})
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["values"] == {"BITVAVO_API_KEY": "k-123", "BITVAVO_API_SECRET": "s-456"}


def test_without_the_variable_nothing_happens_and_boto3_is_not_imported(aws_env: dict[str, str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != SSM_PARAMETER_PATH_ENV}
    env.pop(SSM_PARAMETER_PATH_ENV, None)
    result = subprocess.run([sys.executable, "-c", COLD_START], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"names": [], "boto3": False, "values": {}}


def test_cold_start_fails_loudly_in_a_fresh_process(aws_env: dict[str, str], unique_name: str) -> None:
    result = run_cold_start({**aws_env, SSM_PARAMETER_PATH_ENV: ssm_parameter_path(unique_name)})
    assert result.returncode != 0
    assert "PluginError" in result.stderr and ssm_parameter_path(unique_name) in result.stderr
