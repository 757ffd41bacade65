"""A resolution's unit: one wheel pinned by URL and hash (shared by the resolvers and the installer)."""
from __future__ import annotations

import re
from dataclasses import dataclass


def canonical_name(name: str) -> str:
    """PEP 503: ``Foo.Bar_baz`` and ``foo-bar-baz`` are one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Pin:
    """One wheel of the resolution."""

    name: str  # canonical
    version: str
    url: str
    sha256: str  # hex; "" when the index gave none

    @property
    def requirement(self) -> str:
        line = f"{self.name} @ {self.url}"
        return f"{line} --hash=sha256:{self.sha256}" if self.sha256 else line
