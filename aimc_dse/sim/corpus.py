"""The stacked-batch reference corpus as design points, and the simulator's agreement with it.

``aimc_dse/validation/data/stacked_batch.jsonl`` holds 60 runs of the unmodified MoEwithPIM
simulator (superstarghy/MoEwithPIM @33b31df, its ``threedsim`` package and op tables) on
stacked 3D chips with 2–32 sequences: one JSON object per line, ``{"cfg": {...},
"latency_ns", "energy_nj", "flops"}``. ``cfg_point`` maps a ``cfg`` onto aimc-dse specs
exactly as the corpus' own driver does: the ``moewithpim-hermes`` preset with 512×512 tiers,
100 ns / 10 nJ MVMs, the cfg's tiles/tiers/DPUs/MHA units, passive 0.02412 W, its mapping
strategy with split_ffn and stack_embedding, ``moewithpim`` accounting; a decoder with
vocab 1024, ReLU, plain MLP, learned positions (``target`` rows); MoE on every layer with
k uniform distinct experts, or a dense FFN; prompt ``start``, ``target − start`` generated
tokens with prefill; the cfg's KV/GO flags, batch and seed.

Run ``python -m aimc_dse.sim.corpus`` for the per-run agreement table.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from ..cost.columns import spec_columns
from ..specs import loader

CORPUS = Path(__file__).resolve().parent.parent / "validation" / "data" / "stacked_batch.jsonl"


def load_corpus(path: str | Path = CORPUS) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def cfg_point(c: dict[str, Any]) -> dict[str, Any]:
    """Flat design-point columns of one corpus cfg."""
    base, src = loader.resolve("hw", "moewithpim-hermes")
    h = dict(base, name="ref-stacked", tier_rows=512, tier_cols=512, stack_height=c["tiers"], tiles=c["tiles"],
             mvm_latency_ns=100, mvm_energy_nj=10, dpus=c["dpus"], mha_units=c["mha"], passive_power_w=0.02412,
             mapping={"strategy": c["strategy"].lower(), "split_ffn": True, "stack_embedding": True},
             accounting="moewithpim", area={"tile_mm2": 1.0})
    m = dict(name="ref-model", layers=c["layers"], d_model=c["d"], heads=c["heads"], mlp="plain", activation="relu",
             vocab=1024, position_embedding="learned", max_positions=c["target"])
    if c["experts"]:
        m.update(d_ff=0, moe={"experts": c["experts"], "top_k": c["k"], "d_ff_expert": c["d_ff"], "routing": "token_choice"})
    else:
        m.update(d_ff=c["d_ff"])
    w = dict(prompt_len=c["start"], gen_len=c["target"] - c["start"], batch=c["bsz"], prefill=True,
             kv_cache=c["kv"], go_cache=c["go"], seed=c.get("seed", 0))
    hw = loader.validate_hardware(h, "corpus cfg")
    model = loader.validate_model(m, "corpus cfg")
    wl = loader.load_workload(w, "corpus cfg")
    return spec_columns(hw, model, wl)


def label(c: dict) -> str:
    kind = f"moe{c['experts']}k{c['k']}" if c["experts"] else "dense"
    return (f"{kind:9s} {c['strategy'][:6]} L{c['layers']} d{c['d']} T{c['tiles']}x{c['tiers']} P{c['dpus']} "
            f"M{c['mha']} B{c['bsz']:2d} n{c['start']}->{c['target']} {'kv+go' if c['kv'] else 'none '}")


def agreement(rows: list[dict] | None = None, out=sys.stdout) -> list[dict]:
    """Simulate every corpus run; print and return relative errors (event / reference − 1)."""
    from .core import simulate_point

    rows = load_corpus() if rows is None else rows
    errs = []
    for r in rows:
        t0 = time.perf_counter()
        res = simulate_point(cfg_point(r["cfg"]))
        dt = time.perf_counter() - t0
        e = {k: res[k] / r[k] - 1 for k in ("latency_ns", "energy_nj", "flops")}
        e["seconds"] = dt
        errs.append(e)
        if out is not None:
            print(f"{label(r['cfg'])} lat {e['latency_ns']:+8.3%} E {e['energy_nj']:+8.3%} "
                  f"F {e['flops']:+8.4%} {dt:6.2f}s", file=out)
    if out is not None and errs:
        la = [abs(x["latency_ns"]) for x in errs]
        en = [abs(x["energy_nj"]) for x in errs]
        print(f"n={len(errs)} latency |err| median {statistics.median(la):.3%} max {max(la):.3%}; "
              f"within 2%: {sum(x <= 0.02 for x in la)}/{len(la)}; energy |err| median {statistics.median(en):.4%} "
              f"max {max(en):.4%}; flops max {max(abs(x['flops']) for x in errs):.2e}; "
              f"time {sum(x['seconds'] for x in errs):.1f}s", file=out)
    return errs


if __name__ == "__main__":
    agreement()
