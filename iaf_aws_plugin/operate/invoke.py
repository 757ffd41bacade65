"""``invoke-aws-lambda``: run the bot now, on Lambda (the ``live`` alias) or in a local process.

On Lambda: one synchronous invocation, never retried (a retried trading run is a second trade),
with the result and the last 4 KB of its log. A run the state lease locked out raised
``StateLockedError``: that is reported as "skipped", not as success; so is an invocation Lambda
refused because a run is in progress (HTTP 429: one at a time). A function that is initializing
gets its own line.

``--local``: the project's handler in a child process with the deployed configuration: the
function's environment (state bucket and prefix, SSM path), its SSM secrets (put into the
environment first, so a local ``.env`` cannot replace them), the function's timeout (the process
is stopped at it) and a fresh resource folder, as a cold Lambda container has. It trades for real.
"""
from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..errors import PluginError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .target import Target

Echo = Callable[[str], None]
OK, ERROR, SKIPPED, TIMEOUT, BUSY, INITIALIZING = "ok", "error", "skipped", "timeout", "busy", "initializing"
SKIPPED_MESSAGE = "skipped: another run holds the state (the state lease); this run did not trade"
LOCKED_ERROR = "StateLockedError"
#: Raised by handlers scaffolded before the duplicate was answered as a success.
DUPLICATE_ERROR = "DuplicateRunError"
DEFAULT_HANDLER = "aws_function.lambda_handler"
_CMD = re.compile(r'^\s*CMD\s*\[\s*"([\w.]+)"\s*\]', re.MULTILINE)


@dataclass
class InvokeResult:
    outcome: str  # ok, error, skipped, timeout
    version: str | None
    seconds: float
    result: Any = None
    error: dict[str, Any] | None = None
    log: list[str] = field(default_factory=list)


def parse_event(value: str | None, cwd: Path | None = None) -> bytes:
    """``--event``: JSON text, or ``@file`` holding JSON; default ``{}``."""
    if value is None:
        return b"{}"
    text = value
    if value.startswith("@"):
        path = Path(value[1:])
        if not path.is_absolute() and cwd is not None:
            path = cwd / path
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PluginError(f"cannot read the --event file {path}: {exc.strerror}.",
                              fix="Pass --event '{\"key\": \"value\"}' or --event @event.json.") from None
    try:
        json.loads(text)
    except ValueError as exc:
        raise PluginError(f"--event is not valid JSON ({exc}).",
                          fix="Pass --event '{\"key\": \"value\"}' or --event @event.json.") from None
    return text.encode("utf-8")


def _outcome_of_error(error: dict[str, Any] | None, log: str) -> str:
    text = json.dumps(error or {}) + log
    if LOCKED_ERROR in text or DUPLICATE_ERROR in text:
        return SKIPPED
    if "Task timed out" in text:
        return TIMEOUT
    return ERROR


def invoke_remote(target: Target, event: bytes, *, echo: Echo) -> InvokeResult:
    from ..deploy.names import ALIAS
    from ..deploy.awsclient import InvokeRefused
    from .awsclient import payload_json

    target.mask_deployed_secrets(echo)
    client, mask = target.client, target.masker.mask
    alias = client.get_alias(target.function, ALIAS)
    if alias is None:
        exists = client.get_function(target.function) is not None
        raise PluginError(f"{target.function}:{ALIAS} does not exist in {target.region}"
                          + (" (the function has no live alias)." if exists else " (the function is not deployed)."),
                          fix="Deploy it with deploy-aws-lambda first.")
    version = str(alias["FunctionVersion"])
    config = client.get_function(target.function, version)
    timeout = int((config or {}).get("Configuration", {}).get("Timeout") or 900)
    echo(f"Invoking {target.function}:{ALIAS} (version {version}, timeout {timeout} s) and waiting for the result...")
    started = time.monotonic()
    try:
        response = client.invoke(target.function, ALIAS, event, timeout)
    except InvokeRefused as refused:
        return InvokeResult(BUSY if refused.kind == "busy" else INITIALIZING, version, time.monotonic() - started,
                            error={"errorType": refused.code, "errorMessage": refused.detail})
    seconds = time.monotonic() - started
    log = base64.b64decode(response.get("LogResult") or b"").decode("utf-8", "replace")
    answer = payload_json(response["Payload"])
    lines = [mask(line) for line in log.splitlines()]
    if response.get("FunctionError"):
        error = answer if isinstance(answer, dict) else {"errorMessage": str(answer)}
        return InvokeResult(_outcome_of_error(error, log), version, seconds, error=error, log=lines)
    return InvokeResult(OK, version, seconds, result=answer, log=lines)


