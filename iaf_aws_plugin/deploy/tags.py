"""The user's own tags (``deploy-aws-lambda --tag KEY=VALUE``): parsed and checked against AWS's
tag rules, the same for every service the bot uses (botocore's service models: a key of 1 to 128
and a value of 0 to 256 letters, digits, spaces and ``_ . : / = + - @``; keys starting with
``aws:`` are AWS's own; at most 50 tags on a resource, one of them the deploy's ``managed-by``).
Pure: no I/O.
"""
from __future__ import annotations

import unicodedata
from typing import Iterable, Mapping

from ..errors import PluginError

__all__ = ["MANAGED_BY", "MAX_USER_TAGS", "parse_tag_options", "tag_changes", "validate_tags"]

#: The tag the deploy puts on everything it creates (never the user's to set or remove).
MANAGED_BY = "managed-by"
#: AWS allows 50 tags on a resource; the deploy's own ``managed-by`` takes one.
MAX_USER_TAGS = 49
KEY_LENGTH, VALUE_LENGTH = (1, 128), (0, 256)
_EXTRA = set("_.:/=+-@")
_EXAMPLE = "For example: --tag team=quant --tag cost-center=1234 (--tag none removes them all)."


def _allowed(text: str) -> bool:
    """AWS's ``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*``: letters, separators (spaces), numbers and ``_.:/=+-@``."""
    return all(unicodedata.category(c)[0] in "LZN" or c in _EXTRA for c in text)


def validate_tags(tags: Mapping[str, str], where: str = "--tag") -> dict[str, str]:
    """``tags`` when AWS accepts them on every resource; else one line naming the first bad tag."""
    if len(tags) > MAX_USER_TAGS:
        raise PluginError(f"{len(tags)} tags given ({where}): AWS allows 50 on a resource and the deploy's own "
                          f"{MANAGED_BY} tag takes one, so at most {MAX_USER_TAGS}.", fix=_EXAMPLE)
    for key, value in tags.items():
        shown = f"{where} {key}={value}"
        if not KEY_LENGTH[0] <= len(key) <= KEY_LENGTH[1]:
            raise PluginError(f"invalid {shown}: a tag key has 1 to 128 characters (this one {len(key)}).",
                              fix=_EXAMPLE)
        if len(value) > VALUE_LENGTH[1]:
            raise PluginError(f"invalid {where} {key}=...: a tag value has at most 256 characters (this one "
                              f"{len(value)}).", fix=_EXAMPLE)
        bad = next((c for c in key + value if not _allowed(c)), None)
        if bad is not None:
            raise PluginError(f"invalid {shown}: {bad!r} is not allowed in a tag; AWS allows letters, digits, "
                              "spaces and _ . : / = + - @.", fix=_EXAMPLE)
        if key.lower().startswith("aws:"):
            raise PluginError(f"invalid {shown}: keys starting with 'aws:' are reserved for AWS.", fix=_EXAMPLE)
        if key == MANAGED_BY:
            raise PluginError(f"invalid {shown}: {MANAGED_BY} is the deploy's own tag.", fix=_EXAMPLE)
    return dict(sorted(tags.items()))


def parse_tag_options(values: Iterable[str]) -> dict[str, str]:
    """``--tag KEY=VALUE`` values (repeatable) as a mapping; ``--tag none`` alone: no tags at all."""
    given = list(values)
    if [v.strip().lower() for v in given] == ["none"]:
        return {}
    tags: dict[str, str] = {}
    for value in given:
        key, sep, text = value.partition("=")
        if not sep:
            raise PluginError(f"invalid --tag {value!r}: expected KEY=VALUE (or --tag none alone to remove every tag).",
                              fix=_EXAMPLE)
        if key in tags and tags[key] != text:
            raise PluginError(f"--tag {key} is given twice, with two values.", fix="Give each key once.")
        tags[key] = text
    return validate_tags(tags)


def tag_changes(want: Mapping[str, str], have: Mapping[str, str], dropped: Iterable[str]) -> tuple[
        dict[str, str], list[str], list[str]]:
    """(tags to set, keys to remove, the changes as plan text ``+k=v ~k=v -k``): only the user's keys,
    ``want``'s and the ``dropped`` ones (earlier deploys set them); a tag somebody else set is never touched."""
    put = {k: v for k, v in want.items() if have.get(k) != v}
    remove = sorted(k for k in set(dropped) - set(want) if k in have)
    text = [f"{'~' if k in have else '+'}{k}={v}" for k, v in sorted(put.items())] + [f"-{k}" for k in remove]
    return put, remove, text
