"""deploy-aws-lambda with the native builder, through the real host CLI, against moto: the image
is built before planning, so a redeploy of an unchanged project plans nothing and uploads nothing."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

# The native builder (as every builder test) on a tiny project without the host: one leg suffices.
pytestmark = [pytest.mark.host, pytest.mark.anyhost]


def deploy(host_cli, project: Path, *args: str):
    result = host_cli(["deploy-aws-lambda", *args], cwd=project)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_native_deploy_then_noop_then_code_change(host_cli, aws_env, offline_pip, tiny_project, tiny_base,
                                                  unique_name, tmp_path):
    import boto3

    layout = tmp_path / "oci"
    first = deploy(host_cli, tiny_project, "--lambda-function-name", unique_name, "--base-image", tiny_base,
                   "--output", f"oci:{layout}", "--schedule", "none", "--yes")
    assert "Builder: native (auto: the Dockerfile only installs requirements.txt and copies the project" in first
    assert "(pushed to ECR when the plan is applied)" in first
    assert "Largest packages" in first and "Byte code: compiled" in first
    digest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    function = boto3.client("lambda").get_function(FunctionName=unique_name)
    assert function["Code"]["ImageUri"].endswith("@" + digest)
    saved = json.loads((tiny_project / "iaf-aws-lambda.json").read_text())
    assert saved["builder"] == "auto" and saved["base_image"] == tiny_base and saved["output"] == f"oci:{layout}"

    again = deploy(host_cli, tiny_project, "--yes")  # saved settings, nothing changed
    assert "already in ECR: nothing to upload" in again and "Nothing to change" in again, again
    assert "Uploading layer" not in again

    (tiny_project / "strategies" / "my_strategy.py").write_text("NAME = 'v2'\n")
    changed = deploy(host_cli, tiny_project, "--yes")
    uploads = [line for line in changed.splitlines() if line.startswith("Uploading layer")]
    assert len(uploads) == 2, changed  # the app layer and the config, nothing else
    new_digest = boto3.client("lambda").get_function(FunctionName=unique_name)["Code"]["ImageUri"].split("@")[1]
    assert new_digest != digest


def test_auto_with_a_dockerfile_that_needs_docker_and_no_docker_is_one_line(host_cli, aws_env, offline_pip,
                                                                             tiny_project, unique_name, tmp_path):
    dockerfile = tiny_project / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "RUN dnf install -y libgomp\n")
    result = host_cli(["deploy-aws-lambda", "--lambda-function-name", unique_name, "--yes"], cwd=tiny_project,
                      env={"PATH": str(tmp_path / "empty-bin")})
    assert result.returncode == 1
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "RUN dnf install -y libgomp" in errors[0] and "--builder native" in errors[0]
    assert "Traceback" not in result.stderr
