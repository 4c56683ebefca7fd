"""Specs as flat dotted paths: ``{"hw.tiles": 100, "model.moe.top_k": 2, ...}``.

The one flattening of spec trees: the cost model's columns (``cost.columns``) and the
``show`` command's rows both use it. Dotted paths are exactly the ``--set`` paths.
"""

from __future__ import annotations

from typing import Any, Collection

from pydantic import BaseModel


def flatten(obj: Any, prefix: str = "", *, list_sep: str = "; ", drop: Collection[str] = ()) -> dict[str, Any]:
    """Flatten a spec (or plain dict) into {dotted.path: value}; lists of scalars join with
    ``list_sep``; keys in ``drop`` (at any depth) are left out."""
    out: dict[str, Any] = {}
    _into(obj.model_dump(mode="json") if isinstance(obj, BaseModel) else obj, prefix, out, list_sep, set(drop))
    return out


def flatten_like(obj: BaseModel, base: BaseModel, base_flat: dict[str, Any], prefix: str = "", *,
                 list_sep: str = "; ", drop: Collection[str] = ()) -> dict[str, Any]:
    """``flatten(obj, …)`` given ``base_flat = flatten(base, …)`` of a spec of the same class:
    the fields ``obj`` shares with ``base`` are copied from ``base_flat`` and only the
    changed ones are read. A sweep realises thousands of variants of one spec that differ in
    a leaf or two; anything but changed plain leaves (a group appearing, a list, a mapping)
    falls back to the full flattening, so the result is always the same."""
    if type(obj) is not type(base):
        return flatten(obj, prefix, list_sep=list_sep, drop=drop)
    out = dict(base_flat)
    if _patch(obj, base, prefix, out, set(drop)):
        return out
    return flatten(obj, prefix, list_sep=list_sep, drop=drop)


_LEAF = (int, float, str, bool)


def _patch(obj: BaseModel, base: BaseModel, prefix: str, out: dict[str, Any], drop: set[str]) -> bool:
    """Write ``obj``'s leaves that differ from ``base``'s into ``out``; False if a change is not a plain leaf."""
    mine, theirs = obj.__dict__, base.__dict__
    for name in type(obj).model_fields:
        if name in drop:
            continue
        v, b = mine[name], theirs[name]
        if v is b:
            continue
        tv = type(v)
        if tv is type(b) and v == b:  # equal leaves, or equal groups (their fields compare equal)
            continue
        if isinstance(v, BaseModel) and tv is type(b):
            if not _patch(v, b, f"{prefix}{name}.", out, drop):
                return False
        elif tv in _LEAF and type(b) in _LEAF and f"{prefix}{name}" in out:
            out[f"{prefix}{name}"] = v  # json mode leaves an int, float, str or bool as it is
        else:
            return False
    return True


def _into(obj: Any, prefix: str, out: dict[str, Any], sep: str, drop: set[str]) -> None:
    if isinstance(obj, list):
        out[prefix[:-1]] = sep.join(map(str, obj))
        return
    if not isinstance(obj, dict):
        out[prefix[:-1]] = obj
        return
    for k, v in obj.items():  # leaves inline: this runs for every realised design of a sweep
        if k in drop:
            continue
        t = type(v)
        if t is dict:
            _into(v, f"{prefix}{k}.", out, sep, drop)
        elif t is list:
            out[prefix + k] = sep.join(map(str, v))
        else:
            out[prefix + k] = v
