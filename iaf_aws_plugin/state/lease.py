"""Single flight: a lease object in S3, taken and released with conditional writes only."""
from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import timedelta

from .errors import StateConflictError, StateLockedError
from .manifest import lease_document, parse_lease
from .s3 import PreconditionFailed, S3Store


@dataclass
class Lease:
    """A lease this process holds (or last released): its owner token and the ETag of our record."""

    owner: str
    etag: str
    held: bool


def describe_holder() -> str:
    """Who holds the lease, for the error message of the run that is locked out."""
    stream = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
    if stream:
        return f"Lambda {os.environ.get('AWS_LAMBDA_FUNCTION_NAME', '?')} log stream {stream}"
    return f"{socket.gethostname()} pid {os.getpid()}"


class LeaseManager:
    """Takes, renews and releases ``key`` in ``store`` for runs of ``timeout`` seconds."""

    def __init__(self, store: S3Store, key: str, timeout: int) -> None:
        self.store = store
        self.key = key
        self.timeout = timeout

    def acquire(self, known: Lease | None) -> Lease:
        """Take the lease, or raise ``StateLockedError`` without writing anything.

        ``known`` is the lease record this instance wrote last (warm container): replacing it
        directly is one request; if someone wrote the lease since, fall back to reading it.
        """
        owner = secrets.token_hex(16)
        body = lease_document(owner=owner, holder=describe_holder(), timeout=self.timeout, state="held")
        if known is not None:
            try:
                return Lease(owner, self.store.put(self.key, body, if_match=known.etag), True)
            except PreconditionFailed:
                pass
        for _ in range(3):
            current = self.store.get(self.key)
            try:
                if current is None:
                    return Lease(owner, self.store.put(self.key, body, if_none_match="*"), True)
                record = parse_lease(current.body)
                mine = known is not None and record.get("owner") == known.owner
                if record.get("state") == "held" and not mine:
                    timeout = record.get("timeout_seconds")
                    expires = current.last_modified + timedelta(seconds=timeout if isinstance(timeout, int)
                                                                else self.timeout)
                    if current.server_time < expires:
                        raise StateLockedError(
                            f"State s3://{self.store.bucket}/{self.key} is leased by {record.get('holder')} "
                            f"since {current.last_modified.isoformat()} until {expires.isoformat()}: another "
                            "run is using this bot's state, so this run does not trade. Fix: let that run "
                            "finish (a crashed run's lease expires by itself); do not run the bot twice "
                            "at the same time.")
                return Lease(owner, self.store.put(self.key, body, if_match=current.etag), True)
            except PreconditionFailed:
                continue  # someone wrote the lease meanwhile: look again
        raise StateLockedError(f"State s3://{self.store.bucket}/{self.key} is being taken by other runs "
                               "at this moment. Fix: do not run the bot twice at the same time.")

    def renew(self, lease: Lease) -> Lease:
        """Prove the lease is still ours (and restart its timeout) right before committing a save."""
        body = lease_document(owner=lease.owner, holder=describe_holder(), timeout=self.timeout, state="held")
        try:
            return Lease(lease.owner, self.store.put(self.key, body, if_match=lease.etag), True)
        except PreconditionFailed:
            raise StateConflictError(
                f"Refusing to save the state to s3://{self.store.bucket}: this run's lease "
                f"({self.key}) was taken over by another run (it ran longer than lease_timeout="
                f"{self.timeout}s?), so saving could overwrite that run's state. Fix: make lease_timeout "
                "at least the Lambda timeout; check the bot's orders on the exchange.") from None

    def release(self, lease: Lease) -> Lease:
        """Mark the lease free; raises ``StateConflictError`` if it is no longer ours."""
        body = lease_document(owner=lease.owner, holder=describe_holder(), timeout=self.timeout,
                              state="released")
        try:
            return Lease(lease.owner, self.store.put(self.key, body, if_match=lease.etag), False)
        except PreconditionFailed:
            raise StateConflictError(
                f"The lease {self.key} in s3://{self.store.bucket} was taken over by another run while "
                f"this run held it (it ran longer than lease_timeout={self.timeout}s?): two runs "
                "overlapped. Fix: make lease_timeout at least the Lambda timeout; check the bot's "
                "orders on the exchange.") from None
