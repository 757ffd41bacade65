"""Grouping log events into invocations, on in-memory events: lines outside any invocation (a
background thread between runs, after the last one) are kept under their own heading."""
from __future__ import annotations

import pytest

from iaf_aws_plugin.operate.logs import render_outside, split_events

pytestmark = pytest.mark.anyhost


def event(when: int, message: str, stream: str = "s1") -> dict:
    return {"timestamp": when, "message": message + "\n", "logStreamName": stream, "eventId": f"{stream}-{when}"}


def test_lines_between_runs_are_outside_any_invocation_not_the_next_runs():
    events = [
        event(1, "INIT_START Runtime Version: python:3.12"),
        event(2, "START RequestId: a Version: 1"),
        event(3, "bought"),
        event(4, "END RequestId: a"),
        event(5, "REPORT RequestId: a\tDuration: 10 ms\tBilled Duration: 10 ms"),
        event(6, "heartbeat from a thread"),
        event(7, "START RequestId: b Version: 1"),
        event(8, "REPORT RequestId: b\tDuration: 5 ms"),
        event(9, "flushing on shutdown"),
        event(3, "lonely line", stream="s2"),
    ]
    invocations, outside = split_events(events)
    assert [i.request_id for i in invocations] == ["a", "b"]
    assert invocations[0].lines[0][1].startswith("INIT_START")  # the cold start stays with the first run
    assert [m for _, m in invocations[1].lines] == ["START RequestId: b Version: 1", "REPORT RequestId: b\tDuration: 5 ms"]
    assert outside == [(3, "s2", "lonely line"), (6, "s1", "heartbeat from a thread"), (9, "s1", "flushing on shutdown")]
    rendered = render_outside(outside)
    assert rendered[0] == "=== outside any invocation (3 line(s): background threads, extensions, shutdown)"
    assert rendered[2].endswith("heartbeat from a thread  [s1]")
    assert render_outside(outside, "shutdown")[1].endswith("flushing on shutdown  [s1]")
    assert render_outside([], None) == []
