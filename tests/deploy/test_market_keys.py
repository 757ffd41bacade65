"""Missing exchange keys are refused at plan time (issue 19, item 6): for each market aws_function.py
adds, {MARKET}_API_KEY / {MARKET}_SECRET_KEY (the names the host reads: MarketCredential.initialize)
that are missing, empty or still .env.example's placeholder get one line naming the variable, before
any change; a key kept in SSM (given earlier, or secrets-aws-lambda set) is not missing."""
from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import boto3
import pytest

from iaf_aws_plugin.deploy.market_keys import handler_markets, key_problems
from iaf_aws_plugin.errors import PluginError

pytestmark = [pytest.mark.anyhost, pytest.mark.usefixtures("aws_env")]

KEY, SECRET = "key-123-abc", "s3cr3t value"  # deploy_fixtures.SECRET_VALUES: scanned for in settings files


def nothing_created(name: str) -> None:
    lam = boto3.client("lambda")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=name)
    assert not [b for b in boto3.client("s3").list_buckets()["Buckets"] if name in b["Name"]]


def test_the_scaffolded_handler_adds_bitvavo_and_the_host_reads_these_names(bot_project: Path) -> None:
    [use] = handler_markets(bot_project)
    assert (use.market, use.variables) == ("BITVAVO", ("BITVAVO_API_KEY", "BITVAVO_SECRET_KEY"))
    example = (bot_project / ".env.example").read_text()
    assert "BITVAVO_API_KEY=" in example and "BITVAVO_SECRET_KEY=" in example
    # The host's own names (read from its source: importing it takes seconds).
    import importlib.util

    spec = importlib.util.find_spec("investing_algorithm_framework")
    assert spec is not None and spec.submodule_search_locations
    credential = Path(spec.submodule_search_locations[0]) / "domain" / "models" / "market" / "market_credential.py"
    source = credential.read_text()
    assert 'f"{self.market.upper()}_API_KEY"' in source and 'f"{self.market.upper()}_SECRET_KEY"' in source


def test_an_unedited_env_copy_is_refused_through_the_host_console(host_console, aws_env, bot_project, ecr_image,
                                                                   unique_name) -> None:
    """The issue's case: .env copied from .env.example and left as it is (empty keys)."""
    shutil.copy(bot_project / ".env.example", bot_project / ".env")
    result = host_console(["deploy-aws-lambda", "--lambda-function-name", unique_name, "--image-uri",
                           ecr_image("v1"), "--yes"], cwd=bot_project, env=aws_env)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("Error: BITVAVO_API_KEY is empty in .env; BITVAVO_SECRET_KEY is empty in .env: "
                                "aws_function.py adds the market BITVAVO (line "), errors[0]
    assert "every run would fail. Nothing was changed." in errors[0] and "-e BITVAVO_API_KEY VALUE" in errors[0]
    assert not (bot_project / "iaf-aws-lambda.json").exists()
    nothing_created(unique_name)


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_misnamed_or_placeholder_key_is_refused_naming_the_variable_never_a_value(
        deploy_inprocess, bot_project, ecr_image, unique_name, dry_run: bool) -> None:
    (bot_project / ".env.example").write_text("BITVAVO_API_KEY=your-api-key\nBITVAVO_SECRET_KEY=your-secret-key\n")
    (bot_project / ".env").write_text(f"BITVAVO_API_KEY=your-api-key\nBITVAVO_API_SECRET='{SECRET}'\n")
    with pytest.raises(PluginError) as refused:
        deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"), dry_run=dry_run)
    text = str(refused.value)
    assert "\n" not in text
    assert text.startswith("BITVAVO_API_KEY still has the placeholder of .env.example; BITVAVO_SECRET_KEY is "
                           "missing (there is BITVAVO_API_SECRET, a name the framework does not read)"), text
    assert SECRET not in text and "your-api-key" not in text
    nothing_created(unique_name)


