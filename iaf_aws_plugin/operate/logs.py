"""``logs-aws-lambda``: the function's CloudWatch Logs, one invocation's lines together.

Lambda writes ``START RequestId: …``, the run's own lines, ``END`` and a ``REPORT`` line with
the duration and memory into one log stream per execution environment; an environment runs one
invocation at a time, so within a stream the lines between ``START`` and ``REPORT`` are that
invocation's (lines before the first ``START`` are its cold start). :func:`group_invocations`
rebuilds the invocations from any set of events; ``status-aws-lambda`` uses it too.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..errors import PluginError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .target import Target

Echo = Callable[[str], None]

_START = re.compile(r"^START RequestId: (?P<id>[\w-]+)")
_END = re.compile(r"^END RequestId: (?P<id>[\w-]+)")
_REPORT = re.compile(r"^REPORT RequestId: (?P<id>[\w-]+)")
_FIELD = re.compile(r"(?P<name>[A-Za-z][A-Za-z ]*?): (?P<value>[^\t]+?)(?:\t|$)")
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?) ?(?:ms|MB)$")
_SINCE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

#: What a locked-out run logs (the state handler's exception class).
LOCKED_MARKER = "StateLockedError"


@dataclass
class Invocation:
    request_id: str
    stream: str
    started_ms: int
    lines: list[tuple[int, str]] = field(default_factory=list)
    report: dict[str, str] | None = None

    @property
    def duration_ms(self) -> float | None:
        return _number(self.report, "Duration")

    @property
    def billed_ms(self) -> float | None:
        return _number(self.report, "Billed Duration")

    @property
    def init_ms(self) -> float | None:
        return _number(self.report, "Init Duration")

    @property
    def max_memory_mb(self) -> float | None:
        return _number(self.report, "Max Memory Used")

    @property
    def memory_mb(self) -> float | None:
        return _number(self.report, "Memory Size")

    @property
    def outcome(self) -> str:
        """``ok``, ``error``, ``timeout``, ``skipped`` (another run held the state) or ``running``."""
        text = "\n".join(message for _, message in self.lines)
        status = (self.report or {}).get("Status", "").lower()
        if "Task timed out" in text or status == "timeout":
            return "timeout"
        if LOCKED_MARKER in text:
            return "skipped"
        if self.report is None:
            return "running"
        if status in ("error", "failure") or "[ERROR]" in text or '"errorMessage"' in text:
            return "error"
        return "ok"

    def summary(self) -> str:
        parts = [f"{format_time(self.started_ms)}  {self.outcome:<8}"]
        if self.duration_ms is not None:
            parts.append(f"{self.duration_ms:,.0f} ms")
        details = []
        if self.max_memory_mb is not None and self.memory_mb is not None:
            details.append(f"{self.max_memory_mb:.0f}/{self.memory_mb:.0f} MB")
        if self.init_ms is not None:
            details.append(f"cold start {self.init_ms:,.0f} ms")
        if details:
            parts.append(f"({', '.join(details)})")
        parts.append(f"request {self.request_id}")
        return "  ".join(parts)

    def as_json(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "started": iso(self.started_ms), "outcome": self.outcome,
                "duration_ms": self.duration_ms, "billed_ms": self.billed_ms, "init_ms": self.init_ms,
                "max_memory_mb": self.max_memory_mb, "memory_mb": self.memory_mb, "log_stream": self.stream}


def _number(report: dict[str, str] | None, name: str) -> float | None:
    value = (report or {}).get(name)
    if not value:
        return None
    try:
        return float(value.split()[0])
    except ValueError:
        return None


def parse_report(message: str) -> dict[str, str]:
    """``REPORT RequestId: x\tDuration: 1.2 ms\t…`` -> ``{"Duration": "1.2 ms", …}``."""
    body = message.split("\t", 1)[1] if "\t" in message else message
    return {m["name"].strip(): m["value"].strip() for m in _FIELD.finditer(body)}


def group_invocations(events: Iterable[dict[str, Any]]) -> list[Invocation]:
    """Invocations from log events of any streams (sorted by start); see :func:`split_events`."""
    return split_events(events)[0]


def split_events(events: Iterable[dict[str, Any]]) -> tuple[list[Invocation], list[tuple[int, str, str]]]:
    """(invocations sorted by start, lines outside any invocation as (time, stream, message)).

    The lines before a stream's first ``START`` are that invocation's cold start. Lines between a
    ``REPORT`` and the next ``START`` of the same stream, or after its last ``REPORT``, belong to no
    invocation (a background thread, an extension): they are returned on their own, never dropped
    and never pinned on the next run."""
    by_stream: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_stream.setdefault(str(event.get("logStreamName", "")), []).append(event)
    found: list[Invocation] = []
    outside: list[tuple[int, str, str]] = []
    for stream, stream_events in by_stream.items():
        stream_events.sort(key=lambda e: (int(e.get("timestamp", 0)), str(e.get("eventId", ""))))
        current: Invocation | None = None
        pending: list[tuple[int, str]] = []  # lines before a START: the cold start of the stream's first one
        ran = False  # the stream has had an invocation: lines between runs are outside any

        def claim() -> list[tuple[int, str]]:
            """The pending lines: the cold start of the stream's first run, else outside any run."""
            nonlocal pending
            lines, pending = pending, []
            if ran:
                outside.extend((when, stream, message) for when, message in lines)
                return []
            return lines

        for event in stream_events:
            when, message = int(event.get("timestamp", 0)), str(event.get("message", "")).rstrip("\n")
            start = _START.match(message)
            if start:
                current = Invocation(start["id"], stream, when, claim() + [(when, message)])
                ran = True
                found.append(current)
                continue
            report = _REPORT.match(message)
            if report:
                if current is None or current.request_id != report["id"]:
                    current = Invocation(report["id"], stream, when, claim())
                    found.append(current)
                current.lines.append((when, message))
                current.report = parse_report(message)
                current = None
                ran = True
                continue
            if current is None:
                pending.append((when, message))
            else:
                current.lines.append((when, message))
        outside.extend((when, stream, message) for when, message in pending)
    return sorted(found, key=lambda i: (i.started_ms, i.request_id)), sorted(outside)


