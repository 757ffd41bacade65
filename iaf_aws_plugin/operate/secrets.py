"""``secrets-aws-lambda``: the deployed bot's secrets in SSM, changed without a full deploy.

Each secret is an SSM SecureString ``/iaf-aws/<function>/<NAME>`` that the function loads at cold
start. ``set`` and ``rm`` write SSM, then publish a new version of the function whose
``IAF_SECRETS_DIGEST`` (the digest of the parameters' names and versions, the same one the deploy
computes) changed, and point the ``live`` alias at it: warm instances holding the old value are
replaced, and the next run uses the new one. A value is never printed, logged or returned; ``list``
reads names, versions and dates only (no decryption).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from ..errors import PluginError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .target import Target

Echo = Callable[[str], None]


@dataclass(frozen=True)
class SecretRow:
    name: str
    version: int
    last_modified: datetime | None
    type: str


@dataclass(frozen=True)
class Published:
    """The version published for the changed secrets (``None``: nothing published, ``reason`` says why)."""

    version: str | None
    previous: str | None = None
    reason: str = ""


def list_secrets(target: Target) -> list[SecretRow]:
    """The bot's secrets: names, versions and last change; values are never read."""
    path = target.names.ssm_path
    rows = []
    for parameter in target.client.describe_parameters(path):
        name = str(parameter.get("Name", ""))
        modified = parameter.get("LastModifiedDate")
        rows.append(SecretRow(name[len(path):] if name.startswith(path) else name, int(parameter.get("Version") or 0),
                              modified if isinstance(modified, datetime) else None, str(parameter.get("Type", ""))))
    return rows


def _function(target: Target) -> dict[str, Any]:
    found = target.client.get_function(target.function)
    if not found:
        raise PluginError(f"Lambda function {target.function} does not exist in {target.region}.",
                          fix="Deploy it first with deploy-aws-lambda (which stores the .env secrets in SSM).")
    return found


def set_secret(target: Target, name: str, value: str, *, warn: Echo) -> tuple[int, Published]:
    """Store ``value`` as the secret ``name`` and publish it; returns (parameter version, published)."""
    from ..deploy.environment import validate_env_name

    validate_env_name(name)
    if not value:
        raise PluginError(f"no value for {name}: nothing was changed.",
                          fix=f"Type the value at the prompt, or pipe it: printf %s \"$VALUE\" | "
                              f"investing-algorithm-framework secrets-aws-lambda set {name}")
    target.masker.add(value)
    with _masked(target):
        found = _function(target)
        plain = found["Configuration"].get("Environment", {}).get("Variables", {})
        if name in plain:
            raise PluginError(f"{name} is a plain environment variable of {target.function}: the function would keep "
                              "using that value, so nothing was changed.",
                              fix=f"Make it a secret with deploy-aws-lambda --secret {name} (then set it here).")
        version = target.client.put_secure_parameter(f"{target.names.ssm_path}{name}", value)
        published = publish_secrets(target, found)
    _remember(target, name, stored=True, warn=warn)
    return version, published


def remove_secret(target: Target, name: str, *, warn: Echo) -> Published:
    """Delete the secret ``name`` (every version) and publish the function without it."""
    with _masked(target):
        found = _function(target)
        if not target.client.delete_parameter(f"{target.names.ssm_path}{name}"):
            known = ", ".join(row.name for row in list_secrets(target)) or "none"
            raise PluginError(f"{target.function} has no secret {name} (its secrets: {known}).",
                              fix="`secrets-aws-lambda list` shows them.")
        published = publish_secrets(target, found)
    _remember(target, name, stored=False, warn=warn)
    return published


def publish_secrets(target: Target, found: dict[str, Any] | None = None) -> Published:
    """A new version whose secrets digest matches SSM now, behind the ``live`` alias.

    Publishes from ``$LATEST``, so it refuses to go on when the alias runs another image than
    ``$LATEST`` (after a rollback): that would roll forward by accident. SSM is written anyway; the
    next cold start loads the new value.
    """
    from ..deploy.desired import ALIAS
    from ..deploy.planner import secrets_digest
    from ..function_env import SECRETS_DIGEST_ENV, SSM_PARAMETER_PATH_ENV

    client, function, path = target.client, target.function, target.names.ssm_path
    found = found or _function(target)
    config = found["Configuration"]
    alias = client.get_alias(function, ALIAS)
    current = str(alias["FunctionVersion"]) if alias else None
    if current is not None and current != "$LATEST":
        live = client.get_function(function, current) or {}
        if (live.get("Code", {}).get("ImageUri") != found.get("Code", {}).get("ImageUri")
                or live.get("Configuration", {}).get("MemorySize") != config.get("MemorySize")):
            return Published(None, current, f"the {ALIAS} alias runs version {current}, which differs from the "
                                            "function's latest configuration (a rollback?): not published, to not "
                                            "roll forward by accident. New cold starts load the new value; "
                                            "deploy-aws-lambda publishes it for good")
    versions = {str(p["Name"]): int(p.get("Version") or 0) for p in client.describe_parameters(path)}
    environment = dict(config.get("Environment", {}).get("Variables", {}))
    if versions:
        environment.update({SSM_PARAMETER_PATH_ENV: path, SECRETS_DIGEST_ENV: secrets_digest(versions)})
    else:  # no secret left: the function must not look for any (a cold start with none fails)
        environment.pop(SSM_PARAMETER_PATH_ENV, None)
        environment.pop(SECRETS_DIGEST_ENV, None)
    client.update_function_configuration(
        function, str(config["Role"]), int(config["MemorySize"]), int(config["Timeout"]), environment,
        int((config.get("EphemeralStorage") or {}).get("Size") or 512))
    version = client.publish_version(function, "secrets-aws-lambda: secrets changed")
    client.put_alias(function, ALIAS, version, exists=alias is not None)
    return Published(version, current)


def _masked(target: Target) -> Any:
    """Errors raised inside come out with every known secret value masked."""
    import contextlib

    @contextlib.contextmanager
    def scope() -> Any:
        try:
            yield
        except PluginError as exc:
            raise PluginError(target.masker.mask(exc.message),
                              fix=target.masker.mask(exc.fix) if exc.fix else None) from None

    return scope()


def _remember(target: Target, name: str, *, stored: bool, warn: Echo) -> None:
    """Record (or forget) ``name`` in the project's settings as a secret only SSM holds: the name,
    never the value. Warns when the project's ``.env`` has it (the next deploy stores that value)."""
    from ..deploy.environment import dotenv_name, read_dotenv
    from ..deploy.settings import load_file, save_section
    from ..deploy.stages import section

    project = target.project_dir
    if project is None or target.saved.get("function_name") != target.function:
        return
    if name in read_dotenv(project, target.stage):
        warn(f"Warning: {name} is also in {project / dotenv_name(project, target.stage)}: the next deploy-aws-lambda "
             "stores that value "
             f"{'again' if not stored else 'instead'}. Change or remove it there too.")
    data = section(load_file(project), target.stage)
    names = set(data.get("stored_secrets") or [])
    names = names | {name} if stored else names - {name}
    env = data.get("env") or {}
    env.pop(name, None)  # never a value next to a secret's name
    if env:
        data["env"] = env
    else:
        data.pop("env", None)
    if names:
        data["stored_secrets"] = sorted(names)
    else:
        data.pop("stored_secrets", None)
    save_section(project, target.stage, data)
