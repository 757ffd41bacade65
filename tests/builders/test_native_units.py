"""Pure parts of the native builder: .dockerignore rules, references, Dockerfile reading,
platform tags, the plugin wheel."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from iaf_aws_plugin.builders.native.dependencies import platform_tags
from iaf_aws_plugin.builders.native.dockerfile import python_version_of, read_dockerfile
from iaf_aws_plugin.builders.native.layers import DockerIgnore
from iaf_aws_plugin.builders.native.reference import parse_reference
from iaf_aws_plugin.errors import PluginError

pytestmark = pytest.mark.anyhost  # the result does not depend on the host version: CI runs it in one leg


@pytest.mark.parametrize("path, excluded", [
    (".env", True), (".env.local", True), (".env.example", False), ("data", True), ("data/x.csv", True),
    ("strategies/__pycache__/a.pyc", True), ("a.pyc", True), ("strategies/a.py", False),
    ("notes/keep.md", False), ("notes/other.md", True), ("aws_function.py", False),
])
def test_dockerignore_rules(path, excluded):
    rules = DockerIgnore([".env", ".env.*", "!.env.example", "data/", "**/__pycache__/", "*.py[cod]",
                          "notes/*", "!notes/keep.md"])
    assert rules.excluded(path) is excluded


@pytest.mark.parametrize("text, registry, repository, tag", [
    ("public.ecr.aws/lambda/python:3.12", "public.ecr.aws", "lambda/python", "3.12"),
    ("python:3.12", "docker.io", "library/python", "3.12"),
    ("127.0.0.1:5000/lambda/python", "127.0.0.1:5000", "lambda/python", "latest"),
    ("localhost:5000/x:1", "localhost:5000", "x", "1"),
])
def test_references(text, registry, repository, tag):
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag) == (registry, repository, tag)


def test_plain_http_only_for_loopback():
    assert parse_reference("127.0.0.1:5000/x:1").base_url == "http://127.0.0.1:5000"
    assert parse_reference("localhost:5000/x:1").base_url == "http://localhost:5000"
    assert parse_reference("registry.example.com:5000/x:1").base_url == "https://registry.example.com:5000"
    assert parse_reference("python:3.12").base_url == "https://registry-1.docker.io"
    with pytest.raises(PluginError):
        parse_reference("UPPER/case:1")


def test_the_scaffolded_dockerfile_is_reproduced_natively(tmp_path):
    from iaf_aws_plugin.scaffold import scaffold

    scaffold(tmp_path / "bot")
    info = read_dockerfile(tmp_path / "bot")
    assert info is not None and info.unsupported == () and info.handler == "aws_function.lambda_handler"
    assert python_version_of(info.base_image) == f"{sys.version_info[0]}.{sys.version_info[1]}"


def test_a_system_package_manager_needs_docker(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM public.ecr.aws/lambda/python:3.12\n"
                                         "RUN dnf install -y libgomp \\\n && dnf clean all\nCMD [\"h.handler\"]\n")
    info = read_dockerfile(tmp_path)
    assert info is not None and info.unsupported == ("line 2: RUN dnf install -y libgomp && dnf clean all",)


def test_several_manylinux_tags_newest_first():
    tags = platform_tags("x86_64", (2, 34))
    assert tags[0] == "manylinux_2_34_x86_64" and "manylinux_2_28_x86_64" in tags and "manylinux2014_x86_64" in tags
    assert platform_tags("arm64", (2, 26))[0] == "manylinux_2_26_aarch64"


def test_the_plugin_wheel_rebuilt_from_the_installation_is_stable_and_installable(tmp_path, monkeypatch):
    from iaf_aws_plugin.builders.native import plugin_wheel as module
    from iaf_aws_plugin.builders.native.blobs import BlobStore

    monkeypatch.delenv(module.WHEEL_ENV, raising=False)
    from importlib import metadata

    dist = metadata.distribution("iaf-aws-plugin")
    first = module._rebuild(dist)
    assert first == module._rebuild(dist)
    wheel = module.plugin_wheel(BlobStore(tmp_path / "cache"))
    assert wheel.name == f"iaf_aws_plugin-{dist.version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "iaf_aws_plugin/state/handler.py" in names and "iaf_aws_plugin/templates/aws-lambda/Dockerfile.tmpl" in names
    assert not any(n.endswith(".pyc") for n in names)
    target = tmp_path / "target"
    from iaf_aws_plugin.builders.native.dependencies import pip_command

    result = subprocess.run([*pip_command(), "install", "--quiet", "--no-deps", "--no-index", "--target", str(target),
                             str(wheel)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (target / "iaf_aws_plugin" / "state" / "handler.py").is_file()


def test_auto_picks_native_for_the_scaffold_and_refuses_when_docker_is_needed_but_missing(tmp_path, monkeypatch):
    from iaf_aws_plugin.deploy.image import choose_builder
    from iaf_aws_plugin.commands.deploy import builder_factory
    from iaf_aws_plugin.deploy.settings import DeploySettings
    from iaf_aws_plugin.scaffold import scaffold

    scaffold(tmp_path / "bot")
    settings = DeploySettings(project_dir=tmp_path / "bot", function_name="bot", region="eu-west-1")
    assert settings.builder == "auto"
    choice = choose_builder(settings, builder_factory)
    assert choice.name == "native" and "no Docker needed" in choice.reason
    (tmp_path / "bot" / "Dockerfile").write_text("FROM public.ecr.aws/lambda/python:3.12\nRUN dnf install -y gcc\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(PluginError) as error:
        choose_builder(settings, builder_factory)
    assert "RUN dnf install -y gcc" in error.value.message and "Docker is not installed" in error.value.message
    assert "--builder native" in (error.value.fix or "")


def test_without_an_interpreter_of_the_target_version_the_report_says_what_it_costs():
    from iaf_aws_plugin.builders.native import PreparedImage
    from iaf_aws_plugin.builders.native.dependencies import find_interpreter

    assert find_interpreter("3.99").path is None

    class Image:
        layers = ()
        size = 0
        digest = "sha256:" + "0" * 64

    prepared = PreparedImage(Image(), "base", "3.99", False, "no Python 3.99 on this machine", False, ())  # type: ignore[arg-type]
    line = next(x for x in prepared.report() if x.startswith("Byte code"))
    assert "no Python 3.99 on this machine" in line and "every cold start compiles" in line and "pyenv or uv" in line


def test_the_plugin_layer_is_the_same_from_the_original_wheel_or_a_rebuilt_one(tmp_path, monkeypatch):
    """The wheel the plugin was installed from may be gone or replaced: the layer must not change."""
    from importlib import metadata

    from iaf_aws_plugin.builders.native import plugin_wheel as module
    from iaf_aws_plugin.builders.native.blobs import BlobStore
    from iaf_aws_plugin.builders.native.dependencies import Interpreter, build_plugin_layer

    monkeypatch.delenv(module.WHEEL_ENV, raising=False)
    store = BlobStore(tmp_path / "cache")
    rebuilt = tmp_path / "rebuilt" / "iaf_aws_plugin-x-py3-none-any.whl"
    rebuilt.parent.mkdir()
    rebuilt.write_bytes(module._rebuild(metadata.distribution("iaf-aws-plugin")))
    none = Interpreter(None, "3.99", "")
    original = module.plugin_wheel(store)
    assert build_plugin_layer(store, rebuilt, task_root="/var/task", interpreter=none).digest == \
        build_plugin_layer(store, original, task_root="/var/task", interpreter=none).digest


def test_pip_progress_is_shown_while_it_runs_and_its_whole_output_kept(tmp_path) -> None:
    from iaf_aws_plugin.builders.native import dependencies

    script = ("import time\n"
              "for name in ('pandas>=2 (from investing-algorithm-framework)', 'numpy', 'boto3'):\n"
              "    print('Collecting ' + name, flush=True); time.sleep(0.05)\n"
              "print('Installing collected packages: pandas, numpy, boto3', flush=True)\n"
              "print('ERROR: something', flush=True)\n"
              "raise SystemExit(3)\n")
    shown: list[str] = []
    status, output = dependencies._run_pip([sys.executable, "-c", script], tmp_path, dict(os.environ),
                                           shown.append, every=0)
    assert status == 3 and output.endswith("ERROR: something\n")
    assert shown[0].startswith("  pip: 1 packages collected after ") and shown[0].endswith("(now pandas>=2)")
    assert shown[-1].startswith("  pip: 3 packages collected after ") and shown[-1].endswith(" s; installing them")
    assert len(shown) == 4


def test_pip_that_outlives_its_timeout_is_stopped(tmp_path, monkeypatch) -> None:
    from iaf_aws_plugin.builders.native import pip_run

    monkeypatch.setattr(pip_run, "PIP_TIMEOUT", 1)
    started = time.monotonic()
    status, _ = pip_run._run_pip([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path,
                                 dict(os.environ), lambda line: None)
    assert status is None and time.monotonic() - started < 30


@pytest.mark.anyhost
def test_slim_and_prune_unused_are_saved_only_when_not_the_default(tmp_path, monkeypatch):
    import json

    from iaf_aws_plugin.deploy.settings import DeployOptions, resolve, save

    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    (tmp_path / "aws_function.py").write_text("")
    default = resolve(DeployOptions(project_dir=tmp_path, function_name="bot"))
    assert default.slim is True and default.prune_unused is False
    assert not {"slim", "prune_unused"} & set(default.saved_form(set()))
    chosen = resolve(DeployOptions(project_dir=tmp_path, function_name="bot", slim=False, prune_unused=True))
    save(chosen, set())
    saved = json.loads((tmp_path / "iaf-aws-lambda.json").read_text())
    assert saved["slim"] is False and saved["prune_unused"] is True
    again = resolve(DeployOptions(project_dir=tmp_path))  # a later deploy without the flags keeps them
    assert again.slim is False and again.prune_unused is True
    back = resolve(DeployOptions(project_dir=tmp_path, slim=True, prune_unused=False))
    assert not {"slim", "prune_unused"} & set(back.saved_form(set()))
