"""The only state code that talks to S3 (boto3). Translates botocore errors into one-line
``OperationalException`` messages naming the bucket, the action and the fix.

Never sends object ACLs: buckets with ACLs disabled (the default) reject them.
"""
from __future__ import annotations

import base64
import builtins
import contextlib
import hashlib
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, BinaryIO, Callable, Iterator, TypeVar

from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.utils import parse_timestamp
from botocore.exceptions import (BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError,
                                 NoCredentialsError, NoRegionError, PartialCredentialsError, ReadTimeoutError)

from ..boto_sessions import new_session
from ..function_env import STATE_BUCKET_ENV
from .errors import StateError

#: Files over this size are uploaded in parts (S3 single PUTs are capped at 5 GB). Every upload
#: is hashed as it is sent and must match the sha256 it is stored under: a single PUT is read
#: into memory and checked before it is sent; a multipart upload hashes its parts in order and
#: is aborted (never completed) when the bytes sent differ from what was hashed.
MULTIPART_THRESHOLD = 16 * 1024 * 1024
MULTIPART_CHUNK = 8 * 1024 * 1024
#: Parts of one file in flight at once (each is held in memory while it is sent).
PART_CONCURRENCY = 4
#: Files at least this big are downloaded through boto3's transfer manager (ranged GETs).
DOWNLOAD_MULTIPART_THRESHOLD = 64 * 1024 * 1024
CHUNK = 1024 * 1024
_TRANSFER = TransferConfig(multipart_threshold=DOWNLOAD_MULTIPART_THRESHOLD, multipart_chunksize=16 * 1024 * 1024,
                           max_concurrency=8)
_DENIED = {"AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch",
           "ExpiredToken", "InvalidToken", "TokenRefreshRequired", "403", "Forbidden"}


T = TypeVar("T")


class PreconditionFailed(Exception):
    """A conditional write or read did not hold (412, or 409 for a concurrent conditional write)."""

    def __init__(self, where: str, status: int | None = None) -> None:
        super().__init__(where)
        self.status = status


class ContentChanged(StateError):
    """The bytes read for an upload are not the ones hashed for the manifest."""


@dataclass(frozen=True)
class S3Object:
    body: bytes
    etag: str
    last_modified: datetime
    server_time: datetime


def make_client(max_workers: int) -> Any:
    """An S3 client with a connection pool sized for the transfer threads and standard retries."""
    session = new_session()  # the parsed S3 model and endpoints shared with the cold start's other sessions
    # Standard retries (5xx, throttling, lost connections), 5 attempts unless the environment says
    # otherwise (AWS_MAX_ATTEMPTS / AWS_RETRY_MODE, as for every AWS SDK). Conditional writes
    # stay correct when a retry meets its own applied write: see ``lease`` and ``snapshots``.
    retries: dict[str, Any] = {}
    if not os.environ.get("AWS_RETRY_MODE"):
        retries["mode"] = "standard"
    if not os.environ.get("AWS_MAX_ATTEMPTS"):
        retries["total_max_attempts"] = 5
    config = Config(max_pool_connections=max(10, max_workers + 4), retries=retries)  # type: ignore[arg-type]
    try:
        return session.client("s3", config=config)
    except NoRegionError:
        return session.client("s3", region_name="us-east-1", config=config)


