"""``status-aws-lambda``: everything about a deployed bot on one screen (or as JSON).

Each part is read on its own; a part that is missing (or cannot be read) is shown as such with
the reason, and the other parts are still shown.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

from ..errors import PluginError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .target import Target

Echo = Callable[[str], None]
#: How far back status looks for invocations in the log group.
LOOKBACK_DAYS = 7
#: CloudWatch Logs filter pattern of Lambda's REPORT lines: one per finished run.
REPORT_PATTERN = '"REPORT RequestId"'


def _part(read: Callable[[], Any]) -> Any:
    """Run one read; an expected failure becomes ``{"error": "..."}`` instead of stopping status."""
    from ..state.errors import StateError

    try:
        return read()
    except (PluginError, StateError) as exc:
        return {"error": str(exc)}


def _digest(image_uri: str) -> str | None:
    return image_uri.rsplit("@", 1)[1] if "@" in image_uri else None


def collect_status(target: Target, *, invocations: int = 5, now: datetime | None = None) -> dict[str, Any]:
    """The status as plain data (what ``--json`` prints)."""
    from ..deploy.models import RESERVED_CONCURRENCY
    from ..deploy.names import ALIAS, SCHEDULE_GROUP
    from ..schedules.nextrun import next_run
    from .logs import group_invocations
    from .state import as_json, state_location

    now = now or datetime.now(timezone.utc)
    client, names = target.client, target.names
    status: dict[str, Any] = {"function_name": names.function, "region": names.region, "account": names.account}

    def function() -> dict[str, Any] | None:
        """The configuration and image of the version the alias runs (``$LATEST`` without an alias)."""
        latest = client.get_function(names.function)
        if latest is None:
            return None
        alias = client.get_alias(names.function, ALIAS)
        version = str(alias["FunctionVersion"]) if alias else "$LATEST"
        found = client.get_function(names.function, version) if version != "$LATEST" else latest
        config, code = (found or latest)["Configuration"], (found or latest).get("Code", {})
        image = str(code.get("ImageUri", ""))
        latest_config = latest["Configuration"]
        return {"state": config.get("State"), "state_reason": config.get("StateReason"),
                "last_update_status": latest_config.get("LastUpdateStatus"),
                "last_update_reason": latest_config.get("LastUpdateStatusReason"),
                "last_modified": config.get("LastModified"), "version": version,
                "image_uri": image, "image_digest": _digest(image),
                "memory_mb": config.get("MemorySize"), "timeout_s": config.get("Timeout"),
                "architecture": (config.get("Architectures") or ["x86_64"])[0],
                "alias": alias, "versions": [str(v["Version"]) for v in client.list_versions(names.function)]
                if alias else []}

    status["function"] = _part(function)
    exists = isinstance(status["function"], dict) and "error" not in status["function"]

    def alias() -> dict[str, Any] | None:
        fn = status["function"]
        found = fn.pop("alias", None) if exists else None
        versions = fn.pop("versions", []) if exists else []
        if found is None:
            return None
        return {"name": ALIAS, "version": str(found["FunctionVersion"]), "kept_versions": versions,
                "image_digest": fn["image_digest"]}

    status["alias"] = _part(alias)

    def concurrency() -> dict[str, Any]:
        reserved = client.get_function_concurrency(names.function) if exists else None
        if reserved is None:
            why = ("the function does not exist" if not exists else
                   "none reserved: the account's concurrency quota may be too low; the S3 state lease still "
                   f"keeps runs single (deploy-aws-lambda tries to reserve {RESERVED_CONCURRENCY} again)")
            return {"reserved": None, "why": why}
        return {"reserved": reserved}

    status["concurrency"] = _part(concurrency)

    def provisioned() -> dict[str, Any] | None:
        """The alias's provisioned concurrency and how its allocation went (None: none configured)."""
        found = client.provisioned_concurrency_config(names.function, ALIAS) if status["alias"] else None
        if not found:
            return None
        return {"requested": found.get("RequestedProvisionedConcurrentExecutions"),
                "allocated": found.get("AllocatedProvisionedConcurrentExecutions"),
                "status": found.get("Status"), "reason": found.get("StatusReason")}

    status["provisioned"] = _part(provisioned)

    def schedule() -> dict[str, Any] | None:
        found = client.describe_schedule(names.schedule, SCHEDULE_GROUP)
        if found is None:
            return None
        expression = str(found.get("ScheduleExpression", ""))
        zone = str(found.get("ScheduleExpressionTimezone") or "UTC")
        start = found.get("StartDate") or found.get("CreationDate")
        when = next_run(expression, zone, now, start=start) if found.get("State", "ENABLED") == "ENABLED" else None
        from ..schedules.pause import paused_since

        return {"name": names.schedule, "expression": expression, "timezone": zone, "state": found.get("State"),
                "next_run": when.isoformat() if when else None,
                "paused_since": paused_since(found.get("Description"), found.get("State") == "ENABLED")}

    status["schedule"] = _part(schedule)

    def keep_active() -> dict[str, Any] | None:
        """The weekly ping of a schedule whose runs are over 7 days apart (None: none)."""
        found = client.describe_schedule(names.keep_active_schedule, SCHEDULE_GROUP)
        if found is None:
            return None
        return {"name": names.keep_active_schedule, "expression": found.get("ScheduleExpression"),
                "timezone": found.get("ScheduleExpressionTimezone") or "UTC", "state": found.get("State")}

    status["keep_active"] = _part(keep_active)

    def undelivered() -> dict[str, Any] | None:
        """Runs EventBridge Scheduler could not deliver: the depth of the dead-letter queue."""
        depth = client.queue_depth(names.dead_letter_queue)
        return None if depth is None else {"queue": names.dead_letter_queue, "runs": depth}

    status["undelivered"] = _part(undelivered)

    def recent() -> list[dict[str, Any]] | dict[str, Any]:
        """The last runs: found by their REPORT lines (a filter pattern: only those are read over
        the look-back), then only the lines of their own streams around them."""
        if not client.log_group_exists(names.log_group):
            return {"error": f"log group {names.log_group} does not exist (the function has not run yet)"}
        if invocations <= 0:
            return []
        start_ms = int((now.timestamp() - LOOKBACK_DAYS * 86400) * 1000)
        reports = sorted((e for e in client.log_events(names.log_group, start_ms=start_ms, pattern=REPORT_PATTERN)
                          if str(e.get("message", "")).startswith("REPORT RequestId:")),
                         key=lambda e: int(e.get("timestamp", 0)))[-invocations:]
        if not reports:
            return []
        fn = status["function"]
        timeout_s = int(fn.get("timeout_s") or 900) if exists else 900
        first, last = int(reports[0]["timestamp"]), int(reports[-1]["timestamp"])
        streams = sorted({str(e.get("logStreamName")) for e in reports})
        events = client.log_events(names.log_group, start_ms=max(start_ms, first - (timeout_s + 60) * 1000),
                                   end_ms=last + 1, streams=streams)
        wanted = {str(e["message"]).split()[2] for e in reports}
        return [i.as_json() for i in group_invocations(events) if i.request_id in wanted][-invocations:]

    status["invocations"] = _part(recent)

    def metrics() -> dict[str, Any]:
        from .metrics import read_metrics

        return read_metrics(client, names.function, now)

    status["metrics"] = _part(metrics)

    def state() -> dict[str, Any]:
        from ..state.admin import current_state, lease_status

        location = state_location(target)
        s3 = target.s3_client()
        return {"location": location.url,
                "snapshot": as_json(current_state(location.bucket, s3, prefix=location.prefix)),
                "lease": as_json(lease_status(location.bucket, s3, prefix=location.prefix,
                                              default_timeout=location.lease_timeout))}

    status["state"] = _part(state)

    def alerts() -> dict[str, Any] | None:
        found = client.live_alerts(names.alert_topic, names.arn("sns", names.alert_topic), names.alarm_prefix)
        if found is None:
            return None
        theirs = sorted({str(a) for alarm in found.alarms.values() for a in alarm.get("AlarmActions") or []}
                        - {names.arn("sns", names.alert_topic)})
        return {"topic": found.topic_arn, "emails": list(found.emails), "pending": list(found.pending),
                "your_topics": theirs,
                "alarms": {name: alarm.get("StateValue") for name, alarm in sorted(found.alarms.items())}}

    status["alerts"] = _part(alerts)
    return status


