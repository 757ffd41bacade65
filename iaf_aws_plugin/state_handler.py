"""S3 state handler: placeholder until issue 3 lands."""
from __future__ import annotations

from investing_algorithm_framework.domain import StateHandler


class StateLockedError(Exception):
    """Another run holds the state lease."""


class AWSS3StorageStateHandler(StateHandler):
    def __init__(self, bucket_name: str | None = None, *, prefix: str = "", lease_timeout: int = 900) -> None:
        self.bucket_name = bucket_name
        self.prefix = prefix
        self.lease_timeout = lease_timeout
        self.last_save_error: Exception | None = None

    def initialize(self) -> None:
        raise NotImplementedError

    def load(self, target_directory: str) -> None:
        raise NotImplementedError

    def save(self, target_directory: str) -> None:
        raise NotImplementedError

    def raise_for_save_error(self) -> None:
        if self.last_save_error is not None:
            raise self.last_save_error
