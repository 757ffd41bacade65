"""Shared fixtures: a moto server over HTTP, AWS settings that can only reach it, the host CLI.

Tests run against the installed wheel of iaf-aws-plugin (``.ci/run`` builds and installs
it), never against the source tree, so that package data and entry points are real.
"""
from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# Shared test helpers live as plain modules in tests/ (importable under --import-mode=importlib).
sys.path.insert(0, str(Path(__file__).resolve().parent))
# The deploy fixtures (a scaffolded bot, images in ECR, in-process deploys with the service-model
# contract check) serve the deploy and the operate tests alike.
pytest_plugins = ["deploy_fixtures"]
BIN_DIR = Path(sys.executable).parent
HOST_CONSOLE_SCRIPT = BIN_DIR / "investing-algorithm-framework"
FAKE_ACCOUNT = "123456789012"


#: The quick start's flow (tests/quickstart): a minute or more in one worker.
QUICKSTART_FLOW = ("test_quickstart.py", "test_quick_start_runs_the_whole_flow_offline_and_each_step_shows")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long serial chains first, so that xdist hands them out at the start of a leg and the other
    worker runs everything else beside them: the stand-in image test (minutes), then the quick start's
    flow where this leg runs it. Where the leg checks the README run's output instead
    (``IAF_QUICKSTART_LOG``), that test goes last: it waits for that run, which has ended by then.
    A stable sort: the order is otherwise as collected, and the same in every worker (xdist needs that)."""
    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("standin"):
            return 0
        if (item.path.name, getattr(item, "originalname", item.name)) == QUICKSTART_FLOW:
            return 3 if os.environ.get("IAF_QUICKSTART_LOG") else 1
        return 2

    items.sort(key=rank)


def pytest_sessionstart(session: pytest.Session) -> None:
    import iaf_aws_plugin

    location = Path(iaf_aws_plugin.__file__).resolve()
    if location.parent == REPO_ROOT / "iaf_aws_plugin":
        pytest.exit(f"iaf_aws_plugin is imported from the source tree ({location}); "
                    "the tests run against the installed wheel: use .ci/run", returncode=4)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One moto server per test process, on 127.0.0.1 and a free port."""
    from moto.server import ThreadedMotoServer

    # Lambda must check that an image exists in ECR, as AWS does.
    os.environ.setdefault("MOTO_LAMBDA_STUB_ECR", "false")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def aws_environment(endpoint: str, tmp: Path, region: str = "eu-west-1") -> dict[str, str]:
    """Variables that point every AWS SDK call at the emulator, with fake credentials only."""
    config = tmp / "aws-config"
    credentials = tmp / "aws-credentials"
    config.write_text(f"[default]\nregion = {region}\n")
    credentials.write_text("[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.fixture
def aws_env(moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The emulator's AWS settings, applied to this process and returned for subprocesses."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    env = aws_environment(moto_endpoint, tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def unique_name() -> str:
    """A name no other test uses: the emulator is shared by the tests of one process."""
    return f"t{uuid.uuid4().hex[:12]}"


def run_host_cli(args: list[str], *, cwd: Path | str | None = None, env: dict[str, str] | None = None,
                 timeout: float = 300, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the host's real console script in a subprocess (plugins load through our .pth)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    full_env.update(env or {})
    return subprocess.run([str(HOST_CONSOLE_SCRIPT), *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout, input=input)


def run_host_cli_in_process(args: list[str], *, cwd: Path | str | None = None, env: dict[str, str] | None = None,
                            timeout: float = 300, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """The same command through the host's own click group in this process (click's CliRunner).

    The group is the host's, with the plugins attached exactly as the start-up hook attaches them; what
    the console script adds (the interpreter start, the .pth) is proven by the tests that use
    ``host_console``. The environment and the working folder are set for the call and restored after
    it. An exception that escapes the command is printed as a traceback on stderr with exit code 1,
    as the interpreter would, so that "no traceback" assertions hold here too.
    """
    import traceback

    from click.testing import CliRunner

    from iaf_aws_plugin.host_bridge import host_cli as attached_host_cli

    del timeout  # a command that hangs in-process hangs the test: pytest's own timeout applies
    previous = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = CliRunner().invoke(attached_host_cli(), list(args), input=input, env=env,
                                    prog_name="investing-algorithm-framework", catch_exceptions=True)
    finally:
        os.chdir(previous)
    stderr = result.stderr
    code = result.exit_code
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "Traceback (most recent call last):\n" + "".join(
            traceback.format_exception(type(result.exception), result.exception, result.exception.__traceback__))
        code = 1
    return subprocess.CompletedProcess(["investing-algorithm-framework", *args], code, result.stdout, stderr)


@pytest.fixture
def host_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``host_cli(args, cwd=..., env=...)`` runs a host CLI command in this process (fast); the few
    end-to-end flows that must prove the real console script use ``host_console``."""
    return run_host_cli_in_process


@pytest.fixture
def host_console() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``host_console(args, cwd=..., env=...)`` runs ``investing-algorithm-framework`` for real, in a subprocess."""
    return run_host_cli


# --- a moto server that enforces IAM (own process, own state) ------------------------------

@pytest.fixture(scope="session")
def iam_enforcing_moto() -> Iterator[str]:
    """A moto server of our own (own process, own state) on which IAM can be switched on.

    The shared server must stay permissive for everyone else; here, after setting
    things up, ``iam_switch(True)`` makes every later request need a real
    access key and a policy allowing the action, as AWS does.
    """
    from deploy_fixtures import private_moto_server

    yield from private_moto_server()


def set_iam_enforcement(endpoint: str, *, enforce: bool) -> None:
    """Switch moto's IAM checks on (every request authenticated and authorized) or off."""
    count = b"0" if enforce else b"inf"
    request = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=count, method="POST",
                                     headers={"Content-Type": "text/plain"})  # not a form: moto reads the body
    urllib.request.urlopen(request, timeout=10).close()


@pytest.fixture
def iam_switch(iam_enforcing_moto: str) -> Iterator[Callable[[bool], None]]:
    """``iam_switch(True)`` turns IAM checks on for the private server; off again afterwards."""
    yield lambda enforce: set_iam_enforcement(iam_enforcing_moto, enforce=enforce)
    set_iam_enforcement(iam_enforcing_moto, enforce=False)


# --- no settings file written in the session holds a secret value (issue 20) -------------------

SETTINGS_FILE_DEPTHS = ("*", "*/*", "*/*/*", "*/*/*/*")  # tmp_path/bot/iaf-aws-lambda.json and the like
_REPORT_KEY = pytest.StashKey[list]()  # lines for the end of the report (see report_line)


def report_lines(config: pytest.Config) -> list[str]:
    return config.stash.setdefault(_REPORT_KEY, [])


@pytest.fixture
def report_line(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """``report_line(text)``: a line printed at the end of the test report, also when the test ran in
    an xdist worker (whose own output is not shown)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return lambda text: report_lines(request.config).append(f"[{worker}] {text}" if worker else text)


def secret_values_used(session: pytest.Session) -> set[str]:
    """Every secret value the tests use: the shared constants, plus each test module's ``SECRETS`` /
    ``SECRET_VALUES`` / ``ALL_SECRET_VALUES`` (strings, dict values, or the value of (kind, value) pairs)."""
    import deploy_fixtures
    import secret_corpus

    values = set(deploy_fixtures.SECRET_VALUES) | set(secret_corpus.SECRET_VALUES)
    modules = {id(item.module): item.module for item in session.items if getattr(item, "module", None)}
    for module in modules.values():
        for attribute in ("SECRETS", "SECRET_VALUES", "ALL_SECRET_VALUES"):
            found = getattr(module, attribute, None)
            items = found.values() if isinstance(found, dict) else found if isinstance(found, (tuple, list)) else ()
            for item in items:
                value = item[-1] if isinstance(item, tuple) else item
                if isinstance(value, str) and len(value) >= 4:
                    values.add(value)
    return values


@pytest.fixture(scope="session", autouse=True)
def settings_files_hold_no_secret(tmp_path_factory: pytest.TempPathFactory,
                                  request: pytest.FixtureRequest) -> Iterator[None]:
    """After the session (of each xdist worker): every iaf-aws-lambda.json the tests wrote is scanned for
    every secret value used (also in its JSON-escaped spelling); one found fails the session."""
    import json

    yield
    base = tmp_path_factory.getbasetemp()
    files = sorted({path.resolve() for depth in SETTINGS_FILE_DEPTHS
                    for path in base.glob(f"{depth}/iaf-aws-lambda.json")})
    values = secret_values_used(request.session)
    leaks = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        leaks += [f"{path}: {value[:4]}…" for value in values if value in text or json.dumps(value)[1:-1] in text]
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    report_lines(request.config).append(f"{f'[{worker}] ' if worker else ''}settings files scanned for secret "
                                        f"values: {len(files)} files, {len(values)} values, {len(leaks)} found")
    assert not leaks, f"secret values in settings files: {leaks}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)  # set in an xdist worker only
    if workeroutput is not None:
        workeroutput["iaf_report_lines"] = report_lines(session.config)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """xdist, on the controller: collect a finished worker's report lines."""
    config = getattr(node, "config")
    report_lines(config).extend(getattr(node, "workeroutput", {}).get("iaf_report_lines", []))


def pytest_terminal_summary(terminalreporter: object, exitstatus: int, config: pytest.Config) -> None:
    for line in report_lines(config):
        terminalreporter.write_line(line)  # type: ignore[attr-defined]