def render_status(status: dict[str, Any]) -> list[str]:
    from .logs import format_time
    from ..files import human_size

    def missing(part: Any, what: str) -> str | None:
        if part is None:
            return f"missing ({what})"
        if isinstance(part, dict) and "error" in part:
            return f"unknown: {part['error']}"
        return None

    lines = [f"Bot          {status['function_name']} (account {status['account']}, region {status['region']})"]
    fn = status["function"]
    problem = missing(fn, "not deployed: run deploy-aws-lambda")
    if problem:
        lines.append(f"Function     {problem}")
    else:
        state = f"{fn['state']}, last update {fn['last_update_status']}"
        reason = fn.get("state_reason") or fn.get("last_update_reason")
        lines.append(f"Function     {state}" + (f" ({reason})" if reason and fn['state'] != "Active" else "")
                     + f", modified {fn['last_modified']}")
        runs = f" (version {fn['version']}, the one the alias runs)" if fn.get("version", "$LATEST") != "$LATEST" else ""
        lines.append(f"Image        {fn['image_uri']}{runs}")
        lines.append(f"Config       memory {fn['memory_mb']} MB, timeout {fn['timeout_s']} s, {fn['architecture']}")
    alias = status["alias"]
    problem = missing(alias, "no alias: the schedule has nothing to run")
    if problem:
        lines.append(f"Alias        {problem}")
    else:
        lines.append(f"Alias        {alias['name']} -> version {alias['version']} "
                     f"(image {alias['image_digest'] or '?'}; kept versions: "
                     f"{', '.join(alias['kept_versions']) or 'none'})")
    conc = status["concurrency"]
    if isinstance(conc, dict) and "error" in conc:
        lines.append(f"Concurrency  unknown: {conc['error']}")
    elif conc.get("reserved") is None:
        lines.append(f"Concurrency  {conc['why']}")
    else:
        lines.append(f"Concurrency  reserved {conc['reserved']} (one run at a time)")
    warm = status.get("provisioned")
    if isinstance(warm, dict) and "error" in warm:
        lines.append(f"Provisioned  unknown: {warm['error']}")
    elif isinstance(warm, dict):
        lines.append(f"Provisioned  {warm['requested']} requested, {warm['allocated'] or 0} allocated: {warm['status']}"
                     + (f" ({warm['reason']})" if warm.get("reason") else "")
                     + ("; runs start cold until it is READY (deploy-aws-lambda --provisioned-concurrency 0 removes "
                        "it)" if warm["status"] == "FAILED" else ""))
    sched = status["schedule"]
    problem = missing(sched, "the bot does not run by itself; deploy-aws-lambda --schedule sets one")
    if problem:
        lines.append(f"Schedule     {problem}")
    else:
        nxt = sched["next_run"]
        if sched.get("paused_since"):
            lines.append(f"Schedule     {sched['expression']} ({sched['timezone']}), PAUSED since "
                         f"{sched['paused_since']} (resume-aws-lambda starts it)")
        else:
            lines.append(f"Schedule     {sched['expression']} ({sched['timezone']}), {sched['state']}; next run "
                         + (datetime.fromisoformat(nxt).strftime("%Y-%m-%d %H:%M %Z").strip() if nxt else "not computed"))
    ping = status.get("keep_active")
    if isinstance(ping, dict) and "error" in ping:
        lines.append(f"Keep-active  unknown: {ping['error']}")
    elif isinstance(ping, dict):
        lines.append(f"Keep-active  {ping['expression']} ({ping['timezone']}), {ping['state']}: a weekly ping that "
                     "keeps the function from going Inactive (no state loaded, nothing traded)")
    lost = status.get("undelivered")
    if isinstance(lost, dict) and "error" in lost:
        lines.append(f"Undelivered  unknown: {lost['error']}")
    elif isinstance(lost, dict):
        lines.append(f"Undelivered  {lost['runs']} run(s) in the dead-letter queue {lost['queue']}"
                     + (" (the scheduler could not invoke the function: look at them in the SQS console)"
                        if lost["runs"] else ""))
    inv = status["invocations"]
    if isinstance(inv, dict):
        lines.append(f"Invocations  {inv['error']}")
    elif not inv:
        lines.append(f"Invocations  none in the last {LOOKBACK_DAYS} days")
    else:
        lines.append(f"Invocations  last {len(inv)} (from the REPORT lines of its log group):")
        for item in inv:
            duration = f"{item['duration_ms']:,.0f} ms" if item["duration_ms"] is not None else "-"
            cold = f"  cold start {item['init_ms']:,.0f} ms" if item["init_ms"] else ""
            started = format_time(int(datetime.fromisoformat(item["started"]).timestamp() * 1000))
            lines.append(f"  {started}  {item['outcome']:<8} {duration:>10}{cold}  request {item['request_id']}")
    lines += _metrics_lines(status.get("metrics"))
    st = status["state"]
    if isinstance(st, dict) and "error" in st:
        lines.append(f"State        unknown: {st['error']}")
    else:
        snap = st["snapshot"]
        if snap["generation"] is None:
            extra = f" ({snap['legacy_files']} plain files of the host's handler)" if snap["legacy_files"] else ""
            lines.append(f"State        {st['location']}: no snapshot yet{extra}")
        else:
            lines.append(f"State        {st['location']}: snapshot {snap['generation']} saved {snap['saved_at']}, "
                         f"{snap['files']} files, {human_size(snap['size'])}")
        lease = st["lease"]
        text = {"none": "never taken", "free": f"free (last released by {lease['holder']} at {lease['since']})",
                "held": f"HELD by {lease['holder']} since {lease['since']} until {lease['until']} (a run is going on)",
                "expired": f"expired (taken by {lease['holder']} at {lease['since']}; that run crashed or was "
                           "killed, the next run takes it over)"}[lease["state"]]
        lines.append(f"Lease        {text}")
    al = status.get("alerts")
    problem = missing(al, "deploy-aws-lambda --alert-email ADDRESS sets them up")
    if problem or al is None:
        lines.append(f"Alerts       {problem}")
    else:
        who = ", ".join(al["emails"] + [f"{e} (not confirmed yet)" for e in al["pending"]]
                        + [f"your topic {t}" for t in al.get("your_topics", [])]) or "nobody subscribed"
        alarms = ", ".join(f"{n.rsplit('-iaf-', 1)[-1]} {s}" for n, s in al["alarms"].items()) or "no alarms"
        lines.append(f"Alerts       to {who}; {alarms}")
    return lines


def _metrics_lines(part: Any) -> list[str]:
    from .metrics import render_metrics

    if part is None:
        return []
    if "error" in part:
        return [f"Last 24 h    unknown: {part['error']}"]
    return [f"Last 24 h    {render_metrics(part)} (CloudWatch)"]


def show_status(target: Target, *, echo: Echo, as_json_output: bool = False, invocations: int = 5) -> dict[str, Any]:
    import json

    status = collect_status(target, invocations=invocations)
    if as_json_output:
        echo(target.masker.mask(json.dumps(status, indent=2, default=str)))
    else:
        for line in render_status(status):
            echo(target.masker.mask(line))
    return status