# --- local -------------------------------------------------------------------------------------

_RUNNER = r"""
import importlib, json, os, sys, time, traceback, uuid
sys.path.insert(0, os.getcwd())
handler_path, event, timeout = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
deadline = time.monotonic() + timeout

class LocalContext:
    function_name = os.environ.get("IAF_LOCAL_FUNCTION_NAME", "local")
    function_version = "local"
    invoked_function_arn = "local"
    memory_limit_in_mb = os.environ.get("IAF_LOCAL_MEMORY_SIZE", "0")
    aws_request_id = str(uuid.uuid4())
    log_group_name = log_stream_name = "local"
    def get_remaining_time_in_millis(self):
        return max(0, int((deadline - time.monotonic()) * 1000))

module_name, _, function_name = handler_path.rpartition(".")
offline = bool(os.environ.get("IAF_OFFLINE_STATE_DIR"))
try:
    module = importlib.import_module(module_name)
    handler = getattr(module, function_name)
    if offline:  # invoke-aws-lambda --local --offline: the paper market in front of the app's own
        from iaf_aws_plugin.offline import paper_market
        if getattr(module, "app", None) is None:
            raise RuntimeError(f"{module_name} has no module-level `app`: the offline run adds its paper market "
                               "to it (the scaffolded aws_function.py has one)")
        paper_market.attach(module.app)
    result = handler(event, LocalContext())
    if offline and isinstance(result, dict):
        result.update(paper_market.summary(module.app))
except BaseException as exc:
    traceback.print_exc(file=sys.stdout)
    print("IAF-LOCAL-ERROR " + json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}), flush=True)
    sys.exit(1)
print("IAF-LOCAL-RESULT " + json.dumps(result, default=str), flush=True)
"""


def default_handler(project: Path) -> str:
    """The handler the image runs (the Dockerfile's ``CMD``), else the scaffold's."""
    dockerfile = project / "Dockerfile"
    if dockerfile.is_file():
        found = _CMD.search(dockerfile.read_text(encoding="utf-8", errors="replace"))
        if found:
            return found.group(1)
    return DEFAULT_HANDLER


def local_environment(target: Target, config: dict[str, Any], resources: str) -> dict[str, str]:
    """The child's environment: ours, then the function's, then its SSM secrets (masked in output)."""
    from ..function_env import FUNCTION_TIMEOUT_ENV, OFFLINE_ENV_NAMES, SSM_PARAMETER_PATH_ENV

    function_env = dict(config.get("Environment", {}).get("Variables", {}))
    env = {k: v for k, v in os.environ.items()}
    env.update(function_env)
    for name in OFFLINE_ENV_NAMES:  # a real run: never the offline state folder or paper market
        env.pop(name, None)
    env.update({"AWS_REGION": target.region, "AWS_DEFAULT_REGION": target.region,
                "RESOURCE_DIRECTORY": resources, "PYTHONUNBUFFERED": "1",
                "IAF_LOCAL_FUNCTION_NAME": target.function,
                "IAF_LOCAL_MEMORY_SIZE": str(config.get("MemorySize", ""))})
    env.setdefault(FUNCTION_TIMEOUT_ENV, str(config.get("Timeout", 900)))
    if target.profile:
        env["AWS_PROFILE"] = target.profile
    path = function_env.get(SSM_PARAMETER_PATH_ENV)
    if path:
        for name, parameter in target.client.parameters_by_path(path).items():
            target.masker.add(parameter.value)
            env[name.rsplit("/", 1)[-1]] = parameter.value
    return env


def invoke_local(target: Target, event: bytes, *, echo: Echo, handler: str | None = None,
                 python: str = sys.executable) -> InvokeResult:
    from ..deploy.names import ALIAS

    if target.project_dir is None or not target.project_dir.is_dir():
        raise PluginError("--local runs the project's handler, but no project folder was found.",
                          fix="Run it in the bot's project folder, or pass --project-dir.")
    project = target.project_dir
    found = target.client.get_function(target.function, ALIAS) or target.client.get_function(target.function)
    if found is None:
        raise PluginError(f"{target.function} is not deployed in {target.region}: --local needs its deployed "
                          "configuration (environment, secrets, state bucket).",
                          fix="Deploy it with deploy-aws-lambda first.")
    config = found["Configuration"]
    timeout = int(config.get("Timeout") or 900)
    handler = handler or default_handler(project)
    if not re.fullmatch(r"[A-Za-z_][\w.]*\.[A-Za-z_]\w*", handler):
        raise PluginError(f"invalid --handler {handler!r}.", fix="Use MODULE.FUNCTION, e.g. aws_function.lambda_handler.")
    version = str(config.get("Version") or "$LATEST")
    echo(f"Running {handler} of {project} locally with the configuration of {target.function}:{ALIAS} "
         f"(version {version}, timeout {timeout} s, state in s3://"
         f"{config.get('Environment', {}).get('Variables', {}).get('AWS_S3_STATE_BUCKET_NAME', '?')})...")
    mask = target.masker.mask
    with tempfile.TemporaryDirectory(prefix="iaf-local-run-") as resources:
        env = local_environment(target, config, os.path.join(resources, "resources"))
        return run_handler(project, handler, event, timeout, env, echo=echo, mask=mask, python=python)


