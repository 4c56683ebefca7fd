"""Checks against the reference simulators' own outputs and the papers' ratios (docs/cost-model.md §9).

Every check evaluates the model exactly as a user would (the same point-building path as
``aimc-dse evaluate``) and carries the command that reproduces it.

Tolerances (docs/cost-model.md §9): energy and operations 0.1 %; latency 2 % (the planar batch-4
run included); latency with stacked tiers 10 %. One run needs a note: 3D-SiM's
8-tile run stacks tiers, and its total energy is 88 % passive power × makespan, so the
total inherits the stacked-latency error (the analytic pipeline S + (n−1)·τ over-estimates
how tightly a tile holding blocks of two stages interleaves tokens, docs/reference-simulators.md
§G.8 item 3). Its schedule-independent active energy (total − passive power × reference
makespan) is checked at 0.1 %, the total at the stacked-latency tolerance.
"""

from __future__ import annotations

import shlex

from ..cost.evaluate import evaluate_frame
from . import Check, targets

E_TOL, LAT_TOL, STACKED_TOL = 0.001, 0.02, 0.10

FLAG = {"kv_cache": ("--kv-cache", "--no-kv-cache"), "go_cache": ("--go-cache", "--no-go-cache"),
        "prefill": ("--prefill", "--no-prefill")}


def _command(hw: str, model: str, wl: dict, sets: list[str]) -> str:
    parts = ["aimc-dse", "evaluate", "--hw", hw, "--model", model]
    for key, opt in (("prompt_len", "--prompt-len"), ("gen_len", "--gen-len"), ("batch", "--batch")):
        if key in wl:
            parts += [opt, str(wl[key])]
    for key, (on, off) in FLAG.items():
        if key in wl:
            parts.append(on if wl[key] else off)
    for s in sets:
        parts += ["--set", s]
    return " ".join(shlex.quote(p) for p in parts)


def evaluate(hw: str, model: str, wl: dict, sets: list[str]) -> dict:
    from ..specs.points import build_points

    return evaluate_frame(build_points([hw, ], [model], wl, sets)).iloc[0].to_dict()


def _workload(run: dict) -> dict:
    wl = {"kv_cache": False, "go_cache": False, "prefill": True, "batch": 1}
    wl.update(run["workload"])
    return wl


