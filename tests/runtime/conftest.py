"""Fixtures for the deploy inputs: a saved os.environ."""
from __future__ import annotations

import os
from typing import Iterator

import pytest


@pytest.fixture
def restore_environ() -> Iterator[None]:
    """Whatever a test puts into os.environ (load_secrets does) is undone afterwards."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
