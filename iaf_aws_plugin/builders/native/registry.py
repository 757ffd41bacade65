"""Pull a base image over the registry HTTP API (the OCI distribution spec): anonymous
bearer-token auth, platform chosen from an index, every manifest and blob checked against
its digest, blobs cached by digest (downloaded only when needed)."""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

from ...errors import PluginError
from .blobs import CHUNK, BlobStore, sha256_bytes
from .reference import DIGEST, ImageReference

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")
GOARCH = {"x86_64": "amd64", "arm64": "arm64"}
TIMEOUT = 60
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class BaseLayer:
    digest: str
    size: int
    media_type: str
    diff_id: str


@dataclass(frozen=True)
class BaseImage:
    """A resolved base image: its platform manifest digest, config (parsed) and layers."""

    reference: ImageReference
    manifest_digest: str
    config: dict[str, Any]
    layers: tuple[BaseLayer, ...]
    history: tuple[dict[str, Any], ...] = field(default=())


class RegistryClient:
    """Read-only client of one repository of one registry."""

    def __init__(self, reference: ImageReference, store: BlobStore, *, timeout: float = TIMEOUT) -> None:
        self.ref = reference
        self.store = store
        self.timeout = timeout
        self._token: str | None = None

    # transport ---------------------------------------------------------------------------
    def _url(self, kind: str, reference: str) -> str:
        return f"{self.ref.base_url}/v2/{self.ref.repository}/{kind}/{reference}"

    def _open(self, url: str, accept: str | None = None) -> Any:
        for attempt in (1, 2):
            request = urllib.request.Request(url)
            if accept:
                request.add_header("Accept", accept)
            if self._token:
                # Not sent again on a redirect (blob storage has its own signature).
                request.add_unredirected_header("Authorization", f"Bearer {self._token}")
            try:
                return urllib.request.urlopen(request, timeout=self.timeout)
            except urllib.error.HTTPError as error:
                if error.code == 401 and attempt == 1:
                    self._token = self._fetch_token(error.headers.get("WWW-Authenticate", ""))
                    continue
                raise self._error(error, url) from None
            except (urllib.error.URLError, OSError) as error:
                reason = getattr(error, "reason", error)
                raise PluginError(f"cannot reach the registry {self.ref.registry} for {self.ref}: {reason}.",
                                  fix="Check the network connection and the --base-image reference.") from None
        raise AssertionError("unreachable")

    def _error(self, error: urllib.error.HTTPError, url: str) -> PluginError:
        if error.code == 404:
            return PluginError(f"base image {self.ref} not found in {self.ref.registry} (HTTP 404 for {url}).",
                               fix="Check the --base-image name and tag.")
        if error.code in (401, 403):
            return PluginError(f"the registry {self.ref.registry} refuses anonymous pulls of {self.ref} "
                               f"(HTTP {error.code}).",
                               fix="Use a public base image, or copy it to a public or loopback registry.")
        return PluginError(f"the registry {self.ref.registry} answered HTTP {error.code} for {url}.",
                           fix="Retry later; check the --base-image reference.")

    def _fetch_token(self, challenge: str) -> str:
        scheme = challenge.split(" ", 1)[0].lower()
        params = dict(_CHALLENGE.findall(challenge))
        if scheme != "bearer" or "realm" not in params:
            raise PluginError(f"the registry {self.ref.registry} wants a login ({challenge or 'no challenge'}) "
                              f"to pull {self.ref}.",
                              fix="Use a public base image (anonymous pulls), or a loopback registry copy of it.")
        query = {k: v for k, v in params.items() if k in ("service", "scope")}
        query.setdefault("scope", f"repository:{self.ref.repository}:pull")
        url = f"{params['realm']}?{urllib.parse.urlencode(query)}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as answer:
                data = json.loads(answer.read())
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise PluginError(f"cannot get an anonymous pull token from {params['realm']}: {error}.",
                              fix="Check the network connection; the image may not be public.") from None
        token = data.get("token") or data.get("access_token")
        if not isinstance(token, str):
            raise PluginError(f"the token service {params['realm']} returned no token.",
                              fix="The image may not be public: use another --base-image.")
        return token

    # API ---------------------------------------------------------------------------------
    def manifest(self, reference: str) -> tuple[bytes, str, str]:
        """(bytes, media type, digest); a digest reference is verified."""
        with self._open(self._url("manifests", reference), ", ".join(INDEX_TYPES + MANIFEST_TYPES)) as answer:
            body = answer.read()
            media_type = (answer.headers.get("Content-Type") or "").split(";")[0].strip()
        digest = sha256_bytes(body)
        if DIGEST.match(reference) and digest != reference:
            raise PluginError(f"the manifest of {self.ref} has digest {digest}, not the requested {reference}.",
                              fix="Retry; if it persists, the registry or a proxy alters the data.")
        if not media_type or media_type in ("application/json", "text/plain"):
            media_type = str(json.loads(body).get("mediaType") or "")
        return body, media_type, digest

    def blob(self, digest: str, *, echo: Callable[[str], None] | None = None) -> bytes | None:
        """Download ``digest`` into the cache (verified); small blobs are returned."""
        if self.store.has(digest):
            return None
        with self._open(self._url("blobs", digest)) as answer, self.store.writer() as (handle, finish):
            for chunk in iter(lambda: answer.read(CHUNK), b""):
                handle.write(chunk)
            finish(digest)
        return None

    def blob_bytes(self, digest: str) -> bytes:
        self.blob(digest)
        return self.store.path(digest).read_bytes()