def checks() -> list[Check]:
    t = targets()
    out: list[Check] = []

    pim = t["moewithpim"]
    for run in pim["runs"]:
        wl = _workload(run)
        sets = []
        gr = run.get("grouping")
        if gr:
            sets = [f"workload.grouping.factors.mvm={gr['mvm_factor']}",
                    f"workload.grouping.factors.comm={gr['comm_factor']}",
                    f"workload.grouping.factors.area={gr['group_factor']}"]
        res = evaluate("moewithpim-hermes", "moewithpim-layer", wl, sets)
        cmd = _command("moewithpim-hermes", "moewithpim-layer", wl, sets)
        src = f"MoEwithPIM simulator output, docs/reference-simulators.md §{run['see']}"
        for q, tol in (("latency_ns", LAT_TOL), ("energy_nj", E_TOL), ("flops", E_TOL)):
            out.append(Check("moewithpim", run["name"], q, run["ref"][q], float(res[q]), tol, src, cmd))

    ibm = t["ibm3dsim_readme"]
    for run in ibm["runs"]:
        wl = _workload(run)
        sets = [f"hw.{k}={v}" for k, v in (run.get("hardware_override") or {}).items()]
        res = evaluate("ibm3dsim-readme", "ibm3dsim-readme", wl, sets)
        cmd = _command("ibm3dsim-readme", "ibm3dsim-readme", wl, sets)
        src = f"3D-SiM README example run unmodified, docs/reference-simulators.md §{run['see']}"
        stacked = bool(res["stacked"])
        # stacked tiers: the closed form's sequence interleaving is approximate (docs/batch-fidelity.md);
        # on planar tiles it reproduces the simulator, B = 4 included (0 % today)
        lat_tol = STACKED_TOL if stacked else LAT_TOL
        out.append(Check("ibm3dsim_readme", run["name"], "latency_ns", run["ref"]["latency_ns"], float(res["latency_ns"]), lat_tol, src, cmd))
        out.append(Check("ibm3dsim_readme", run["name"], "flops", run["ref"]["flops"], float(res["flops"]), E_TOL, src, cmd))
        if stacked:
            p_total = float(res["energy_nj.passive"]) / float(res["latency_ns"])
            ref_active = run["ref"]["energy_nj"] - p_total * run["ref"]["latency_ns"]
            model_active = float(res["energy_nj"]) - float(res["energy_nj.passive"])
            out.append(Check("ibm3dsim_readme", run["name"], "energy_nj (active)", ref_active, model_active, E_TOL,
                             src + "; active = total − passive power × reference makespan", cmd))
            out.append(Check("ibm3dsim_readme", run["name"], "energy_nj (total, passive-dominated)",
                             run["ref"]["energy_nj"], float(res["energy_nj"]), STACKED_TOL, src, cmd))
        else:
            out.append(Check("ibm3dsim_readme", run["name"], "energy_nj", run["ref"]["energy_nj"], float(res["energy_nj"]), E_TOL, src, cmd))

    # Gao & Yang's generation claim and Table I (abstract; docs/reference-simulators.md §F.2).
    gen = dict(prompt_len=32, gen_len=8, prefill=False, batch=1)
    base = evaluate("moewithpim-hermes", "moewithpim-layer", {**gen, "kv_cache": False, "go_cache": False}, [])
    cached = evaluate("moewithpim-hermes", "moewithpim-layer", {**gen, "kv_cache": True, "go_cache": True}, [])
    src = "Gao & Yang 2026 abstract: 8 generated tokens, KV+GO cache vs none"
    # one command that prints the ratio itself (the two runs differ in their workload flags)
    ratio_cmd = (
        "python -c \"import aimc_dse as a; r = lambda c: a.evaluate('moewithpim-hermes', 'moewithpim-layer', "
        "prompt_len=32, gen_len=8, prefill=False, kv_cache=c, go_cache=c).iloc[0]; print(r(False)['{q}'] / r(True)['{q}'])\""
    )
    # The paper prints one decimal: 4.2 covers 4.15…4.25 (±1.2 %), 10.1 covers 10.05…10.15 (±0.5 %).
    out.append(Check("paper_claims", "gen8 speed-up, KV+GO cache vs none", "latency ratio", 4.2,
                     base["latency_ns"] / cached["latency_ns"], 0.05 / 4.2, src, ratio_cmd.format(q="latency_ns")))
    out.append(Check("paper_claims", "gen8 energy gain, KV+GO cache vs none", "energy ratio", 10.1,
                     base["energy_nj"] / cached["energy_nj"], 0.05 / 10.1, src, ratio_cmd.format(q="energy_nj")))
    full = evaluate("moewithpim-hermes", "moewithpim-layer", {**gen, "prefill": True, "kv_cache": False, "go_cache": False}, [])
    cmd_t1 = _command("moewithpim-hermes", "moewithpim-layer", {**gen, "prefill": True, "kv_cache": False, "go_cache": False}, [])
    src_t1 = "Gao & Yang 2026 Table I, no cache / no schedule (prefill 32 + 7 full-recompute decode steps)"
    out.append(Check("paper_claims", "Table I no-cache column", "latency_ns", 2297724, float(full["latency_ns"]), LAT_TOL, src_t1, cmd_t1))
    # Table I prints the simulator's own energy: held like the simulator runs' energies (0.1 %)
    out.append(Check("paper_claims", "Table I no-cache column", "energy_nj", 5393776, float(full["energy_nj"]), E_TOL, src_t1, cmd_t1))
    out.append(Check("paper_claims", "Table I no-cache column", "gops_per_w_per_mm2.moe", 10.2,
                     float(full["gops_per_w_per_mm2.moe"]), 0.05 / 10.2, src_t1 + "; MoE area = 1,536 crossbars × 0.635 mm²", cmd_t1))
    return out
