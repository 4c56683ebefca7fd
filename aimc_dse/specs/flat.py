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


def _into(obj: Any, prefix: str, out: dict[str, Any], sep: str, drop: set[str]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k not in drop:
                _into(v, f"{prefix}{k}.", out, sep, drop)
    elif isinstance(obj, list):
        out[prefix[:-1]] = sep.join(map(str, obj))
    else:
        out[prefix[:-1]] = obj
