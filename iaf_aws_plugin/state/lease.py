"""Single flight: a lease object in S3, taken, renewed and released with conditional writes only.

Every write is idempotent under botocore's retries: when a conditional write answers 412/409, the
lease is read back, and if it holds exactly the record this write sent (each record carries a
random nonce), the write succeeded (its first attempt was applied and its answer lost).
"""
from __future__ import annotations

import os
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import timedelta

from .errors import DuplicateRunError, StateConflictError, StateLockedError
from .manifest import describe_scheduled_time, lease_document, parse_lease
from .s3 import PreconditionFailed, S3Store

#: Lambda's maximum function timeout: the lease's default length when the timeout is unknown.
LAMBDA_MAX_TIMEOUT = 900
#: A lease outlives the run's time limit by this much: a run that saves in its last second is
#: still covered while its requests complete, and clocks of a few seconds apart do not matter.
LEASE_MARGIN = 60
#: S3 times have a resolution of one second: a lease counts as expired only one second after
#: its expiry, so truncation can never make a live lease look expired.
EXPIRY_GUARD = timedelta(seconds=1)


@dataclass
class Lease:
    """A lease this process holds (or last released): its owner token and the ETag of our record.

    ``continued`` is True when it was taken by replacing our own previous record in one
    conditional write: nobody else wrote the lease in between. ``scheduled_for``: the scheduled
    time of the run (in every record it writes), None for a manual run.
    """

    owner: str
    etag: str
    held: bool
    continued: bool = False
    scheduled_for: str | None = None


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

    def acquire(self, known: Lease | None, scheduled_for: str | None = None) -> Lease:
        """Take the lease, or raise ``StateLockedError`` without writing anything.

        ``known`` is the lease record this instance wrote last (warm container): replacing it
        directly is one request; if someone wrote the lease since, fall back to reading it.
        ``scheduled_for`` is recorded in the lease; a live lease held by a run for the same
        scheduled time raises ``DuplicateRunError`` instead (this delivery is a duplicate).
        """
        owner = secrets.token_hex(16)
        body = self._document(owner, "held", scheduled_for)
        continued = known is not None
        if known is not None:
            try:
                return Lease(owner, self.store.put(self.key, body, if_match=known.etag), True, continued=True,
                             scheduled_for=scheduled_for)
            except PreconditionFailed:
                pass  # someone else wrote it, or our own write was applied and its answer lost
        for attempt in range(4):
            if attempt:
                time.sleep(0.1 * attempt)
            current = self.store.get(self.key)
            if current is not None and current.body == body:  # our write was applied: it is ours
                return Lease(owner, current.etag, True, continued=continued and attempt == 0,
                             scheduled_for=scheduled_for)
            continued = False
            try:
                if current is None:
                    return Lease(owner, self.store.put(self.key, body, if_none_match="*"), True,
                                 scheduled_for=scheduled_for)
                record = parse_lease(current.body)
                mine = known is not None and record.get("owner") == known.owner
                if record.get("state") == "held" and not mine:
                    timeout = record.get("timeout_seconds")
                    expires = current.last_modified + timedelta(seconds=timeout if isinstance(timeout, int)
                                                                else self.timeout)
                    if current.server_time < expires + EXPIRY_GUARD:
                        if scheduled_for is not None and record.get("scheduled_for") == scheduled_for:
                            raise DuplicateRunError(
                                f"duplicate of the run in progress for {describe_scheduled_time(scheduled_for)} "
                                f"({record.get('holder')} holds the state lease): this delivery did not trade")
                        raise StateLockedError(
                            f"State s3://{self.store.bucket}/{self.key} is leased by {record.get('holder')} "
                            f"since {current.last_modified.isoformat()} until {expires.isoformat()}: another "
                            "run is using this bot's state, so this run does not trade. Fix: let that run "
                            "finish (a crashed run's lease expires by itself); do not run the bot twice "
                            "at the same time.")
                return Lease(owner, self.store.put(self.key, body, if_match=current.etag), True,
                             scheduled_for=scheduled_for)
            except PreconditionFailed:
                continue  # someone wrote the lease meanwhile (or our write's answer was lost): look again
        raise StateLockedError(f"State s3://{self.store.bucket}/{self.key} is being taken by other runs "
                               "at this moment. Fix: do not run the bot twice at the same time.")

    def renew(self, lease: Lease) -> Lease:
        """Prove the lease is still ours (and restart its timeout) right before committing a save."""
        try:
            return Lease(lease.owner, self._write(self._document(lease.owner, "held", lease.scheduled_for),
                                                  if_match=lease.etag), True, scheduled_for=lease.scheduled_for)
        except PreconditionFailed:
            raise StateConflictError(
                f"Refusing to save the state to s3://{self.store.bucket}: this run's lease "
                f"({self.key}) was taken over by another run (it ran longer than its lease of "
                f"{self.timeout}s?), so saving could overwrite that run's state. Fix: keep lease_timeout "
                "at least the function timeout; check the bot's orders on the exchange.") from None

    def release(self, lease: Lease) -> Lease:
        """Mark the lease free; raises ``StateConflictError`` if it is no longer ours."""
        try:
            return Lease(lease.owner, self._write(self._document(lease.owner, "released", lease.scheduled_for),
                                                  if_match=lease.etag), False, scheduled_for=lease.scheduled_for)
        except PreconditionFailed:
            raise StateConflictError(
                f"The lease {self.key} in s3://{self.store.bucket} was taken over by another run while "
                f"this run held it (it ran longer than its lease of {self.timeout}s?): two runs "
                "overlapped. Fix: keep lease_timeout at least the function timeout; check the bot's "
                "orders on the exchange.") from None

    # -- internals -----------------------------------------------------------------------------
    def _document(self, owner: str, state: str, scheduled_for: str | None = None) -> bytes:
        return lease_document(owner=owner, holder=describe_holder(), timeout=self.timeout, state=state,
                              scheduled_for=scheduled_for)

    def _write(self, body: bytes, *, if_match: str | None = None, if_none_match: str | None = None) -> str:
        """A conditional write of ``body``; a failed condition that our own applied attempt
        caused (its answer was lost, botocore retried) counts as success."""
        try:
            return self.store.put(self.key, body, if_match=if_match, if_none_match=if_none_match)
        except PreconditionFailed as failed:
            etag = written_by_us(self.store, self.key, body, failed)
            if etag is None:
                raise
            return etag


def written_by_us(store: S3Store, key: str, body: bytes, failed: PreconditionFailed) -> str | None:
    """After a failed conditional write: the ETag of ``key`` if it holds exactly ``body``.

    On 409 (another conditional write to the key in flight, possibly our own first attempt) the
    read is repeated a few times before concluding."""
    for attempt in range(3 if failed.status == 409 else 1):
        if attempt:
            time.sleep(0.2 * attempt)
        current = store.get(key)
        if current is not None and current.body == body:
            return current.etag
    return None
