"""Comparisons the kinds share: policy documents, images. Pure."""
from __future__ import annotations

from typing import Any, Mapping

__all__ = ["canonical", "digest_of", "merged_policy", "policy_equal", "same_image"]


def canonical(value: Any) -> Any:
    """A policy document in a comparable form: AWS may give back ``"x"`` for ``["x"]``."""
    if isinstance(value, Mapping):
        return {k: canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        items = [canonical(v) for v in value]
        if len(items) == 1:
            return items[0]
        return sorted(items, key=repr) if all(isinstance(i, str) for i in items) else items
    return value


def policy_equal(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    return a is not None and b is not None and canonical(a) == canonical(b)


def merged_policy(want: Mapping[str, Any], have: Mapping[str, Any] | None) -> dict[str, Any]:
    """``want``'s statements replacing the live ones with the same Sid; other statements kept."""
    statements = (have or {}).get("Statement") or []
    if isinstance(statements, Mapping):
        statements = [statements]
    ours = {s.get("Sid") for s in want["Statement"]}
    kept = [s for s in statements if s.get("Sid") not in ours]
    return {**want, "Statement": kept + list(want["Statement"])}


def digest_of(image_uri: str | None) -> str | None:
    if not image_uri:
        return None
    return image_uri.rsplit("@", 1)[-1] if "@" in image_uri else image_uri


def same_image(desired: str | None, live: str | None) -> bool:
    return desired is not None and live is not None and (
        desired == live or ("@" in desired and "@" in live and digest_of(desired) == digest_of(live)
                            and desired.split("@")[0] == live.split("@")[0]))
