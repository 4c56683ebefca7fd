"""The golden design points: ~300 diverse points whose results are frozen in ``golden.json``.

The points span every system kind and model preset, stacked and planar chips, B = 1…64,
KV/GO caches, prefill off, grouping schedules and explicit factors, zipf routing, MoE-separated
placement, digital experts and modules, and every accounting profile. They are drawn from
fixed lists with a fixed seed, so the list itself never changes unless this file does.

``python -m tests.golden.points`` rewrites ``golden.json`` from the current model: do that
only in a commit that changes the model on purpose, and say why in its message.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).with_name("golden.json")

AIMC = ["nature-3d-aimc", "hermes-3d", "moewithpim-hermes", "ibm3dsim-readme"]
GPU = ["a100-sxm4-80gb", "a100-sxm4-40gb", "a100-paper", "h100-sxm"]
MOE = ["mixtral-8x7b", "llama-moe-4-16", "deepseek-moe-16b", "olmoe-1b-7b", "sigma-moe-small",
       "nature-moe-51b", "moewithpim-layer"]
DENSE = ["llama-2-7b", "llama-2-70b", "gpt2-medium", "gpt2-large", "gpt2-xl", "ibm3dsim-readme"]
SMALL = ["moewithpim-layer", "ibm3dsim-readme", "sigma-moe-small", "gpt2-medium"]


def _aimc_sets(rng: random.Random, model: str) -> list[str]:
    sets: list[str] = []
    moe = model in MOE
    r = rng.random()
    if r < 0.25:  # stacked: few tiles, tall stacks
        sets += [f"hw.tiles={rng.choice([4, 8, 16, 64, 256])}", f"hw.stack_height={rng.choice([64, 256, 1024, 4096])}"]
    elif r < 0.45:  # planar-ish: many tiles, shallow stacks
        sets += [f"hw.tiles={rng.choice([2048, 8192, 65536])}", f"hw.stack_height={rng.choice([1, 4, 16])}"]
    if rng.random() < 0.3:
        sets.append(f"hw.accounting={rng.choice(['physical', 'ibm3dsim', 'moewithpim'])}")
    if rng.random() < 0.2:
        sets += [f"hw.dpus={rng.choice([1, 4, 32])}", f"hw.mha_units={rng.choice([1, 2, 8])}"]
    if moe and rng.random() < 0.2:
        sets.append("hw.mapping.strategy=moe_separated")
    if moe and rng.random() < 0.3:
        sets.append("workload.expert_load.model=zipf")
        sets.append(f"workload.expert_load.zipf_exponent={rng.choice([0.8, 1.2])}")
    return sets


def _draw(rng: random.Random) -> dict:
    kind = rng.random()
    if kind < 0.25:
        hw, model = rng.choice(GPU), rng.choice(MOE + DENSE)
        sets = []
        if rng.random() < 0.3:
            sets.append(f"hw.devices={rng.choice([1, 2, 4, 8])}")
    else:
        hw = rng.choice(AIMC)
        model = rng.choice(SMALL if rng.random() < 0.5 else MOE + DENSE)
        sets = _aimc_sets(rng, model)
    wl = {
        "prompt_len": rng.choice([1, 8, 32, 128]),
        "gen_len": rng.choice([1, 2, 8, 32]),
        "batch": rng.choice([1, 1, 2, 4, 8, 16, 64]),
        "kv_cache": rng.random() < 0.75,
        "go_cache": rng.random() < 0.3,
        "prefill": rng.random() < 0.85,
    }
    if not wl["prefill"] and wl["gen_len"] < 2:
        wl["gen_len"] = 2
    return {"hw": hw, "model": model, "workload": wl, "sets": sets}


def _special() -> list[dict]:
    """Hand-picked points for features a random draw may miss."""
    wl = {"prompt_len": 32, "gen_len": 8, "batch": 1, "kv_cache": True, "go_cache": False, "prefill": True}
    pts = []
    for g in (1, 2, 4):
        for grouping, schedule in (("uniform", "compact"), ("balanced", "optimized"), ("sorted", "single")):
            pts.append({"hw": "moewithpim-hermes", "model": "moewithpim-layer",
                        "workload": {**wl, "gen_len": 1, "kv_cache": False},
                        "sets": [f"hw.sharing.group_size={g}", f"workload.grouping.grouping={grouping}",
                                 f"workload.grouping.schedule={schedule}", "workload.expert_load.model=zipf",
                                 "workload.expert_load.zipf_exponent=1.2"]})
    for acc in ("physical", "moewithpim"):
        pts.append({"hw": "moewithpim-hermes", "model": "moewithpim-layer", "workload": {**wl, "batch": 4},
                    "sets": [f"hw.accounting={acc}", "workload.grouping.factors.mvm=1.5",
                             "workload.grouping.factors.comm=1.2", "workload.grouping.factors.area=0.4"]})
    digital = ["hw.digital=hermes-14nm-digital"]
    for extra in (["workload.digital.fraction=0.125", "workload.digital.score=random"],
                  ["workload.digital.fraction=0.5", "workload.digital.score=random"],
                  ["workload.digital.fraction=0.25", "workload.digital.score=load",
                   "workload.expert_load.model=zipf"],
                  ["workload.digital.attention=true", "workload.digital.router=true",
                   "workload.digital.lm_head=true"],
                  ["workload.digital.fraction=1.0", "workload.digital.score=random", "workload.digital.dense_ffn=true", "hw.size_to_model=true"],
                  ["workload.digital.score=list", "workload.digital.experts=[0, 3]"]):
        for batch in (1, 8):
            pts.append({"hw": "hermes-3d", "model": "olmoe-1b-7b", "workload": {**wl, "batch": batch},
                        "sets": digital + extra})
    pts.append({"hw": "hermes-3d", "model": "deepseek-moe-16b", "workload": wl,
                "sets": digital + ["workload.digital.shared_experts=true", "workload.digital.fraction=0.1", "workload.digital.score=load"]})
    # reference-simulator runs of the validation (moewithpim/ibm3dsim accounting)
    pts.append({"hw": "ibm3dsim-readme", "model": "ibm3dsim-readme", "workload": {**wl, "batch": 4}, "sets": []})
    pts.append({"hw": "ibm3dsim-readme", "model": "ibm3dsim-readme", "workload": {**wl, "kv_cache": False},
                "sets": ["hw.tiles=8"]})
    pts.append({"hw": "nature-3d-aimc", "model": "nature-moe-51b", "workload": wl, "sets": []})
    pts.append({"hw": "nature-3d-aimc", "model": "llama-2-70b", "workload": wl, "sets": []})  # does not fit
    return pts


def points(n_random: int = 270, seed: int = 20261130) -> list[dict]:
    rng = random.Random(seed)
    pts = _special() + [_draw(rng) for _ in range(n_random)]
    for i, p in enumerate(pts):
        p["id"] = i
    return pts


def evaluate(p: dict) -> dict:
    """The model's result columns for one golden point (every column not an input)."""
    from aimc_dse.cost.evaluate import evaluate_frame
    from aimc_dse.specs.points import build_points

    grid = build_points([p["hw"]], [p["model"]], p["workload"], p["sets"])
    res = evaluate_frame(grid)
    row = res.iloc[0]
    return {k: _plain(row[k]) for k in res.columns if k not in grid.columns}


def _plain(v):
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return None if math.isnan(f) else f
    return v if isinstance(v, (int, str)) or v is None else str(v)


def main() -> None:
    out = []
    for p in points():
        out.append({**p, "results": evaluate(p)})
    GOLDEN.write_text(json.dumps(out, indent=0, sort_keys=True) + "\n")
    print(f"wrote {len(out)} points to {GOLDEN}")


if __name__ == "__main__":
    main()
