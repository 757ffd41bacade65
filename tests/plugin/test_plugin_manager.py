"""The plugin manager and the glue to a click group, in-process with stand-in entry points."""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import click
import pytest
from click.testing import CliRunner

from iaf_aws_plugin import hookspecs, plugin
from iaf_aws_plugin.hookspecs import hookimpl
from iaf_aws_plugin.host_bridge import attach, install_plugins
from iaf_aws_plugin.plugin_manager import (BUILTIN_PLUGINS, LOAD_PLUGINS_ENV, collect_app_types, collect_builders,
                                           new_plugin_manager)

pytestmark = pytest.mark.anyhost  # the result does not depend on the host version: CI runs it in one leg

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class FakeEntryPoint:
    """What the plugin manager needs of an importlib.metadata.EntryPoint."""

    name: str
    loader: Callable[[], object]
    value: str = "fake:plugin"

    def load(self) -> object:
        return self.loader()


def hello_plugin() -> object:
    @click.command(name="hello")
    def hello() -> None:
        click.echo("hello from a plugin")

    class Hello:
        @hookimpl
        def register_commands(self, cli: click.Group) -> None:
            cli.add_command(hello)

    return Hello()


def fail_import() -> object:
    raise ImportError("No module named 'missing_dependency'")


OWN = "iaf_aws_plugin.plugin"  # our hook implementations: a built-in plugin, registered by module name


def host_like_group() -> click.Group:
    """A group shaped like the host's: an ``init`` with --type/--path/--replace."""
    calls: list[dict[str, Any]] = []

    @click.group()
    def cli() -> None:
        pass

    @cli.command()
    @click.option("--type", default="default")
    @click.option("--path", default=None)
    @click.option("--replace", is_flag=True, default=False)
    def init(type: str, path: str | None, replace: bool) -> None:
        calls.append({"type": type, "path": path, "replace": replace})
        click.echo(f"host init {type}")

    cli.calls = calls  # type: ignore[attr-defined]
    return cli


@pytest.fixture(autouse=True)
def _no_plugin_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LOAD_PLUGINS_ENV, raising=False)


def test_a_plugin_that_fails_to_import_costs_one_warning_line(capsys: pytest.CaptureFixture[str]) -> None:
    pm = new_plugin_manager([FakeEntryPoint("broken", fail_import), FakeEntryPoint("hello", hello_plugin)])
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["Warning: plugin 'broken' failed to load and was skipped: "
                   "ImportError: No module named 'missing_dependency'"]
    assert pm.has_plugin(OWN) and pm.has_plugin("hello") and not pm.has_plugin("broken")


def test_a_misspelled_hook_is_caught_by_check_pending(capsys: pytest.CaptureFixture[str]) -> None:
    class Misspelled:
        @hookimpl
        def register_comands(self, cli: click.Group) -> None:  # typo on purpose
            raise AssertionError("never called")

    pm = new_plugin_manager([FakeEntryPoint("typo", Misspelled)])
    err = capsys.readouterr().err
    assert "plugin 'typo' has an invalid hook and was skipped" in err
    assert "register_comands" in err
    assert not pm.has_plugin("typo") and pm.has_plugin(OWN)
    pm.check_pending()  # nothing left pending


def test_a_hook_with_a_wrong_argument_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    class WrongArgs:
        @hookimpl
        def register_commands(self, cli: click.Group, extra: int) -> None:
            raise AssertionError("never called")

    pm = new_plugin_manager([FakeEntryPoint("wrong", WrongArgs)])
    assert "plugin 'wrong' has an invalid hook" in capsys.readouterr().err
    assert not pm.has_plugin("wrong")


@pytest.mark.parametrize(("value", "loaded"), [
    ("", {OWN}), ("hello", {OWN, "hello"}), (" hello , other ", {OWN, "hello"}), (None, {OWN, "hello", "x"}),
])
def test_load_plugins_variable_selects_third_party_plugins(
    monkeypatch: pytest.MonkeyPatch, value: str | None, loaded: set[str]
) -> None:
    if value is not None:
        monkeypatch.setenv(LOAD_PLUGINS_ENV, value)

    def x_plugin() -> object:
        return SimpleNamespace()

    pm = new_plugin_manager([FakeEntryPoint("hello", hello_plugin), FakeEntryPoint("x", x_plugin)])
    assert {name for name, _ in pm.list_name_plugin()} == loaded


def test_the_same_entry_point_name_twice_registers_once() -> None:
    pm = new_plugin_manager([FakeEntryPoint("hello", hello_plugin), FakeEntryPoint("hello", hello_plugin)])
    assert [name for name, _ in pm.list_name_plugin()] == [OWN, "hello"]


def test_our_hooks_are_built_in_and_cannot_be_shadowed_by_an_entry_point(capsys: pytest.CaptureFixture[str]) -> None:
    """No entry point is needed for our own hooks, and another package's ``aws`` entry point (or one
    naming our module) neither replaces nor duplicates them."""
    assert BUILTIN_PLUGINS == (OWN,)

    class Impostor:
        @hookimpl
        def register_builders(self, register: Callable[..., None]) -> None:
            register("docker", lambda: "impostor")

        @hookimpl
        def register_app_types(self, register: Callable[..., None]) -> None:
            register("aws-lambda", lambda path, replace: "impostor")

    pm = new_plugin_manager([FakeEntryPoint("aws", Impostor), FakeEntryPoint("again", lambda: plugin, OWN)])
    assert [name for name, _ in pm.list_name_plugin()] == [OWN, "aws"]
    assert capsys.readouterr().err == ""
    assert collect_builders(pm)["docker"] is plugin.docker_builder
    assert collect_app_types(pm)["aws_lambda"].scaffold is plugin.scaffold_aws_lambda