# --- time ------------------------------------------------------------------------------------

def format_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds")


def _clock(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def parse_since(value: str, now: datetime | None = None) -> int:
    """``--since`` (``90s``, ``15m``, ``1h``, ``2d``, ``1w`` or an ISO date/time) -> epoch milliseconds."""
    now = now or datetime.now(timezone.utc)
    match = _SINCE.match(value or "")
    if match:
        return int((now - timedelta(seconds=int(match[1]) * _UNITS[match[2]])).timestamp() * 1000)
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise PluginError(f"invalid --since {value!r}.",
                          fix="Use a duration such as 30m, 1h, 2d, or a UTC time such as 2024-05-01T09:00.") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(when.timestamp() * 1000)


# --- the command -----------------------------------------------------------------------------

def render_invocation(invocation: Invocation, filter_text: str | None = None) -> list[str]:
    lines = [f"=== {invocation.summary()}"]
    for when, message in invocation.lines:
        if filter_text and filter_text not in message:
            continue
        first, *rest = message.split("\n")
        lines.append(f"{_clock(when)}  {first}")
        lines += [f"              {more}" for more in rest]
    return lines


def render_outside(lines: list[tuple[int, str, str]], filter_text: str | None = None) -> list[str]:
    """The lines outside any invocation, under their own heading (none: nothing)."""
    kept = [(when, stream, message) for when, stream, message in lines if not filter_text or filter_text in message]
    if not kept:
        return []
    rendered = [f"=== outside any invocation ({len(kept)} line(s): background threads, extensions, shutdown)"]
    for when, stream, message in kept:
        first, *rest = message.split("\n")
        rendered.append(f"{_clock(when)}  {first}  [{stream}]")
        rendered += [f"              {more}" for more in rest]
    return rendered


def show_logs(target: Target, *, since: str = "1h", filter_text: str | None = None, echo: Echo,
              follow: bool = False, poll_seconds: float = 2.0,
              sleep: Callable[[float], None] = time.sleep, stop: Callable[[], bool] | None = None) -> int:
    """Print the log group's invocations since ``since``; returns how many were shown.

    With ``filter_text`` only invocations with a line containing it are shown (their matching
    lines). With ``follow`` it then keeps printing new lines as they arrive until interrupted
    (Ctrl-C) or ``stop()`` is true.
    """
    group = target.names.log_group
    start_ms = parse_since(since)
    target.mask_deployed_secrets(echo)
    mask = target.masker.mask
    if not follow and not target.client.log_group_exists(group):
        raise PluginError(f"log group {group} does not exist: {target.function} has not run yet (or its "
                          "logs were deleted).", fix="Run it with invoke-aws-lambda, or wait for its schedule.")
    events = list(target.client.log_events(group, start_ms=start_ms))
    shown = 0
    invocations, outside = split_events(events)
    for invocation in invocations:
        if filter_text and not any(filter_text in message for _, message in invocation.lines):
            continue
        for line in render_invocation(invocation, filter_text):
            echo(mask(line))
        shown += 1
    for line in render_outside(outside, filter_text):
        echo(mask(line))
    if not follow:
        if not shown:
            echo(f"No invocations in {group} since {format_time(start_ms)}"
                 + (f" with a line containing {filter_text!r}." if filter_text else "."))
        return shown
    echo(f"--- following {group} (Ctrl-C to stop)")
    seen = {str(e.get("eventId")) for e in events}
    last = max((int(e.get("timestamp", 0)) for e in events), default=start_ms)
    while not (stop and stop()):
        sleep(poll_seconds)
        # Events can arrive late and out of order: look back a little, skip what was shown.
        fresh = [e for e in target.client.log_events(group, start_ms=max(start_ms, last - 60_000))
                 if str(e.get("eventId")) not in seen]
        fresh.sort(key=lambda e: (int(e.get("timestamp", 0)), str(e.get("eventId", ""))))
        for event in fresh:
            seen.add(str(event.get("eventId")))
            when, message = int(event.get("timestamp", 0)), str(event.get("message", "")).rstrip("\n")
            last = max(last, when)
            if filter_text and filter_text not in message:
                continue
            if _START.match(message):
                echo(mask(f"=== {format_time(when)}  request {_START.match(message)['id']}"))  # type: ignore[index]
            first, *rest = message.split("\n")
            echo(mask(f"{_clock(when)}  {first}"))
            for more in rest:
                echo(mask(f"              {more}"))
    return shown
