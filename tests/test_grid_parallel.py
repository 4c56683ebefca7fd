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


def _sweep(tiles: list[int], digital: bool = False, axis: str = "hw.tiles") -> dict:
    axes: dict = {axis: tiles, "workload.batch": [1, 8]}
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


def _counted(realiser):
    """The realiser, and how many variants it was handed."""
    sent = [0]

    def counted(part, batch):
        sent[0] += len(batch)
        return realiser(part, batch)

    return counted, sent


# Tile counts (free numbers) are checked in the sweep process; DRAM bandwidths go to the workers.
@pytest.mark.parametrize("axis, to_workers", [("hw.tiles", False), ("hw.dram.bandwidth_gbps", True)])
def test_the_workers_build_the_same_grid(realiser, axis, to_workers):
    assert realiser is not None
    spec = SweepSpec.model_validate(_sweep(TILES, axis=axis))
    alone = build_grid(spec, "par.yaml")
    counted, sent = _counted(realiser)
    shared = build_grid(spec, "par.yaml", realiser=counted)
    assert shared.digest() == alone.digest()
    assert shared.frame(0, shared.n).equals(alone.frame(0, alone.n))
    assert (sent[0] > 0) == to_workers


@pytest.mark.parametrize("axis, to_workers", [("hw.tiles", False), ("hw.dram.bandwidth_gbps", True)])
def test_the_first_rejected_value_is_reported_as_alone(realiser, axis, to_workers):
    bad = TILES[:200] + [0] + TILES[200:] + [-5]
    spec = SweepSpec.model_validate(_sweep(bad, axis=axis))
    with pytest.raises(SpecError) as alone:
        build_grid(spec, "par.yaml")
    counted, sent = _counted(realiser)
    with pytest.raises(SpecError) as shared:
        build_grid(spec, "par.yaml", realiser=counted)
    assert str(shared.value) == str(alone.value)
    assert f"axes.{axis}" in str(shared.value) and "value 0" in str(shared.value)
    assert (sent[0] > 0) == to_workers


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


FREE_AXES = {"hw.tiles": [1, 512, 2**30], "hw.dpus": [1, 64], "hw.mha_units": [3, 2**20], "hw.kv_bits": [1, 32],
             "hw.chips": [1, 2], "hw.passive_power_w": [0.0, -0.0, 2.5, 3, 1e15]}


def test_variants_of_free_numbers_only_give_what_validating_them_gives(monkeypatch):
    """A variant that sets only AimcHardware.FREE_NUMBERS, to values their fields take as they
    are, is not validated again (grid._Part._free_diff); the grid must be what validating
    every variant gives, with those axes alone, together, and beside an axis that needs it."""
    sweeps = [{"name": "free", "systems": ["nature-3d-aimc", "moewithpim-hermes", "hermes-3d", "a100-sxm4-80gb"],
               "models": ["mixtral-8x7b"], "axes": dict(FREE_AXES)},
              {"name": "free", "systems": ["nature-3d-aimc"], "models": ["mixtral-8x7b"],
               "axes": {"hw.tiles": [512, 4096], "hw.stack_height": [32, 64], "workload.batch": [1, 8]}},
              {"name": "free", "systems": [{"spec": "hermes-3d", "set": {"tiles": 100, "chips": 2}}],
               "models": ["mixtral-8x7b"], "axes": {"hw.tiles": [100, 200.0, 300]}}]
    for sweep in sweeps:
        _, fast = load_grid(sweep)
        monkeypatch.setattr(grid_mod._Part, "_free_diff", lambda self, sets: None)
        _, full = load_grid(sweep)
        monkeypatch.undo()
        assert fast.digest() == full.digest()
        assert fast.frame(0, fast.n).equals(full.frame(0, full.n))


@pytest.mark.parametrize("axis, value", [("hw.tiles", 0), ("hw.tiles", -5), ("hw.tiles", 2**30 + 1), ("hw.tiles", True),
                                         ("hw.tiles", "4"), ("hw.tiles", 1.5), ("hw.tiles", 2**60), ("hw.kv_bits", 33),
                                         ("hw.chips", 0), ("hw.passive_power_w", -1.0), ("hw.passive_power_w", 1e16),
                                         ("hw.passive_power_w", 1e-16), ("hw.passive_power_w", "1e-3")])
def test_a_refused_free_number_is_worded_as_validation_words_it(monkeypatch, axis, value):
    """A value a free number's field refuses (or converts) is validated in full: the same error."""
    sweep = {"name": "free", "systems": ["nature-3d-aimc"], "models": ["mixtral-8x7b"], "axes": {axis: [value]}}
    try:
        load_grid(sweep)
        fast = None
    except SpecError as e:
        fast = str(e)
    monkeypatch.setattr(grid_mod._Part, "_free_diff", lambda self, sets: None)
    try:
        load_grid(sweep)
        full = None
    except SpecError as e:
        full = str(e)
    assert fast == full
    assert (full is None) == (value == "1e-3")  # the one text a number field takes (base._EXPONENT)


def test_free_numbers_are_plain_fields_no_model_validator_reads():
    """Spec.FREE_NUMBERS promises that no model validator reads these fields: a new model
    validator of a class that lists some must be checked against the list (and added here)."""
    from aimc_dse.specs.base import Spec, _plain_rule, takes_as_is
    from aimc_dse.specs.hardware import AimcHardware

    reviewed = {AimcHardware: {"_derive_from_core", "_derive_from_converters", "_complete", "_typed_AimcHardware"}}

    def subclasses(c):
        for s in c.__subclasses__():
            yield s
            yield from subclasses(s)

    for cls in set(subclasses(Spec)):
        if cls.FREE_NUMBERS:
            assert set(cls.__pydantic_decorators__.model_validators) == reviewed.get(cls), cls.__name__
            for name in cls.FREE_NUMBERS:
                assert _plain_rule(cls, name) is not None, f"{cls.__name__}.{name}"
    assert takes_as_is(AimcHardware, "tiles", 4096)
    for v in (0, 2**30 + 1, 4096.0, True, "4096", None):
        assert not takes_as_is(AimcHardware, "tiles", v)
    assert not takes_as_is(AimcHardware, "passive_power_w", 1) and not takes_as_is(AimcHardware, "passive_power_w", float("nan"))
