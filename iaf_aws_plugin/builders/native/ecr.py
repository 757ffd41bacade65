"""Push an image to Amazon ECR through the ECR API only (no registry client, no login):
blobs ECR already has are skipped, the others uploaded in 8 MiB parts (ECR wants 5–10 MiB,
only the last smaller), the digest ECR computed compared with ours, the manifest put under
its sha256 digest."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ...errors import PluginError
from .blobs import BlobStore, iter_chunks
from .image import MANIFEST_MEDIA_TYPE, LocalImage

PART_SIZE = 8 * 1024 * 1024
MAX_PARTS = 4200
_CHECK_BATCH = 100


@dataclass(frozen=True)
class PushResult:
    uploaded_blobs: int
    uploaded_bytes: int
    skipped_blobs: int


def _fail(what: str, error: Exception) -> PluginError:
    response = getattr(error, "response", None) or {}
    code = response.get("Error", {}).get("Code", type(error).__name__)
    message = response.get("Error", {}).get("Message", str(error))
    fix = "Check your AWS credentials and ECR permissions (ecr:InitiateLayerUpload, UploadLayerPart, " \
          "CompleteLayerUpload, PutImage, BatchCheckLayerAvailability), then deploy again."
    return PluginError(f"{what} failed: {code}: {message}", fix=fix)


def missing_blobs(ecr: Any, repository: str, registry_id: str, digests: list[str]) -> list[str]:
    missing: list[str] = []
    for start in range(0, len(digests), _CHECK_BATCH):
        batch = digests[start:start + _CHECK_BATCH]
        try:
            answer = ecr.batch_check_layer_availability(repositoryName=repository, registryId=registry_id,
                                                        layerDigests=batch)
        except Exception as error:  # botocore errors: one line
            raise _fail(f"Checking layers in ECR repository {repository}", error) from None
        available = {layer["layerDigest"] for layer in answer.get("layers", [])
                     if layer.get("layerAvailability") == "AVAILABLE"}
        missing += [d for d in batch if d not in available]
    return missing


def push_image(ecr: Any, repository: str, registry_id: str, image: LocalImage, store: BlobStore, tag: str,
               *, fetch_base: Callable[[list[str]], None], echo: Callable[[str], None]) -> PushResult:
    blobs = {layer.digest: layer.size for layer in image.layers}
    blobs[image.config_digest] = len(image.config)
    digests = list(blobs)
    missing = missing_blobs(ecr, repository, registry_id, digests)
    base_missing = [layer.digest for layer in image.layers if layer.origin == "base" and layer.digest in missing]
    if base_missing:
        fetch_base(base_missing)
    uploaded = 0
    for digest in missing:
        uploaded += _upload(ecr, repository, registry_id, digest, store, echo)
    try:
        ecr.put_image(repositoryName=repository, registryId=registry_id, imageManifest=image.manifest.decode(),
                      imageManifestMediaType=MANIFEST_MEDIA_TYPE, imageTag=tag, imageDigest=image.digest)
    except Exception as error:
        code = (getattr(error, "response", None) or {}).get("Error", {}).get("Code")
        if code != "ImageAlreadyExistsException":
            raise _fail(f"Putting image {image.digest} into ECR repository {repository}", error) from None
    echo(f"Pushed {image.digest}: {len(missing)} blob(s) uploaded ({uploaded / 1e6:.1f} MB), "
         f"{len(digests) - len(missing)} already in ECR.")
    return PushResult(len(missing), uploaded, len(digests) - len(missing))


def _upload(ecr: Any, repository: str, registry_id: str, digest: str, store: BlobStore,
            echo: Callable[[str], None]) -> int:
    path = store.path(digest)
    size = path.stat().st_size
    if -(-size // PART_SIZE) > MAX_PARTS:
        raise PluginError(f"layer {digest} is {size / 1e9:.1f} GB: more than ECR's {MAX_PARTS} parts.",
                          fix="Make the image smaller (fewer or smaller dependencies).")
    where = f"Uploading layer {digest[:19]} to ECR repository {repository}"
    echo(f"{where} ({size / 1e6:.1f} MB)")
    try:
        upload_id = ecr.initiate_layer_upload(repositoryName=repository, registryId=registry_id)["uploadId"]
        first = 0
        for chunk in iter_chunks(path, PART_SIZE):
            ecr.upload_layer_part(repositoryName=repository, registryId=registry_id, uploadId=upload_id,
                                  partFirstByte=first, partLastByte=first + len(chunk) - 1, layerPartBlob=chunk)
            first += len(chunk)
        answer = ecr.complete_layer_upload(repositoryName=repository, registryId=registry_id, uploadId=upload_id,
                                           layerDigests=[digest])
    except PluginError:
        raise
    except Exception as error:
        code = (getattr(error, "response", None) or {}).get("Error", {}).get("Code")
        if code == "LayerAlreadyExistsException":
            return 0
        raise _fail(where, error) from None
    if answer.get("layerDigest") != digest:
        raise PluginError(f"{where}: ECR computed digest {answer.get('layerDigest')}, ours is {digest}.",
                          fix="The upload was corrupted on the way: deploy again.")
    return size
