"""Code that runs inside the Lambda function (imported by the scaffolded aws_function.py).

Import-cheap on purpose: only the standard library at import time; boto3 is imported
when there are secrets to load.
"""
from __future__ import annotations

import os

from .errors import PluginError

from .function_env import SSM_PARAMETER_PATH_ENV

__all__ = ["load_secrets", "require_s3_conditional_writes"]

#: The first botocore release whose S3 PutObject takes IfMatch (conditional writes).
CONDITIONAL_WRITES_BOTOCORE = "1.35.69"


def require_s3_conditional_writes() -> None:
    """Fail the cold start with one line when the botocore the function imports cannot send
    ``PutObject(IfMatch=...)``: the state handler's lease and pointer depend on conditional
    writes, and a Lambda base image's own older boto3 may shadow the one the image installed."""
    import botocore

    from .boto_sessions import new_botocore_session

    shape = new_botocore_session().get_service_model("s3").operation_model("PutObject").input_shape
    members = shape.members if shape is not None else {}
    if "IfMatch" not in members or "IfNoneMatch" not in members:
        raise PluginError(
            f"botocore {botocore.__version__} (imported from {botocore.__file__}) cannot make S3 conditional "
            f"writes, which the state handler needs.",
            fix=f"Install boto3/botocore >= {CONDITIONAL_WRITES_BOTOCORE} into the image's LAMBDA_TASK_ROOT "
                "(pip install --target ${LAMBDA_TASK_ROOT}), so it takes precedence over the runtime's copy.")


def load_secrets(*, override: bool = False) -> list[str]:
    """Put the function's SSM parameters into ``os.environ``; return their names.

    When ``IAF_SSM_PARAMETER_PATH`` is not set this does nothing (and imports
    nothing). Otherwise every parameter under the path is read with decryption and
    set under its last path segment; variables already in the environment are kept
    unless ``override``. Values are never logged or returned.

    Raises :class:`PluginError` (failing the cold start) when the parameters cannot
    be read or none exist under the path: a bot must not trade without its keys.
    """
    path = os.environ.get(SSM_PARAMETER_PATH_ENV, "").strip()
    if not path:
        return []
    parameters = _read_parameters(path)
    if not parameters:
        raise PluginError(
            f"Loading secrets failed: no SSM parameters under {path!r} "
            f"(set by {SSM_PARAMETER_PATH_ENV}).",
            fix="Redeploy with deploy-aws-lambda to store them again.")
    loaded: list[str] = []
    for name, value in parameters:
        if not override and name in os.environ:
            continue
        os.environ[name] = value
        loaded.append(name)
    return loaded


def _read_parameters(path: str) -> list[tuple[str, str]]:
    from botocore.exceptions import BotoCoreError, ClientError

    from .boto_sessions import new_session

    lookup = path.rstrip("/") or "/"
    permissions = ("ssm:GetParametersByPath on the parameter path and kms:Decrypt on its key "
                   "(aws/ssm by default)")
    try:
        client = new_session().client("ssm")
        paginator = client.get_paginator("get_parameters_by_path")
        result: list[tuple[str, str]] = []
        for page in paginator.paginate(Path=lookup, Recursive=False, WithDecryption=True):
            for parameter in page.get("Parameters", []):
                name = parameter["Name"].rsplit("/", 1)[-1]
                result.append((name, parameter["Value"]))
        return result
    except ClientError as error:
        raise PluginError(
            f"Loading secrets from SSM parameter path {path!r} failed: {_describe(error)}.",
            fix=f"Give the function's execution role {permissions}.") from None
    except BotoCoreError as error:
        raise PluginError(
            f"Loading secrets from SSM parameter path {path!r} failed: {error}.",
            fix=f"Check the function's network access to SSM and its role's {permissions}.") from None


def _describe(error: Exception) -> str:
    """``Code: message`` of an AWS error, also when the body was not the expected JSON."""
    import re

    details = getattr(error, "response", {}).get("Error", {})
    code = str(details.get("Code", "Error"))
    message = str(details.get("Message", ""))
    if message.lstrip().startswith("<"):  # an XML (or HTML) body botocore could not parse
        xml_code = re.search(r"<Code>(.*?)</Code>", message, re.DOTALL)
        xml_message = re.search(r"<Message>(.*?)</Message>", message, re.DOTALL)
        code = xml_code.group(1).strip() if xml_code else f"HTTP {code}"
        message = xml_message.group(1).strip() if xml_message else ""
    message = " ".join(message.split())
    if len(message) > 300:
        message = message[:297] + "..."
    return f"{code}: {message}" if message else code
