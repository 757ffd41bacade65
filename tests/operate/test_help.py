"""Every operate command's --help shows an example (in-process through click; no AWS call)."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from iaf_aws_plugin.commands.destroy import destroy_aws_lambda
from iaf_aws_plugin.commands.invoke import invoke_aws_lambda
from iaf_aws_plugin.commands.logs import logs_aws_lambda
from iaf_aws_plugin.commands.portfolio import portfolio_aws_lambda
from iaf_aws_plugin.commands.report import report_aws_lambda
from iaf_aws_plugin.commands.rollback import rollback_aws_lambda
from iaf_aws_plugin.commands.secrets import secrets_aws_lambda
from iaf_aws_plugin.commands.state import state_aws_lambda
from iaf_aws_plugin.commands.status import status_aws_lambda

pytestmark = pytest.mark.anyhost  # our click commands alone, without the host's group


@pytest.mark.parametrize("command, args", [
    (status_aws_lambda, []), (logs_aws_lambda, []), (invoke_aws_lambda, []), (rollback_aws_lambda, []),
    (destroy_aws_lambda, []), (state_aws_lambda, []), (state_aws_lambda, ["pull"]), (state_aws_lambda, ["push"]),
    (state_aws_lambda, ["history"]), (state_aws_lambda, ["restore"]), (state_aws_lambda, ["prune"]),
    (secrets_aws_lambda, []), (secrets_aws_lambda, ["list"]), (secrets_aws_lambda, ["set"]),
    (secrets_aws_lambda, ["rm"]),
    (portfolio_aws_lambda, []), (report_aws_lambda, []),
])
def test_help_has_an_example(command, args):
    result = CliRunner().invoke(command, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output and "investing-algorithm-framework " in result.output.split("Example")[1]
    if command not in (state_aws_lambda, secrets_aws_lambda) or args:
        assert "--lambda-function-name" in result.output
