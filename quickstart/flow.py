"""The quick start's flow, run by ``quickstart/run.py`` inside its virtual environment (the tests run
it directly): a trading bot scaffolded, planned, deployed, inspected and run twice, against an AWS
emulator (moto) this process starts on 127.0.0.1 and stops at the end. Every step is a real
``investing-algorithm-framework`` command whose output is shown as it comes.

    python quickstart/flow.py [--image auto|native|standin] [--work-dir DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from emulator import REGION, Emulator  # noqa: E402

FUNCTION = "quickstart-bot"
HOST_CLI = "investing-algorithm-framework"
STEPS = 9
# Exchange keys of the paper market: they go to SSM like real ones and are masked in every output.
PAPER_KEYS = {"BITVAVO_API_KEY": "paper-key-3f9c2a7d41e8b605", "BITVAVO_SECRET_KEY": "paper-secret-8d1e5b2f9a7c4e30"}


class Stop(Exception):
    """A step failed: its command's output is above; the message says which step."""


def say(text: str = "") -> None:
    print(text, flush=True)


def step(number: int, title: str) -> None:
    say()
    say(f"Step {number} of {STEPS}: {title}")


def cli(args: list[str], *, cwd: Path, env: dict[str, str], what: str) -> str:
    """Run the host's console script (from this interpreter's environment), show its output as it
    comes, return it. A non-zero exit stops the quick start."""
    executable = str(Path(sys.executable).with_name(HOST_CLI))
    say("$ " + " ".join([HOST_CLI, *args]))
    started = time.monotonic()
    process = subprocess.Popen([executable, *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, errors="replace")
    lines: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        print(line, end="", flush=True)
    status = process.wait()
    if status != 0:
        raise Stop(f"{what} failed ({HOST_CLI} {args[0]} exited with status {status} after "
                   f"{time.monotonic() - started:.0f} s; its output is above)")
    return "".join(lines)


def choose_image(mode: str) -> tuple[str, str]:
    """("native" | "standin", why). ``auto``: native when the Lambda base image's manifest can be
    read from public.ecr.aws within a few seconds."""
    if mode == "standin":
        return "standin", "--image standin"
    from iaf_aws_plugin.builders.native import default_base_image
    from iaf_aws_plugin.builders.native.blobs import BlobStore
    from iaf_aws_plugin.builders.native.reference import parse_reference
    from iaf_aws_plugin.builders.native.registry import RegistryClient
    from iaf_aws_plugin.scaffold import lambda_python_version

    base = default_base_image(lambda_python_version())
    if mode == "native":
        return "native", f"--image native; base image {base}"
    try:
        reference = parse_reference(base)
        RegistryClient(reference, BlobStore(), timeout=8).manifest(reference.reference)
    except Exception as error:  # any failure to reach the registry: no internet, proxy, outage
        reason = str(getattr(error, "message", None) or error or type(error).__name__).rstrip(".")
        return "standin", f"the base image {base} cannot be pulled here: {reason}"
    return "native", f"the base image {base} can be pulled"


def result_of(output: str) -> dict[str, object]:
    """The handler's return value that ``invoke-aws-lambda`` printed (``Result (N s): {...}``)."""
    for line in reversed(output.splitlines()):
        if line.startswith("Result (") and "): " in line:
            value = json.loads(line.split("): ", 1)[1])
            return value if isinstance(value, dict) else {"result": value}
    raise Stop("the invocation printed no result")


def flow(mode: str, work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    bot = work / FUNCTION
    with Emulator() as emulator:
        env = emulator.environment(dict(os.environ), work / "aws-config")
        os.environ.clear()
        os.environ.update(env)  # the stand-in push and the emulator-only steps use boto3 here
        import moto

        say(f"iaf-aws-plugin quick start: a trading bot from scaffold to its second trading run, on an AWS "
            f"emulator (moto {moto.__version__}) at {emulator.endpoint}, region {REGION}. No AWS account, "
            "no Docker: nothing leaves this machine, and the emulator with all it holds is gone at the end.")

        step(1, "Scaffold a bot with init-aws-lambda")
        if bot.exists():
            say(f"(replacing the quick start's previous bot in {bot})")
            shutil.rmtree(bot)
        cli(["init-aws-lambda", "--path", str(bot)], cwd=work, env=env, what="scaffolding")
        shutil.copy(HERE / "paper_market.py", bot / "paper_market.py")
        (bot / "data").mkdir(exist_ok=True)
        shutil.copy(HERE / "data" / "BTC-EUR-1h.csv", bot / "data" / "BTC-EUR-1h.csv")
        (bot / ".env").write_text("".join(f"{k}={v}\n" for k, v in PAPER_KEYS.items()))
        say("Added for the quick start (not part of a real bot): paper_market.py, an offline paper market "
            "around the scaffolded aws_function.py; data/BTC-EUR-1h.csv, 300 bundled hourly candles; .env "
            "with paper exchange keys (the deploy stores them in SSM).")

        step(2, "Image for the deployment")
        image, why = choose_image(mode)
        deploy_args = ["deploy-aws-lambda", "--lambda-function-name", FUNCTION, "--region", REGION]
        if image == "native":
            say(f"Native builder ({why}): the deploy builds the image without Docker (base image, the bot's "
                "requirements for Lambda's platform, this iaf-aws-plugin, the bot's files) and pushes it "
                "to the emulated ECR. The first build downloads ~300 MB of packages and takes minutes.")
        else:
            from standin import push_standin
            import boto3

            account = boto3.client("sts").get_caller_identity()["Account"]
            say(f"Stand-in image ({why}). It holds the bot's files as the native builder lays them out, "
                "on an empty base (no Python, no packages): enough for the deploy, which only needs an "
                "image in ECR. Nothing here runs it (the emulator's Lambda runs no images; step 6 runs "
                "the same handler in this environment). On AWS the deploy builds the full image.")
            uri = push_standin(bot, work / "standin-blobs", account, REGION, say)
            say(f"Pushed to the emulated ECR as {uri}.")
            deploy_args += ["--image-uri", uri]

        step(3, "Plan with its monthly cost (a dry run: reads, changes nothing)")
        cli([*deploy_args, "--dry-run"], cwd=bot, env=env, what="the plan")

        step(4, "Deploy")
        cli([*deploy_args, "--yes"], cwd=bot, env=env, what="the deploy")
        bucket = _state_bucket()
        emulator.allow_plain_http(bucket)
        say(f"Emulator only: removed the TLS-only statement of s3://{bucket}'s policy. moto ignores that "
            "policy's condition and would deny every request; on AWS it stays and denies only plain HTTP.")

        step(5, "Status of the deployed bot")
        cli(["status-aws-lambda"], cwd=bot, env=env, what="status")

        first = _iteration(6, bot, env)
        second = _iteration(7, bot, env)
        _check_state_carried_over(first, second)

        step(8, "The state snapshots the two runs saved in S3")
        cli(["state-aws-lambda", "history"], cwd=bot, env=env, what="the state history")

        step(9, "Next: the same on real AWS")
        _next_steps(bot, work)


def _state_bucket() -> str:
    import boto3

    config = boto3.client("lambda").get_function_configuration(FunctionName=FUNCTION)
    return str(config["Environment"]["Variables"]["AWS_S3_STATE_BUCKET_NAME"])


def _iteration(number: int, bot: Path, env: dict[str, str]) -> dict[str, object]:
    nth = "first" if number == 6 else "second"
    step(number, f"Trading iteration {number - 5}: the {nth} run, locally with the deployed configuration "
                 "(its SSM secrets, its state bucket, a fresh /tmp), on the paper market")
    output = cli(["invoke-aws-lambda", "--local", "--yes", "--handler", "paper_market.lambda_handler"],
                 cwd=bot, env=env, what=f"trading iteration {number - 5}")
    result = result_of(output)
    orders = result.get("orders")
    say(f"=> orders: {'; '.join(str(o) for o in orders) if isinstance(orders, list) and orders else 'none'}; "
        f"positions: {json.dumps(result.get('positions'))}")
    return result


def _check_state_carried_over(first: dict[str, object], second: dict[str, object]) -> None:
    """The second run started in a fresh process with an empty folder: what it knows of the first
    run's order came from the state snapshot in S3."""
    def orders(result: dict[str, object]) -> list[str]:
        listed = result.get("orders")
        return [str(o).rsplit(" (", 1)[0] for o in listed] if isinstance(listed, list) else []

    placed, known = orders(first), orders(second)
    if not placed or any(o not in known for o in placed):
        raise Stop(f"the second run does not know the first run's orders ({placed} vs {known})")
    positions = second.get("positions")
    cash = positions.get("EUR") if isinstance(positions, dict) else None
    say(f"=> The second run, in a new process with an empty resource folder, loaded the first run's "
        f"state from S3: it knows the order {placed[0]} and the cash it spent (EUR {cash}).")


def _next_steps(bot: Path, work: Path) -> None:
    venv = work / "venv"
    activate = f"source {venv}/bin/activate" if venv.is_dir() else "pip install <this clone>"
    say(f"""The quick start's bot stays in {bot} (its iaf-aws-lambda.json names the emulator's account: start
a real bot afresh). With real AWS credentials (aws configure, or AWS_PROFILE; never commit them):

  {activate}
  investing-algorithm-framework init-aws-lambda --path my-bot && cd my-bot
  investing-algorithm-framework invoke-aws-lambda --local --offline   # one run here: paper market, no AWS, no keys
  # the exchange keys in .env go to SSM, never into the function's environment
  cp .env.example .env                                 # then put your exchange keys in .env
  investing-algorithm-framework deploy-aws-lambda --dry-run   # the plan: the function takes the folder's name
  investing-algorithm-framework deploy-aws-lambda             # asks, applies, saves the settings
  investing-algorithm-framework status-aws-lambda             # then logs-aws-lambda --follow
  investing-algorithm-framework destroy-aws-lambda            # removes it all but the trading state

On AWS the native builder pulls public.ecr.aws/lambda/python and installs the requirements (needs the
internet, no Docker), the schedule runs the bot, and `invoke-aws-lambda` without --local runs it on
Lambda. Docs: docs/README.md (commands, settings, state guarantees, security, cost, troubleshooting).""")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", choices=("auto", "native", "standin"), default="auto",
                        help="native: build with the native builder (needs the internet); standin: a stand-in "
                             "image, offline; auto (default): native when the base image can be pulled")
    parser.add_argument("--work-dir", type=Path, default=HERE.parent / ".quickstart",
                        help="where the bot goes (default .quickstart in the clone)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        flow(args.image, args.work_dir.resolve())
    except Stop as stop:
        say()
        say(f"Quick start stopped: {stop}. The emulator is stopped; nothing outside {args.work_dir} changed.")
        return 1
    except OSError as error:  # the work folder cannot be written, the emulator cannot bind, ...
        say(f"Quick start stopped: {error}. Fix that (or pass another --work-dir) and run it again.")
        return 1
    except KeyboardInterrupt:
        say("\nQuick start interrupted; the emulator is stopped.")
        return 130
    say()
    say(f"Quick start completed in {time.monotonic() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
