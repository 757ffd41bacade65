"""boto3 sessions that share botocore's parsed data files (service models, the endpoints table,
endpoint rule sets) within one process.

Each new botocore session parses again every JSON file it needs. A cold start of the scaffolded
bot makes three sessions: secrets from SSM, the conditional-writes check and the state handler's
S3 client. They parsed the endpoints table and the S3 model twice: measured on Lambda's Python
3.11 image (benchmarks/build.py), 107 ms and 75,000 objects left for the garbage collector with
a session each, 72 ms and 48,000 objects with the loader shared.

Only the data loader is shared, one per botocore data path (``AWS_DATA_PATH``, so a session
given other model files still reads those): a read-only cache of parsed files, shared between
sessions as botocore already shares it between the clients of one session. Credentials, region,
profile and configuration stay each session's own, resolved as by ``boto3.session.Session()``.
"""
from __future__ import annotations

import functools

import boto3.session
import botocore.loaders
import botocore.session

__all__ = ["new_botocore_session", "new_session"]


def new_botocore_session() -> botocore.session.Session:
    """A new botocore session (as ``botocore.session.get_session()``) reading the process's shared
    parsed data files."""
    session = botocore.session.get_session()
    data_path = session.get_config_variable("data_path")
    session.register_component("data_loader", _loader(data_path if isinstance(data_path, str) else None))
    return session


def new_session() -> boto3.session.Session:
    """A new boto3 session (as ``boto3.session.Session()``) reading the process's shared parsed
    data files."""
    return boto3.session.Session(botocore_session=new_botocore_session())


@functools.lru_cache(maxsize=None)
def _loader(data_path: str | None) -> botocore.loaders.Loader:
    return botocore.loaders.create_loader(data_path)
