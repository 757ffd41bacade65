"""Moved: the operate commands use :class:`~iaf_aws_plugin.deploy.awsclient.AWSClient` itself."""
from __future__ import annotations

import json
from typing import Any

__all__ = ["payload_json"]


def payload_json(payload: bytes) -> Any:
    """The invocation's answer as JSON when it is JSON, else as text."""
    try:
        return json.loads(payload.decode("utf-8")) if payload else None
    except (UnicodeDecodeError, ValueError):
        return payload.decode("utf-8", "replace")

