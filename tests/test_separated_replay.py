"""The closed form's replay of the MoE-separated placement (cost/aimc/separated.py) against the
event simulator's block-by-block replica of the reference mapper (sim/mapper.py): per MoE layer,
the most blocks of one expert's up/down projections on a tile and the busiest tile of the MoE
phase must be the same, and so must the piles of every layer's Q,K,V and out projection and of
the LM head."""

from __future__ import annotations

import numpy as np
import pytest

from aimc_dse.cost.aimc.separated import separated_loads
from aimc_dse.sim.frame import _clean
from aimc_dse.sim.mapper import map_model
from aimc_dse.sim.params import read_point
from aimc_dse.validation import closed_vs_event as cve

DESIGNS = [k for k in cve.designs_of(cve.load_cache()) if k["strategy"] == "moe_separated"]


def _reference(p) -> tuple[float, ...] | None:
    mp = map_model(p, p.N)
    if mp is None:
        return None
    rows = []
    moe = [l for l in range(p.L) if p.moe_layer[l]]

    def cnt(key):
        return np.bincount(mp[key].tiles.ravel(), minlength=p.N) if key in mp else np.zeros(p.N, int)

    for l in moe:
        up = sum(cnt((m, l, 0)) for m in ("e1", "eu"))
        down = cnt(("e2", l, 0))
        lin = cnt(("out", l)) + cnt(("router", l)) + sum(cnt((m, l + 1)) for m in ("q", "k", "v"))
        rows.append((up.max(), down.max(), (up + down).max(), (lin + p.k * (up + down)).max()))
    qkv = np.mean([sum(cnt((m, l)) for m in ("q", "k", "v")).max() for l in range(p.L)])
    out = np.mean([cnt(("out", l)).max() for l in range(p.L)])
    return (*np.mean(rows, axis=0), qkv, out, cnt(("lm",)).max())


@pytest.mark.parametrize("k", DESIGNS, ids=[str(k["id"]) for k in DESIGNS])
def test_replay_matches_the_reference_mapper(k):
    p = read_point(_clean(cve.frame([k]).iloc[0]))
    ref = _reference(p)
    got = separated_loads(p.N, p.Z, p.R, p.C, p.d, p.q, 0, 0, p.d, p.q, p.d, p.kv, p.d, p.kv, p.d_ff, p.d_ff_e,
                          p.E, p.k, p.L, 0, 1,
                          2 if p.gated else 1, p.shared, 0, p.vocab, p.max_positions if p.learned_pos else 0,
                          p.stack_embedding)
    if ref is None:
        assert got is None
    else:
        assert got == pytest.approx(ref, abs=1e-12)


def test_replay_places_the_mla_projections(monkeypatch):
    # an MLA layer's attention is q_a, q_b, kv_a, kv_b, out (shapes.attn_mats); the replay
    # placed GQA stand-ins (d×heads·v, twice d×(kv_lora + rope)/2) and so fewer blocks than the
    # mapping counts (DeepSeek-V2-Lite, 4 layers: prefill 644.3 µs instead of 662.9 µs)
    from aimc_dse.cost import tile_mapper
    from aimc_dse.cost.aimc import aimc_cost, separated
    from aimc_dse.cost.columns import Cols, spec_columns
    from aimc_dse.specs import loader

    mappers = []

    class Spy(tile_mapper.TileMapper):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            mappers.append(self)

    monkeypatch.setattr(separated, "TileMapper", Spy)
    separated.separated_loads.cache_clear()
    data, src = loader.resolve("hw", "nature-3d-aimc-sim")
    hw = loader.validate_hardware(data, src, {"size_to_model": True, "mapping": {"strategy": "moe_separated"}})
    model = loader.load_model("tests/data/hf/DeepSeek-V2-Lite/config.json", {"layers": 4})
    pt = spec_columns(hw, model, loader.load_workload({"prompt_len": 4, "gen_len": 2}, "test"))
    res = aimc_cost(Cols(pt))
    separated.separated_loads.cache_clear()
    assert len(mappers) == 1
    assert mappers[0].fill.sum() == res["tier_blocks"][0] == sum(model.tier_blocks(512, 512).values())


