"""Laws every result row must obey, on random design points of every hardware preset.

Hypothesis draws a hardware preset (AIMC and GPU), a model preset cut to a few layers (dense,
MoE, MLA, sliding-window), a workload (prompt 1–4096, gen 1–512, batch 1–64, caches and
prefill on or off) and random knobs, and checks what docs/columns.md, README.md and
docs/cost-model.md state about the result columns: parts add up to their totals, ratios follow
from their parts, bounds hold, a design that does not fit says why and shows no performance
figure, and a row gives the same numbers alone or inside a frame of other rows.

Sums of parts are compared at rel=1e-9: the parts are summed in another order than the total
(a few float roundings, ~1e-16 each), nothing more. Every test is derandomized (a fixed
sequence of examples) with no deadline, so it cannot fail under load or on another seed.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aimc_dse
from aimc_dse.api import design_rows, split_overrides, workload_data
from aimc_dse.cost.evaluate import evaluate_frame, evaluate_records
from aimc_dse.cost.registry import COLUMNS
from aimc_dse.specs.loader import preset_dir

LAWS = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
REL = 1e-9  # a sum of parts vs its total: a few float roundings apart, never more

AIMC_HW = sorted(p.stem for p in preset_dir("hw").glob("*.yaml") if "kind: aimc" in p.read_text())
GPU_HW = sorted(p.stem for p in preset_dir("hw").glob("*.yaml") if "kind: gpu" in p.read_text())
# dense (gpt2-medium, llama-2-7b, GQA llama-3.1-70b), MoE (olmoe, mixtral, qwen3, deepseek-moe,
# sigma-moe, nature-moe-51b, expert-choice moewithpim-layer), MLA (deepseek-v3), sliding window
# (gpt-oss-20b), the 3D-SiM README model
MODELS = ["gpt2-medium", "llama-2-7b", "llama-3.1-70b", "olmoe-1b-7b", "mixtral-8x7b", "qwen3-30b-a3b",
          "deepseek-moe-16b", "sigma-moe-small", "nature-moe-51b", "moewithpim-layer", "deepseek-v3",
          "gpt-oss-20b", "ibm3dsim-readme"]

PERF = [c.name for c in COLUMNS if c.performance]
AIMC_ENERGY_PARTS = ["mvm", "communication", "digital", "attention", "dram", "digital_mac", "link", "passive", "static"]
GPU_ENERGY_PARTS = ["active", "idle"]
GPU_LATENCY_PARTS = ["compute", "memory", "overhead", "communication"]


def assert_close(a: float, b: float, what: str, row: dict[str, Any], rel: float = REL) -> None:
    assert math.isclose(a, b, rel_tol=rel, abs_tol=0.0) or (a == 0 and abs(b) < 1e-300), (what, a, b, describe(row))


def describe(row: dict[str, Any]) -> str:
    """The drawn point, as the knobs that reproduce it."""
    keys = ("hardware", "model", "workload.prompt_len", "workload.gen_len", "workload.batch", "workload.prefill",
            "workload.kv_cache", "workload.go_cache", "hw.tiles", "hw.stack_height", "hw.tier_rows", "hw.dpus",
            "hw.mha_units", "hw.sharing.group_size", "hw.chips", "hw.parallelism", "hw.kv_sram.mb",
            "hw.dram.channels", "hw.devices", "model.layers")
    return ", ".join(f"{k}={row[k]}" for k in keys if k in row)


# ---- drawing design points ----------------------------------------------------------------------


@st.composite
def points(draw, kind: str | None = None) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """(hardware preset, model preset, workload flags, --set overrides) of one valid-looking point."""
    kind = kind or draw(st.sampled_from(["aimc", "gpu"]))
    hw = draw(st.sampled_from(AIMC_HW if kind == "aimc" else GPU_HW))
    model = draw(st.sampled_from(MODELS))
    prefill = draw(st.booleans())
    kv = draw(st.booleans())
    flags = dict(
        prompt_len=draw(st.integers(1, 4096)),
        gen_len=draw(st.integers(2 if not prefill else 1, 512)),
        batch=draw(st.integers(1, 64)),
        prefill=prefill,
        kv_cache=kv,
        go_cache=draw(st.booleans()),
    )
    sets: dict[str, Any] = {"model.layers": draw(st.integers(1, 4))}
    if kind == "aimc":
        knobs = {
            "hw.tiles": st.integers(1, 4096),
            "hw.stack_height": st.sampled_from([1, 2, 8, 64, 320, 1024]),
            "hw.tier_rows": st.sampled_from([128, 256, 512, 1024]),
            "hw.dpus": st.integers(1, 16),
            "hw.mha_units": st.integers(1, 16),
            "hw.sharing.group_size": st.sampled_from([1, 2, 4, 8]),
            "hw.chips": st.integers(1, 8),
            "hw.parallelism": st.sampled_from(["pipeline", "expert", "best"]),
            "hw.kv_sram.mb": st.sampled_from([0.0, 1.0, 8.0, 64.0]),
            "hw.dram.channels": st.integers(1, 16),
        }
    else:
        knobs = {
            "hw.devices": st.integers(1, 16),
            "hw.parallelism": st.sampled_from(["tp", "ep", "tp+ep"]),
        }
    for path, strat in knobs.items():
        if draw(st.booleans()):
            sets[path] = draw(strat)
    return hw, model, flags, sets


def rows_of(hw: str, model: str, flags: dict[str, Any], sets: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The point's design-point columns, or None when its knobs are refused (a SpecError)."""
    ov = split_overrides(sets)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows, _ = design_rows([hw], [model], workload_data(flags, ov["workload"]), ov)
    except aimc_dse.SpecError:
        return None
    return rows