class S3Store:
    """Conditional reads/writes, listing and file transfers against one bucket."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    # -- small objects -------------------------------------------------------------------------
    def get(self, key: str, *, if_none_match: str | None = None) -> S3Object | None:
        """The object, ``None`` if it does not exist; raises ``PreconditionFailed`` on 304."""
        params = {"Bucket": self.bucket, "Key": key}
        if if_none_match:
            params["IfNoneMatch"] = if_none_match
        with self._errors("read", key, missing_ok=True, not_modified=True) as missing:
            response = self.client.get_object(**params)
            body = response["Body"].read()
            last_modified = _aware(response["LastModified"])
            return S3Object(body, response["ETag"], last_modified, _server_time(response, last_modified))
        if missing:
            return None
        raise AssertionError("unreachable")  # pragma: no cover

    def put(self, key: str, body: bytes, *, if_match: str | None = None,
            if_none_match: str | None = None) -> str:
        """Write ``body``; with a condition, raises ``PreconditionFailed`` when it does not hold."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": body,
                                  "ContentType": "application/json"}
        if if_match:
            params["IfMatch"] = if_match
        if if_none_match:
            params["IfNoneMatch"] = if_none_match
        with self._errors("write", key, conditional=bool(if_match or if_none_match)):
            return str(self.client.put_object(**params)["ETag"])
        raise AssertionError("unreachable")  # pragma: no cover

    def list(self, prefix: str) -> Iterator[dict[str, Any]]:
        """Every object under ``prefix`` (all pages)."""
        paginator = self.client.get_paginator("list_objects_v2")
        with self._errors("list", prefix or "(bucket root)"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                yield from page.get("Contents", [])

    # -- files ---------------------------------------------------------------------------------
    def upload_file(self, path: str, key: str, size: int, sha256: str) -> None:
        """Upload a file stored under its ``sha256``; raises ``ContentChanged`` (storing nothing)
        if the bytes read are not the ones that were hashed (a file rewritten during the save)."""
        if size > MULTIPART_THRESHOLD:
            self._upload_multipart(path, key, size, sha256)
            return
        with open(path, "rb") as handle:
            data = handle.read(size + 1)
        if len(data) != size or hashlib.sha256(data).hexdigest() != sha256:
            raise ContentChanged(_changed_message(path))
        self.upload_bytes(key, data, sha256)

    def _upload_multipart(self, path: str, key: str, size: int, sha256: str) -> None:
        with self._errors("upload", key):
            upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=key,
                                                            ChecksumAlgorithm="SHA256")["UploadId"]
        try:
            digest = hashlib.sha256()
            sent = 0
            slots = threading.BoundedSemaphore(PART_CONCURRENCY)
            jobs: list[Future[dict[str, Any]]] = []
            with open(path, "rb") as handle, ThreadPoolExecutor(PART_CONCURRENCY) as pool:
                while not any(job.done() and job.exception() for job in jobs):
                    slots.acquire()
                    data = handle.read(MULTIPART_CHUNK)
                    if not data:
                        slots.release()
                        break
                    digest.update(data)
                    sent += len(data)
                    jobs.append(pool.submit(self._upload_part, key, upload_id, len(jobs) + 1, data, slots))
                wait(jobs)
            parts = [job.result() for job in jobs]
            if sent != size or digest.hexdigest() != sha256:
                raise ContentChanged(_changed_message(path))
            with self._errors("upload", key):
                self.client.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                                      MultipartUpload={"Parts": parts})
        except BaseException:
            with contextlib.suppress(Exception):  # the original error matters more
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise

    def _upload_part(self, key: str, upload_id: str, number: int, data: bytes,
                     slots: threading.BoundedSemaphore) -> dict[str, Any]:
        try:
            checksum = _b64(hashlib.sha256(data).hexdigest())
            with self._errors("upload", key):
                response = self.client.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                                   PartNumber=number, Body=data, ChecksumSHA256=checksum)
                return {"PartNumber": number, "ETag": response["ETag"], "ChecksumSHA256": checksum}
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            slots.release()

    def upload_bytes(self, key: str, body: bytes, sha256: str) -> None:
        with self._errors("upload", key):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ChecksumSHA256=_b64(sha256))

    def read_range(self, key: str, start: int, length: int, consume: Callable[[BinaryIO], T]) -> T:
        """Stream ``length`` bytes of ``key`` from ``start`` into ``consume``."""
        with self._errors("download", key):
            response = self.client.get_object(Bucket=self.bucket, Key=key,
                                              Range=f"bytes={start}-{start + length - 1}")
            return consume(response["Body"])
        raise AssertionError("unreachable")  # pragma: no cover

    def download_file(self, key: str, path: str, size: int | None) -> tuple[str, int]:
        """Download ``key`` to ``path``; returns the sha256 and size of what was written."""
        with self._errors("download", key):
            if size is not None and size >= DOWNLOAD_MULTIPART_THRESHOLD:
                self.client.download_file(self.bucket, key, path, Config=_TRANSFER)
                return _hash_path(path)
            response = self.client.get_object(Bucket=self.bucket, Key=key)
            with open(path, "wb") as handle:
                return _copy_hashing(response["Body"], handle)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- errors --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _errors(self, action: str, key: str, *, missing_ok: bool = False, not_modified: bool = False,
                conditional: bool = False) -> Iterator[builtins.list[bool]]:
        missing: builtins.list[bool] = []
        where = f"s3://{self.bucket}/{key}"
        try:
            yield missing
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if not_modified and (code == "304" or status == 304):
                raise PreconditionFailed(where, 304) from None
            if conditional and (code in ("PreconditionFailed", "ConditionalRequestConflict")
                                or status in (409, 412)):
                raise PreconditionFailed(where, 409 if code == "ConditionalRequestConflict" else status) from None
            if missing_ok and (code in ("NoSuchKey", "404", "NotFound")):
                missing.append(True)
                return
            raise StateError(_client_error_message(self.bucket, action, where, code, status,
                                                   str(error.get("Message", "")))) from None
        except (NoCredentialsError, PartialCredentialsError):
            raise StateError(
                f"Could not {action} {where}: no AWS credentials found. Fix: give the Lambda function "
                "an execution role, or set AWS_PROFILE / AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "when running locally.") from None
        except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError) as exc:
            raise StateError(
                f"Could not {action} {where}: S3 is not reachable ({exc}). Fix: check the network, "
                "the region (AWS_REGION) and AWS_ENDPOINT_URL.") from None
        except BotoCoreError as exc:
            raise StateError(f"Could not {action} {where}: {exc}. Fix: check the AWS configuration "
                             "of this environment.") from None