def test_a_key_kept_in_ssm_is_not_missing_until_its_parameter_is_gone(deploy_inprocess, bot_project, ecr_image,
                                                                       unique_name) -> None:
    # Given once with -e: stored in SSM, its name recorded in the settings, .env keeps neither.
    (bot_project / ".env").write_text("LOG_LEVEL=INFO\n")
    first, _ = deploy_inprocess(bot_project, function_name=unique_name, image_uri=ecr_image("v1"),
                                env=(("BITVAVO_API_KEY", KEY), ("BITVAVO_SECRET_KEY", SECRET)))
    assert first.applied and set(first.settings.stored_secrets) == {"BITVAVO_API_KEY", "BITVAVO_SECRET_KEY"}
    again, _ = deploy_inprocess(bot_project)
    assert again.plan.is_noop

    # A deploy from CI has no .env: the keys an earlier deploy put in SSM are kept and loaded at cold start.
    settings = bot_project / "iaf-aws-lambda.json"
    saved = json.loads(settings.read_text())
    saved.pop("stored_secrets")
    settings.write_text(json.dumps(saved))
    (bot_project / ".env").unlink()
    ci, _ = deploy_inprocess(bot_project)
    assert ci.applied  # (LOG_LEVEL went with .env)

    # A placeholder in .env would replace the stored key: refused although SSM has one.
    (bot_project / ".env.example").write_text("BITVAVO_API_KEY=your-api-key\n")
    (bot_project / ".env").write_text("BITVAVO_API_KEY=your-api-key\n")
    with pytest.raises(PluginError) as placeholder:
        deploy_inprocess(bot_project)
    assert str(placeholder.value).startswith("BITVAVO_API_KEY still has the placeholder of .env.example:")
    (bot_project / ".env").unlink()

    # Deleted outside the deploy: missing, and the deploy stops before any change.
    boto3.client("ssm").delete_parameter(Name=f"/iaf-aws/{unique_name}/BITVAVO_SECRET_KEY")
    with pytest.raises(PluginError) as refused:
        deploy_inprocess(bot_project)
    assert str(refused.value).startswith("BITVAVO_SECRET_KEY is missing: aws_function.py adds the market BITVAVO")
    assert "secrets-aws-lambda set BITVAVO_SECRET_KEY" in str(refused.value)
    parameters = boto3.client("ssm").get_parameters_by_path(Path=f"/iaf-aws/{unique_name}/")["Parameters"]
    assert [p["Name"].rsplit("/", 1)[1] for p in parameters] == ["BITVAVO_API_KEY"]  # nothing changed


def write_handler(project: Path, body: str) -> None:
    (project / "aws_function.py").write_text(textwrap.dedent(body))


def test_what_the_framework_does_not_read_from_the_environment_is_not_checked(tmp_path: Path) -> None:
    write_handler(tmp_path, """
        import os
        from investing_algorithm_framework import MarketCredential, create_app
        EXCHANGE = "binance"
        app = create_app()
        app.add_market(EXCHANGE, "EUR", os.environ["MY_KEY"])             # api key given: only the secret is read
        app.add_market(market="kraken", trading_symbol="EUR", paper_trading=True)  # no real orders
        app.add_market_credential(MarketCredential(market="coinbase", api_key="k", secret_key="s"))
        app.add_market_credential(MarketCredential("bybit"))
        app.add_market(market=choose_market(), trading_symbol="EUR")     # not readable without running it
        app.add_market(trading_symbol="EUR")                             # 9.x: the MARKET variable
    """)
    uses = {use.market: use.variables for use in handler_markets(tmp_path, {"MARKET": "okx"})}
    assert uses == {"BINANCE": ("BINANCE_SECRET_KEY",), "BYBIT": ("BYBIT_API_KEY", "BYBIT_SECRET_KEY"),
                    "OKX": ("OKX_API_KEY", "OKX_SECRET_KEY")}
    values = {"BINANCE_SECRET_KEY": "x", "BYBIT_API_KEY": "y", "BYBIT_SECRET_KEY": "z", "MARKET": "okx",
              "OKX_OVERRIDE_API_KEY": "o", "OKX_SECRET_KEY": "p"}  # 9.x's OVERRIDE variables count
    assert key_problems(tmp_path, values) == []
    assert [p.describe() for p in key_problems(tmp_path, {**values, "BYBIT_API_KEY": " "})] == [
        "BYBIT_API_KEY is missing"]
    # A handler that cannot be parsed is not checked (the build reports it).
    write_handler(tmp_path, "app.add_market(market='X'\n")
    assert handler_markets(tmp_path) == []
