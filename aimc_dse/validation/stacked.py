"""Several sequences on stacked 3D chips: the model against runs of the MoEwithPIM simulator
(docs/reference-simulators.md §C.4, §G.4; ``data/stacked_batch.md`` says what each run is).

Each run (``data/stacked_batch*.jsonl``: one JSON object per line, ``cfg`` plus the
simulator's ``latency_ns``, ``energy_nj`` and ``flops``) maps to a design point on the
``moewithpim-hermes`` preset with 512×512 tiers, MVM 100 ns / 10 nJ and the run's tiles,
stack height, DPUs, MHA units and placement, under ``moewithpim`` accounting, and a
decoder-only model with ReLU, a plain MLP, vocabulary 1024 and learned positions. All runs
are evaluated as one column of points.

Checks per run: latency within 20 %, energy within 10 % (it carries passive power ×
makespan), operations within 0.1 % (exact counts); and for the whole corpus, the share of
runs whose latency is within 10 % must be at least 90 % (reported as a check of that share
against 1 with tolerance 0.1).
"""

from __future__ import annotations

import json
import shlex
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from . import Check

DATA = Path(__file__).with_name("data")
FILES = ("stacked_batch.jsonl", "stacked_batch_extra.jsonl")
LAT_TOL, LAT_TOL_MOST, MOST, E_TOL, OPS_TOL = 0.20, 0.10, 0.90, 0.10, 0.001
SOURCE = "MoEwithPIM simulator (superstarghy/MoEwithPIM @ 33b31df), unmodified, via tools/pim_run.py"


@lru_cache(maxsize=1)
def runs() -> tuple[dict[str, Any], ...]:
    out = []
    for name in FILES:
        path = DATA / name
        if path.is_file():
            for i, line in enumerate(path.read_text().splitlines()):
                if line.strip():
                    out.append({**json.loads(line), "file": name, "line": i + 1})
    return tuple(out)


def hw_sets(c: dict[str, Any]) -> list[str]:
    return ["hw.tier_rows=512", "hw.tier_cols=512", f"hw.stack_height={c['tiers']}", f"hw.tiles={c['tiles']}",
            "hw.mvm_latency_ns=100", "hw.mvm_energy_nj=10", f"hw.dpus={c['dpus']}", f"hw.mha_units={c['mha']}",
            "hw.passive_power_w=0.02412", f"hw.mapping.strategy={c['strategy'].lower()}", "hw.mapping.split_ffn=true",
            "hw.mapping.stack_embedding=true", "hw.accounting=moewithpim"]


def model_sets(c: dict[str, Any]) -> list[str]:
    sets = [f"model.layers={c['layers']}", f"model.d_model={c['d']}", f"model.heads={c['heads']}", "model.mlp=plain",
            "model.activation=relu", "model.vocab=1024", "model.position_embedding=learned",
            f"model.max_positions={c['target']}", "model.kv_heads=null", "model.head_dim=null"]
    if c["experts"]:
        return sets + ["model.d_ff=0", f"model.moe={{experts: {c['experts']}, top_k: {c['k']}, "
                       f"d_ff_expert: {c['d_ff']}, routing: token_choice}}"]
    return sets + [f"model.d_ff={c['d_ff']}", "model.moe=null"]


def workload(c: dict[str, Any]) -> dict[str, Any]:
    return {"prompt_len": c["start"], "gen_len": c["target"] - c["start"], "batch": c["bsz"], "prefill": True,
            "kv_cache": bool(c["kv"]), "go_cache": bool(c["go"]), "seed": c.get("seed", 0)}


def command(c: dict[str, Any]) -> str:
    wl = workload(c)
    parts = ["aimc-dse", "evaluate", "--hw", "moewithpim-hermes", "--model", "moewithpim-layer",
             "--prompt-len", str(wl["prompt_len"]), "--gen-len", str(wl["gen_len"]), "--batch", str(wl["batch"]),
             "--prefill", "--kv-cache" if wl["kv_cache"] else "--no-kv-cache",
             "--go-cache" if wl["go_cache"] else "--no-go-cache"]
    for s in hw_sets(c) + model_sets(c) + [f"workload.seed={wl['seed']}"]:
        parts += ["--set", s]
    return " ".join(shlex.quote(p) for p in parts)


def label(c: dict[str, Any]) -> str:
    kind = f"moe{c['experts']}k{c['k']}" if c["experts"] else "dense"
    cache = "kv+go" if c["kv"] and c["go"] else "kv" if c["kv"] else "go" if c["go"] else "none"
    return (f"{kind} {c['strategy'][:6].lower()} L{c['layers']} d{c['d']} {c['tiles']}x{c['tiers']} "
            f"P{c['dpus']} M{c['mha']} B{c['bsz']} n{c['start']}->{c['target']} {cache}")


def evaluate_runs(fidelity: str = "closed") -> pd.DataFrame:
    """The model on every run: one row per run with the reference and model values."""
    from ..specs.points import build_points

    frames = [build_points(["moewithpim-hermes"], ["moewithpim-layer"], {k: v for k, v in workload(r["cfg"]).items()
                                                                            if k != "seed"},
                           hw_sets(r["cfg"]) + model_sets(r["cfg"]) + [f"workload.seed={r['cfg'].get('seed', 0)}"])
              for r in runs()]
    grid = pd.concat(frames, ignore_index=True)
    if fidelity == "event":
        from ..sim import evaluate_frame_event as evaluate_frame
    else:
        from ..cost.evaluate import evaluate_frame
    res = evaluate_frame(grid).reset_index(drop=True)
    for q in ("latency_ns", "energy_nj", "flops"):
        res[f"ref.{q}"] = [r[q] for r in runs()]
    res["run"] = [label(r["cfg"]) for r in runs()]
    res["source_line"] = [f"{r['file']}:{r['line']}" for r in runs()]
    return res


def checks() -> list[Check]:
    if not runs():
        return []
    res = evaluate_runs()
    out: list[Check] = []
    for i, r in enumerate(runs()):
        c, row = r["cfg"], res.iloc[i]
        name = f"{row['run']} ({row['source_line']})"
        cmd = command(c)
        for q, tol in (("latency_ns", LAT_TOL), ("energy_nj", E_TOL), ("flops", OPS_TOL)):
            out.append(Check("stacked_batch", name, q, float(r[q]), float(row[q]), tol, SOURCE, cmd))
    lat_err = (res["latency_ns"] / res["ref.latency_ns"] - 1).abs()
    share = float((lat_err <= LAT_TOL_MOST + 1e-12).mean())
    out.append(Check("stacked_batch", f"all {len(res)} runs: share with latency within 10 %", "share_within_10pct",
                     1.0, share, 1 - MOST, SOURCE, "aimc-dse validate --group stacked_batch"))
    return out
