"""One deploy at a time per bot: a lease object in the bot's state bucket.

Taken with a conditional write (``IfNoneMatch="*"``: only when there is none), taken over only when
expired (``IfMatch`` the expired one's ETag: of two deploys finding it expired, one wins), released
at the end of the deploy. A deploy that dies leaves a lease that expires by itself after
:data:`LEASE_SECONDS`; ``deploy-aws-lambda --force-unlock`` removes it at once. A second deploy gets
one line naming who holds the lease and since when. A first deploy (no bucket yet) takes none.
"""
from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable

from ..errors import PluginError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .awsclient import AWSClient

LEASE_KEY = ".iaf-deploy/lease.json"
LEASE_SECONDS = 3600  # longer than any deploy (an image build included); a dead deploy's lease expires


class LeaseHeld(PluginError):
    """Another deploy holds the lease: this one stops (every other failure to take it is a warning)."""


@dataclass(frozen=True)
class DeployLease:
    bucket: str
    etag: str
    token: str


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _read(client: AWSClient, bucket: str) -> tuple[dict[str, Any], str] | None:
    found = client.call("s3", "GetObject", where=f"Reading the deploy lease s3://{bucket}/{LEASE_KEY}",
                        missing=("NoSuchKey", "404"), Bucket=bucket, Key=LEASE_KEY)
    if found is None:
        return None
    body = found["Body"].read()
    try:
        record = json.loads(body)
    except ValueError:
        record = {}
    return (record if isinstance(record, dict) else {}), str(found.get("ETag", ""))


def _expired(record: dict[str, Any], now: datetime) -> bool:
    try:
        return datetime.fromisoformat(str(record["expires"]).replace("Z", "+00:00")) <= now
    except (KeyError, ValueError):
        return True  # unreadable: treated as expired (taken over with IfMatch, never blindly)


def acquire(client: AWSClient, bucket: str, holder: str, *, now: datetime | None = None) -> DeployLease:
    """Take the bot's deploy lease or raise one line naming its holder."""
    when = now or _now()
    token = uuid.uuid4().hex
    record = {"holder": holder, "since": _stamp(when), "expires": _stamp(when + timedelta(seconds=LEASE_SECONDS)),
              "token": token, "pid": os.getpid(), "host": socket.gethostname()}
    body = json.dumps(record, sort_keys=True).encode()
    where = f"Taking the deploy lease s3://{bucket}/{LEASE_KEY}"
    put = client.call("s3", "PutObject", where=where, missing=("PreconditionFailed", "412", "ConditionalRequestConflict"),
                      Bucket=bucket, Key=LEASE_KEY, Body=body, ContentType="application/json", IfNoneMatch="*")
    if put is not None:
        return DeployLease(bucket, str(put.get("ETag", "")), token)
    current = _read(client, bucket)
    if current is not None and _expired(current[0], when):
        put = client.call("s3", "PutObject", where=where, missing=("PreconditionFailed", "412",
                                                                   "ConditionalRequestConflict"),
                          Bucket=bucket, Key=LEASE_KEY, Body=body, ContentType="application/json", IfMatch=current[1])
        if put is not None:
            return DeployLease(bucket, str(put.get("ETag", "")), token)
        current = _read(client, bucket)
    held = current[0] if current is not None else {}
    raise LeaseHeld(f"another deploy of this bot is running: {held.get('holder', 'someone')} holds the deploy "
                      f"lease since {held.get('since', '?')} (s3://{bucket}/{LEASE_KEY}; it expires by itself at "
                      f"{held.get('expires', '?')}). Nothing was changed.",
                      fix="Wait for that deploy to finish and deploy again; if it died, "
                          "deploy-aws-lambda --force-unlock removes its lease.")


def release(client: AWSClient, lease: DeployLease) -> None:
    """Remove the lease if it is still ours (a forced unlock may have given it to another deploy)."""
    current = _read(client, lease.bucket)
    if current is None or current[0].get("token") != lease.token:
        return
    client.call("s3", "DeleteObject", where=f"Releasing the deploy lease s3://{lease.bucket}/{LEASE_KEY}",
                missing=("NoSuchKey", "404"), Bucket=lease.bucket, Key=LEASE_KEY)


def force_unlock(client: AWSClient, bucket: str, echo: Callable[[str], None]) -> None:
    """``--force-unlock``: remove whatever lease there is, saying whose it was."""
    current = _read(client, bucket)
    if current is None:
        echo("--force-unlock: no deploy lease was held.")
        return
    client.call("s3", "DeleteObject", where=f"Removing the deploy lease s3://{bucket}/{LEASE_KEY}",
                missing=("NoSuchKey", "404"), Bucket=bucket, Key=LEASE_KEY)
    echo(f"--force-unlock: removed the deploy lease of {current[0].get('holder', 'someone')} "
         f"(since {current[0].get('since', '?')}).")


def lease_holder(caller_arn: str) -> str:
    return f"{caller_arn} on {socket.gethostname()}"


def lease_actions(bucket: str, partition: str = "aws") -> tuple[str, tuple[str, ...]]:
    """The object actions the lease needs (added to the preflight's list of the bucket)."""
    return f"arn:{partition}:s3:::{bucket}/{LEASE_KEY}", ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")
