"""Pure schedule code, shared by the deploy, the operate commands and the cost estimate: the
EventBridge Scheduler grammar (:mod:`.expressions`), when an expression fires next
(:mod:`.nextrun`) and the schedule a project's strategies need (:mod:`.strategy_scan`).

No AWS call and no import of :mod:`iaf_aws_plugin.deploy` here; the package itself imports nothing.
"""
