"""The contract between the deploy and the deployed function: every environment variable
``deploy-aws-lambda`` sets on the function and the function reads at run time.

The deploy writes these names; the scaffolded ``aws_function.py``, :mod:`iaf_aws_plugin.runtime`
and the state handler read them. They are spelled here and nowhere else. A user cannot set them
(``.env`` or ``-e``): the deploy owns their values.

Standard library only: this module is imported inside Lambda at cold start.
"""
from __future__ import annotations

__all__ = [
    "FUNCTION_TIMEOUT_ENV",
    "KEEP_ACTIVE_ENV",
    "KEEP_ACTIVE_EVENT_SOURCE",
    "MANAGED_ENV_NAMES",
    "OFFLINE_CANDLES_ENV",
    "OFFLINE_ENV_NAMES",
    "OFFLINE_STATE_ENV",
    "SCHEDULED_TIME_FIELD",
    "SCHEDULE_EVENT_SOURCE",
    "SECRETS_DIGEST_ENV",
    "SSM_PARAMETER_PATH_ENV",
    "STATE_BUCKET_ENV",
    "STATE_PREFIX",
    "STATE_PREFIX_ENV",
    "ssm_parameter_path",
]

#: The state bucket: the host's own variable (``investing_algorithm_framework``'s
#: ``AWS_S3_STATE_BUCKET_NAME`` constant holds this name; a test keeps them equal, and the
#: scaffolded handler reads it through the host's constant).
STATE_BUCKET_ENV = "AWS_S3_STATE_BUCKET_NAME"
#: Key prefix of the bot's state in the bucket (several bots may share one bucket).
STATE_PREFIX_ENV = "IAF_STATE_PREFIX"
#: SSM parameter path holding the function's secrets; unset when it has none.
SSM_PARAMETER_PATH_ENV = "IAF_SSM_PARAMETER_PATH"
#: The function's timeout in seconds, so the handler can size the state lease to outlive a run.
FUNCTION_TIMEOUT_ENV = "IAF_FUNCTION_TIMEOUT"
#: A digest of the SSM parameter names and versions the function loads at cold start (not a
#: secret): a changed secret changes it, so the deploy publishes a new version and warm
#: instances still holding the old value are retired. The function does not read it.
SECRETS_DIGEST_ENV = "IAF_SECRETS_DIGEST"

#: The ``source`` of the event the bot's schedule sends (the schedule target's Input).
SCHEDULE_EVENT_SOURCE = "iaf-aws-plugin.schedule"
#: Field of that event: the time the run was scheduled for (ISO 8601), filled in by EventBridge
#: Scheduler's ``<aws.scheduler.scheduled-time>`` context attribute.
SCHEDULED_TIME_FIELD = "scheduled_time"

#: The ``source`` of the keep-active schedule's weekly event: the handler answers it without
#: loading the trading state or trading (it only keeps a rarely run function from going Inactive).
KEEP_ACTIVE_EVENT_SOURCE = "iaf-aws-plugin.keep-active"

#: Set ("1") on each version whose image the deploy built with a handler that answers the
#: keep-active ping without trading: the keep-active schedule exists only while the ``live`` alias
#: runs such a version (an image built before this mark, or a prebuilt ``--image-uri``, might
#: trade on the ping). The function does not read it.
KEEP_ACTIVE_ENV = "IAF_KEEP_ACTIVE"

#: ``invoke-aws-lambda --local --offline`` only: the local state folder (the state handler uses it
#: instead of S3) and the paper market's candles file. Never on Lambda, never in a non-offline run.
OFFLINE_STATE_ENV = "IAF_OFFLINE_STATE_DIR"
OFFLINE_CANDLES_ENV = "IAF_OFFLINE_CANDLES"
OFFLINE_ENV_NAMES = frozenset({OFFLINE_STATE_ENV, OFFLINE_CANDLES_ENV})

#: The prefix a deployed bot keeps its state under (each bot has its own bucket).
STATE_PREFIX = ""

#: Every name the deploy sets itself, and the offline run's (never deployed).
MANAGED_ENV_NAMES = frozenset({STATE_BUCKET_ENV, STATE_PREFIX_ENV, SSM_PARAMETER_PATH_ENV, FUNCTION_TIMEOUT_ENV,
                               SECRETS_DIGEST_ENV, KEEP_ACTIVE_ENV}) | OFFLINE_ENV_NAMES

_SSM_PATH_ROOT = "/iaf-aws"


def ssm_parameter_path(function_name: str) -> str:
    """The SSM parameter path holding a function's secrets: ``/iaf-aws/<function_name>/``.

    Each secret is a SecureString named ``<path><ENV_NAME>``; the deploy sets
    :data:`SSM_PARAMETER_PATH_ENV` to the path.
    """
    return f"{_SSM_PATH_ROOT}/{function_name}/"