def run_handler(project: Path, handler: str, event: bytes, timeout: int, env: dict[str, str], *, echo: Echo,
                mask: Callable[[str], str], python: str = sys.executable) -> InvokeResult:
    """Run ``handler`` (MODULE.FUNCTION of ``project``) once in a child process with ``env``, stopped at
    ``timeout``; its log lines are echoed as they come."""
    started = time.monotonic()
    process = subprocess.Popen([python, "-c", _RUNNER, handler, event.decode("utf-8"), str(timeout)],
                               cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace", start_new_session=True)
    timed_out = threading.Event()

    def stop_at_timeout() -> None:
        if process.poll() is None:
            timed_out.set()
            os.killpg(process.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, stop_at_timeout)
    timer.daemon = True
    timer.start()
    result: Any = None
    error: dict[str, Any] | None = None
    log: list[str] = []
    try:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.rstrip("\n")
            if line.startswith("IAF-LOCAL-RESULT "):
                result = json.loads(line[len("IAF-LOCAL-RESULT "):])
                continue
            if line.startswith("IAF-LOCAL-ERROR "):
                error = json.loads(line[len("IAF-LOCAL-ERROR "):])
                continue
            log.append(mask(line))
            echo(mask(line))
        process.wait()
    except KeyboardInterrupt:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        raise
    finally:
        timer.cancel()
    seconds = time.monotonic() - started
    if timed_out.is_set():
        return InvokeResult(TIMEOUT, "local", seconds, error={"errorMessage": f"Task timed out after {timeout} s"},
                            log=log)
    if process.returncode != 0 or error is not None:
        error = error or {"errorMessage": f"the handler process exited with status {process.returncode}"}
        masked = {k: mask(str(v)) for k, v in error.items()}
        return InvokeResult(_outcome_of_error(masked, ""), "local", seconds, error=masked, log=log)
    return InvokeResult(OK, "local", seconds, result=result, log=log)


def report(result: InvokeResult, target: Target, echo: Echo, *, where: str) -> None:
    """Print the outcome (the log has been printed already for local runs)."""
    mask = target.masker.mask
    if where == "lambda" and result.log:
        echo("--- log tail (last 4 KB)")
        for line in result.log:
            echo(line)
        echo("---")
    if result.outcome == OK:
        echo(mask(f"Result ({result.seconds:.1f} s): {json.dumps(result.result, default=str)}"))


def failure(result: InvokeResult, target: Target) -> PluginError | None:
    """The one-line error of a run that did not succeed (None when it did)."""
    mask = target.masker.mask
    if result.outcome == OK:
        return None
    error = result.error or {}
    said = mask(f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}".strip(": "))
    if result.outcome == BUSY:
        return PluginError(f"skipped: a run is in progress (one at a time); Lambda did not run this invocation "
                           f"({said}).",
                           fix="Wait for that run to end (logs-aws-lambda --follow shows it), then invoke again.")
    if result.outcome == INITIALIZING:
        return PluginError(f"the function is initializing; Lambda did not run this invocation ({said}).",
                           fix="Wait a minute and invoke again (status-aws-lambda shows its state).")
    if result.outcome == SKIPPED:
        return PluginError(f"{SKIPPED_MESSAGE} ({said}).",
                           fix="Wait for the other run to end (status-aws-lambda shows the lease holder), then "
                               "invoke again.")
    if result.outcome == TIMEOUT:
        return PluginError(f"the run timed out after {result.seconds:.0f} s ({said}).",
                           fix="Raise --timeout with deploy-aws-lambda, or make the strategy faster; check the "
                               "state with status-aws-lambda.")
    return PluginError(f"the run failed ({said}).", fix="Read its log above (or logs-aws-lambda), fix the cause "
                                                        "and invoke again.")