def _client_error_message(bucket: str, action: str, where: str, code: str, status: Any, message: str) -> str:
    if code == "NoSuchBucket":
        return (f"Could not {action} {where}: bucket {bucket!r} does not exist. Fix: create it, or set "
                f"{STATE_BUCKET_ENV} (or bucket_name) to an existing bucket.")
    if code in _DENIED or status == 403:
        return (f"Could not {action} {where}: access denied ({code}). Fix: allow s3:GetObject, "
                f"s3:PutObject and s3:ListBucket on arn:aws:s3:::{bucket} and its objects for the "
                "role or user running the bot, and check its credentials.")
    detail = f"{code}: {message}" if message else code or f"HTTP {status}"
    return f"Could not {action} {where}: {detail}. Fix: check the bucket and the AWS configuration."


def _b64(sha256_hex: str) -> str:
    return base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii")


def _changed_message(path: str) -> str:
    return (f"{path} changed while the state was being saved (the bytes sent differ from the ones "
            "hashed); nothing was committed. Fix: stop writing to the state folder after the run; "
            "the next save stores it.")


def _aware(moment: datetime) -> datetime:
    """HTTP times are UTC: a naive one is read as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _server_time(response: dict[str, Any], last_modified: datetime | None = None) -> datetime:
    """S3's clock: the response's ``Date`` as an aware UTC time. A ``Date`` that cannot be read
    that way is parsed like ``LastModified`` (botocore's timestamp rules, naive = UTC); if that
    fails too, the local clock (never before ``last_modified``). Never raises."""
    header = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    parsed: datetime | None = None
    if header:
        with contextlib.suppress(Exception):
            parsed = parsedate_to_datetime(header)
        if parsed is None or parsed.tzinfo is None or parsed.utcoffset() is None:
            with contextlib.suppress(Exception):
                parsed = parse_timestamp(header)
    if isinstance(parsed, datetime):
        with contextlib.suppress(Exception):
            return _aware(parsed).astimezone(timezone.utc)
    now = datetime.now(timezone.utc)
    return max(now, last_modified) if last_modified is not None else now


def _copy_hashing(source: BinaryIO, target: BinaryIO) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        target.write(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _hash_path(path: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest(), os.path.getsize(path)
