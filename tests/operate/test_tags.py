"""``deploy-aws-lambda --tag KEY=VALUE`` (issue 22, item 5): the user's own tags on every taggable
resource of the bot, saved, changed and removed on redeploy, never touching anybody else's tags.
Read back per resource from the moto server."""
from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from iaf_aws_plugin.errors import PluginError

# Host-independent (the deploy library and the host's click group are the same on every host): one leg.
pytestmark = pytest.mark.anyhost

ACCOUNT, REGION = "123456789012", "eu-west-1"


def tags_of(kind: str, ident: str) -> dict[str, str]:
    """A resource's tags, read with the AWS API of its service (not the plugin's code)."""
    if kind == "lambda":
        return dict(boto3.client("lambda").list_tags(Resource=ident)["Tags"])
    if kind == "iam":
        return {t["Key"]: t["Value"] for t in boto3.client("iam").list_role_tags(RoleName=ident)["Tags"]}
    if kind == "s3":
        s3 = boto3.client("s3")
        try:
            return {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=ident)["TagSet"]}
        except s3.exceptions.ClientError:
            return {}
    if kind == "ecr":
        return {t["Key"]: t["Value"] for t in boto3.client("ecr").list_tags_for_resource(resourceArn=ident)["tags"]}
    if kind == "logs":
        return dict(boto3.client("logs").list_tags_for_resource(resourceArn=ident)["tags"])
    if kind == "sqs":
        sqs = boto3.client("sqs")
        return dict(sqs.list_queue_tags(QueueUrl=sqs.get_queue_url(QueueName=ident)["QueueUrl"]).get("Tags", {}))
    if kind == "sns":
        return {t["Key"]: t["Value"] for t in boto3.client("sns").list_tags_for_resource(ResourceArn=ident)["Tags"]}
    if kind == "cloudwatch":
        return {t["Key"]: t["Value"]
                for t in boto3.client("cloudwatch").list_tags_for_resource(ResourceARN=ident)["Tags"]}
    if kind == "ssm":
        return {t["Key"]: t["Value"] for t in boto3.client("ssm").list_tags_for_resource(
            ResourceType="Parameter", ResourceId=ident)["TagList"]}
    raise AssertionError(kind)


def resources_of(names: Any) -> list[tuple[str, str]]:
    """Every taggable resource a deploy with a schedule, alerts and secrets has."""
    arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}"
    return [("lambda", names.function_arn), ("iam", names.role), ("iam", names.scheduler_role),
            ("s3", names.bucket), ("ecr", arn.format("ecr", f"repository/{names.repository}")),
            ("logs", arn.format("logs", f"log-group:{names.log_group}")), ("sqs", names.dead_letter_queue),
            ("sns", arn.format("sns", names.alert_topic)),
            *[("cloudwatch", arn.format("cloudwatch", f"alarm:{names.function}-iaf-{kind}"))
              for kind in ("errors", "throttles", "missed-runs", "undelivered-runs")],
            *[("ssm", f"{names.ssm_path}{n}") for n in ("BITVAVO_API_KEY", "BITVAVO_SECRET_KEY")]]


