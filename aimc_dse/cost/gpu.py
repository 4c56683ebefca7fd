"""GPU baseline: a per-step roofline of LLM inference on one or more GPUs (docs/cost-model.md §7).

The GPU runs the same model and workload the AIMC model sees (``cost.shapes.model_shape``):
a prefill step (prompt_len · B tokens, emits token 1) and G − 1 decode steps (B tokens each,
context growing); without ``workload.prefill`` only the decode steps are costed, without
``workload.kv_cache`` every decode step recomputes the whole context.

Per step (B sequences, t new tokens per sequence, context n, T = B·t tokens)
-----------------------------------------------------------------------------
* FLOPs, 2 per MAC: the linear layers, 2·T·(L·attention + dense FFNs + MoE layers·(router +
  shared + k experts)) + lm_head 2·B·d·V (logits only for the B emitting positions), and
  attention QKᵀ and A·V over the causal context, 4·q·L·B·(t·n − t(t−1)/2).
* Bytes: the weights the step touches, in ``hw.weight_precision`` — every non-expert matrix
  and lm_head, the embedding rows read, and per MoE layer only the experts at least one token
  of the step selects: E·(1 − (1 − k/E)^T) for uniform routing; Σᵢ 1 − (1 − pᵢ)^(k·T) with
  pᵢ ∝ 1/iˢ for zipf (each token's k picks approximated as k independent draws); all E for
  expert-choice routing (every expert takes its capacity of tokens). A gate trace is not read
  here (no I/O in the cost model): ``trace`` rows use the uniform formula. Plus the KV cache
  (``hw.kv_precision``): 2·kv·L·B·(n + t) elements, i.e. the context read and the new
  entries written (without a cache K and V are activations, 2 B each), plus activations
  (2 B: every linear op reads its input and writes its output once).
* Time: a roofline per kernel class — linear ops (GEMMs, bound by weights) and attention
  (bound by the KV cache) — each max(FLOPs / (peak · compute eff), bytes / (bandwidth ·
  memory eff)), routed-expert GEMMs at compute eff · ``moe_compute``, plus
  ``per_layer_overhead_us`` · L (kernel launches, norms, activations), plus tensor-parallel
  communication. The peak is ``hw.peak_tflops.<hw.compute_precision>``, chosen per row.
* Attention follows the model's form (cost.shapes): keys attended are causal and capped at the
  window on sliding-window layers; FLOPs per key are 2·q (GQA) or, for MLA, heads·(2·kv_lora
  + rope) in decode (absorbed, latent-space attention) and heads·(nope + rope + v) in prefill;
  the KV bytes are the window-bounded cache (kv_lora_rank + rope per token per layer for MLA)
  read once per step plus the new entries, KV reads at ``efficiency.attention_memory`` of the
  weight-streaming bandwidth.
* Devices (``devices_needed``): the fewest whose usable memory holds the weights and the
  batch's KV cache at its longest context; used unless ``hw.devices`` > 0 (then ``fits`` says
  whether that count suffices). ``hw.parallelism``: ``tp`` splits every matrix and the
  attention over n devices and adds 2 all-reduces per layer of T·d·2 bytes (ring: 2(n−1)/n of
  the data per device over NVLink at ``nvlink_bandwidth_gbps`` · ``efficiency.tp_comm`` — on a
  switchless mesh (``peer_link_gbps``, MI300X) only the n − 1 links to the peers, (n − 1) ·
  ``peer_link_gbps`` at most that; beyond ``node_devices`` the network too, ``collective_bandwidths``
  — plus ``efficiency.collective_latency_us`` each); ``ep`` spreads the routed experts over the
  devices and replicates the rest, each device serving ⌈B/n⌉ sequences, with a dispatch and a
  combine all-to-all per MoE layer (each device sends its tokens' k copies, (n−1)/n of them
  off-device); ``tp+ep`` spreads the experts and splits the rest tensor-parallel (the
  all-reduces of ``tp``, no all-to-all). A spread expert is read whole by its device: the
  busiest device reads max(hit/n, 1) experts per MoE layer once any is hit.
* Power per device = idle + (TDP − idle) · (compute-bound share + f · memory-bound share of
  the time), f = ``hw.memory_bound_power_fraction``: a compute-bound kernel draws the TDP, a
  memory-bound one (decode GEMVs, KV reads) only f of the dynamic power, overheads and
  all-reduces the idle power. Energy = devices · (idle · latency + (TDP − idle) · (Σ
  compute-bound time + f · Σ memory-bound time)). Area = die area · devices. ``fits`` = weights and
  the batch's KV cache fit the devices' usable memory (always true for an automatic count).

Result columns: the schema-1 headline (``cost.metrics``) plus ``latency_ns.compute`` /
``.memory`` (roofline time of the kernel classes bound by FLOPs / by bytes), ``.overhead``,
``.communication`` (they sum to ``latency_ns``); ``energy_nj.active`` / ``.idle``;
``n_devices``; ``weight_bytes`` (all weights stored); ``kv_cache_bytes`` (the batch's KV cache
at its longest context); ``bytes_moved`` (HBM traffic of all steps, all devices);
``memory_bound_share`` (share of the costed steps that are memory-bound: step bytes/bandwidth ≥
step FLOPs/peak). Columns are defined in ``cost.registry``.

Decode steps are summed in closed form with the KV cache (every per-step quantity is affine
in n, so each roofline max is split where its two lines cross), and with a loop over steps
vectorised across rows without it (recompute workloads are short). No loop per design point.

Accounting profiles (``hw.accounting``)
---------------------------------------
* ``paper`` — Büchel et al. 2025's A100 upper bound (docs/paper-numbers.md §1.4): 100 % compute
  and memory efficiency, ALL parameters fetched from HBM every iteration (no KV cache or
  activation traffic, no overheads, no communication), one roofline max per step. With no
  overheads the GPU is always busy and draws its TDP (400 W, the paper's figure) whether
  memory- or compute-bound (``memory_bound_power_fraction`` is ignored). The
  preset ``a100-paper`` adds the paper's 5-bit weights, 1,555 GB/s and 826 mm².
* ``calibrated`` (default) — the efficiencies of the preset, fitted once to published
  measurements (docs/paper-numbers.md §8, shipped in ``validation/targets.yaml``):

  Vidur profiles of Llama-2-7B's linear ops per layer (QKV + O + up/gate + down and the norms
  between them; TP1, FP16; ms), evaluated as a 1-layer Llama-2-7B with vocab 1
  (``linear_step_ns``):

  =======================  ========  ========  =========
  measurement              measured  model     residual
  =======================  ========  ========  =========
  A100-80GB, 1 token         0.29     0.2901    +0.04 %
  A100-80GB, 512 tokens      1.04     1.0401    +0.01 %
  A100-80GB, 4096 tokens     8.17     8.1712    +0.01 %
  H100-SXM, 1 token          0.175    0.1750    −0.01 %
  H100-SXM, 512 tokens       0.37     0.3426    −7.4 %
  H100-SXM, 4096 tokens      2.59     2.5914    +0.05 %
  =======================  ========  ========  =========

  A100: three points, three unknowns, solved exactly → compute 0.652, memory 0.739, overhead
  21.4 µs per layer (Vidur's per-op A100 decode timings alone give 0.79 of the bandwidth plus
  3.8 µs per kernel: the same picture). H100: its 512-token point is slower than its 4096-token
  point allows; a free three-point fit would need 99 % of HBM bandwidth and 53 µs per layer,
  so the H100 keeps the A100's 21.4 µs and fits the 1- and 4096-token points → compute 0.652,
  memory 0.787 (docs/paper-numbers.md §8.1 quotes ≈ 77 %); the 512-token residual is reported.

  TensorRT-LLM v0.17 offline max throughput of Mixtral-8×7B on A100-SXM4-80GB, FP16,
  128 in / 128 out, total output tokens/s. TensorRT-LLM batches in flight; the model runs one
  static batch, the largest whose KV cache (255 tokens per sequence) fits the devices' usable
  memory beside the weights (``max_batch``: 1,513 / 5,822 / 14,438 sequences), prefill then
  127 decode steps:

  ====  ========  ========  ========  ======================
  TP    measured  model     residual  Vidur efficiencies only
  ====  ========  ========  ========  ======================
  2      5,541     5,585     +0.8 %    +32 %
  4     10,324    10,144     −1.7 %    +35 %
  8     17,044    17,112     +0.4 %    +49 %
  ====  ========  ========  ========  ======================

  With the dense-GEMM efficiencies alone the model overshoots, more so with more devices. Two
  factors are fitted to the three points (grid search, least squares on log(model/measured),
  the Vidur values fixed): ``efficiency.moe_compute`` 0.75 (routed-expert GEMMs relative to
  dense ones) and ``efficiency.tp_comm`` 0.38. Two factors for three points: the near-zero
  residuals were a fit, not a validation. (That first fit's table: ``tp_comm`` is 0.7 since
  the refit below, and these rows are +0.5 / +3.6 / +13.7 %.)

  Multi-GPU refit (issue 13: Llama-2-70B on 4 A100s came out 21–37 % optimistic at batch
  1–64 because an all-reduce cost only its bandwidth term). TensorRT-LLM v0.5.0
  ``docs/source/performance.md``, LLaMA 70B (Llama-2-70B) TP4 A100 FP16: static batch 64
  (gptSessionBenchmark) 128/128, 128/2048, 2048/128, 2048/2048 → 1,237 / 1,181 / 272 / 738
  output tok/s, batch-1 first-token latency 47 ms (128 tokens) and 377 ms (2048). With the
  Mixtral runs above, fitted by grid search (least squares on log(model/measured); Vidur
  values and ``moe_compute`` fixed): ``collective_latency_us`` 110 (a fixed cost per
  all-reduce: NCCL launch and synchronisation, 2 per layer — 17.6 ms of a Llama-2-70B step on
  80 layers) and ``tp_comm`` 0.7 (210 GB/s per direction).

  Decode attention. That fit also set ``attention_memory`` 0.4 (the KV cache streamed at 40 %
  of the weights' rate), which v0.5's 2048/2048 run needs. But every other row of the v0.17
  table — the software the rest of the calibration follows — then came out 20–51 % slow on
  long generations (Llama-3.1-8B TP1 2048/2048 −51 %, Mixtral TP2 2048/2048 −42 %): v0.5's
  attention kernels were slower than v0.17's, and a GPU baseline that slow inflates every
  AIMC ÷ GPU ratio at long contexts. ``attention_memory`` is 1 (no discount): the 24 v0.17
  rows with these constants, the three 128/128 Mixtral rows fitted (``moe_compute``), the
  other 21 held out (validation/gpu.py ``v017_holdouts``, tests/test_gpu_ep.py; the
  Llama-3.1 specs from their HF configs in tests/data/hf):

  =====================  ==  =========================================================
  model                  TP  128/128   128/2048   2048/128   2048/2048
  =====================  ==  =========================================================
  Mixtral-8×7B            2  +0.5 %    −13.9 %    −7.3 %     −23.3 %
  Mixtral-8×7B            4  +3.6 %    +9.8 %     −0.9 %     +6.0 %
  Mixtral-8×7B            8  +13.7 %   +14.0 %    +2.8 %     +11.5 %
  Llama-3.1-8B            1  −5.2 %    +4.7 %     −10.7 %    −7.1 %
  Llama-3.1-70B           4  −7.8 %    −0.5 %     −10.6 %    −6.6 %
  Llama-3.1-70B           8  −4.3 %    +7.9 %     −3.8 %     +9.4 %
  =====================  ==  =========================================================

  Re-checked on the 20 multi-GPU rows: ``tp_comm`` 0.7 and 110 µs lie in a flat optimum (rms
  of log residuals 10.0 %; the best grid point, ``tp_comm`` 0.55, gives 9.9 %), so they stay.
  The v0.5 rows are hold-outs now (``a100_v05_holdouts``): Llama-2-70B A100 −7.6 / +12.2 /
  −4.2 / +30.6 %, TTFT −4.2 / +8.5 % — the 2048/2048 run is v0.5's slower attention. H100 FP8
  (the same v0.5 tables, A100 constants; ``h100_fp8_holdouts``): 128/128 −34.4 %, 128/2048
  −12.8 %, 2048/128 +9.6 %, 2048/2048 +25.0 %, TTFT +6.5 / −8.0 % — the short runs are faster
  than a 110 µs collective allows (NVLink-4's all-reduce is quicker), the long one is v0.5's
  attention again.

  ``a100-sxm4-40gb`` uses the A100-80GB values (same GA100 die; only the HBM differs) and
  ``h100-sxm`` the A100's ``moe_compute``, ``tp_comm``, collective latency and
  ``attention_memory`` (no H100 FP16 MoE measurement). The fit script is not shipped;
  ``aimc-dse validate`` (validation/gpu.py ``checks``) re-checks every fitted row above, and
  tests/test_gpu_ep.py every hold-out with its known misses.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..moe.routing import zipf_weights
from ..specs.hardware import BYTES_PER_ELEMENT
from .columns import Cols
from .memo import per_distinct
from .metrics import headline_metrics
from .numeric import Array, ArrayLike
from .registry import mask_unfit
from .shapes import ModelShape, model_shape

ACT_BYTES = 2.0  # activations and all-reduce payloads travel in 16-bit


# ---- column helpers ------------------------------------------------------------------------

def bytes_per_element(names: ArrayLike) -> np.ndarray:
    """Bytes per element of each row's precision name (``BYTES_PER_ELEMENT``)."""
    names = np.asarray(names).astype(str)
    out = np.empty(names.shape, dtype=np.float64)
    for u in np.unique(names):
        if u not in BYTES_PER_ELEMENT:
            raise ValueError(f"unknown precision {u!r}; known: {', '.join(BYTES_PER_ELEMENT)}")
        out[names == u] = BYTES_PER_ELEMENT[u]
    return out


