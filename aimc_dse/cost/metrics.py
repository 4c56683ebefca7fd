"""The headline result columns (cost.registry), computed once for every system.

Both the AIMC and the GPU model produce latency, energy, area, flops and token counts;
``headline_metrics`` derives the rest so the definitions can never drift apart.
"""

from __future__ import annotations

import numpy as np

from .numeric import ArrayLike
from .registry import SCHEMA_VERSION  # noqa: F401  (the schema the columns belong to)

HEADLINE_COLUMNS = [
    "system",
    "fits",
    "latency_ns",
    "ttft_ns",
    "tpot_ns",
    "tokens_per_s",
    "energy_nj",
    "power_w",
    "area_mm2",
    "tokens_per_s_per_w",
    "tokens_per_s_per_mm2",
    "flops",
    "gops_per_w_per_mm2",
]

# What an AIMC design is compared with a GPU on, AIMC ÷ GPU for the same model and workload:
# ``evaluate``'s ``vs.<gpu>.<metric>`` columns and ratio table, and the papers' A100 ratios.
RATIO_METRICS = ["tokens_per_s", "tokens_per_s_per_w", "tokens_per_s_per_mm2"]


def headline_metrics(
    *,
    system: str,
    n: int,
    fits: ArrayLike,
    latency_ns: ArrayLike,
    ttft_ns: ArrayLike,
    tpot_ns: ArrayLike,
    energy_nj: ArrayLike,
    area_mm2: ArrayLike,
    flops: ArrayLike,
    tokens: ArrayLike,
) -> dict[str, np.ndarray]:
    """Schema-1 headline columns. ``tokens`` = generated tokens, all sequences.

    tokens/s/W is tokens per joule: tokens / (energy_nj · 1e-9).
    GOPS/W/mm² = (flops / energy_nj) / area_mm2, since 1 GOPS/W = 1 op/nJ.
    """
    lat = np.asarray(latency_ns, dtype=np.float64)
    e = np.asarray(energy_nj, dtype=np.float64)
    a = np.asarray(area_mm2, dtype=np.float64)
    tok = np.asarray(tokens, dtype=np.float64)
    fl = np.asarray(flops, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        tps = tok / (lat * 1e-9)
        out = {
            "system": np.full(n, system, dtype=object),
            "fits": np.broadcast_to(np.asarray(fits, dtype=bool), (n,)).copy(),
            "latency_ns": lat,
            "ttft_ns": np.asarray(ttft_ns, dtype=np.float64),
            "tpot_ns": np.asarray(tpot_ns, dtype=np.float64),
            "tokens_per_s": tps,
            "energy_nj": e,
            "power_w": e / lat,  # nJ / ns = W
            "area_mm2": a,
            "tokens_per_s_per_w": tok / (e * 1e-9),
            "tokens_per_s_per_mm2": tps / a,
            "flops": fl,
            "gops_per_w_per_mm2": fl / e / a,
        }
    return {k: np.broadcast_to(v, (n,)) if np.ndim(v) == 0 else v for k, v in out.items()}
