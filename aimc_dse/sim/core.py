"""``simulate_point``: one design point through the event-driven simulator, as result columns.

Flow: read the point (``params``) → map weights (``mapper``) → draw routing (``routing``)
→ build one graph per distinct step length and instantiate it for every (sequence, step)
(``graph``, ``assemble``) → list-schedule (``scheduler_nb``, or ``scheduler`` without numba)
→ latency, time to first token, energy, operations, busy times.

Columns that do not depend on the schedule (area, tier counts, grouping factors) come from
the closed form evaluated on the same point, so both fidelities report the same schema;
latency, energy, their breakdowns and the derived throughput/efficiency columns are the
simulator's own.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..cost.columns import Cols
from ..cost.metrics import headline_metrics
from ..cost.registry import mask_unfit
from ..specs.base import SpecError
from .assemble import Assembled, assemble
from .graph import CLS, COMM, DPU, MHA, MVM, steps_of
from .mapper import blocks_total, map_model
from .params import SimParams, read_point
from .routing import Router
from .scheduler import PS_PER_NS, schedule

# Perfetto and chrome://tracing slow to a crawl beyond a few million events.
TIMELINE_MAX_EVENTS = 1_000_000  # about 150 MB of JSON


def _compiled():
    """The numba scheduler, or None (numba missing, or AIMC_DSE_SIM_ENGINE=python)."""
    if os.environ.get("AIMC_DSE_SIM_ENGINE", "").lower() == "python":
        return None
    try:
        from . import scheduler_nb
    except ImportError:  # numba not installed: the Python scheduler gives the same results, slower
        return None
    return scheduler_nb


def run_schedule(bt: Assembled, N: int, p: SimParams, record: bool):
    """The list scheduler on an assembled batch (compiled when numba is available)."""
    t_ci = int(round(bt.t_ci * PS_PER_NS))
    t_co = int(round(bt.t_co * PS_PER_NS))
    args = (bt.kind, bt.tile, bt.lat_ps, bt.seq, bt.tok, bt.ocomm, bt.indptr, bt.idx, N, p.P, p.M, t_ci, t_co)
    nb = _compiled()
    n_events = len(bt.kind) + int(bt.ocomm.sum()) + int((bt.idx & 1).sum())
    if nb is not None and len(bt.kind) and nb.fits(int(bt.seq.max()), int(bt.tok.max()), n_events):
        return nb.schedule_nb(*args, record=record)
    return schedule(*args, record=record)


def _closed_form(point: Mapping[str, Any]) -> dict[str, Any]:
    from ..cost.aimc import aimc_cost

    res = aimc_cost(Cols({k: v for k, v in point.items()}))
    return {k: (v[0] if isinstance(v, np.ndarray) and v.ndim == 1 and len(v) == 1 else v) for k, v in res.items()}


def simulate(p: SimParams, record: bool = False) -> dict[str, Any]:
    """Simulate a read point; returns raw results (and the schedule when ``record``)."""
    N = p.N
    if p.size_to_model:
        N = max(1, -(-blocks_total(p) // p.Z))
    mapping = map_model(p, N)
    if mapping is None:
        return {"fits": False, "N": N}
    steps = steps_of(p)
    router = Router(p, [st["n"] for st in steps], p.prompt + p.G)
    bt = assemble(p, mapping, router)
    if record and len(bt.kind) > TIMELINE_MAX_EVENTS:
        raise SpecError("--timeline", None,
                        f"the schedule has {len(bt.kind):.3g} operations, more than a trace viewer handles "
                        f"(limit {TIMELINE_MAX_EVENTS:.0e}); write the timeline of a smaller batch or fewer tokens")
    T, finish, start, unit = run_schedule(bt, N, p, record)
    makespan = T / PS_PER_NS
    first = np.array([finish[s] for s in bt.prefill_samplers], np.float64) / PS_PER_NS
    done = np.array([finish[s] for s in bt.last_samplers], np.float64) / PS_PER_NS
    out = {"fits": True, "N": N, "makespan_ns": makespan, "batch": bt, "nodes": len(bt.kind),
           # time to first token of the batch: when every sequence has its first token (the
           # closed form's batch prefill); per-sequence means beside it
           "ttft_ns": float(first.max()) if len(first) else float("nan"),
           "ttft_mean_ns": float(first.mean()) if len(first) else float("nan"),
           "tpot_mean_ns": float(((done - first) / (p.G - 1)).mean()) if len(first) and p.G > 1 else float("nan")}
    if record:
        out.update(start=start, finish=finish, unit=unit)
    return out


def simulate_point(point: Mapping[str, Any], timeline: str | Path | None = None) -> dict[str, float]:
    """One AIMC design point (flat columns) → the closed form's result columns, from the simulator.

    ``timeline``: write the schedule as Chrome/Perfetto trace-event JSON to this path.
    """
    p = read_point(point)
    base = _closed_form(point)
    res = simulate(p, record=timeline is not None)
    out = dict(base)
    if not res["fits"]:
        out["fits"] = False
        return {k: v[0] for k, v in mask_unfit({k: np.asarray([v]) for k, v in out.items()}).items()}
    bt: Assembled = res["batch"]
    T = res["makespan_ns"]
    # Passive and static power do not depend on the schedule: the closed form's figures (its
    # energy over its makespan) × the simulated makespan.
    T_cf = float(base["latency_ns"])
    e_passive = float(base["energy_nj.passive"]) / T_cf * T
    e_static = float(base.get("energy_nj.static", 0.0)) / T_cf * T
    S = bt.sums
    e_mvm = S["e_mvm"]
    # transfers: one into every MVM fed by a digital op, one after every MVM but lm_head blocks
    # feeding sampling, one before each sampling (§C.2)
    e_comm = S["n_cin"] * bt.e_ci + S["n_cout"] * bt.e_co + S["e_cnode"]
    b_comm = S["n_cin"] * bt.t_ci + (S["n_cout"] + S["n_cnode"]) * bt.t_co
    e_dpu = S["e_dpu"]
    e_dram = p.p_act * S["b_dram"]
    e_att = S["e_att"] - e_dram
    energy = e_mvm + e_comm + e_dpu + e_att + e_dram + e_passive + e_static
    flops = S["flops"] + S["fl_att"]
    gen_per_seq = p.G if p.prefill else p.G - 1
    tokens = p.B * gen_per_seq
    ttft = res["ttft_ns"]
    tpot = (T - (0.0 if math.isnan(ttft) else ttft)) / (p.G - 1) if p.G > 1 else float("nan")
    hm = headline_metrics(system="aimc", n=1, fits=True, latency_ns=T, ttft_ns=ttft, tpot_ns=tpot, energy_nj=energy,
                          area_mm2=float(base["area_mm2"]), flops=flops, tokens=tokens)
    out.update({k: (v[0] if np.ndim(v) else v) for k, v in hm.items()})
    out.update({
        "energy_nj.mvm": e_mvm, "energy_nj.communication": e_comm, "energy_nj.digital": e_dpu,
        "energy_nj.attention": e_att, "energy_nj.dram": e_dram, "energy_nj.passive": e_passive,
        "energy_nj.static": e_static,
        "power_w.static": (e_passive + e_static) / T, "power_w.dynamic": (energy - e_passive - e_static) / T,
        # one chip (several are refused): its mean power is the simulated power, not the closed form's
        "power_w.per_chip": energy / T,
        "energy_nj.digital_mac": 0.0, "analog_energy_nj": e_mvm + e_comm,
        "latency_ns.prefill": 0.0 if math.isnan(ttft) else ttft, "latency_ns.decode": T - (0.0 if math.isnan(ttft) else ttft),
        "busy_ns.mvm": S["n_mvm"] * p.t_mvm, "busy_ns.communication": b_comm,
        "busy_ns.digital": S["b_dpu"],
        "busy_ns.attention": S["b_att"] - S["b_dram"],
        "busy_ns.dram": S["b_dram"],
        "busy_ns.digital_mac": 0.0,
        "mvms": float(S["n_mvm"]),
        "busiest_resource": _bound(bt, T, p, res["N"]),
        "sim.nodes": float(res["nodes"]),
        "ttft_ns.mean": res["ttft_mean_ns"],
        "tpot_ns.mean": res["tpot_mean_ns"],
    })
    a_moe = float(base.get("area_mm2.moe", float("nan")))
    # the MoE part's density, from the simulated latency and energy; none (NaN, as the closed
    # form's) where the model has no MoE part on the tiles (an MoE model cut to its dense layers)
    if not math.isnan(a_moe):
        out["gops_per_mm2.moe"] = flops / T / a_moe if a_moe > 0 else float("nan")
        out["gops_per_w_per_mm2.moe"] = flops / energy / a_moe if a_moe > 0 else float("nan")
    if timeline is not None:
        write_timeline(timeline, p, bt, res)
    return out


def _bound(bt: Assembled, T: float, p: SimParams, N: int) -> str:
    """The most utilised resource class over the run: tile (the busiest tile), dpu or mha."""
    mvm = bt.kind == MVM
    per_tile = np.bincount(bt.tile[mvm], minlength=N).max() * p.t_mvm if mvm.any() else 0.0
    util = {
        "tile": per_tile / T,
        "dpu": bt.sums["b_dpu"] / (p.P * T),
        "mha": bt.sums["b_att"] / (p.M * T),
    }
    return max(util, key=util.get)


def write_timeline(path: str | Path, p: SimParams, bt: Assembled, res: dict) -> None:
    """Chrome/Perfetto trace-event JSON: one process per resource class, one thread per unit, ts/dur in µs."""
    start, finish, unit = res["start"], res["finish"], res["unit"]
    procs = {"tiles": 1, "DPUs": 2, "MHA units": 3, "transfers": 4}
    events: list[dict] = []
    for name, pid in procs.items():
        events.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": name}})
    seen: set[tuple[int, int]] = set()
    for v in range(len(bt.kind)):
        k = int(bt.kind[v])
        if k == COMM:
            continue  # transfers have no resource; kept out to keep traces small
        pid = {MVM: 1, DPU: 2, MHA: 3}[k]
        tid = int(unit[v])
        if (pid, tid) not in seen:
            seen.add((pid, tid))
            label = {1: "tile", 2: "DPU", 3: "MHA"}[pid]
            events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": f"{label} {tid}"}})
        events.append({
            "ph": "X", "pid": pid, "tid": tid, "name": CLS[int(bt.cls[v])],
            "ts": start[v] / PS_PER_NS / 1000.0, "dur": (finish[v] - start[v]) / PS_PER_NS / 1000.0,
            "args": {"seq": int(bt.seq[v]), "token": int(bt.tok[v]), "step": int(bt.step[v])},
        })
    # whole or not at all, in a folder made if missing (as every output of the tool)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}")
    try:
        tmp.write_text(json.dumps({"traceEvents": events, "displayTimeUnit": "ns"}))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
