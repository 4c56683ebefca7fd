"""Grid building on the sweep's local workers (sweep/grid.py ``realise_many``, runner
``realiser``): the same grid as built here alone, the same first rejected value, and the
inputs the workers read recorded for ``--resume``."""

from __future__ import annotations

import pytest

from aimc_dse.specs.base import SpecError
from aimc_dse.specs.sweep import SweepSpec
from aimc_dse.sweep import grid as grid_mod
from aimc_dse.sweep import runner
from aimc_dse.sweep.grid import build_grid, load_grid

TILES = [256 + 8 * i for i in range(grid_mod.PARALLEL_REALISE_MIN + 44)]


def _sweep(tiles: list[int], digital: bool = False) -> dict:
    axes: dict = {"hw.tiles": tiles, "workload.batch": [1, 8]}
    systems: list = ["nature-3d-aimc", "moewithpim-hermes"]
    if digital:  # an axis over named digital units: each variant reads its preset file
        axes["hw.digital"] = ["hermes-14nm-digital", "a100-class"]
        systems = [{"spec": "nature-3d-aimc", "set": {"digital": "hermes-14nm-digital"}}]
    return {"name": "par", "systems": systems, "models": ["mixtral-8x7b"], "axes": axes}


@pytest.fixture(scope="module")
def realiser():
    runner.start_workers(2)
    try:
        yield runner.realiser()
    finally:
        runner.stop_workers()


def test_the_workers_build_the_same_grid(realiser):
    assert realiser is not None
    spec = SweepSpec.model_validate(_sweep(TILES))
    alone = build_grid(spec, "par.yaml")
    shared = build_grid(spec, "par.yaml", realiser=realiser)
    assert shared.digest() == alone.digest()
    assert shared.frame(0, shared.n).equals(alone.frame(0, alone.n))


def test_the_first_rejected_value_is_reported_as_alone(realiser):
    bad = TILES[:200] + [0] + TILES[200:] + [-5]
    spec = SweepSpec.model_validate(_sweep(bad))
    with pytest.raises(SpecError) as alone:
        build_grid(spec, "par.yaml")
    with pytest.raises(SpecError) as shared:
        build_grid(spec, "par.yaml", realiser=realiser)
    assert str(shared.value) == str(alone.value)
    assert "axes.hw.tiles" in str(shared.value) and "value 0" in str(shared.value)


def test_inputs_read_by_the_workers_are_recorded(realiser):
    _, alone = load_grid(_sweep(TILES, digital=True))
    _, shared = load_grid(_sweep(TILES, digital=True), realiser=realiser)
    assert any("a100-class" in p for p in alone.inputs)
    assert shared.inputs == alone.inputs


def test_an_axis_that_switches_a_group_on_is_a_clear_error():
    sweep = _sweep(TILES[:3]) | {"systems": ["nature-3d-aimc"]}
    sweep["axes"]["hw.digital"] = ["hermes-14nm-digital"]  # the system has no digital unit
    with pytest.raises(SpecError, match=r"is rejected for system nature-3d-aimc: it turns hw.digital on or off"):
        load_grid(sweep)


def test_variants_given_the_base_groups_validate_to_the_same_grid(monkeypatch):
    """A hardware variant takes the base spec's validated groups it leaves untouched
    (AimcHardware.REUSABLE_GROUPS); the grid must be what validating everything gives, for
    axes inside and outside those groups and ones that change derived figures."""
    sweep = {"name": "reuse", "systems": ["nature-3d-aimc", "moewithpim-hermes", "a100-sxm4-80gb"], "models": ["mixtral-8x7b"],
             "axes": {"hw.tiles": [512, 4096], "hw.stack_height": [32, 64], "hw.dram.bandwidth_gbps": [5.0, 50.0],
                      "hw.ops.add.latency_ns_fixed": [4, 9]}}
    _, shared = load_grid(sweep)
    monkeypatch.setattr(grid_mod._Part, "_reusable", lambda self, sets: None)
    _, alone = load_grid(sweep)
    assert shared.digest() == alone.digest()
    assert shared.frame(0, shared.n).equals(alone.frame(0, alone.n))
    bad = dict(sweep, axes={"hw.tiles": [512, 0]})
    monkeypatch.undo()
    with pytest.raises(SpecError) as reused:
        load_grid(bad)
    monkeypatch.setattr(grid_mod._Part, "_reusable", lambda self, sets: None)
    with pytest.raises(SpecError) as full:
        load_grid(bad)
    assert str(reused.value) == str(full.value)