def test_tags_reach_every_resource_and_follow_the_settings(bot_project, ecr_image, unique_name, deploy_inprocess):
    first, _ = deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"),
                                schedule="rate(1 hour)", alert_email="me@example.com",
                                tags=("team=quant", "cost-center=1234"))
    assert first.applied
    names = first.names
    resources = resources_of(names)
    for kind, ident in resources:
        found = tags_of(kind, ident)
        assert {k: found.get(k) for k in ("team", "cost-center")} == {"team": "quant", "cost-center": "1234"}, \
            (kind, ident, found)
    assert json.loads((bot_project / "iaf-aws-lambda.json").read_text())["tags"] == {
        "cost-center": "1234", "team": "quant"}

    # Somebody else's tags are never touched.
    boto3.client("lambda").tag_resource(Resource=names.function_arn, Tags={"owner": "ops"})
    boto3.client("s3").put_bucket_tagging(Bucket=names.bucket, Tagging={"TagSet": [
        {"Key": k, "Value": v} for k, v in {**tags_of("s3", names.bucket), "owner": "ops"}.items()]})

    again, recorder = deploy_inprocess(bot_project)  # saved: nothing to change
    assert again.plan.is_noop, [s.describe() for s in again.plan.changes]
    assert recorder.writes == []
    assert any(s.resource == "Tags" and s.action == "unchanged" for s in again.plan.steps)

    changed, _ = deploy_inprocess(bot_project, dry_run=True, tags=("team=research", "stage=paper"))
    from iaf_aws_plugin.deploy.pipeline import plan_document

    assert plan_document(changed)["settings"]["tags"] == {"stage": "paper", "team": "research"}
    step = next(s for s in changed.plan.steps if s.resource == "Tags" and s.name == f"Lambda function {unique_name}")
    assert step.changes == ("+stage=paper", "~team=research", "-cost-center")
    applied, _ = deploy_inprocess(bot_project, tags=("team=research", "stage=paper"))
    assert applied.applied
    for kind, ident in resources:
        found = tags_of(kind, ident)
        assert found.get("team") == "research" and found.get("stage") == "paper", (kind, ident, found)
        assert "cost-center" not in found, (kind, ident, found)
        assert found.get("managed-by", "iaf-aws-plugin") == "iaf-aws-plugin"
    assert tags_of("lambda", names.function_arn)["owner"] == "ops"
    assert tags_of("s3", names.bucket)["owner"] == "ops"

    deploy_inprocess(bot_project, tags=("none",))
    for kind, ident in resources:
        assert not {"team", "stage", "cost-center"} & set(tags_of(kind, ident)), (kind, ident)
    assert tags_of("lambda", names.function_arn)["owner"] == "ops"
    assert tags_of("s3", names.bucket) == {"owner": "ops"}
    assert "tags" not in json.loads((bot_project / "iaf-aws-lambda.json").read_text())


@pytest.mark.parametrize("given, said", [
    (("team",), "expected KEY=VALUE"),
    (("=x",), "a tag key has 1 to 128 characters"),
    (("k" * 129 + "=x",), "a tag key has 1 to 128 characters"),
    (("team=" + "v" * 257,), "a tag value has at most 256 characters"),
    (("team=a,b",), "',' is not allowed in a tag"),
    (("aws:team=x",), "reserved for AWS"),
    (("managed-by=me",), "the deploy's own tag"),
    (tuple(f"k{i}=v" for i in range(50)), "at most 49"),
])
def test_bad_tags_are_one_line(given, said):
    from iaf_aws_plugin.deploy.tags import parse_tag_options

    with pytest.raises(PluginError) as caught:
        parse_tag_options(given)
    assert said in caught.value.message and "\n" not in caught.value.message


def test_good_tags_pass_botocores_own_patterns():
    """What validate_tags lets through matches every service model's tag patterns (Java's \\p{} classes
    read as Unicode categories)."""
    import re
    import unicodedata

    import botocore.session

    from iaf_aws_plugin.deploy.tags import parse_tag_options

    tags = parse_tag_options(["Team Name=Quant désk", "a.b:c/d=e+f-g@h_", "empty="])
    model = botocore.session.get_session().get_service_model("logs").operation_model("TagResource")
    shape = model.input_shape.members["tags"]
    for text, meta in [(k, shape.key.metadata) for k in tags] + [(v, shape.value.metadata) for v in tags.values()]:
        assert meta.get("min", 0) <= len(text) <= meta["max"]
        assert "\\p{L}\\p{Z}\\p{N}_.:/=+\\-@" in meta["pattern"]
        assert all(unicodedata.category(c)[0] in "LZN" or re.match(r"[_.:/=+\-@]", c) for c in text)
