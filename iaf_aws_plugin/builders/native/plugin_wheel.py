"""The installed iaf-aws-plugin as a wheel: the one it was installed from when that file is
still at hand (checked against the recorded hash), else one rebuilt from the installed files
(RECORD), byte for byte the same for the same installation."""
from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import urllib.parse
import urllib.request
import zipfile
from importlib import metadata
from pathlib import Path

from ...errors import PluginError
from .blobs import BlobStore

DISTRIBUTION = "iaf-aws-plugin"
WHEEL_ENV = "IAF_AWS_PLUGIN_WHEEL"  # a wheel of iaf-aws-plugin to put into images instead
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_SKIP_META = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json", "uv_cache.json"}  # installer-written


def plugin_wheel(store: BlobStore) -> Path:
    """A wheel file of the installed iaf-aws-plugin (cached in ``store``), or the one named
    by ``$IAF_AWS_PLUGIN_WHEEL``."""
    import os

    explicit = os.environ.get(WHEEL_ENV)
    if explicit:
        path = Path(explicit)
        if not path.is_file() or not path.name.startswith("iaf_aws_plugin-") or path.suffix != ".whl":
            raise PluginError(f"{WHEEL_ENV}={explicit} is not an iaf_aws_plugin-*.whl file.",
                              fix=f"Point {WHEEL_ENV} at a built wheel of iaf-aws-plugin, or unset it.")
        return path
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise PluginError("iaf-aws-plugin is not installed in this environment: it cannot go into the image.",
                          fix="pip install iaf-aws-plugin (the deploy needs it installed).") from None
    version = dist.version
    name = f"iaf_aws_plugin-{version}-py3-none-any.whl"
    at_hand = _installed_from(dist)
    if at_hand is not None and at_hand.name == name:
        return at_hand
    data = _rebuild(dist)
    folder = store.root / "plugin-wheels" / hashlib.sha256(data).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if not target.is_file():
        tmp = folder / (name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    return target


def _installed_from(dist: metadata.Distribution) -> Path | None:
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    try:
        info = json.loads(text)
    except ValueError:
        return None
    url = str(info.get("url", ""))
    if not url.startswith("file:") or not url.endswith(".whl"):
        return None
    path = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
    expected = str((info.get("archive_info") or {}).get("hash") or (info.get("archive_info") or {}).get("hashes", {}).get("sha256", ""))
    if not path.is_file():
        return None
    if expected:
        algorithm, _, value = expected.partition("=") if "=" in expected else ("sha256", "", expected)
        if algorithm == "sha256" and hashlib.sha256(path.read_bytes()).hexdigest() != value:
            return None  # the file changed since it was installed
    return path


def _rebuild(dist: metadata.Distribution) -> bytes:
    files = dist.files or []
    dist_info = None
    entries: list[tuple[str, bytes]] = []
    for file in files:
        relative = str(file).replace("\\", "/")
        if relative.startswith("..") or "__pycache__" in relative or relative.endswith(".pyc"):
            continue
        parts = relative.split("/")
        if parts[0].endswith(".dist-info"):
            dist_info = parts[0]
            if parts[-1] in _SKIP_META:
                continue
        path = Path(str(file.locate()))
        if not path.is_file():
            raise PluginError(f"the installed iaf-aws-plugin is incomplete ({relative} is missing).",
                              fix="Reinstall it: pip install --force-reinstall iaf-aws-plugin.")
        entries.append((relative, path.read_bytes()))
    if dist_info is None:
        raise PluginError("the installed iaf-aws-plugin has no .dist-info RECORD: it cannot be packed into a wheel.",
                          fix="Reinstall it from a wheel: pip install --force-reinstall iaf-aws-plugin.")
    entries.sort()
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for relative, data in entries:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        writer.writerow([relative, f"sha256={digest}", len(data)])
    writer.writerow([f"{dist_info}/RECORD", "", ""])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative, data in [*entries, (f"{dist_info}/RECORD", record.getvalue().encode())]:
            info = zipfile.ZipInfo(relative, date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()
