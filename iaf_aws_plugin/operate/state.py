"""``state-aws-lambda``: where a deployed bot keeps its state, and the state admin calls with
their errors as one line (the state code raises the host's exceptions, the CLI shows PluginError)."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

from ..errors import PluginError
from ..files import human_size

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .target import Target


@dataclass(frozen=True)
class StateLocation:
    bucket: str
    prefix: str
    lease_timeout: int
    ephemeral_storage: int = 512  # MB of /tmp the function has (where a run puts the state)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix + '/' if self.prefix else ''}"


def state_location(target: Target) -> StateLocation:
    """The bucket and prefix the deployed function uses (its environment), else the derived ones."""
    from ..function_env import STATE_BUCKET_ENV, STATE_PREFIX, STATE_PREFIX_ENV

    found = target.client.get_function(target.function, "live") or target.client.get_function(target.function)
    config = (found or {}).get("Configuration", {})
    env = config.get("Environment", {}).get("Variables", {})
    timeout = int(config.get("Timeout") or 900)
    return StateLocation(str(env.get(STATE_BUCKET_ENV) or target.names.bucket),
                         str(env.get(STATE_PREFIX_ENV, STATE_PREFIX) or ""), max(timeout, 1),
                         int((config.get("EphemeralStorage") or {}).get("Size") or 512))


@contextlib.contextmanager
def state_errors(target: Target) -> Iterator[None]:
    """The state code's exceptions (the host's OperationalException) as one masked line."""
    from ..state.errors import StateError, StateLockedError

    try:
        yield
    except StateLockedError as exc:
        raise PluginError(target.masker.mask(f"refused: another run holds the state. {exc}")) from None
    except StateError as exc:
        raise PluginError(target.masker.mask(str(exc))) from None


def storage_warning(size: int, ephemeral_mb: int) -> str | None:
    """A warning when ``size`` bytes of state exceed the function's ``/tmp`` (ephemeral storage)."""
    import math

    from ..deploy.settings import EPHEMERAL_STORAGE_RANGE

    if size <= ephemeral_mb * 1024 * 1024:
        return None
    low, high = EPHEMERAL_STORAGE_RANGE
    wanted = math.ceil(size * 1.25 / (1024 * 1024) / 256) * 256  # room for the run's own files
    fix = (f"raise it with deploy-aws-lambda --ephemeral-storage {min(max(wanted, low), high)}" if wanted <= high
           else f"that is more than Lambda's maximum --ephemeral-storage of {high} MB: make the state smaller")
    return (f"the state is {human_size(size)}, more than the function's {ephemeral_mb} MB of /tmp (ephemeral "
            f"storage), where a run loads it: the run would fail; {fix}.")


def as_json(value: Any) -> Any:
    """Dataclasses and datetimes as JSON-ready data."""
    import dataclasses
    from datetime import datetime

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: as_json(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    return value
