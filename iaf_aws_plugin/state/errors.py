"""State errors: subclasses of the host's OperationalException, so the host treats them as expected."""
from __future__ import annotations

from investing_algorithm_framework.domain import OperationalException


class StateError(OperationalException):  # type: ignore[misc]  # the host ships no types
    """A state load or save failed; the message says what, where and how to fix it."""


class StateLockedError(StateError):
    """Another run holds an unexpired lease on the state: this run must not trade."""


class StateConflictError(StateError):
    """A save was refused: its lease was lost or the snapshot changed underneath it."""


class UnsafePathError(StateError):
    """A key or file name would land outside the state folder."""


class DuplicateRunError(StateError):
    """This delivery's scheduled time already ran (its commit is in ``HEAD.json``) or is running
    now (the lease holder runs for it): nothing was traded, nothing changed, and the invocation
    is a success. The scaffolded handler answers ``str(error)``."""
