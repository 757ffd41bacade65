"""Expected failures: each is shown to the user as one line, without a traceback."""
from __future__ import annotations


class PluginError(Exception):
    """An expected failure: what failed and where, and how to fix it, in one line."""

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(message)

    def __str__(self) -> str:
        text = " ".join(self.message.split())
        return f"{text} {' '.join(self.fix.split())}" if self.fix else text
