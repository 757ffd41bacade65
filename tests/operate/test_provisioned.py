"""--provisioned-concurrency: planned on the alias, priced in the plan. moto does not implement
Lambda's provisioned concurrency API (it answers 404), so the apply is checked as planned calls."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from iaf_aws_plugin.deploy.desired import Names, build_desired
from iaf_aws_plugin.deploy.planner import plan_deploy, plan_provisioned_concurrency
from iaf_aws_plugin.deploy.remote import LiveState

pytestmark = pytest.mark.anyhost  # our planner and in-process deploys against moto: nothing of the host


def desired(provisioned: int | None):
    names = Names.derive("123456789012", "eu-west-1", "bot")
    state = build_desired(names, memory_size=1024, timeout=60, architecture="x86_64", plain_env={}, secrets={},
                          image_uri="123456789012.dkr.ecr.eu-west-1.amazonaws.com/r@sha256:" + "a" * 64,
                          role_arn=None, schedule="rate(1 hour)", timezone="UTC", builder=None)
    return replace(state, provisioned_concurrency=provisioned)


def test_provisioned_concurrency_steps():
    assert plan_provisioned_concurrency(desired(None), LiveState()) == []  # never chosen: not managed
    create = plan_provisioned_concurrency(desired(1), LiveState())
    assert [(s.action, s.calls[0].method, dict(s.calls[0].params)) for s in create] == [
        ("create", "put_provisioned_concurrency", {"function": "bot", "qualifier": "live", "count": 1})]
    same = plan_provisioned_concurrency(desired(1), LiveState(alias_version="3", provisioned_concurrency=1))
    assert [s.action for s in same] == ["unchanged"]
    removed = plan_provisioned_concurrency(desired(0), LiveState(alias_version="3", provisioned_concurrency=1))
    assert [(s.action, s.calls[0].method) for s in removed] == [("delete", "delete_provisioned_concurrency")]
    assert plan_provisioned_concurrency(desired(0), LiveState(alias_version="3")) == []
    # after the alias in the whole plan (it provisions the alias's version)
    steps = [s.resource for s in plan_deploy(desired(1), LiveState()).steps]
    assert steps.index("Provisioned concurrency") > steps.index("Lambda alias")


def test_more_than_the_reserved_concurrency_is_refused(bot_project, unique_name, deploy_inprocess):
    from iaf_aws_plugin.errors import PluginError

    with pytest.raises(PluginError, match="invalid --provisioned-concurrency 2: the bot reserves a concurrency of 1"):
        deploy_inprocess(bot_project, function_name=unique_name, image_uri="x", provisioned_concurrency=2)


def test_provisioned_concurrency_is_priced_in_the_plan(bot_project, ecr_image, unique_name, deploy_inprocess):
    _, recorder = deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"),
                                   provisioned_concurrency=1, dry_run=True)
    text = "\n".join(recorder.lines)
    assert "create  Provisioned concurrency" in text
    assert "Provisioned concurrency" in text.split("Estimated monthly cost")[1]
    assert "Lambda compute (provisioned)" in text


QUOTA_REFUSAL = ("Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
                 "below its minimum value of [10].")


def _lambda_error(code: str, message: str, status: int = 400) -> dict:
    return {"status": status, "headers": [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)],
            "body": json.dumps({"Type": "User", "message": message}).encode()}


def test_a_quota_refusal_is_deferred_and_status_shows_a_failed_allocation(
        bot_project, ecr_image, unique_name, deploy_inprocess, aws_env, monkeypatch):
    """Lambda's answers to the provisioned-concurrency API (moto has none) come from a loopback
    proxy in front of the emulator, in AWS's error shape; nothing of ours is patched."""
    from iaf_aws_plugin.operate.status import collect_status, render_status
    from iaf_aws_plugin.operate.target import TargetOptions, resolve_target

    from .test_invoke import _fault_proxy_module

    image = ecr_image("v1")
    proxy = _fault_proxy_module().FaultProxy(aws_env["AWS_ENDPOINT_URL"])
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    provisioned = "/provisioned-concurrency"
    try:
        proxy.add("answer", lambda r: r.method == "GET" and r.path.endswith(provisioned), times=None,
                  **_lambda_error("ProvisionedConcurrencyConfigNotFoundException", "No Provisioned Concurrency Config "
                                  "found for this function", 404))
        refusal = proxy.add("answer", lambda r: r.method == "PUT" and r.path.endswith(provisioned), times=None,
                            **_lambda_error("InvalidParameterValueException", QUOTA_REFUSAL))
        result, recorder = deploy_inprocess(bot_project, function_name=unique_name, image_uri=image,
                                            provisioned_concurrency=1)
        assert result.applied and refusal.hits == 1
        warning = next(w for w in recorder.warnings if "leaves nothing to provision" in w)
        assert f"{unique_name}:live runs without 1 provisioned (warm) instance(s) for now" in warning
        assert "request a higher 'Concurrent executions' quota" in warning
        assert any(line.startswith("Not applied yet (the next deploy retries): the account's Lambda concurrency quota "
                                   "leaves nothing to provision") for line in recorder.lines), recorder.lines
        # The next deploy plans it again (and retries it).
        again, _ = deploy_inprocess(bot_project, dry_run=True)
        assert [(s.resource, s.action) for s in again.plan.changes] == [("Provisioned concurrency", "create")]

        # Another refusal is not deferred: one line, the deploy stops.
        proxy.clear()
        proxy.add("answer", lambda r: r.method == "GET" and r.path.endswith(provisioned), times=None,
                  **_lambda_error("ProvisionedConcurrencyConfigNotFoundException", "none", 404))
        proxy.add("answer", lambda r: r.method == "PUT" and r.path.endswith(provisioned), times=None,
                  **_lambda_error("InvalidParameterValueException", "Alias live points at $LATEST."))
        from iaf_aws_plugin.errors import PluginError

        with pytest.raises(PluginError, match=r"Provisioning 1 warm instance\(s\).*Alias live points at \$LATEST"):
            deploy_inprocess(bot_project)

        # A configuration whose allocation failed: status shows its Status and StatusReason.
        proxy.clear()
        proxy.add("answer", lambda r: r.method == "GET" and r.path.endswith(provisioned), times=None, status=200,
                  headers=[("Content-Type", "application/json")], body=json.dumps({
                      "RequestedProvisionedConcurrentExecutions": 1, "AvailableProvisionedConcurrentExecutions": 0,
                      "AllocatedProvisionedConcurrentExecutions": 0, "Status": "FAILED",
                      "StatusReason": "FUNCTION_ERROR_INIT_FAILURE: the init of the function failed",
                      "LastModified": "2026-12-06T10:00:00+0000"}).encode())
        status = collect_status(resolve_target(TargetOptions(project_dir=bot_project)), invocations=0)
        assert status["provisioned"] == {"requested": 1, "allocated": 0, "status": "FAILED",
                                         "reason": "FUNCTION_ERROR_INIT_FAILURE: the init of the function failed"}
        line = next(x for x in render_status(status) if x.startswith("Provisioned"))
        assert line.startswith("Provisioned  1 requested, 0 allocated: FAILED (FUNCTION_ERROR_INIT_FAILURE: the init "
                               "of the function failed); runs start cold"), line
        # None configured: no line.
        proxy.clear()
        proxy.add("answer", lambda r: r.method == "GET" and r.path.endswith(provisioned), times=None,
                  **_lambda_error("ProvisionedConcurrencyConfigNotFoundException", "none", 404))
        status = collect_status(resolve_target(TargetOptions(project_dir=bot_project)), invocations=0)
        assert status["provisioned"] is None
        assert not [x for x in render_status(status) if x.startswith("Provisioned")]
    finally:
        proxy.close()
