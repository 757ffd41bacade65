"""Our hooks are declared in the host's entry point group (as the design asks) and still load first
and exactly once; a host that loads the group itself with pluggy finds them."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib.metadata import distribution, entry_points

import click
import pluggy
import pytest

from iaf_aws_plugin import hookspecs, plugin
from iaf_aws_plugin.plugin_manager import ENTRY_POINT_GROUP, OWN_ENTRY_POINT, new_plugin_manager

pytestmark = pytest.mark.anyhost


def own_entry_points() -> list[object]:
    return [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.value == "iaf_aws_plugin.plugin"]


def test_the_wheel_declares_its_hooks_in_the_hosts_group() -> None:
    declared = [ep for ep in distribution("iaf-aws-plugin").entry_points if ep.group == ENTRY_POINT_GROUP]
    assert [(ep.name, ep.value) for ep in declared] == [(OWN_ENTRY_POINT, "iaf_aws_plugin.plugin")]
    assert len(own_entry_points()) == 1


def test_our_plugin_manager_registers_them_first_and_once_with_the_real_entry_points(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for allowed in (None, "", OWN_ENTRY_POINT):  # IAF_LOAD_PLUGINS unset, none, only ours
        if allowed is None:
            monkeypatch.delenv("IAF_LOAD_PLUGINS", raising=False)
        else:
            monkeypatch.setenv("IAF_LOAD_PLUGINS", allowed)
        pm = new_plugin_manager()
        ours = [name for name, registered in pm.list_name_plugin() if registered is plugin]
        assert ours == ["iaf_aws_plugin.plugin"]
        assert pm.get_plugins() and next(iter(pm.list_name_plugin()))[1] is plugin
        group = click.Group()
        pm.hook.register_commands(cli=group)
        assert "deploy-aws-lambda" in group.commands


def test_a_host_that_loads_the_group_itself_finds_our_hooks() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    assert pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=OWN_ENTRY_POINT) == 1
    assert pm.get_plugin(OWN_ENTRY_POINT) is plugin
    group = click.Group()
    pm.hook.register_commands(cli=group)
    assert {"deploy-aws-lambda", "status-aws-lambda", "destroy-aws-lambda"} <= set(group.commands)


HOST_CLI_COMMANDS = textwrap.dedent("""
    import click
    from investing_algorithm_framework.cli.cli import cli
    names = cli.list_commands(click.Context(cli))
    print(names.count("deploy-aws-lambda"), names.count("init-aws-lambda"))
""")


@pytest.mark.parametrize("autoload", ["1", "0"])
def test_the_host_cli_lists_our_commands_once_with_or_without_the_start_up_hook(autoload: str) -> None:
    """With the start-up hook the host's own group gets them; without it, ``python -m
    iaf_aws_plugin`` attaches the same plugin manager: once each way."""
    env = {**os.environ, "IAF_AWS_PLUGIN_AUTOLOAD": autoload}
    code = HOST_CLI_COMMANDS if autoload == "1" else (
        "from iaf_aws_plugin.host_bridge import host_cli; host_cli()\n" + HOST_CLI_COMMANDS)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["1", "1"]
    assert run.stderr == ""