def evaluated(point) -> dict[str, Any]:
    from hypothesis import event, reject

    rows = rows_of(*point)
    if rows is None:
        reject()
    r = evaluate_records(rows)[0]
    event(f"{r['system']} {'fits' if r['fits'] else 'does not fit: ' + str(r['fit_reason'])}")
    return r


def num(row: dict[str, Any], col: str) -> float:
    v = row.get(col, math.nan)
    return math.nan if v is None else float(v)


def empty(v: Any) -> bool:
    """NaN for a number, None for text: how a performance column is blanked (registry.unfit_value)."""
    return v is None or (isinstance(v, float) and math.isnan(v))


def fits(row: dict[str, Any]) -> bool:
    return bool(row["fits"])


def tokens(row: dict[str, Any]) -> int:
    """Generated tokens of all sequences: G each with a prefill, G − 1 (the decode steps) without
    (docs/cost-model.md §5 headline metrics; specs/workload.py)."""
    g = int(row["workload.gen_len"])
    return int(row["workload.batch"]) * (g if bool(row["workload.prefill"]) else g - 1)


# ---- laws of one row ----------------------------------------------------------------------------


def check_row(r: dict[str, Any]) -> None:
    """Every law a single result row obeys (docs/columns.md)."""
    system = r["system"]
    if not fits(r):
        # a design that does not fit says why and shows no performance figure (README, columns.md)
        assert r["fit_reason"], describe(r)
        shown = [c for c in PERF if c in r and not empty(r[c])]
        assert not shown, (shown, describe(r))
        assert num(r, "area_mm2") >= 0, describe(r)
        return
    assert r["fit_reason"] == "", describe(r)

    lat, e, area = num(r, "latency_ns"), num(r, "energy_nj"), num(r, "area_mm2")
    for c in ("latency_ns", "energy_nj", "area_mm2", "power_w", "tokens_per_s", "tokens_per_s_per_w",
              "tokens_per_s_per_mm2", "flops", "gops_per_w_per_mm2"):
        v = num(r, c)
        assert math.isfinite(v) and v >= 0, (c, v, describe(r))
    assert lat > 0 and e > 0 and area > 0, describe(r)

    # power_w = energy / latency (nJ / ns = W)
    assert_close(num(r, "power_w"), e / lat, "power_w", r)
    # tokens_per_s = generated tokens / latency (s)
    tok = tokens(r)
    assert_close(num(r, "tokens_per_s"), tok / (lat * 1e-9), "tokens_per_s", r)
    assert_close(num(r, "tokens_per_s_per_w"), tok / (e * 1e-9), "tokens_per_s_per_w", r)
    assert_close(num(r, "tokens_per_s_per_mm2"), num(r, "tokens_per_s") / area, "tokens_per_s_per_mm2", r)
    assert_close(num(r, "gops_per_w_per_mm2"), num(r, "flops") / e / area, "gops_per_w_per_mm2", r)

    # TTFT: the prefill, never after the makespan; empty without a prefill
    ttft = num(r, "ttft_ns")
    if bool(r["workload.prefill"]):
        assert math.isfinite(ttft) and 0 <= ttft <= lat, (ttft, lat, describe(r))
    else:
        assert math.isnan(ttft), describe(r)
    # TPOT = (latency − prefill) / (G − 1); empty when G = 1
    g = int(r["workload.gen_len"])
    tpot = num(r, "tpot_ns")
    if g == 1:
        assert math.isnan(tpot), describe(r)
    else:
        pre = ttft if bool(r["workload.prefill"]) else 0.0
        assert math.isfinite(tpot) and tpot >= 0, describe(r)
        assert_close(tpot * (g - 1) + pre, lat, "tpot·(G−1) + ttft", r)

    if system == "gpu":
        check_gpu_row(r)
    else:
        check_aimc_row(r)


