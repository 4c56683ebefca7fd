"""The column registry: every result column is registered once, with one type, and the
docs render it; a design that does not fit carries no performance figure."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from aimc_dse.cost import registry
from aimc_dse.cost.evaluate import evaluate_point
from aimc_dse.specs.loader import load_hardware, load_model, load_workload

from .golden.points import GOLDEN

GOLD = json.loads(GOLDEN.read_text())
TYPES = {"float": (float, type(None)), "int": (int,), "bool": (bool,), "str": (str, type(None))}


def test_every_result_column_is_registered_for_its_system_with_one_type():
    seen: dict[str, set[str]] = {}
    for p in GOLD:
        system = p["results"]["system"]
        for name, value in p["results"].items():
            col = registry.column(name)
            assert col is not None, f"{name} is not in the registry"
            assert system in col.systems, f"{name} is written for {system} but registered for {col.systems}"
            ok = TYPES[col.dtype]
            assert isinstance(value, ok) and not (col.dtype == "int" and isinstance(value, bool)), (
                f"{name}: {value!r} is not {col.dtype}")
            seen.setdefault(name, set()).add(system)
    unused = {c.name for c in registry.COLUMNS} - set(seen) - set(registry.EVENT_ONLY)
    assert not unused, f"registered but never written: {sorted(unused)}"


def test_names_are_unique_and_docs_are_current():
    names = [c.name for c in registry.COLUMNS]
    assert len(names) == len(set(names))
    doc = Path(__file__).resolve().parent.parent / "docs" / "columns.md"
    assert doc.read_text() == registry.markdown(), "docs/columns.md is stale: python -m aimc_dse.cost.registry > docs/columns.md"


def test_parts_add_up_to_the_totals():
    for p in GOLD:
        r = p["results"]
        if not r["fits"]:
            continue
        if r["system"] == "aimc":
            parts = [k for k in r if k.startswith("energy_nj.")]
            assert math.isclose(sum(r[k] for k in parts), r["energy_nj"], rel_tol=1e-9)
            assert math.isclose(r["latency_ns.prefill"] + r["latency_ns.decode"], r["latency_ns"], rel_tol=1e-12)
        else:
            lat = [k for k in r if k.startswith("latency_ns.")]
            assert math.isclose(sum(r[k] for k in lat), r["latency_ns"], rel_tol=1e-9)
            assert math.isclose(r["energy_nj.active"] + r["energy_nj.idle"], r["energy_nj"], rel_tol=1e-9)


@pytest.mark.parametrize("hw", ["nature-3d-aimc", "a100-sxm4-80gb"])
def test_a_design_that_does_not_fit_has_no_performance_figure(hw):
    sets = {"devices": 1} if hw.startswith("a100") else {}
    r = evaluate_point(load_hardware(hw, sets), load_model("llama-2-70b"), load_workload({}))
    assert r["fits"] is False or r["fits"] == np.False_
    for name, value in r.items():
        col = registry.column(name)
        if col is not None and col.performance:
            assert value is None or (isinstance(value, float) and math.isnan(value)), f"{name} = {value!r}"
    assert r["tier_blocks" if hw.startswith("nature") else "n_devices"] > 0  # design figures stay


def test_columns_command_prints_the_registry():
    from typer.testing import CliRunner

    from aimc_dse.cli import app

    res = CliRunner().invoke(app, ["columns", "--system", "aimc", "-f", "json"])
    assert res.exit_code == 0
    rows = json.loads(res.stdout)
    assert [r["column"] for r in rows] == [c.name for c in registry.COLUMNS if "aimc" in c.systems]
    assert CliRunner().invoke(app, ["columns", "--system", "tpu"]).exit_code == 2


def test_event_mode_writes_registered_columns_only():
    import aimc_dse

    df = aimc_dse.evaluate(hw="ibm3dsim-readme", model="ibm3dsim-readme", prompt_len=8, gen_len=2, fidelity="event")
    inputs = {c for c in df.columns if c.startswith(("hw.", "model.", "workload.")) or c in ("hardware", "model")}
    unknown = [c for c in df.columns if c not in inputs and registry.column(c) is None]
    assert not unknown, unknown
    assert set(registry.EVENT_ONLY) <= set(df.columns)
