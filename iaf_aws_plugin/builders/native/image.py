"""Image config and manifest (OCI), assembled from the base image and our layers with a fixed
``created``, serialized canonically; and the OCI image layout writer (``--output oci:DIR``)."""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import PluginError
from .blobs import BlobStore, sha256_bytes
from .layers import LAYER_MEDIA_TYPE, Layer
from .registry import BaseImage

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
CREATED = "1970-01-01T00:00:00Z"
_OCI_LAYER_TYPES = {
    "application/vnd.docker.image.rootfs.diff.tar.gzip": LAYER_MEDIA_TYPE,
    "application/vnd.oci.image.layer.v1.tar+gzip": LAYER_MEDIA_TYPE,
    "application/vnd.oci.image.layer.v1.tar+zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.v1.tar": "application/vnd.oci.image.layer.v1.tar",
}


@dataclass(frozen=True)
class ImageLayer:
    digest: str
    size: int
    media_type: str
    diff_id: str
    origin: str  # "base", "dependencies" or "app"
    uncompressed: int | None = None


@dataclass(frozen=True)
class LocalImage:
    """A built image: blobs in the local store (base layers may still be remote)."""

    manifest: bytes
    digest: str
    config: bytes
    config_digest: str
    layers: tuple[ImageLayer, ...]
    base: BaseImage

    @property
    def size(self) -> int:
        return sum(layer.size for layer in self.layers) + len(self.config)


def canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def assemble(store: BlobStore, base: BaseImage, ours: list[tuple[str, Layer, str]], *, handler: str,
             task_root: str) -> LocalImage:
    """The image: base layers + ``ours`` (origin, layer, history line); Cmd set to the handler,
    the base's Entrypoint, Env and WorkingDir kept."""
    base_config = base.config
    run_config = dict(base_config.get("config") or {})
    run_config["Cmd"] = [handler]
    run_config.setdefault("WorkingDir", task_root)
    layers = [ImageLayer(layer.digest, layer.size, _oci_type(layer.media_type), layer.diff_id, "base")
              for layer in base.layers]
    layers += [ImageLayer(layer.digest, layer.size, layer.media_type, layer.diff_id, origin, layer.uncompressed)
               for origin, layer, _ in ours]
    history = [dict(entry) for entry in base.history]
    history += [{"created": CREATED, "created_by": line, "comment": "iaf-aws-plugin native builder"}
                for _, _, line in ours]
    history.append({"created": CREATED, "created_by": f'CMD ["{handler}"]', "empty_layer": True})
    config = {
        "architecture": base_config.get("architecture", "amd64"),
        "os": base_config.get("os", "linux"),
        "created": CREATED,
        "config": run_config,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": history,
    }
    if base_config.get("variant"):
        config["variant"] = base_config["variant"]
    config_bytes = canonical(config)
    config_digest = store.put_bytes(config_bytes)
    manifest = canonical({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": len(config_bytes)},
        "layers": [{"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size} for layer in layers],
    })
    store.put_bytes(manifest)
    return LocalImage(manifest, sha256_bytes(manifest), config_bytes, config_digest, tuple(layers), base)


def _oci_type(media_type: str) -> str:
    if media_type not in _OCI_LAYER_TYPES:
        raise PluginError(f"base image layer type {media_type!r} is not supported.",
                          fix="Use a base image with gzip-compressed layers (every Lambda base image has them).")
    return _OCI_LAYER_TYPES[media_type]


def write_oci_layout(image: LocalImage, store: BlobStore, directory: Path, ref_name: str) -> None:
    """An OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256/…``) in ``directory``;
    the image is added to (or replaces the same name in) an existing layout."""
    directory = Path(directory)
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (directory / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}', encoding="utf-8")
    for digest in [image.config_digest, image.digest, *(layer.digest for layer in image.layers)]:
        target = blobs / digest.split(":")[1]
        if target.exists():
            continue
        source = store.path(digest)
        tmp = target.with_name(target.name + ".tmp")
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        tmp.replace(target)
    index_path = directory / "index.json"
    manifests: list[dict[str, Any]] = []
    if index_path.is_file():
        try:
            manifests = [m for m in json.loads(index_path.read_text(encoding="utf-8")).get("manifests", [])
                         if (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") != ref_name]
        except ValueError:
            raise PluginError(f"{index_path} is not valid JSON: not an OCI layout.",
                              fix="Choose an empty folder for --output oci:DIR.") from None
    manifests.append({"mediaType": MANIFEST_MEDIA_TYPE, "digest": image.digest, "size": len(image.manifest),
                      "annotations": {"org.opencontainers.image.ref.name": ref_name}})
    index_path.write_text(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                      "manifests": manifests}, indent=1), encoding="utf-8")
