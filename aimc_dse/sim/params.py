"""One design point, read for the event-driven simulator: hardware, model, workload, accounting.

The simulator reads the same flat dotted columns as the closed form (``cost.columns``) and
applies the same accounting rules (docs/reference-simulators.md §H; ``cost/aimc/accounting.py`` module
docstring), so that per-op latencies and energies are identical in both models. Only the
*schedule* differs: the closed form approximates it, the simulator plays it out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ..cost.shapes import local_window_share
from ..specs.base import SpecError

_EPS = 1e-9


def ceil_eps(x: float) -> float:
    """⌈x⌉ as the closed form rounds: exact integers are not pushed up by float noise."""
    return float(math.ceil(x - _EPS))


@dataclass(frozen=True)
class OpCost:
    """Latency/energy of one digital op as a function of its vector size (§A.5.2)."""

    lat_per256: float
    lat_fixed: float
    e_per256: float
    e_fixed: float

    def lat(self, s: float) -> float:
        return ceil_eps(self.lat_per256 * s / 256.0 + self.lat_fixed)

    def energy_nj(self, s: float) -> float:
        return (self.e_per256 * s / 256.0 + self.e_fixed) / 1000.0


def _num(v: Any) -> float:
    if v is None:
        return float("nan")
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


@dataclass
class SimParams:
    """Everything the graph builder and scheduler need, as plain Python scalars."""

    # hardware
    R: int
    C: int
    N: int
    Z: int
    t_mvm: float
    e_mvm: float
    P: int
    M: int
    ops: dict[str, OpCost]
    alpha: float
    beta: float
    gamma_pj: float
    causal: float
    att_lat_fixed: float
    att_e_fixed: float
    bw: float
    p_act: float
    p_idle: float
    p_passive: float
    strategy: str
    split_ffn: bool
    stack_embedding: bool
    accounting: str
    size_to_model: bool
    area: dict[str, float]
    group_size: int
    crossbar_share: float
    # model
    L: int
    d: int
    q: int
    kv: int
    d_ff: int
    gated: bool
    vocab: int
    E: int
    k: int
    d_ff_e: int
    shared: int
    d_ff_s: int
    moe_layer: list[bool]
    learned_pos: bool
    max_positions: int
    activation: str
    expert_choice: bool
    # workload
    prompt: int
    G: int
    B: int
    prefill: bool
    kv_cache: bool
    go_cache: bool
    load_model: str
    zipf: float
    trace: str
    seed: int
    f_m: float
    f_c: float
    f_g: float
    grouped: bool
    extra: dict[str, Any] = field(default_factory=dict)
    # sliding-window layers (model.sliding_window, model.global_every): a local layer's KV
    # cache holds at most ``window`` tokens (0: every layer global)
    window: int = 0
    local_layer: list[bool] = field(default_factory=list)

    # ---- accounting switches (cost/aimc/accounting.py, docs/reference-simulators.md §H) --------------------
    @property
    def pim(self) -> bool:
        return self.accounting == "moewithpim"

    @property
    def ibm(self) -> bool:
        return self.accounting == "ibm3dsim"

    @property
    def physical(self) -> bool:
        return not (self.pim or self.ibm)

    @property
    def is_moe(self) -> bool:
        return self.E > 0 and any(self.moe_layer)

    @property
    def shared_routing(self) -> bool:
        """The references deep-copy one traced graph per sequence: all sequences route alike (§C.3)."""
        return not self.physical

    @property
    def single_decode(self) -> bool:
        """Whether a decode step pushes one token (else the whole context is recomputed).

        MoEwithPIM traces a single token whenever its GO flag is set, dense models included
        (§E.6, §H.24); 3D-SiM and physical accounting whenever keys/values are cached
        (expert-choice MoE needs the GO cache as well, physically).
        """
        if self.pim:
            return self.go_cache
        if self.physical and self.expert_choice and self.is_moe:
            return self.go_cache
        return self.kv_cache

    @property
    def kv_dram(self) -> bool:
        """3D-SiM never charges its KV load (stub attention, §H.3)."""
        return not self.ibm

    @property
    def dram_in_use(self) -> bool:
        """Whether DRAM idle power is added to passive power (§A.4)."""
        if self.ibm:
            return self.kv_cache
        if self.pim:
            return self.go_cache  # kv_caching = go_flag in MoEwithPIM's main.py
        return self.kv_cache or (self.go_cache and self.is_moe)

    @property
    def pre_tokens(self) -> int:
        """Prompt tokens simulated: MoEwithPIM rescales the prompt by f_m (§E.2)."""
        if self.pim:
            return int(math.ceil(self.prompt * self.f_m - _EPS))
        return self.prompt


def _ops(pt: Mapping[str, Any], name: str) -> OpCost:
    p = f"hw.ops.{name}."
    g = lambda k: _num(pt.get(p + k, 0.0)) if pt.get(p + k) is not None else 0.0  # noqa: E731
    return OpCost(g("latency_ns_per_256"), g("latency_ns_fixed"), g("energy_pj_per_256"), g("energy_pj_fixed"))


def _get(pt: Mapping[str, Any], key: str, default: Any = None) -> Any:
    if key in pt:
        v = pt[key]
        if isinstance(v, float) and math.isnan(v) and default is not None:
            return default
        return v
    if default is None:
        raise SpecError("design point", key, "missing (the event simulator needs it)")
    return default


def _physical_sections(pt: Mapping[str, Any]) -> list[str]:
    """The chip's physical figures that change the simulated schedule or energy (weight
    encoding, converters, per-tier costs, static power, KV SRAM, DRAM channels/energy): the
    simulator models the references' abstraction (fixed T_mvm/E_mvm per tier MVM, one signed
    weight per cell, KV in one DRAM), not these. A stack limit alone only decides the fit."""
    import numpy as np

    from ..cost.aimc.inputs import read_physical
    from ..cost.columns import Cols

    ph = read_physical(Cols({k: np.asarray([v]) for k, v in pt.items()}))
    checks = {
        "hw.encoding": (ph.devices_per_weight[0] != 1) or (ph.slices[0] != 1),
        "hw.converters": bool(ph.has_conv[0]),
        "hw.stack (per-tier costs)": ph.lat_per_tier[0] != 0 or ph.e_per_tier[0] != 0,
        "hw.static_power": any(getattr(ph, a)[0] != 0 for a in ("tile_w", "tier_w", "dpu_w", "mha_w", "sram_w_per_mb",
                                                                 "other_w")),
        "hw.kv_sram": ph.sram_mb[0] != 0,
        "hw.dram (channels, energy per byte)": ph.channels[0] != 1 or ph.dram_pj[0] != 0,
        "hw.reference_tier (figures scaled to another tier size)": any(
            math.isfinite(ref) and ref != _num(pt.get(f"hw.{dim}"))
            for dim, ref in (("tier_rows", _num(pt.get("hw.reference_tier.tier_rows"))),
                             ("tier_cols", _num(pt.get("hw.reference_tier.tier_cols"))))),
    }
    return [name for name, used in checks.items() if used]


def _unsupported(pt: Mapping[str, Any]) -> None:
    """Features the closed form models but the event simulator does not (clear error, not a wrong number)."""
    if _num(pt.get("hw.chips", 1)) != 1:
        raise SpecError("hw", "hw.chips", "--fidelity event simulates one chip; use the closed form for several chips")
    if _num(pt.get("model.mla.kv_lora_rank", 0)) > 0:
        raise SpecError("model", "model.mla",
                        "multi-head latent attention (its q_a/q_b/kv_a/kv_b matrices and latent KV cache) is not "
                        "simulated by --fidelity event, which maps Q, K, V and out; use the closed form")
    phys = _physical_sections(pt)
    if phys:
        raise SpecError("hw", ", ".join(phys),
                        "the physical chip sections are not simulated by --fidelity event (it models the reference "
                        "simulators' hardware abstraction); use the closed form, or a preset without them "
                        "such as nature-3d-aimc-sim")
    dig = [k for k in ("attention", "router", "shared_experts", "lm_head", "dense_ffn")
           if bool(pt.get(f"workload.digital.{k}", False)) and str(pt.get(f"workload.digital.{k}")) not in ("False", "nan")]
    frac = _num(pt.get("workload.digital.fraction", 0.0))
    if dig or (not math.isnan(frac) and frac > 0):
        raise SpecError("workload.digital", None,
                        "digital experts/modules are not simulated by --fidelity event (use the closed form)")
    acc = str(pt.get("hw.accounting", "physical"))
    sched = str(pt.get("workload.grouping.schedule", "none"))
    if acc != "moewithpim" and sched != "none":
        raise SpecError("workload.grouping.schedule", None,
                        "group-wise expert schedules are simulated only under moewithpim accounting "
                        "(its factor form); use the closed form for physical grouping")
    if acc == "physical" and _num(pt.get("hw.sharing.group_size", 1)) > 1 and _num(pt.get("model.moe.experts", 0)) > 0:
        raise SpecError("hw.sharing.group_size", None,
                        "under physical accounting a shared periphery serialises a token's experts (schedule none "
                        "is costed as single, docs/cost-model.md §6), which --fidelity event does not simulate; "
                        "use the closed form")
    if sched != "none" and acc == "moewithpim" and any(
        math.isnan(_num(pt.get(f"workload.grouping.factors.{k}", float("nan")))) for k in ("mvm", "comm")
    ):
        raise SpecError("workload.grouping.factors", None,
                        "--fidelity event needs explicit grouping factors (mvm, comm) under moewithpim accounting")


def read_point(pt: Mapping[str, Any]) -> SimParams:
    """SimParams from one design point's flat columns (``cost.columns.spec_columns``)."""
    if str(pt.get("hw.kind", "aimc")) != "aimc":
        raise SpecError("design point", "hw.kind", "the event simulator runs AIMC hardware only")
    _unsupported(pt)
    i = lambda k, d=None: int(_get(pt, k, d))  # noqa: E731
    f = lambda k, d=None: float(_get(pt, k, d))  # noqa: E731
    b = lambda k, d=None: bool(_get(pt, k, d))  # noqa: E731
    s = lambda k, d=None: str(_get(pt, k, d))  # noqa: E731

    L = i("model.layers")
    E = i("model.moe.experts", 0)
    fd = i("model.moe.first_dense_layers", 0)
    every = max(i("model.moe.every", 1), 1)
    moe_layer = [E > 0 and l >= fd and (l - fd) % every == 0 for l in range(L)]
    heads = i("model.heads")
    head_dim = i("model.head_dim", i("model.d_model") // max(heads, 1))
    kv_heads = i("model.kv_heads", heads)
    window = _num(pt.get("model.sliding_window"))
    window = 0 if math.isnan(window) else int(window)
    g_every = i("model.global_every", 0)
    local_layer = [window > 0 and not (g_every and (l + 1) % g_every == 0) for l in range(L)]
    acc = s("hw.accounting", "physical")

    share = f("hw.sharing.crossbar_area_share", 0.2)
    g = i("hw.sharing.group_size", 1)
    fm = _num(pt.get("workload.grouping.factors.mvm"))
    fc = _num(pt.get("workload.grouping.factors.comm"))
    fg = _num(pt.get("workload.grouping.factors.area"))
    grouped = not (math.isnan(fm) and math.isnan(fc))
    f_g = share + (1.0 - share) / max(g, 1) if math.isnan(fg) else fg
    area = {k: _num(pt.get(f"hw.area.{k}", 0.0)) for k in ("tile_mm2", "tier_overhead_mm2", "dpu_mm2", "mha_unit_mm2", "other_mm2")}
    area = {k: (0.0 if math.isnan(v) and k != "tile_mm2" else v) for k, v in area.items()}

    return SimParams(
        R=i("hw.tier_rows"), C=i("hw.tier_cols"), N=i("hw.tiles"), Z=i("hw.stack_height"),
        t_mvm=f("hw.mvm_latency_ns"), e_mvm=f("hw.mvm_energy_nj"), P=i("hw.dpus"), M=i("hw.mha_units"),
        ops={o: _ops(pt, o) for o in ("layer_norm", "relu", "gelu", "add", "communication", "sampling")},
        alpha=f("hw.attention.alpha_ns", 0.0), beta=f("hw.attention.beta_ns", 0.0),
        gamma_pj=f("hw.attention.gamma_pj", 0.0), causal=f("hw.attention.causal_factor", 0.5),
        att_lat_fixed=f("hw.attention.latency_ns_fixed", 0.0), att_e_fixed=f("hw.attention.energy_nj_fixed", 0.0),
        bw=f("hw.dram.bandwidth_gbps"), p_act=f("hw.dram.active_power_w"), p_idle=f("hw.dram.idle_power_w"),
        p_passive=f("hw.passive_power_w"),
        strategy=s("hw.mapping.strategy", "greedy_in_order"), split_ffn=b("hw.mapping.split_ffn", True),
        stack_embedding=b("hw.mapping.stack_embedding", False), accounting=acc,
        size_to_model=b("hw.size_to_model", False), area=area, group_size=g, crossbar_share=share,
        L=L, d=i("model.d_model"), q=heads * head_dim, kv=kv_heads * head_dim, d_ff=i("model.d_ff", 0),
        gated=s("model.mlp", "plain") == "gated", vocab=i("model.vocab"), E=E, k=i("model.moe.top_k", 0),
        d_ff_e=i("model.moe.d_ff_expert", 0), shared=i("model.moe.shared_experts", 0) if E > 0 else 0,
        d_ff_s=i("model.moe.d_ff_shared", 0) or i("model.moe.d_ff_expert", 0),
        moe_layer=moe_layer, learned_pos=s("model.position_embedding", "learned") == "learned",
        max_positions=i("model.max_positions", 1), activation=s("model.activation", "relu"),
        expert_choice=s("model.moe.routing", "token_choice") == "expert_choice",
        prompt=i("workload.prompt_len"), G=i("workload.gen_len"), B=i("workload.batch"),
        prefill=b("workload.prefill", True), kv_cache=b("workload.kv_cache", True),
        go_cache=b("workload.go_cache", False),
        load_model=s("workload.expert_load.model", "uniform"),
        zipf=f("workload.expert_load.zipf_exponent", 1.0),
        trace=str(pt.get("workload.expert_load.trace", "") or ""),
        seed=i("workload.seed", 0),
        f_m=1.0 if math.isnan(fm) else fm, f_c=1.0 if math.isnan(fc) else fc, f_g=f_g, grouped=grouped,
        window=window, local_layer=local_layer,
    )


def mha_cost(p: SimParams, n: int, prefill_step: bool, cached: bool, moe_layer: bool,
             local: bool = False) -> tuple[float, float, float, float]:
    """One attention job at context n: (unit-busy latency ns, active energy nJ, FLOPs, DRAM busy ns).

    §A.6: full job cf·⌈n²(α·d + β·d²)⌉; a KV-cached decode job is 1/n of it plus the KV
    load ⌈2·n·kv/BW⌉ (not under 3D-SiM accounting; under physical accounting a ``local``
    sliding-window layer loads min(n, window) tokens). Physical accounting also reads the GO
    cache of MoE layers (⌈(n·E + E·d)/BW⌉) inside the job; the references do not (§H.23).
    """
    d = p.d
    full = p.causal * math.ceil(n * n * (p.alpha * d + d * d * p.beta) - _EPS)
    use_cache = cached and not prefill_step
    if use_cache:
        lat_c = full / n + p.att_lat_fixed
        e_c = p.causal * p.gamma_pj * d / 1000.0 * n + p.att_e_fixed
        D = float(n)
        fl = 2 * D * d + (1 + D) + 2 * D + (D - n) + 2 * n * d
    else:
        lat_c = full + p.att_lat_fixed
        e_c = p.causal * p.gamma_pj * d / 1000.0 * n * n + p.att_e_fixed
        D = (n * n + n) / 2.0  # decoder self-attention is causal (§A.6)
        fl = 2 * D * d + (1 + D) + 2 * D + (D - n) + 2 * n * n * d
    # physical accounting: a sliding-window (``local``) layer's query attends at most ``window``
    # keys (its share of the fitted job, cost/shapes.local_window_share, as the closed form) and its cache holds at
    # most ``window`` tokens, as the closed form's KV load (cost/aimc/memory.py); the references'
    # form attends and reads all n
    windowed = local and p.window > 0 and p.physical
    if windowed:
        share = float(local_window_share(n, p.window, use_cache))
        lat_c = (lat_c - p.att_lat_fixed) * share + p.att_lat_fixed
        e_c = (e_c - p.att_e_fixed) * share + p.att_e_fixed
        fl *= share
    kv_tok = min(n, p.window) if windowed else n
    t_kv = ceil_eps(2.0 * p.kv / p.bw * kv_tok) if (use_cache and p.kv_dram) else 0.0
    t_go = 0.0
    if p.physical and p.go_cache and moe_layer and not prefill_step:
        t_go = ceil_eps((n * p.E + p.E * d) / p.bw)
    e_dram = p.p_act * (t_kv + t_go)
    return lat_c + t_kv + t_go, e_c + e_dram, fl, t_kv + t_go


def np_float(x) -> float:
    return float(np.asarray(x))
