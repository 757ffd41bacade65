"""--provisioned-concurrency: planned on the alias, priced in the plan. moto does not implement
Lambda's provisioned concurrency API (it answers 404), so the apply is checked as planned calls."""
from __future__ import annotations

from dataclasses import replace

import pytest

from iaf_aws_plugin.deploy.desired import Names, build_desired
from iaf_aws_plugin.deploy.planner import plan_deploy, plan_provisioned_concurrency
from iaf_aws_plugin.deploy.remote import LiveState


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