def resolve_base(reference: ImageReference, architecture: str, store: BlobStore,
                 *, echo: Callable[[str], None] | None = None) -> BaseImage:
    """The platform image of ``reference`` for ``architecture``: manifest and config
    (fetched, verified, cached); the layers are only listed, pulled by :func:`fetch_layers`."""
    goarch = GOARCH[architecture]
    client = RegistryClient(reference, store)
    pinned = reference.digest
    cached = store.record("manifests", pinned.split(":")[1]) if pinned else None
    if cached is not None:  # a digest never changes: no network needed
        body = store.path(cached["platform_digest"]).read_bytes() if store.has(cached["platform_digest"]) else None
        if body is not None:
            return _from_manifest(reference, client, cached["platform_digest"], body, goarch)
    body, media_type, digest = client.manifest(reference.reference)
    top_digest = digest
    if media_type in INDEX_TYPES or "manifests" in json.loads(body):
        index = json.loads(body)
        chosen = [m for m in index.get("manifests", [])
                  if m.get("platform", {}).get("os") == "linux" and m.get("platform", {}).get("architecture") == goarch]
        if not chosen:
            found = sorted({f"{m.get('platform', {}).get('os')}/{m.get('platform', {}).get('architecture')}"
                            for m in index.get("manifests", [])})
            raise PluginError(f"base image {reference} has no linux/{goarch} image (it has: {', '.join(found)}).",
                              fix="Pick the other --architecture, or a base image built for this one.")
        body, media_type, digest = client.manifest(str(chosen[0]["digest"]))
    store.put_bytes(body)
    store.save_record("manifests", top_digest.split(":")[1], {"platform_digest": digest, "arch": goarch,
                                                              "reference": str(reference)})
    return _from_manifest(reference, client, digest, body, goarch)


def _from_manifest(reference: ImageReference, client: RegistryClient, digest: str, body: bytes,
                   goarch: str) -> BaseImage:
    manifest = json.loads(body)
    if manifest.get("mediaType") not in (None, *MANIFEST_TYPES) or "layers" not in manifest:
        raise PluginError(f"base image {reference}: unsupported manifest type {manifest.get('mediaType')!r}.",
                          fix="Use an OCI or Docker v2 image.")
    config = json.loads(client.blob_bytes(str(manifest["config"]["digest"])))
    if config.get("architecture") not in (None, goarch):
        raise PluginError(f"base image {reference} is for {config.get('architecture')}, not {goarch}.",
                          fix="Pick the matching --architecture, or another base image.")
    diff_ids = list(config.get("rootfs", {}).get("diff_ids", []))
    layers = manifest["layers"]
    if len(diff_ids) != len(layers):
        raise PluginError(f"base image {reference}: {len(layers)} layers but {len(diff_ids)} diff_ids in its config.",
                          fix="Use another base image.")
    return BaseImage(reference, digest, config,
                     tuple(BaseLayer(str(layer["digest"]), int(layer["size"]), str(layer["mediaType"]), str(diff))
                           for layer, diff in zip(layers, diff_ids)),
                     tuple(config.get("history", [])))


def fetch_layers(base: BaseImage, digests: list[str], store: BlobStore,
                 echo: Callable[[str], None] | None = None) -> None:
    """Download (and verify) the base layers in ``digests`` that are not cached yet."""
    client = RegistryClient(base.reference, store)
    for layer in base.layers:
        if layer.digest in digests and not store.has(layer.digest):
            if echo:
                echo(f"Pulling base layer {layer.digest[:19]} ({layer.size / 1e6:.1f} MB)")
            client.blob(layer.digest)
