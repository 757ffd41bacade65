"""The names shared by the deploy and the deployed function."""
from __future__ import annotations

from iaf_aws_plugin import function_env


def test_the_state_bucket_variable_is_the_hosts_own() -> None:
    from investing_algorithm_framework import AWS_S3_STATE_BUCKET_NAME

    assert function_env.STATE_BUCKET_ENV == AWS_S3_STATE_BUCKET_NAME


def test_every_name_the_deploy_sets_is_managed_and_refused_from_users() -> None:
    import pytest

    from iaf_aws_plugin.deploy.environment import validate_env_name
    from iaf_aws_plugin.errors import PluginError

    assert function_env.MANAGED_ENV_NAMES == {
        function_env.STATE_BUCKET_ENV, function_env.STATE_PREFIX_ENV, function_env.SSM_PARAMETER_PATH_ENV,
        function_env.FUNCTION_TIMEOUT_ENV, function_env.SECRETS_DIGEST_ENV, function_env.KEEP_ACTIVE_ENV,
        function_env.OFFLINE_STATE_ENV, function_env.OFFLINE_CANDLES_ENV}
    for name in sorted(function_env.MANAGED_ENV_NAMES - function_env.OFFLINE_ENV_NAMES):
        with pytest.raises(PluginError, match=f"{name!r} is set by deploy-aws-lambda itself"):
            validate_env_name(name)
    for name in sorted(function_env.OFFLINE_ENV_NAMES):  # the offline run's own: never deployed
        with pytest.raises(PluginError, match=f"{name!r} belongs to invoke-aws-lambda --local --offline only"):
            validate_env_name(name)


def test_ssm_parameter_path() -> None:
    assert function_env.ssm_parameter_path("my-bot") == "/iaf-aws/my-bot/"