def peak_tflops(c: Cols) -> np.ndarray:
    """Each row's ``hw.peak_tflops.<hw.compute_precision>``, TFLOP/s."""
    prec = c.s("hw.compute_precision")
    out = np.full(c.n, np.nan)
    for p in np.unique(prec):
        key = f"hw.peak_tflops.{p}"
        if not c.has(key):
            raise KeyError(f"design column {key!r} missing (hw.compute_precision is {p!r})")
        m = prec == p
        out[m] = c.f(key)[m]
    if np.any(~(out > 0)):
        bad = np.unique(prec[~(out > 0)])
        raise ValueError(f"no positive peak_tflops for compute_precision {', '.join(bad)}")
    return out


@lru_cache(maxsize=256)
def _zipf_log_miss(E: int, s: float) -> np.ndarray:
    """ln(1 − pᵢ) of each expert under zipf(s) popularity."""
    return np.log1p(-np.minimum(zipf_weights(E, s), 1.0 - 1e-16))


def _zipf_hit(E: float, s: float, draws: float) -> float:
    """Σᵢ 1 − (1 − pᵢ)^draws: expected distinct experts hit by ``draws`` independent picks."""
    return float((1.0 - np.exp(draws * _zipf_log_miss(int(E), float(s)))).sum())


def experts_hit(E: ArrayLike, k: ArrayLike, T: ArrayLike, zipf: ArrayLike, s: ArrayLike,
                all_hit: ArrayLike) -> np.ndarray:
    """Expected distinct experts selected by T tokens in one MoE layer (0 for a dense model).

    uniform: E·(1 − (1 − k/E)^T); zipf (pᵢ ∝ 1/iˢ, each token's k picks as k independent
    draws): Σᵢ 1 − (1 − pᵢ)^(k·T); ``all_hit`` (expert choice): E.
    """
    E = np.asarray(E, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    E, k, T, zipf, s, all_hit = np.broadcast_arrays(E, k, T, np.asarray(zipf, bool), np.asarray(s, float),
                                                    np.asarray(all_hit, bool))
    shape = E.shape
    E, k, T, zipf, s, all_hit = (np.atleast_1d(a).ravel() for a in (E, k, T, zipf, s, all_hit))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(E > 0, E * (1.0 - np.power(np.clip(1.0 - k / E, 0.0, 1.0), T)), 0.0)
    zmask = zipf & (E > 0) & ~all_hit
    if zmask.any():
        hit = per_distinct(_zipf_hit, zmask, E, s, k * T)
        out = np.where(zmask, hit, out)
    out = np.where(all_hit & (E > 0), E, out)
    return np.minimum(out, E).reshape(shape)


# ---- per-row parameters --------------------------------------------------------------------

PARALLELISM = {"tp": 0, "ep": 1, "tp+ep": 2}


@dataclass(frozen=True)
class _Point:
    """Everything a step needs, one entry per row (per-device peak and bandwidth)."""

    sh: ModelShape
    B: np.ndarray  # sequences
    P: np.ndarray  # prompt tokens
    G: np.ndarray  # generated tokens
    prefill: np.ndarray
    kv: np.ndarray  # KV cache on
    ndev: np.ndarray
    par: np.ndarray  # PARALLELISM code
    peak: np.ndarray  # FLOP/ns per device (compute efficiency applied)
    moe_peak: np.ndarray  # FLOP/ns per device for routed-expert GEMMs
    bw: np.ndarray  # bytes/ns per device (memory efficiency applied)
    att_bw: np.ndarray  # bytes/ns per device for attention's KV reads
    link: np.ndarray  # bytes/ns per device of an all-reduce (tp_comm applied; collective_bandwidths)
    a2a_link: np.ndarray  # bytes/ns per device of an all-to-all (tp_comm applied)
    coll_ns: np.ndarray  # fixed time per collective (all-reduce / all-to-all)
    over_ns: np.ndarray  # per layer per step
    wb: np.ndarray  # weight bytes per element
    kvb: np.ndarray  # KV bytes per element
    paper: np.ndarray
    zipf: np.ndarray
    s: np.ndarray
    all_hit: np.ndarray

    def take(self, idx: np.ndarray) -> "_Point":
        sh = ModelShape(**{f.name: getattr(self.sh, f.name)[idx] for f in dataclasses.fields(ModelShape)})
        rest = {f.name: getattr(self, f.name)[idx] for f in dataclasses.fields(self) if f.name != "sh"}
        return _Point(sh=sh, **rest)


def _fl(a: ArrayLike) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def parallelism_code(c: Cols) -> np.ndarray:
    names = c.s("hw.parallelism", "tp")
    out = np.zeros(c.n, dtype=np.int64)
    for name, code in PARALLELISM.items():
        out[names == name] = code
    bad = ~np.isin(names, list(PARALLELISM))
    if bad.any():
        raise ValueError(f"unknown hw.parallelism {names[bad][0]!r}; known: {', '.join(PARALLELISM)}")
    return out


def weight_bytes(c: Cols, sh: ModelShape | None = None) -> np.ndarray:
    """Bytes of all stored weights (every parameter at ``hw.weight_precision``), one copy."""
    sh = sh or model_shape(c)
    return _fl(sh.params) * bytes_per_element(c.s("hw.weight_precision"))


def kv_bytes_per_token(c: Cols, sh: ModelShape | None = None) -> np.ndarray:
    """KV-cache bytes one token of one sequence adds over all layers at ``hw.kv_precision``
    while the context is within any sliding window: kv_elems·L (2·kv·L for GQA, (kv_lora_rank
    + rope)·L for MLA). Beyond the window only the global layers grow (``kv_cache_bytes``)."""
    sh = sh or model_shape(c)
    return _fl(sh.kv_elems) * _fl(sh.layers) * bytes_per_element(c.s("hw.kv_precision"))


def kv_cache_bytes(c: Cols, context: ArrayLike, sh: ModelShape | None = None) -> np.ndarray:
    """KV-cache bytes of one sequence holding ``context`` tokens (local layers ≤ window)."""
    sh = sh or model_shape(c)
    return sh.kv_elements(_fl(context)) * bytes_per_element(c.s("hw.kv_precision"))


def usable_memory_bytes(c: Cols) -> np.ndarray:
    """Usable HBM of one device, bytes."""
    return c.f("hw.memory_gb") * 1e9 * c.f("hw.usable_memory_fraction", 0.9)


def _memory_split(c: Cols, sh: ModelShape) -> tuple[np.ndarray, np.ndarray]:
    """(bytes every device holds whatever the count, bytes split over the devices) of the weights.

    Expert parallelism replicates everything but the routed experts on every device."""
    wb = bytes_per_element(c.s("hw.weight_precision"))
    total = _fl(sh.params) * wb
    experts = _fl(sh.expert_params_total) * wb
    ep = parallelism_code(c) == PARALLELISM["ep"]
    return np.where(ep, total - experts, 0.0), np.where(ep, experts, total)


def devices_needed(c: Cols, kv_total: ArrayLike, sh: ModelShape | None = None) -> np.ndarray:
    """Fewest devices whose usable memory holds the weights and ``kv_total`` bytes of KV cache
    (0 when no count suffices: the replicated part alone exceeds one device)."""
    sh = sh or model_shape(c)
    rep, split = _memory_split(c, sh)
    free = usable_memory_bytes(c) - rep
    with np.errstate(divide="ignore", invalid="ignore"):
        n = np.ceil((split + _fl(kv_total)) / free * (1 - 1e-12))
    return np.where(free > 0, np.maximum(n, 1.0), 0.0).astype(np.int64)


def max_batch(c: Cols, devices: ArrayLike = None) -> np.ndarray:
    """Largest batch whose KV cache (prompt_len + gen_len − 1 tokens per sequence) fits beside
    the weights in the usable memory of ``devices`` devices (default ``hw.devices``; 0, the
    automatic count, means one device); 0 if not even one sequence fits."""
    sh = model_shape(c)
    n = c.f("hw.devices", 0) if devices is None else np.broadcast_to(_fl(devices), (c.n,))
    n = np.where(n > 0, n, 1.0)
    rep, split = _memory_split(c, sh)
    free = n * (usable_memory_bytes(c) - rep) - split
    per_seq = kv_cache_bytes(c, c.f("workload.prompt_len") + c.f("workload.gen_len") - 1, sh)
    return np.maximum(np.floor(free / per_seq), 0).astype(np.int64)


def link_bandwidth(c: Cols, ndev: ArrayLike) -> np.ndarray:
    """GB/s per direction a device reaches its peers with inside one node: ``nvlink_bandwidth_gbps``
    behind a switch; on a switchless full mesh (``peer_link_gbps`` set, MI300X) one link per
    peer, so (n − 1) · ``peer_link_gbps``, at most ``nvlink_bandwidth_gbps``, n the devices of
    the node (``node_devices`` at most)."""
    total = c.f("hw.nvlink_bandwidth_gbps", 300.0)
    peer = c.f("hw.peer_link_gbps", np.nan)
    mesh = peer > 0
    node = np.minimum(_fl(ndev), _node_devices(c))
    reach = np.where(mesh, peer, 0.0) * np.maximum(node - 1.0, 1.0)
    return np.where(mesh, np.minimum(total, reach), total)


def _node_devices(c: Cols) -> np.ndarray:
    """Devices per NVLink/xGMI domain (inf: one domain of any size)."""
    return np.nan_to_num(c.f("hw.node_devices", np.nan), nan=np.inf)


def collective_bandwidths(c: Cols, ndev: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(all-reduce, all-to-all) GB/s per device, in the ring normalisation the step uses (a
    collective of S bytes per device moves 2(n−1)/n·S resp. (n−1)/n·S at this rate).

    Within one node both are ``link_bandwidth``. Across m nodes of k devices each device also
    has its own NIC at ``scale_out_gbps`` (o): NCCL's rings then run every NIC of a node at
    once, so an all-reduce reaches min(intra, k·o) (DGX A100's eight 200 Gb/s NICs: ~200 GB/s
    bus bandwidth against 300 over NVLink); in an all-to-all a device sends (n − k)/n of its
    data to other nodes over its own NIC, o·(n − 1)/(n − k) in that normalisation.
    """
    n = _fl(ndev)
    intra = link_bandwidth(c, ndev)
    k = _node_devices(c)
    out = np.nan_to_num(c.f("hw.scale_out_gbps", np.nan), nan=np.inf)
    across = n > k
    k_fin, out_fin = np.where(across, k, 1.0), np.where(across, out, 1.0)  # finite where used
    ar = np.where(across, np.minimum(intra, k_fin * out_fin), intra)
    a2a = np.where(across, np.minimum(intra, out_fin * (n - 1.0) / np.maximum(n - k_fin, 1.0)), intra)
    return ar, a2a


def _point(c: Cols, sh: ModelShape) -> tuple[_Point, dict]:
    paper = c.eq("hw.accounting", "paper")
    one = np.ones(c.n)
    ce = np.where(paper, one, c.f("hw.efficiency.compute", 1.0))
    moe = np.where(paper, one, c.f("hw.efficiency.moe_compute", 1.0))
    me = np.where(paper, one, c.f("hw.efficiency.memory", 1.0))
    tp = np.where(paper, one, c.f("hw.efficiency.tp_comm", 1.0))
    over = np.where(paper, 0.0, c.f("hw.efficiency.per_layer_overhead_us", 0.0) * 1e3)
    coll = np.where(paper, 0.0, c.f("hw.efficiency.collective_latency_us", 0.0) * 1e3)

    B = c.f("workload.batch")
    P = c.f("workload.prompt_len")
    G = c.f("workload.gen_len")
    kv = c.b("workload.kv_cache")
    wbytes = weight_bytes(c, sh)
    kv_peak = np.where(kv, kv_cache_bytes(c, P + G - 1, sh) * B, 0.0)
    usable = usable_memory_bytes(c)
    given = c.f("hw.devices", 0)
    need = devices_needed(c, kv_peak, sh)
    ndev = np.where(given > 0, given, np.maximum(need, 1.0))
    rep, split = _memory_split(c, sh)
    per_dev = rep + (split + kv_peak) / ndev
    fits = (need > 0) & (per_dev <= usable * (1 + 1e-12))
    # why not, as the AIMC model says it: the weights alone are too big for the devices, or
    # they fit and the batch's KV cache does not (need = 0: not even the replicated weights fit)
    weights_fit = (need > 0) & (rep + split / ndev <= usable * (1 + 1e-12))

    peak = peak_tflops(c) * 1e3  # TFLOP/s → FLOP/ns
    load = c.s("workload.expert_load.model", "uniform")
    ar_bw, a2a_bw = collective_bandwidths(c, ndev)
    pt = _Point(
        sh=sh,
        B=B,
        P=P,
        G=G,
        prefill=c.b("workload.prefill"),
        kv=kv,
        ndev=ndev,
        par=parallelism_code(c),
        peak=peak * ce,
        moe_peak=peak * ce * moe,
        bw=c.f("hw.hbm_bandwidth_gbps") * me,  # GB/s = bytes/ns
        att_bw=c.f("hw.hbm_bandwidth_gbps") * me * np.where(paper, 1.0, c.f("hw.efficiency.attention_memory", 1.0)),
        link=ar_bw * tp,
        a2a_link=a2a_bw * tp,
        coll_ns=coll,
        over_ns=over,
        wb=bytes_per_element(c.s("hw.weight_precision")),
        kvb=bytes_per_element(c.s("hw.kv_precision")),
        paper=paper,
        zipf=load == "zipf",
        s=c.f("workload.expert_load.zipf_exponent", 1.0),
        all_hit=sh.expert_choice,
    )
    extra = {
        "n_devices": ndev.astype(np.int64),
        "devices_needed": need,
        "weight_bytes": wbytes,
        "kv_cache_bytes": kv_peak,
        "kv_bytes_per_token": kv_bytes_per_token(c, sh),
        "fits": fits,
        "fit_reason": np.where(fits, "", np.where(weights_fit, "kv_cache", "weights")).astype(object),
        "tdp": c.f("hw.tdp_w"),
        "idle": c.f("hw.idle_power_w"),
        # paper: the TDP throughout (Büchel et al.'s 400 W), memory-bound or not
        "mem_power": np.where(paper, 1.0, c.f("hw.memory_bound_power_fraction", 1.0)),
        "die": c.f("hw.die_area_mm2"),
    }
    return pt, extra


# ---- one step --------------------------------------------------------------------------------

_PHASE_KEYS = ("tc_lin", "tm_lin", "tc_att", "tm_att", "flops", "bytes", "over", "comm")


def _activation_elements_per_token(sh: ModelShape) -> Array:
    """Activation elements one token reads and writes through the linear ops of every layer."""
    d, L, E, k, m = _fl(sh.d), _fl(sh.layers), _fl(sh.experts), _fl(sh.top_k), _fl(sh.n_ffn_mats)
    dff, dffe, dffs = _fl(sh.d_ff), _fl(sh.d_ff_expert), _fl(sh.d_ff_shared)
    ffn_io = lambda w: d + (m - 1.0) * w + w + d  # noqa: E731  up(+gate) in/out, down in/out
    (_, qa), (q_in, _), _, (kvb_in, _), (o_in, _) = sh.attn_mats
    cols = sum(_fl(cc) for _, cc in sh.attn_mats)
    # x read once for the projections that take it, every output written, the other inputs read
    attn_io = d + cols + np.where(qa > 0, _fl(q_in), 0.0) + np.where(sh.mla, _fl(kvb_in), 0.0) + _fl(o_in)
    return (L * attn_io + _fl(sh.dense_layers) * ffn_io(dff)
            + _fl(sh.moe_layers) * (d + E + k * ffn_io(dffe) + _fl(sh.shared) * ffn_io(dffs)))


def _step(p: _Point, t: ArrayLike, n: ArrayLike) -> dict[str, np.ndarray]:
    """Roofline terms of one step: t new tokens per sequence, context n (float arrays), ns."""
    sh = p.sh
    L, d = _fl(sh.layers), _fl(sh.d)
    V, E, k = _fl(sh.vocab), _fl(sh.experts), _fl(sh.top_k)
    nmoe, ndense = _fl(sh.moe_layers), _fl(sh.dense_layers)
    t = _fl(t)
    n = _fl(n)
    B = p.B
    T = B * t
    nd = p.ndev
    tp, ep = p.par == 0, p.par == 1  # (p.par == 2: tensor and expert parallel)

    attn, ffn = _fl(sh.attn_params_layer), _fl(sh.dense_ffn_params_layer)
    router, shared, expert = _fl(sh.router_params_layer), _fl(sh.shared_params_layer), _fl(sh.expert_params)

    # FLOPs (2 per MAC): dense linear ops, routed experts, lm_head for the B emitting positions
    fl_dense = 2.0 * T * (L * attn + ndense * ffn + nmoe * (router + shared)) + 2.0 * B * d * V
    fl_expert = 2.0 * T * nmoe * k * expert
    # attention: QKᵀ and A·V over the keys each new token sees (causal, window-bounded)
    fl_att = 2.0 * _fl(sh.att_width(t <= 1.0)) * B * sh.attended_keys(t, n)

    # bytes: weights touched, embedding/position rows, activations (each linear op in + out)
    hit = experts_hit(E, k, T, p.zipf, p.s, p.all_hit)
    w_ne = p.wb * (L * attn + ndense * ffn + nmoe * (router + shared) + d * V)
    w_ex = p.wb * nmoe * hit * expert
    rows = p.wb * (np.minimum(T, V) * d + np.where(sh.learned_pos, np.minimum(t, _fl(sh.max_positions)) * d, 0.0))
    act = ACT_BYTES * (T * _activation_elements_per_token(sh) + B * (d + V))
    kv_elem = np.where(p.kv, p.kvb, ACT_BYTES)
    # the cached context read once per step (window-bounded) + the new entries written
    by_att = kv_elem * B * (sh.kv_elements(n) + _fl(sh.kv_elems) * L * t)

    # per-device shares. tp: everything split n ways. ep: experts spread, everything else
    # replicated with the sequences split (⌈B/n⌉ per device). tp+ep: experts spread, the rest
    # split n ways. A spread expert is read whole by its device: the busiest device reads at
    # least one expert per MoE layer once any is hit.
    seq_share = np.ceil(B / nd) / B  # a device's share of the sequences (ep)
    share = np.where(ep, seq_share, 1.0 / nd)
    ex_dev = w_ex * np.where(tp, 1.0 / nd, np.maximum(1.0 / nd, np.minimum(1.0, 1.0 / np.maximum(hit, 1e-30))))
    ex_dev = np.where(hit > 0, ex_dev, 0.0)
    w_ne_dev = np.where(ep, w_ne + rows * seq_share, (w_ne + rows) / nd)
    tc_lin = fl_dense * share / p.peak + fl_expert / (nd * p.moe_peak)
    tm_lin = (w_ne_dev + ex_dev + act * share) / p.bw
    tc_att = fl_att * share / p.peak
    tm_att = by_att * share / p.att_bw
    multi = nd > 1
    # tp, tp+ep: 2 all-reduces per layer of T·d activations (ring: 2(n−1)/n of the data per device)
    ar = 2.0 * L * (p.coll_ns + 2.0 * (nd - 1.0) / nd * T * d * ACT_BYTES / p.link)
    # ep: per MoE layer, dispatch and combine all-to-alls: each device sends its tokens' k copies,
    # (n−1)/n of them to other devices
    a2a = 2.0 * nmoe * (p.coll_ns + (nd - 1.0) / nd * np.ceil(B / nd) * t * k * d * ACT_BYTES / p.a2a_link)
    comm = np.where(multi, np.where(ep, a2a, ar), 0.0)
    over = L * p.over_ns

    flops = fl_dense + fl_expert + fl_att
    bytes_ = np.where(ep, w_ne * nd, w_ne) + w_ex + rows + act + by_att  # HBM traffic, all devices
    # paper: one roofline over the whole step, every parameter fetched, nothing else
    all_w = p.wb * _fl(sh.params)
    pp = p.paper
    out = {
        "tc_lin": np.where(pp, flops / (nd * p.peak), tc_lin),
        "tm_lin": np.where(pp, all_w / (nd * p.bw), tm_lin),
        "tc_att": np.where(pp, 0.0, tc_att),
        "tm_att": np.where(pp, 0.0, tm_att),
        "flops": flops,
        "bytes": np.where(pp, all_w, bytes_),
        "over": np.where(pp, 0.0, over),
        "comm": np.where(pp, 0.0, comm),
    }
    return out


def _single(s: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Time split of one step: roofline, compute-/memory-bound parts, total, memory-bound?"""
    comp = np.where(s["tc_lin"] > s["tm_lin"], s["tc_lin"], 0.0) + np.where(s["tc_att"] > s["tm_att"], s["tc_att"], 0.0)
    mem = np.where(s["tc_lin"] > s["tm_lin"], 0.0, s["tm_lin"]) + np.where(s["tc_att"] > s["tm_att"], 0.0, s["tm_att"])
    return {
        "comp": comp,
        "mem": mem,
        "over": s["over"],
        "comm": s["comm"],
        "flops": s["flops"],
        "bytes": s["bytes"],
        "memsteps": (s["tm_lin"] + s["tm_att"] >= s["tc_lin"] + s["tc_att"]).astype(np.float64),
        "steps": np.ones_like(s["flops"]),
    }


def _affine_sum(c0: ArrayLike, c1: ArrayLike, lo: ArrayLike, hi: ArrayLike) -> tuple[Array, Array]:
    """Σ_{n=lo}^{hi} (c0 + c1·n) over integers, and the count (0 when hi < lo)."""
    cnt = np.maximum(hi - lo + 1.0, 0.0)
    return cnt * (c0 + c1 * (lo + hi) / 2.0), cnt


def _split_max(f0: ArrayLike, f1: ArrayLike, g0: ArrayLike, g1: ArrayLike, n0: ArrayLike,
               n1: ArrayLike) -> tuple[Array, ...]:
    """Over integers n0..n1 with f = f0 + f1·n (compute) and g = g0 + g1·n (memory):
    (Σ f where f > g, Σ g where g ≥ f, number of n where g ≥ f). Two lines cross once."""
    c0, c1 = g0 - f0, g1 - f1  # h = g − f; memory-bound where h ≥ 0
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.clip(-c0 / c1, n0 - 1.0, n1 + 1.0)  # the crossing, kept near the range
    up, down = c1 > 0, c1 < 0
    flat_mem = ~up & ~down & (c0 >= 0)
    flat_comp = ~up & ~down & (c0 < 0)
    # memory-bound range [mlo, mhi]: n ≥ x when rising, n ≤ x when falling, all or none when flat
    mlo = np.where(up, np.maximum(np.ceil(x), n0), np.where(flat_comp, n1 + 1.0, n0))
    mhi = np.where(down, np.minimum(np.floor(x), n1), n1)
    # compute-bound range [clo, chi]: the complement within n0..n1
    clo = np.where(down, mhi + 1.0, np.where(flat_mem, n1 + 1.0, n0))
    chi = np.where(up, mlo - 1.0, n1)
    mem, mcnt = _affine_sum(g0, g1, mlo, mhi)
    comp, _ = _affine_sum(f0, f1, clo, chi)
    return comp, mem, mcnt


def _decode_kv_range(p: _Point, lo: np.ndarray, hi: np.ndarray) -> dict:
    """Σ over decode steps n = lo … hi (t = 1) where every per-step quantity is affine in n."""
    one = np.ones_like(lo)
    a = _step(p, one, lo)
    b = _step(p, one, lo + 1.0)
    coef = {key: (a[key] - (b[key] - a[key]) * lo, b[key] - a[key]) for key in _PHASE_KEYS}  # c0 + c1·n
    comp = np.zeros_like(lo)
    mem = np.zeros_like(lo)
    for ph in ("lin", "att"):
        f0, f1 = coef[f"tc_{ph}"]
        g0, g1 = coef[f"tm_{ph}"]
        cs, ms, _ = _split_max(f0, f1, g0, g1, lo, hi)
        comp += cs
        mem += ms
    f0 = coef["tc_lin"][0] + coef["tc_att"][0]
    f1 = coef["tc_lin"][1] + coef["tc_att"][1]
    g0 = coef["tm_lin"][0] + coef["tm_att"][0]
    g1 = coef["tm_lin"][1] + coef["tm_att"][1]
    _, _, memsteps = _split_max(f0, f1, g0, g1, lo, hi)
    tot = {"comp": comp, "mem": mem, "memsteps": memsteps, "steps": np.maximum(hi - lo + 1.0, 0.0)}
    for key in ("over", "comm", "flops", "bytes"):
        tot[key], _ = _affine_sum(*coef[key], lo, hi)
    return tot


def _decode_kv(p: _Point, D: np.ndarray) -> dict:
    """Σ over the D decode steps with a KV cache (t = 1, n = P+1 … P+D), in closed form.

    Every per-step quantity is affine in n except where a sliding window caps the local
    layers' keys: the range is split at the window (affine on each side)."""
    n0 = p.P + 1.0
    hi = p.P + D
    W = np.where(p.sh.window > 0, _fl(p.sh.window), hi)
    split = np.clip(W, n0 - 1.0, hi)  # last n of the first piece
    first = _decode_kv_range(p, n0, split)
    second = _decode_kv_range(p, np.maximum(split + 1.0, n0), hi)
    second_on = split < hi
    return {key: first[key] + np.where(second_on, second[key], 0.0) for key in first}


def _decode_recompute(p: _Point, D: np.ndarray) -> dict:
    """Σ over the D decode steps without a KV cache (t = n = P + j): a loop over steps,
    vectorised across rows."""
    tot = {key: np.zeros(len(D)) for key in ("comp", "mem", "over", "comm", "flops", "bytes", "memsteps", "steps")}
    for j in range(1, int(D.max()) + 1 if len(D) else 1):
        n = p.P + j
        s = _single(_step(p, n, n))
        on = j <= D
        for key in tot:
            tot[key] += np.where(on, s[key], 0.0)
    return tot


def _total(s: dict) -> np.ndarray:
    return s["comp"] + s["mem"] + s["over"] + s["comm"]


def linear_step_ns(c: Cols) -> np.ndarray:
    """Time of one prefill step's linear ops (GEMMs) plus the per-layer overhead, ns.

    The quantity Vidur's per-layer profiles measure (QKV, O, up/gate, down and the norms
    between them, no attention): the validation evaluates it on a 1-layer model.
    """
    p, _ = _point(c, model_shape(c))
    s = _step(p, p.P, p.P)
    return np.maximum(s["tc_lin"], s["tm_lin"]) + s["over"]


# ---- the cost function -----------------------------------------------------------------------

def gpu_cost(c: Cols) -> dict[str, np.ndarray]:
    """Schema-1 result columns of every row (GPU rows), plus GPU breakdowns."""
    n = c.n
    sh = model_shape(c)
    p, extra = _point(c, sh)
    D = np.maximum(p.G - 1.0, 0.0)

    keys = ("comp", "mem", "over", "comm", "flops", "bytes", "memsteps", "steps")
    pre = _single(_step(p, p.P, p.P))
    acc = {key: np.where(p.prefill, pre[key], 0.0) for key in keys}
    dec = {key: np.zeros(n) for key in keys}

    idx = np.flatnonzero(p.kv & (D > 0))
    if idx.size:
        tot = _decode_kv(p.take(idx), D[idx])
        for key in keys:
            dec[key][idx] = tot[key]
    idx = np.flatnonzero(~p.kv & (D > 0))
    if idx.size:
        tot = _decode_recompute(p.take(idx), D[idx])
        for key in keys:
            dec[key][idx] = tot[key]
    for key in keys:
        acc[key] = acc[key] + dec[key]

    latency = _total(acc)
    # busy time weighted by the share of the dynamic power it draws: compute-bound kernels the
    # TDP, memory-bound ones memory_bound_power_fraction of it
    busy = acc["comp"] + extra["mem_power"] * acc["mem"]
    dec_ns = _total(dec)
    # As the AIMC model and the registry define them: TTFT is the prefill (none without one),
    # TPOT the mean decode step (none without decode steps, gen_len 1).
    ttft = np.where(p.prefill, _total(pre), np.nan)
    tpot = np.where(D > 0, dec_ns / np.maximum(D, 1.0), np.nan)
    generated = np.where(p.prefill, p.G, D)
    tokens = p.B * generated

    ndev = p.ndev
    e_idle = ndev * extra["idle"] * latency  # W · ns = nJ
    e_active = ndev * (extra["tdp"] - extra["idle"]) * busy
    out = headline_metrics(
        system="gpu",
        n=n,
        fits=extra["fits"],
        latency_ns=latency,
        ttft_ns=ttft,
        tpot_ns=tpot,
        energy_nj=e_idle + e_active,
        area_mm2=extra["die"] * ndev,
        flops=acc["flops"],
        tokens=tokens,
    )
    out.update(
        {
            "latency_ns.compute": acc["comp"],
            "latency_ns.memory": acc["mem"],
            "latency_ns.overhead": acc["over"],
            "latency_ns.communication": acc["comm"],
            "energy_nj.active": e_active,
            "energy_nj.idle": e_idle,
            "fit_reason": extra["fit_reason"],
            "n_devices": extra["n_devices"],
            "devices_needed": extra["devices_needed"],
            "weight_bytes": extra["weight_bytes"],
            "kv_cache_bytes": extra["kv_cache_bytes"],
            "kv_bytes_per_token": extra["kv_bytes_per_token"],
            "bytes_moved": acc["bytes"],
            "memory_bound_share": acc["memsteps"] / np.maximum(acc["steps"], 1.0),
        }
    )
    return mask_unfit(out)
