"""Design points from preset names, workload values and ``--set`` overrides.

The one way the CLI, the Python API and the validation turn (hardware names, model names,
workload, ``--set`` items) into validated design-point columns (``specs.columns``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import loader
from .base import SpecError
from .columns import spec_columns
from .model import ModelSpec
from .workload import Workload

if TYPE_CHECKING:
    import pandas as pd


def _hw_sets_for(data: dict, sets: dict[str, Any], all_hw: list[dict]) -> dict[str, Any]:
    """The --set hw.* items that apply to this hardware's kind (AIMC or GPU).

    An item that fits no given hardware is an error (check_path names it); one that fits
    another kind only is skipped here.
    """
    mine: dict[str, Any] = {}
    for rest, value in sets.items():
        if _fits(data, rest):
            mine[rest] = value
        elif not any(_fits(d, rest) for d in all_hw):
            loader.check_path({"hw": loader.hw_classes(data)}, f"hw.{rest}")
    return mine


def _fits(data: dict, rest: str) -> bool:
    """Whether ``hw.<rest>`` names a field of this hardware's kind."""
    try:
        loader.check_path({"hw": loader.hw_classes(data)}, f"hw.{rest}")
        return True
    except SpecError:
        return False


def design_rows(
    hws: list[str], models: list[str], workload: dict[str, Any], overrides: dict[str, dict[str, Any]],
    src: str = "workload",
) -> tuple[list[dict[str, Any]], list[ModelSpec], Workload]:
    """Validated design points (one dict of columns per hardware × model, models outer), with
    the validated models and workload. ``overrides`` is ``loader.split_sets`` of the --set items."""
    raw_hw = [loader.resolve("hw", h) for h in hws]
    w = loader.load_workload(workload, src, overrides["workload"])
    rows, specs = [], []
    for m_name in models:
        m = loader.load_model(m_name, overrides["model"])
        specs.append(m)
        # a file is shown by the model's own name (an HF checkout by its folder), a preset by its name
        label = m.name if m_name not in loader.preset_names("model") and m.name != "custom-model" else m_name
        for (data, hsrc), h_name in zip(raw_hw, hws):
            hw = loader.validate_hardware(data, hsrc, _hw_sets_for(data, overrides["hw"], [d for d, _ in raw_hw]))
            rows.append({"hardware": h_name, "model": label, **spec_columns(hw, m, w)})
    return rows, specs, w


def build_points(hws: list[str], models: list[str], workload: dict[str, Any], sets: list[str] | None) -> pd.DataFrame:
    """Design points from --set items as a columns frame (``design_rows`` without the specs)."""
    import pandas as pd

    return pd.DataFrame(design_rows(hws, models, workload, loader.split_sets(sets), "command line")[0])
