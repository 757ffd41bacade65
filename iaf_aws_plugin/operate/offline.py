"""``invoke-aws-lambda --local --offline``: one run of the project's handler on this machine before
any deploy, like ``sam local invoke`` or ``serverless invoke local``, with nothing of AWS: no
credentials, no endpoint, no state bucket, no SSM, no exchange keys.

- The state lives in a local folder (default :data:`DEFAULT_STATE_DIR` in the project; the state
  handler's own snapshots and lease, on disk: :mod:`iaf_aws_plugin.state.local_store`), so a
  second run continues from the first one's state, as on Lambda.
- The market is a paper one (:mod:`iaf_aws_plugin.offline.paper_market`): 1,000 of the trading
  symbol, orders filled at their price, synthetic hourly candles.
- The child process gets no ``AWS_*`` variable (instance metadata lookups off as well) and an
  empty SSM path and bucket, so even a ``.env`` cannot point it at AWS; a fresh resource folder
  as a cold Lambda container has; the settings file's timeout (default 900 s): with ``--stage``,
  that stage's section's.
- Its output (log, result, error) is masked with the secret-looking values of the project's
  ``.env`` (the handler's ``load_dotenv()`` loads them all).
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Callable

from ..errors import PluginError
from .invoke import SKIPPED, TIMEOUT, InvokeResult, default_handler, run_handler

__all__ = ["DEFAULT_STATE_DIR", "invoke_offline", "offline_environment", "offline_failure"]

Echo = Callable[[str], None]
#: The offline state folder, relative to the project (in the scaffold's .gitignore and .dockerignore).
DEFAULT_STATE_DIR = ".iaf-offline"


def offline_environment(base: dict[str, str], state_dir: Path, resources: str, timeout: int) -> dict[str, str]:
    """``base`` without anything that reaches AWS, plus the offline run's own variables."""
    from ..function_env import FUNCTION_TIMEOUT_ENV, SSM_PARAMETER_PATH_ENV, STATE_BUCKET_ENV
    from ..state.local_store import OFFLINE_STATE_ENV

    env = {k: v for k, v in base.items() if not k.startswith("AWS_")}
    env.update({OFFLINE_STATE_ENV: str(state_dir), "AWS_EC2_METADATA_DISABLED": "true",
                # Set (empty) so that the handler's load_dotenv() cannot set them from a .env.
                STATE_BUCKET_ENV: "", SSM_PARAMETER_PATH_ENV: "",
                "RESOURCE_DIRECTORY": resources, "PYTHONUNBUFFERED": "1", FUNCTION_TIMEOUT_ENV: str(timeout),
                "IAF_LOCAL_FUNCTION_NAME": "offline"})
    return env


def _timeout(project: Path, stage: str | None) -> int:
    """The saved timeout of ``stage`` (``--stage``; None: the default stage). A stage asked for must
    exist (its error says so); without one an unreadable settings file means the default."""
    from ..deploy.settings import DEFAULT_TIMEOUT, load_saved

    try:
        saved = load_saved(project, stage)
    except PluginError:
        if stage is not None:
            raise
        return DEFAULT_TIMEOUT
    try:
        return int(saved.get("timeout") or DEFAULT_TIMEOUT)
    except (ValueError, TypeError):
        return DEFAULT_TIMEOUT


def invoke_offline(project_dir: str | Path | None, event: bytes, *, echo: Echo, handler: str | None = None,
                   state_dir: str | Path | None = None, python: str = sys.executable,
                   stage: str | None = None) -> tuple[InvokeResult, Callable[[str], str]]:
    """Run the handler once, offline (see the module). Returns the result and the masker of the
    project's .env secrets: the result and error are the child's own, unmasked (print them through it)."""
    from ..deploy.settings import project_dir_of

    project = project_dir_of(project_dir)
    handler = handler or default_handler(project)
    if not re.fullmatch(r"[A-Za-z_][\w.]*\.[A-Za-z_]\w*", handler):
        raise PluginError(f"invalid --handler {handler!r}.", fix="Use MODULE.FUNCTION, e.g. aws_function.lambda_handler.")
    folder = Path(state_dir) if state_dir else project / DEFAULT_STATE_DIR
    folder = (folder if folder.is_absolute() else Path.cwd() / folder).resolve()
    if folder.exists() and not folder.is_dir():
        raise PluginError(f"--state-dir {folder} is a file.", fix="Pass a folder (created when missing).")
    timeout = _timeout(project, stage)
    first = not folder.is_dir() or not any(folder.iterdir())
    echo(f"Running {handler} of {project} offline: paper market (no exchange, no keys), no AWS; state in {folder}"
         + (" (new)" if first else " (from the last offline run)") + f"; timeout {timeout} s...")
    mask = _dotenv_masker(project, stage)
    with tempfile.TemporaryDirectory(prefix="iaf-offline-run-") as resources:
        env = offline_environment(dict(os.environ), folder, os.path.join(resources, "resources"), timeout)
        return run_handler(project, handler, event, timeout, env, echo=echo, mask=mask, python=python), mask


def _dotenv_masker(project: Path, stage: str | None) -> Callable[[str], str]:
    """Masks the secret-looking values of the project's .env and of the stage's .env.<stage> (the
    handler's load_dotenv reads .env; the paper market replaces the exchange keys, but the bot's own
    code may print anything)."""
    from ..deploy.environment import Masker, project_secret_values

    return Masker(project_secret_values(project, stage)).mask


def offline_failure(result: InvokeResult, mask: Callable[[str], str]) -> PluginError:
    """The one line of an offline run that did not succeed (the child's error masked with ``mask``)."""
    error = result.error or {}
    said = mask(f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}".strip(": "))
    if result.outcome == SKIPPED:
        return PluginError(f"skipped: another offline run holds the local state ({said}).",
                           fix="Wait for it to end (its lease expires by itself), then run again.")
    if result.outcome == TIMEOUT:
        return PluginError(f"the offline run timed out after {result.seconds:.0f} s ({said}).",
                           fix="Make the strategy faster, or raise the timeout with deploy-aws-lambda --timeout.")
    return PluginError(f"the offline run failed ({said}).", fix="Read its log above, fix the cause and run it again.")
