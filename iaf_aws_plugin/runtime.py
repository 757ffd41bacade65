"""Code that runs inside the Lambda function (imported by the scaffolded aws_function.py)."""
from __future__ import annotations

import os

SSM_PARAMETER_PATH_ENV = "IAF_SSM_PARAMETER_PATH"


def load_secrets() -> dict[str, str]:
    """Put the function's SSM SecureString parameters into ``os.environ``; placeholder until issue 4."""
    if not os.environ.get(SSM_PARAMETER_PATH_ENV):
        return {}
    raise NotImplementedError("loading secrets from SSM lands with deploy-aws-lambda")