def test_a_plugin_raising_in_register_commands_does_not_stop_the_others(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Raising:
        @hookimpl
        def register_commands(self, cli: click.Group) -> None:
            raise RuntimeError("boom")

    cli = host_like_group()
    install_plugins(cli, new_plugin_manager([FakeEntryPoint("raising", Raising),
                                             FakeEntryPoint("hello", hello_plugin)]))
    assert "Warning: plugin 'raising' failed in register_commands and was skipped: RuntimeError: boom" \
        in capsys.readouterr().err
    assert {"hello", "deploy-aws-lambda", "init-aws-lambda", "init"} <= set(cli.commands)


def test_attach_loads_plugins_once_on_first_use_and_is_idempotent(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[click.Group] = []
    monkeypatch.setattr("iaf_aws_plugin.host_bridge.install_plugins", lambda cli: loads.append(cli))
    cli = host_like_group()
    cls = type(cli)
    assert attach(attach(cli)) is cli
    assert type(cli).__mro__[2] is cls  # one mixin, not two
    assert loads == []  # lazy: nothing until the CLI is used
    CliRunner().invoke(cli, ["--help"])
    CliRunner().invoke(cli, ["init", "--help"])
    assert loads == [cli]


def test_registering_twice_does_not_duplicate_commands() -> None:
    cli = host_like_group()
    pm = new_plugin_manager([])
    install_plugins(cli, pm)
    install_plugins(cli, pm)  # e.g. the host one day loads plugins too
    result = CliRunner().invoke(cli, ["--help"])
    assert result.output.count("init-aws-lambda") == 1
    assert result.output.count("deploy-aws-lambda") == 1
    assert cli.commands["init"]._iaf_original.callback is not None  # wrapped once, around the host's


def test_init_type_routes_plugin_types_and_leaves_host_types_to_the_host(tmp_path: Path) -> None:
    cli = host_like_group()
    install_plugins(cli, new_plugin_manager([]))
    runner = CliRunner()

    target = tmp_path / "new" / "bot"
    for spelling in ("aws-lambda", "AWS_LAMBDA"):
        result = runner.invoke(cli, ["init", "--type", spelling, "--path", str(target)])
        assert result.exit_code == 0, result.output
        assert (target / "aws_function.py").is_file()
    assert cli.calls == []  # type: ignore[attr-defined]

    result = runner.invoke(cli, ["init", "--type", "default", "--path", str(tmp_path)])
    assert result.exit_code == 0 and "host init default" in result.output
    assert cli.calls == [{"type": "default", "path": str(tmp_path), "replace": False}]  # type: ignore[attr-defined]

    # A host type into a folder that does not exist yet: created, then the host's code runs.
    missing = tmp_path / "x" / "y"
    result = runner.invoke(cli, ["init", "--type", "Default-Web", "--path", str(missing)])
    assert result.exit_code == 0, result.output
    assert missing.is_dir()
    assert cli.calls[-1] == {"type": "default_web", "path": str(missing), "replace": False}  # type: ignore[attr-defined]


def test_nothing_is_attached_when_the_host_loads_plugins_itself() -> None:
    from iaf_aws_plugin.host_bridge import attach_to_host_module

    cli = host_like_group()
    attach_to_host_module(SimpleNamespace(cli=cli, get_plugin_manager=lambda: None))
    assert type(cli) is click.Group
    attach_to_host_module(SimpleNamespace(cli=cli))
    assert type(cli) is not click.Group and isinstance(cli, click.Group)


def test_init_with_an_unknown_type_is_a_usage_error_listing_the_choices() -> None:
    cli = host_like_group()
    install_plugins(cli, new_plugin_manager([]))
    result = CliRunner().invoke(cli, ["init", "--type", "nope"])
    assert result.exit_code == 2
    assert "unknown app type 'nope'" in result.output and "aws-lambda" in result.output
    assert "default_web" in result.output and "Traceback" not in result.output


def test_collect_app_types_and_builders_isolate_failures(capsys: pytest.CaptureFixture[str]) -> None:
    class Contributor:
        @hookimpl
        def register_app_types(self, register: Callable[..., None]) -> None:
            register("gcp-function", lambda path, replace: None, aliases=["gcp"])

        @hookimpl
        def register_builders(self, register: Callable[..., None]) -> None:
            register("kaniko", object)

    class Broken:
        @hookimpl
        def register_builders(self, register: Callable[..., None]) -> None:
            raise ValueError("bad builder")

    pm = new_plugin_manager([FakeEntryPoint("contrib", Contributor), FakeEntryPoint("broken", Broken)])
    types = collect_app_types(pm)
    assert {"aws_lambda", "gcp_function", "gcp"} <= set(types)
    assert types["aws_lambda"].name == "aws-lambda"
    assert "kaniko" in collect_builders(pm)
    assert "plugin 'broken' failed in register_builders" in capsys.readouterr().err


def test_every_hook_is_documented_in_the_readme_with_its_signature() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    specs = [(name, fn) for name, fn in vars(hookspecs).items() if getattr(fn, marker, None) is not None]
    assert specs, "no hook specifications found"
    for name, fn in specs:
        params = ", ".join(inspect.signature(fn).parameters)
        assert re.search(rf"`{name}\({params}\)`", readme), f"README does not document {name}({params})"
        assert fn.__doc__ and "\n" not in fn.__doc__.strip(), f"{name} needs a one-line docstring"
