"""init-aws-lambda --ci github: the workflow parsed as YAML, and docs/ci.md's role policies compared with the
permission preflight's own action list."""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.anyhost

ROOT = Path(__file__).parents[2]


def _block(page: str, name: str) -> str:
    match = re.search(rf"<!-- BEGIN GENERATED: {name} -->\n```\w+\n(.*?)```\n<!-- END GENERATED: {name} -->",
                      page, re.DOTALL)
    assert match, name
    return match.group(1)


def test_init_writes_a_github_workflow_with_oidc(host_cli, tmp_path):
    from iaf_aws_plugin.ci import ROLE_ARN_PLACEHOLDER, WORKFLOW_PATH
    from iaf_aws_plugin.commands.deploy import deploy_aws_lambda

    project = tmp_path / "my-bot"
    result = host_cli(["init-aws-lambda", "--path", str(project), "--ci", "github"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"created  {WORKFLOW_PATH}" in result.stdout
    text = (project / WORKFLOW_PATH).read_text()
    workflow = yaml.safe_load(text)
    assert workflow[True]["push"]["branches"] == ["main"]  # YAML 1.1 reads the key `on` as true
    assert workflow["permissions"] == {"id-token": "write", "contents": "read"}
    steps = workflow["jobs"]["deploy"]["steps"]
    credentials = [s for s in steps if str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@")]
    assert len(credentials) == 1 and credentials[0]["with"]["role-to-assume"] == ROLE_ARN_PLACEHOLDER
    assert "aws-access-key-id" not in credentials[0]["with"]  # OIDC only, no stored key
    runs = [s["run"] for s in steps if "run" in s]
    deploys = [shlex.split(run.split(">")[0]) for run in runs if "deploy-aws-lambda" in run]
    assert deploys[-1][1:] == ["deploy-aws-lambda", "--yes"]
    for words in deploys:  # every flag the workflow passes exists
        deploy_aws_lambda.make_context("deploy-aws-lambda", words[2:])
    # docs/ci.md shows the same workflow.
    assert _block((ROOT / "docs" / "ci.md").read_text(), "ci-workflow") == text

    (project / WORKFLOW_PATH).write_text("# mine\n")
    again = host_cli(["init-aws-lambda", "--path", str(project), "--ci", "github"], cwd=tmp_path)
    assert again.returncode == 0 and (project / WORKFLOW_PATH).read_text() == "# mine\n"

    unknown = host_cli(["init-aws-lambda", "--path", str(project), "--ci", "jenkins"], cwd=tmp_path)
    assert unknown.returncode == 2 and "Invalid value for '--ci': 'jenkins'" in unknown.stderr


def test_a_stage_gets_its_own_workflow_that_deploys_that_stage(host_cli, tmp_path):
    from iaf_aws_plugin.commands.deploy import deploy_aws_lambda

    project = tmp_path / "my-bot"
    for stage in ("paper", "live"):
        result = host_cli(["init-aws-lambda", "--path", str(project), "--ci", "github", "--stage", stage],
                          cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert f"created  .github/workflows/deploy-aws-lambda-{stage}.yml" in result.stdout, result.stdout
    groups = set()
    for stage in ("paper", "live"):
        workflow = yaml.safe_load((project / f".github/workflows/deploy-aws-lambda-{stage}.yml").read_text())
        groups.add(workflow["concurrency"]["group"])
        runs = [s["run"] for s in workflow["jobs"]["deploy"]["steps"] if "run" in s]
        deploys = [shlex.split(run.split(">")[0]) for run in runs if "deploy-aws-lambda" in run]
        assert deploys[-1][1:] == ["deploy-aws-lambda", "--stage", stage, "--yes"]
        for words in deploys:
            deploy_aws_lambda.make_context("deploy-aws-lambda", words[2:])
    assert len(groups) == 2  # paper's deploy never waits for live's, nor cancels it
    assert not (project / ".github/workflows/deploy-aws-lambda.yml").exists()

    alone = host_cli(["init-aws-lambda", "--path", str(tmp_path / "other"), "--stage", "live"], cwd=tmp_path)
    assert alone.returncode == 1 and "it needs --ci" in alone.stderr and not (tmp_path / "other").exists()
    bad = host_cli(["init-aws-lambda", "--path", str(tmp_path / "other"), "--ci", "github", "--stage", "Live!"],
                   cwd=tmp_path)
    assert bad.returncode == 1 and "invalid --stage 'Live!'" in bad.stderr and not (tmp_path / "other").exists()


def test_docs_ci_policies_are_the_preflights():
    from iaf_aws_plugin.ci import ci_specs
    from iaf_aws_plugin.deploy.models import Spec
    from iaf_aws_plugin.deploy.names import Names
    from iaf_aws_plugin.deploy.preflight import actions_for

    page = (ROOT / "docs" / "ci.md").read_text()
    trust = json.loads(_block(page, "ci-trust-policy"))
    (statement,) = trust["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"].endswith(":oidc-provider/token.actions.githubusercontent.com")
    assert statement["Condition"]["StringEquals"] == {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": "repo:my-org/my-bot:ref:refs/heads/main"}

    policy = json.loads(_block(page, "ci-deploy-policy"))
    names = Names.derive("123456789012", "eu-west-1", "my-bot")
    granted = {(s["Resource"], a) for s in policy["Statement"] for a in s["Action"]}
    expected = {(g.resource, a) for spec in ci_specs(names) for g in actions_for(spec) for a in g.actions}
    assert granted == expected and len(granted) > 20
    # Every smaller deploy the bot may run needs nothing more.
    for spec in (Spec(names), Spec(names, schedule="rate(5 minutes)"), Spec(names, alert_email="none"),
                 Spec(names, builds=True, with_secrets=False), Spec(names, provisioned_concurrency=0),
                 Spec(names, schedule="cron(0 9 * * ? *)", timezone="Europe/Amsterdam", alert_email="a@b.example")):
        needed = {(g.resource, a) for g in actions_for(spec) for a in g.actions}
        assert needed <= granted, sorted(needed - granted)
