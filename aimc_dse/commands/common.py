"""Options and helpers shared by several commands (one override mechanism: ``--set``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from pydantic import BaseModel

from ..report.output import Format
from ..specs.base import SpecError

FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table (people), json or csv (programs)")]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--set", help="override a spec field by dotted path, e.g. hw.tiles=4096, model.layers=1 (repeatable)"),
]


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten a spec (or dict) into {dotted.path: value}; lists of scalars become strings."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(obj, list):
        return {prefix[:-1]: "; ".join(str(x) for x in obj)}
    return {prefix[:-1]: obj}


def check_new_file(path: Path, force: bool) -> None:
    """SpecError unless ``path`` may be written: not a folder, no file in the way of its folder,
    and not an existing file unless ``force``."""
    if path.is_dir():
        raise SpecError(str(path), None, "is a folder; give a file name")
    for parent in path.parents:
        if parent.is_dir():
            break
        if parent.exists():
            raise SpecError(str(path), None, f"{parent} is a file, not a folder")
    if path.exists() and not force:
        raise SpecError(str(path), None, "already exists; pass --force to overwrite it")