def check_gpu_row(r: dict[str, Any]) -> None:
    lat, e = num(r, "latency_ns"), num(r, "energy_nj")
    parts = [num(r, f"energy_nj.{p}") for p in GPU_ENERGY_PARTS]
    assert all(math.isfinite(p) and p >= 0 for p in parts), describe(r)
    assert_close(sum(parts), e, "energy_nj = Σ energy_nj.*", r)
    lparts = [num(r, f"latency_ns.{p}") for p in GPU_LATENCY_PARTS]
    assert all(math.isfinite(p) and p >= 0 for p in lparts), describe(r)
    assert_close(sum(lparts), lat, "latency_ns = Σ latency_ns.*", r)
    share = num(r, "memory_bound_share")
    assert 0 <= share <= 1, describe(r)
    n_dev = int(r["n_devices"])
    given = int(r["hw.devices"])
    assert n_dev == (given if given else int(r["devices_needed"])), describe(r)


def check_aimc_row(r: dict[str, Any]) -> None:
    lat, e, area = num(r, "latency_ns"), num(r, "energy_nj"), num(r, "area_mm2")
    chips = int(r["hw.chips"])
    parts = {p: num(r, f"energy_nj.{p}") for p in AIMC_ENERGY_PARTS}
    assert all(math.isfinite(v) and v >= 0 for v in parts.values()), (parts, describe(r))
    assert_close(math.fsum(parts.values()), e, "energy_nj = Σ energy_nj.*", r)
    assert_close(num(r, "analog_energy_nj"), parts["mvm"] + parts["communication"], "analog_energy_nj", r)
    # power_w.static = (static + passive) / latency; static + dynamic = power_w
    assert_close(num(r, "power_w.static"), (parts["static"] + parts["passive"]) / lat, "power_w.static", r)
    assert_close(num(r, "power_w.static") + num(r, "power_w.dynamic"), num(r, "power_w"), "static + dynamic", r)
    assert_close(num(r, "power_w.per_chip"), num(r, "power_w") / chips, "power_w.per_chip", r)
    # latency = prefill + decode; the prefill's share = ttft (0 without a prefill)
    pre, dec = num(r, "latency_ns.prefill"), num(r, "latency_ns.decode")
    assert pre >= 0 and dec >= 0, describe(r)
    assert_close(pre + dec, lat, "latency_ns = prefill + decode", r)
    assert_close(pre, num(r, "ttft_ns") if bool(r["workload.prefill"]) else 0.0, "latency_ns.prefill = ttft", r)
    # areas: parts within the whole, one chip's share
    for part in ("area_mm2.moe", "area_mm2.digital"):
        v = num(r, part)
        assert math.isnan(v) or 0 <= v <= area * (1 + REL), (part, v, area, describe(r))
    assert_close(num(r, "area_mm2.per_chip"), area / chips, "area_mm2.per_chip", r)
    # makespan: at least one sequence alone, and no schedule beats the throughput bound
    # (docs/cost-model.md §4.5: makespan = max(T(1) + spacing, B·max D_r, waves))
    assert lat >= num(r, "single_sequence_latency_ns") * (1 - REL), describe(r)
    assert lat >= num(r, "throughput_bound_ns") * (1 - REL), describe(r)
    # tiles_needed = ⌈tier_blocks / stack_height⌉
    assert int(r["tiles_needed"]) == -(-int(r["tier_blocks"]) // int(r["hw.stack_height"])), describe(r)
    # the batch fits its memory: B ≤ max_batch (NaN: memory does not limit it)
    mb = num(r, "max_batch")
    assert math.isnan(mb) or int(r["workload.batch"]) <= mb, (mb, describe(r))
    if not bool(r["workload.kv_cache"]):
        assert num(r, "kv_cache_bytes") == 0, describe(r)
    # busy time of one resource class ≤ its units × the makespan (each unit busy at most all the
    # time; tiles one MVM at a time, docs/cost-model.md OTT); the throughput bound spreads the
    # demand over every chip's units (§1.11)
    for col, units in (("busy_ns.digital", int(r["hw.dpus"]) * chips),
                       ("busy_ns.attention", int(r["hw.mha_units"]) * chips),
                       ("busy_ns.mvm", int(r["hw.tiles"]) * chips)):
        b = num(r, col)
        assert 0 <= b <= units * lat * (1 + REL), (col, b, units, lat, describe(r))


@given(points())
@LAWS
def test_a_row_obeys_the_laws_of_its_columns(point):
    check_row(evaluated(point))


@given(points("aimc"))
@LAWS
def test_an_aimc_row_obeys_the_laws_of_its_columns(point):
    check_row(evaluated(point))


# ---- the same row alone and in a frame ----------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        if pd.isna(a) and pd.isna(b):
            return True
    except (TypeError, ValueError):
        pass
    return a == b


@given(st.lists(points(), min_size=2, max_size=6))
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_a_row_gives_the_same_numbers_alone_and_in_a_frame(pts):
    """Bit for bit: evaluate_records of one row, evaluate_frame of many (evaluate.py's docstring)."""
    rows = [r for p in pts if (rs := rows_of(*p)) is not None for r in rs]
    if len(rows) < 2:
        return
    frame = evaluate_frame(pd.DataFrame(rows)).reset_index(drop=True)
    for i, row in enumerate(rows):
        alone = evaluate_records([row])[0]
        for col, v in alone.items():
            if col in frame.columns:
                assert same(v, frame.at[i, col]), (col, v, frame.at[i, col], describe(row))


# ---- monotonic laws -----------------------------------------------------------------------------


def variant(point, **changes) -> dict[str, Any] | None:
    hw, model, flags, sets = point
    flags, sets = dict(flags), dict(sets)
    for k, v in changes.items():
        if k.startswith("hw."):
            sets[k] = v
        else:
            flags[k] = v
    rows = rows_of(hw, model, flags, sets)
    return None if rows is None else evaluate_records(rows)[0]


@given(points(), st.integers(1, 64))
@LAWS
def test_a_longer_generation_never_takes_less_time(point, more):
    a = evaluated(point)
    b = variant(point, gen_len=point[2]["gen_len"] + more)
    if b is None or not (fits(a) and fits(b)):
        return
    assert num(b, "latency_ns") >= num(a, "latency_ns") * (1 - REL), (num(a, "latency_ns"), num(b, "latency_ns"), describe(a))
    assert num(b, "energy_nj") >= num(a, "energy_nj") * (1 - REL), describe(a)


@given(points("aimc"), st.integers(1, 16))
@LAWS
def test_more_dram_channels_are_never_slower(point, more):
    a = evaluated(point)
    b = variant(point, **{"hw.dram.channels": int(a["hw.dram.channels"]) + more})
    if b is None or not (fits(a) and fits(b)):
        return
    assert num(b, "latency_ns") <= num(a, "latency_ns") * (1 + REL), (num(a, "latency_ns"), num(b, "latency_ns"), describe(a))


@pytest.mark.parametrize("hw", AIMC_HW + GPU_HW)
def test_every_preset_obeys_the_laws_on_the_default_workload(hw):
    for model in MODELS:
        rows = rows_of(hw, model, {}, {"model.layers": 2})
        assert rows is not None
        check_row(evaluate_records(rows)[0])


def test_registry_perf_columns_are_known():
    assert "latency_ns" in PERF and "fits" not in PERF and np.isfinite(REL)


# ---- found by the laws above ---------------------------------------------------------------------


def _decode_row(gen_len: int, **sets: Any) -> dict[str, Any]:
    rows = rows_of("hermes-3d", "gpt2-medium", dict(prompt_len=1, gen_len=gen_len, batch=1, prefill=False,
                                                     kv_cache=False, go_cache=False), {"model.layers": 1, **sets})
    assert rows is not None
    return rows[0]


def test_a_point_alone_and_beside_another_sums_its_steps_alike():
    """Cache-less decode runs the step loop; its Σ over steps was pairwise for a lone point and
    sequential beside others (numpy's sum), so energy_nj.attention differed in the last bit
    (1770.6124830720003 alone, 1770.612483072 beside a gen_len 2 point)."""
    b = _decode_row(77)
    alone = evaluate_records([b])[0]
    for other in (_decode_row(2), _decode_row(100), b):
        beside = evaluate_records([other, b])[1]
        for col in ("energy_nj.attention", "busy_ns.attention", "latency_ns", "energy_nj", "flops"):
            assert alone[col] == beside[col], (col, alone[col], beside[col])


def test_the_step_loop_blocks_do_not_depend_on_the_other_points(monkeypatch):
    """Step blocks start at fixed steps: with blocks of a few cells, a point's totals are the same
    alone and beside points that change how many are alive in each block."""
    from aimc_dse.cost.aimc import steps

    monkeypatch.setattr(steps, "DECODE_BLOCK_CELLS", 40)
    monkeypatch.setattr(steps, "DECODE_BLOCK_STEPS", 16)
    b = _decode_row(77)
    alone = evaluate_records([b])[0]
    many = evaluate_records([_decode_row(g) for g in (90, 80, 50, 30, 20)] + [b])[-1]
    for col in ("energy_nj.attention", "busy_ns.attention", "latency_ns", "energy_nj", "busy_ns.digital"):
        assert alone[col] == many[col], (col, alone[col], many[col])


def test_whether_a_point_takes_the_closed_form_depends_on_its_own_range():
    """The exactness test read the job's rises up to the longest context in the chunk: a dip in a
    gen-77 neighbour's range sent this gen-2 point to the step loop (0.10270771199999998 alone,
    0.10270771199999999 beside it)."""
    rows = [rows_of("hermes-3d", "gpt2-medium", dict(prompt_len=p, gen_len=g, batch=1, prefill=False, kv_cache=False,
                                                      go_cache=False), {"model.layers": 1})[0] for p, g in ((2, 2), (1, 77))]
    alone = evaluate_records(rows[:1])[0]
    beside = evaluate_records(rows[::-1])[1]
    for col in ("energy_nj.attention", "busy_ns.attention", "latency_ns", "energy_nj"):
        assert alone[col] == beside[col], (col, alone[col], beside[col])