# ---- the greedy placement of a dense model with a stacked embedding (separated.greedy_loads) ----

GREEDY = [k for k in cve.designs_of(cve.load_cache()) if not k["moe"]][:40]


def _greedy_reference(p) -> tuple[float, ...] | None:
    mp = map_model(p, p.N)
    if mp is None:
        return None

    def cnt(key):
        return np.bincount(mp[key].tiles.ravel(), minlength=p.N) if key in mp else np.zeros(p.N, int)

    qkv = [sum(cnt((m, l)) for m in ("q", "k", "v")) for l in range(p.L)]
    f1 = [cnt(("f1", l)) + cnt(("fu", l)) for l in range(p.L)]
    phase = [cnt(("out", l)) + f1[l] + cnt(("f2", l)) + (qkv[l + 1] if l < p.L - 1 else 0) for l in range(p.L)]
    lookup = np.bincount(mp[("emb",)].tiles[0], minlength=p.N)
    a = sum(qkv) + sum(cnt(("out", l)) + f1[l] + cnt(("f2", l)) for l in range(p.L)) + lookup
    return (np.mean([x.max() for x in qkv]), np.mean([cnt(("out", l)).max() for l in range(p.L)]),
            np.mean([x.max() for x in f1]), np.mean([cnt(("f2", l)).max() for l in range(p.L)]),
            cnt(("lm",)).max(), np.mean([x.max() for x in phase[:-1]]) if p.L > 1 else phase[0].max(),
            phase[-1].max(), a, cnt(("lm",)))


@pytest.mark.parametrize("k", GREEDY, ids=[str(k["id"]) for k in GREEDY])
def test_greedy_replay_matches_the_reference_mapper(k):
    """The sample's dense designs stack their embedding (closed_vs_event.point): the replay's
    piles equal the mapper's, and its three demand lines are tiles' (per-token, LM-head) loads
    including the largest per-token and the largest total."""
    from aimc_dse.cost.aimc.separated import greedy_loads

    p = read_point(_clean(cve.frame([k]).iloc[0]))
    assert p.stack_embedding and p.strategy == "greedy_in_order"
    ref = _greedy_reference(p)
    got = greedy_loads(p.N, p.Z, p.R, p.C, p.d, p.q, 0, 0, p.d, p.q, p.d, p.kv, p.d, p.kv, p.d_ff, p.L,
                       2 if p.gated else 1, p.vocab, p.max_positions if p.learned_pos else 0, False)
    if ref is None:
        assert got is None
        return
    assert got[:7] == pytest.approx(ref[:7], abs=1e-12)
    a, b = ref[7], ref[8]
    lines = set(zip(got[7::2], got[8::2]))
    assert lines <= set(zip(a.astype(float), b.astype(float)))
    assert max(s for s, _ in lines) == a.max() and max(s + i for s, i in lines) == (a + b).max()


@pytest.mark.parametrize("seed", range(20))
def test_least_filled_rounds_equal_the_mapper_block_by_block(seed):
    """separated._least_filled (rounds of the least-filled rule) places blocks as TileMapper
    does one at a time, from any starting fill, and fails where it fails."""
    from aimc_dse.cost.aimc.separated import _least_filled
    from aimc_dse.cost.tile_mapper import DoesNotFit, TileMapper

    rng = np.random.default_rng(seed)
    N, Z = int(rng.integers(1, 12)), int(rng.integers(2, 40))
    tl = TileMapper(N, Z, 1, 1, weighted=False)
    for t in rng.choice(N, int(rng.integers(0, N * Z // 2 + 1)), replace=True):
        if tl.fill[t] < Z:
            tl.place(1, 1, 1.0, tile_indices=[int(t)])
    m = int(rng.integers(1, N * Z + 5))
    got = _least_filled(tl.fill.copy(), Z, m)
    want = []
    try:
        for _ in range(m):
            want += tl.place(1, 1, 1.0)[1]
    except DoesNotFit:
        want = None
    assert (got is None) == (want is None)
    if want is not None:
        assert got.tolist() == want
