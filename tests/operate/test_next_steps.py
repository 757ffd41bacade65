"""The next steps init-aws-lambda, the quick start and the docs print, run as printed (in-process host CLI,
moto server): a fresh bot folder needs no --lambda-function-name, the dry run's plan names the function.

Only what the emulator cannot do is added: ``--image-uri`` (no internet to pull the base image) and
``--yes`` where a terminal would be asked."""
from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.anyhost

ROOT = Path(__file__).parents[2]
PROGRAM = "investing-algorithm-framework"


def _commands(text: str) -> list[str]:
    """The command lines of a "Next:" block, without their comments."""
    lines = text.split("Next:", 1)[1].splitlines()[1:]
    commands = []
    for line in lines:
        if not line.startswith("  ") or not line.strip():
            break
        commands.append(line.split("#", 1)[0].strip())
    return commands


def test_the_printed_next_steps_work_in_a_fresh_folder(host_cli, aws_env, ecr_image, unique_name, tmp_path):
    from iaf_aws_plugin.scaffold import NEXT_STEPS

    image = ecr_image("v1")
    folder = tmp_path / f"My Bot.{unique_name}"  # a folder name that is no valid function name as it is
    init = host_cli(["init-aws-lambda", "--path", str(folder)], cwd=tmp_path, env=aws_env)
    assert init.returncode == 0, init.stderr
    printed = _commands(init.stdout)
    assert printed == [f"cd {shlex.quote(str(folder))}"] + [line.split("#", 1)[0].strip() for line in NEXT_STEPS]
    # The quick start's step 9 and the docs show the same commands.
    for page in (ROOT / "quickstart" / "flow.py", ROOT / "docs" / "quickstart.md", ROOT / "docs" / "output.md"):
        text = page.read_text(encoding="utf-8")
        for line in NEXT_STEPS:
            assert line in text, f"{page.name} does not show: {line}"
    assert "deploy-aws-lambda --lambda-function-name my-bot --region eu-west-1 --dry-run" not in (
        ROOT / "README.md").read_text(encoding="utf-8")

    cwd = tmp_path
    outputs = []
    for command in printed:
        words = shlex.split(command)
        if words[0] == "cd":
            cwd = Path(words[1])
        elif words[0] == "cp":
            shutil.copyfile(cwd / words[1], cwd / words[2])
            # "then put your exchange keys in .env" (left empty, the deploy refuses: test_market_keys.py)
            text = (cwd / words[2]).read_text()
            assert "BITVAVO_API_KEY=\n" in text and "BITVAVO_SECRET_KEY=\n" in text
            (cwd / words[2]).write_text(text.replace("BITVAVO_API_KEY=\n", "BITVAVO_API_KEY=paper-key\n")
                                        .replace("BITVAVO_SECRET_KEY=\n", "BITVAVO_SECRET_KEY=paper-secret\n"))
        else:
            assert words[0] == PROGRAM, command
            args = words[1:]
            if args[0] == "deploy-aws-lambda":
                args += ["--image-uri", image] + ([] if "--dry-run" in args else ["--yes"])
            result = host_cli(args, cwd=cwd, env=aws_env)
            assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
            assert "Traceback" not in result.stderr
            outputs.append(result.stdout)
    function = f"My-Bot.{unique_name}".replace(".", "-")
    offline, dry_run, deploy, status = outputs
    assert "Offline run done" in offline and (folder / ".iaf-offline" / ".iaf-state" / "HEAD.json").is_file()
    assert f"Function name: {function}, the folder's name" in dry_run and "Dry run: nothing was changed." in dry_run
    assert f"Deployed {function}: alias" in deploy
    assert json.loads((folder / "iaf-aws-lambda.json").read_text())["function_name"] == function
    assert function in status


def test_function_name_from_folder() -> None:
    from iaf_aws_plugin.deploy.settings import function_name_from_folder

    assert function_name_from_folder(Path("/x/my-bot")) == "my-bot"
    assert function_name_from_folder(Path("/x/My Bot (paper)")) == "My-Bot-paper"
    assert function_name_from_folder(Path("/x/" + "b" * 80)) == "b" * 64
    assert function_name_from_folder(Path("/x/...")) == ""
