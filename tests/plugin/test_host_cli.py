"""Zero-config loading: the real host console script, in subprocesses, with the wheel installed."""
from __future__ import annotations

import base64
import csv
import hashlib
import os
import subprocess
import sys
import textwrap
from importlib.metadata import distribution
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

import iaf_aws_plugin

PROJECT_FILES = {
    "aws_function.py", "strategies/__init__.py", "strategies/my_strategy.py", "requirements.txt", "Dockerfile",
    ".dockerignore", ".env.example", ".gitignore", "README.md", "data/.gitkeep", "notebooks/.gitkeep",
    "backtest_results/.gitkeep", "reports/.gitkeep", "resources/.gitkeep",
}


def files_below(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def fake_distribution(root: Path, name: str, module_source: str) -> Path:
    """A third-party plugin as pip would install it: a module and a dist-info with an entry point."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{name}.py").write_text(textwrap.dedent(module_source))
    info = root / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[investing_algorithm_framework]\n{name} = {name}\n")
    return root


def test_plugin_is_the_installed_wheel_not_the_source_tree() -> None:
    location = Path(iaf_aws_plugin.__file__).resolve()
    assert "site-packages" in location.parts
    assert (location.parent / "templates" / "aws-lambda" / "aws_function.py.tmpl").is_file()
    assert (location.parent.parent / "iaf_aws_plugin.pth").is_file()


def test_host_files_are_unchanged_on_disk() -> None:
    """Every file the host's wheel installed still has the hash recorded in its RECORD."""
    dist = distribution("investing-algorithm-framework")
    checked = 0
    for path, digest, _size in csv.reader((dist.read_text("RECORD") or "").splitlines()):
        if not digest or not path.endswith(".py"):
            continue
        algorithm, _, expected = digest.partition("=")
        data = Path(str(dist.locate_file(path))).read_bytes()
        actual = base64.urlsafe_b64encode(hashlib.new(algorithm, data).digest()).rstrip(b"=").decode()
        assert actual == expected, f"host file changed: {path}"
        checked += 1
    assert checked > 100


def test_help_lists_our_commands_with_our_deploy_replacing_the_host_one(host_console) -> None:
    result = host_console(["--help"])
    assert result.returncode == 0, result.stderr
    assert "init-aws-lambda" in result.stdout
    deploy_line = next(line for line in result.stdout.splitlines() if "deploy-aws-lambda" in line)
    assert "Command-line tool for deploying" not in deploy_line  # the host's own help text
    assert result.stdout.count("deploy-aws-lambda") == 1
    assert result.stderr == ""


# What site.py does with our two start-up files, run by hand in a Python started with -S (no site):
# a PEP 829 Python (3.15+) calls the .start entry point and skips the .pth's import line; an older
# one only executes the import line. Both, and both together, must install one finder and load
# the plugins once.
PEP_829_RUN = textwrap.dedent("""
    import os, pkgutil, sys
    site_packages, mode = sys.argv[1], sys.argv[2]
    sys.path.append(site_packages)
    if mode in ("start", "both"):
        entry = open(os.path.join(site_packages, "iaf_aws_plugin.start")).read().split()
        assert len(entry) == 1, entry
        pkgutil.resolve_name(entry[0])()
        pkgutil.resolve_name(entry[0])()  # site.py may meet a package twice (user and global site)
    if mode in ("pth", "both"):
        for line in open(os.path.join(site_packages, "iaf_aws_plugin.pth")):
            if line.startswith("import"):
                exec(line)
    finders = [f for f in sys.meta_path if type(f).__name__ == "HostCLIFinder"]
    from investing_algorithm_framework.cli.cli import cli
    import click
    names = cli.list_commands(click.Context(cli))
    print(len(finders), names.count("init-aws-lambda"), names.count("deploy-aws-lambda"))
""")


@pytest.mark.anyhost  # the start-up hook is ours alone: one host leg proves it
@pytest.mark.parametrize("mode", ["start", "pth", "both"])
def test_pep_829_start_file_and_pth_each_install_the_hook_once(mode: str) -> None:
    site_packages = Path(iaf_aws_plugin.__file__).resolve().parent.parent
    assert (site_packages / "iaf_aws_plugin.start").read_text().strip() == "iaf_aws_plugin._autoload:start"
    run = subprocess.run([sys.executable, "-S", "-c", PEP_829_RUN, str(site_packages), mode],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["1", "1", "1"]
    off = subprocess.run([sys.executable, "-S", "-c", PEP_829_RUN, str(site_packages), mode],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "IAF_AWS_PLUGIN_AUTOLOAD": "0"})
    assert off.returncode == 0, off.stderr
    assert off.stdout.split() == ["0", "0", "1"]  # the host's own deploy-aws-lambda only


def test_autoload_can_be_switched_off_and_python_m_still_works(host_console) -> None:
    off = host_console(["--help"], env={"IAF_AWS_PLUGIN_AUTOLOAD": "0"})
    assert off.returncode == 0
    assert "init-aws-lambda" not in off.stdout
    assert "Command-line tool for deploying" in off.stdout  # the host, untouched

    explicit = subprocess.run([sys.executable, "-m", "iaf_aws_plugin", "--help"], capture_output=True, text=True,
                              env={**os.environ, "IAF_AWS_PLUGIN_AUTOLOAD": "0"}, timeout=300)
    assert explicit.returncode == 0, explicit.stderr
    assert "init-aws-lambda" in explicit.stdout and "deploy-aws-lambda" in explicit.stdout
    assert "Usage: investing-algorithm-framework" in explicit.stdout


def test_init_type_aws_lambda_scaffolds_a_new_nested_folder(host_console, tmp_path: Path) -> None:
    target = tmp_path / "some" / "new" / "dir"
    result = host_console(["init", "--type", "aws-lambda", "--path", str(target)])
    assert result.returncode == 0, result.stderr
    assert files_below(target) == PROJECT_FILES
    assert not (target / ".env").exists()
    for name in PROJECT_FILES:
        assert f"created  {name}" in result.stdout


# The same host group in-process (plugins attached as above): quicker than a process per case.

@pytest.fixture(scope="module")
def real_cli() -> click.Group:
    from iaf_aws_plugin.host_bridge import host_cli as attached_host_cli

    return attached_host_cli()


def invoke(cli: click.Group, args: list[str]) -> Result:
    return CliRunner().invoke(cli, args, prog_name="investing-algorithm-framework")


def test_init_type_aws_lambda_underscore_spelling(real_cli: click.Group, tmp_path: Path) -> None:
    result = invoke(real_cli, ["init", "--type", "aws_lambda", "--path", str(tmp_path / "a" / "b")])
    assert result.exit_code == 0, result.output
    assert files_below(tmp_path / "a" / "b") == PROJECT_FILES


def test_init_aws_lambda_keeps_existing_files_unless_replace(real_cli: click.Group, tmp_path: Path) -> None:
    assert invoke(real_cli, ["init-aws-lambda", "--path", str(tmp_path)]).exit_code == 0
    strategy = tmp_path / "strategies" / "my_strategy.py"
    strategy.write_text("# my own work\n")

    again = invoke(real_cli, ["init-aws-lambda", "--path", str(tmp_path)])
    assert again.exit_code == 0, again.output
    assert strategy.read_text() == "# my own work\n"
    assert "skipped  strategies/my_strategy.py" in again.output and "--replace" in again.output
    assert "created" not in again.output

    replaced = invoke(real_cli, ["init-aws-lambda", "--path", str(tmp_path), "--replace"])
    assert replaced.exit_code == 0
    assert "class MyTradingStrategy" in strategy.read_text()
    assert "replaced  strategies/my_strategy.py" in replaced.output


def test_init_aws_lambda_in_the_current_directory(real_cli: click.Group, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(real_cli, ["init-aws-lambda"])
    assert result.exit_code == 0, result.output
    assert files_below(tmp_path) == PROJECT_FILES


def test_init_into_a_path_that_is_a_file_is_one_line(real_cli: click.Group, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = invoke(real_cli, ["init-aws-lambda", "--path", str(blocker)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert len(result.output.strip().splitlines()) == 1
    assert str(blocker) in result.output and "is a file" in result.output


@pytest.mark.parametrize(("host_type", "expected_file"), [
    ("default", "app.py"), ("default_web", "app.py"), ("azure_function", "host.json"),
])
def test_host_app_types_still_work(real_cli: click.Group, tmp_path: Path, host_type: str,
                                   expected_file: str) -> None:
    result = invoke(real_cli, ["init", "--type", host_type, "--path", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / expected_file).is_file()
    assert not (tmp_path / "aws_function.py").exists()


def test_unknown_type_is_a_one_line_usage_error(real_cli: click.Group) -> None:
    result = invoke(real_cli, ["init", "--type", "kubernetes"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: unknown app type 'kubernetes' for init --type; "
        "choose one of: azure_function, default, default_web, aws-lambda."]


def test_a_broken_third_party_plugin_warns_and_the_cli_keeps_working(host_console, tmp_path: Path) -> None:
    site = fake_distribution(tmp_path / "broken", "iaf_broken_plugin", "raise ImportError('cannot import x')\n")
    fake_distribution(site, "iaf_hello_plugin", """
        import click
        import pluggy

        hookimpl = pluggy.HookimplMarker("investing_algorithm_framework")

        @click.command()
        def hello():
            click.echo("hello from a third-party plugin")

        @hookimpl
        def register_commands(cli):
            cli.add_command(hello)
    """)
    env = {"PYTHONPATH": str(site)}
    result = host_console(["hello"], env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello from a third-party plugin"
    warnings = [line for line in result.stderr.splitlines() if line.strip()]
    assert warnings == ["Warning: plugin 'iaf_broken_plugin' failed to load and was skipped: "
                        "ImportError: cannot import x"]

    only_ours = host_console(["--help"], env={**env, "IAF_LOAD_PLUGINS": ""})
    assert only_ours.returncode == 0
    assert "hello" not in only_ours.stdout.split() and "init-aws-lambda" in only_ours.stdout
    assert only_ours.stderr == ""


def test_start_up_hook_never_raises_even_when_the_package_is_broken(tmp_path: Path) -> None:
    shadow = tmp_path / "iaf_aws_plugin"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise RuntimeError('broken install')\n")
    result = subprocess.run([sys.executable, "-c", "print('ok')"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0 and result.stdout == "ok\n" and result.stderr == ""


def test_start_up_hook_imports_nothing_but_itself() -> None:
    code = ("import sys; print(sorted(m for m in sys.modules if m.startswith(('iaf_aws_plugin', 'pluggy', "
            "'click', 'boto', 'investing_algorithm_framework', 'typing'))))")
    on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert on.stdout.strip() == "['iaf_aws_plugin', 'iaf_aws_plugin._autoload']"
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "IAF_AWS_PLUGIN_AUTOLOAD": "off"})
    assert off.stdout.strip() == "[]"


def test_scaffolded_handler_imports_cleanly_with_the_real_host(host_cli, tmp_path: Path) -> None:
    project = tmp_path / "bot"
    assert host_cli(["init-aws-lambda", "--path", str(project)]).returncode == 0
    env = {**os.environ, "AWS_S3_STATE_BUCKET_NAME": "some-bucket", "RESOURCE_DIRECTORY": str(tmp_path / "res"),
           "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # nothing may be contacted at import
    code = ("import aws_function, iaf_aws_plugin; "
            "assert isinstance(aws_function.state_handler, iaf_aws_plugin.AWSS3StorageStateHandler); "
            "assert callable(aws_function.lambda_handler); print('imported')")
    result = subprocess.run([sys.executable, "-c", code], cwd=project, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("imported")


def test_requirements_and_dockerfile_match_this_environment(real_cli: click.Group, tmp_path: Path) -> None:
    assert invoke(real_cli, ["init-aws-lambda", "--path", str(tmp_path)]).exit_code == 0
    host_version = distribution("investing-algorithm-framework").version
    requirements = (tmp_path / "requirements.txt").read_text().split()
    assert f"investing-algorithm-framework>={host_version},<{int(host_version.split('.')[0]) + 1}" in requirements
    assert any(r.startswith(f"iaf-aws-plugin>={iaf_aws_plugin.__version__},") for r in requirements)
    dockerfile = (tmp_path / "Dockerfile").read_text()
    assert f"FROM public.ecr.aws/lambda/python:{sys.version_info[0]}.{sys.version_info[1]}" in dockerfile
    for forbidden in ("yum", "dnf", "apt-get", "gcc", "make"):
        assert forbidden not in dockerfile.lower()
    ignored = (tmp_path / ".dockerignore").read_text().split()
    for entry in (".env", "data/", "backtest_results/", "notebooks/", ".venv/", "__pycache__/"):
        assert entry in ignored
