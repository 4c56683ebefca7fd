"""How a model is split across several AIMC chips (``hw.parallelism``; docs/cost-model.md §1.11).

``pipeline`` (the default): consecutive layers per chip, a stage on one chip, C link
crossings of the step's activations per step (blocks.py, steps.py).

``expert``: every MoE layer's routed experts are spread over all C chips — expert e on chip
e mod C, ⌈E/C⌉ per chip, placed round-robin on that chip's tiles like a one-chip layer —
while everything else of a layer (attention, dense FFN, router, shared experts; the
embedding on the first chip, the LM head on the last) stays on its layer's pipeline chip,
its *home*. Nothing is replicated: the weights are stationary, so a copy would cost tiers
without adding throughput (each token still uses one copy's tiles, and the throughput bound
already spreads the demand over all chips' tiles, DPUs and MHA units). A token leaves its
layer's home for each routed expert on another chip and comes back to be combined:

* **fit** — a chip holds ⌈E/C⌉ experts of every MoE layer and its share of the rest,
  ⌈(blocks − expert blocks)/C⌉ + L_m·⌈E/C⌉·(expert blocks); ``chips_needed`` is the fewest
  chips for which that fits (0 when none does);
* **stage loads** — the k chosen experts collide on a tile only when they share a chip: the
  expected serialisation w is drawn per chip (Monte Carlo over routings, as for one chip);
* **links** — per MoE layer, a dispatch and a combine, each moving t·k_r·d activations,
  k_r = k_analog·(C − 1)/C the expected routed experts on another chip than the home (exact
  for uniform routing; for any popularity on average over home chips, the experts being
  interleaved and the homes cycling over the chips). Both are store-and-forward on the
  critical path (the expert MVMs wait for their inputs and the next layer for the combined
  output; a single sequence has nothing to overlap with), so each adds latency +
  bytes/bandwidth; with B sequences other sequences compute meanwhile and the links enter the
  throughput bound as a resource. Each chip has one link port (``hw.link`` per direction)
  into the all-to-all fabric, so a chip's transmit carries 1/C of the all-to-all bytes
  besides its pipeline crossing;
* a dense model has no experts to spread and runs as ``pipeline``; on one chip ``expert`` is
  ``pipeline`` exactly.

``best`` evaluates both and reports the one with more tokens/s (pipeline on a tie, and the one
that fits when only one does); the ``placement`` column says which was used.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from ..mapping import ROUTING_DRAWS, max_per_tile, routing_draws
from ..memo import per_distinct
from ..numeric import Array, ceil_div
from ..shapes import ModelShape
from .accounting import Accounting
from .blocks import Mapping, StageBlocks
from .digital import DigitalModules
from .grouping import GroupingFactors
from .inputs import Chip
from .stages import TileDemand, TileLoads, tile_demand
from .tokens import TokenWork

PARALLELISM = ("pipeline", "expert", "best")

# search bound for the fewest chips that fit under expert parallelism, beyond the tile count's
MAX_EXTRA_CHIPS = 1024


@dataclass(frozen=True)
class Placement:
    ep: Array  # bool: experts spread over the chips (a MoE model on several chips, parallelism expert)
    asked: Array  # bool: parallelism expert on a MoE model (on one chip too: chips_needed counts for it)
    experts_here: Array  # routed experts of a MoE layer on one chip: ⌈E/C⌉ (E without EP)
    remote: Array  # expected routed analog experts of a token on another chip than its home


def placement(chip: Chip, sh: ModelShape, dm: DigitalModules, expert: Array) -> Placement:
    """``expert``: per point, whether expert parallelism is asked for."""
    ep = expert & (sh.experts > 0) & (chip.chips > 1)
    C = np.maximum(chip.chips, 1.0)
    here = np.where(ep, np.ceil(sh.experts / C), sh.experts).astype(np.int64)
    k_an = sh.top_k.astype(np.float64) - dm.picks
    return Placement(ep=ep, asked=expert & (sh.experts > 0), experts_here=here,
                     remote=np.where(ep, k_an * (C - 1.0) / C, 0.0))


def ep_mapping(mp: Mapping, chip: Chip, sh: ModelShape, nb: StageBlocks, dm: DigitalModules, pl: Placement,
               digital_ok: Array) -> Mapping:
    """The fit, tiers used and chips needed when the experts are spread (module docstring).

    ``chips_needed`` is counted for expert placement wherever it is asked, one chip included:
    a one-chip design that does not fit says how many chips expert parallelism would need (a
    pipeline may need fewer), while its fit and tiers stay the one-chip layout."""
    if not pl.asked.any():
        return mp
    C = chip.chips.astype(np.int64)
    stride = nb.expert_stride
    e_an = np.maximum(sh.experts - dm.n_experts, 0).astype(np.float64)  # analog routed experts per layer
    rest = mp.total - mp.expert

    def per_chip(c: Array) -> Array:
        return ceil_div(rest, c) + sh.moe_layers * np.ceil(e_an / c - 1e-9).astype(np.int64) * stride

    sep = chip.moe_separated
    load = per_chip(np.maximum(C, 1))
    on = pl.ep
    # Sized to the model, a chip holds its own load: ⌈load / Z⌉ tiles (the ⌈E/C⌉ rounding
    # can make that more than the pipeline's ⌈blocks / (C·Z)⌉).
    N = np.where(on & chip.size_to_model, np.maximum(ceil_div(load, chip.Z), 1), mp.N)
    NZ = chip.Z * N
    tier_fits = (load <= NZ) & ~(sep & (chip.Z < pl.experts_here))
    fits = tier_fits & digital_ok
    # the fewest chips that fit: from the tile count's bound up while ⌈E/C⌉ still shrinks
    base = ceil_div(mp.tiles_needed, N)  # the tile count's bound, for chips of N tiles
    need = np.maximum(base, 1)
    ok = per_chip(need) <= NZ
    for _ in range(MAX_EXTRA_CHIPS):
        grow = ~ok & (need < np.maximum(e_an, 1) + base)
        if not grow.any():
            break
        need = np.where(grow, need + 1, need)
        ok = per_chip(need) <= NZ
    tiers = np.maximum(ceil_div(load, N), np.where(sep, pl.experts_here, 0))
    return replace(mp, fits=np.where(on, fits, mp.fits), tier_fits=np.where(on, tier_fits, mp.tier_fits), tiers_used=np.where(on, tiers, mp.tiers_used),
                   stacked=np.where(on, load > N, mp.stacked), N=N, n_all=(N * chip.chips).astype(np.int64),
                   chips_needed=np.where(pl.asked, np.where(ok, need, 0), mp.chips_needed))


@lru_cache(maxsize=4096)
def expected_ep_stage_w(N: int, E: int, C: int, k: int, stride: int, span: int, zipf: float, seed: int,
                        sep: bool, draws: int = ROUTING_DRAWS) -> float:
    """E[max over all chips' tiles of the chosen experts' blocks] for one expert stage.

    Expert e sits on chip e mod C at local position (e // C)·stride of that chip's round-robin
    order (its stage blocks ``span`` consecutive slots); chosen experts on different chips
    never share a tile. ``sep``: a chip's experts of a layer are stacked on the same tiles, so
    the chosen ones on one chip serialise.
    """
    here = -(-E // C)
    full, rem = divmod(span, N)
    if not sep and here * stride <= N:  # a chip's experts of the layer sit on distinct tiles
        return float(ceil_div(span, N))
    chosen = routing_draws(E, k, zipf, seed, draws).astype(np.int64)
    same = (chosen[:, :, None] % C) == (chosen[:, None, :] % C)
    if sep:
        return float(same.sum(axis=2).max(axis=1).mean() * -(-span // N))
    if rem == 0:
        return float(full * same.sum(axis=2).max(axis=1).mean())
    starts = ((chosen // C) * stride) % N
    ahead = (starts[:, :, None] - starts[:, None, :]) % N
    cover = ((ahead < rem) & same).sum(axis=2) + full * same.sum(axis=2)
    return float(cover.max(axis=1).mean())


def ep_tile_loads(w: TileLoads, chip: Chip, N: Array, sh: ModelShape, nb: StageBlocks, acc: Accounting,
                  gf: GroupingFactors, zipf: Array, seed: Array, pl: Placement) -> TileLoads:
    """The expert stages' loads w with the experts spread (the other stages stay on their home)."""
    if not pl.ep.any():
        return w

    def stage_w(span: Array) -> Array:
        return per_distinct(
            lambda n, e, c, k, st, sp, z, s, sep: expected_ep_stage_w(int(n), int(e), int(c), int(k), int(st),
                                                                      int(sp), float(z), int(s), bool(sep)),
            pl.ep, N, sh.experts, chip.chips.astype(np.int64), sh.top_k, nb.expert_stride, span, zipf, seed,
            chip.moe_separated)

    serial = acc.grouping_on_expert_phase & gf.grouped
    w1 = np.where(serial, np.maximum(stage_w(nb.e1), gf.f_single), stage_w(nb.e1))
    w2 = np.where(serial, np.maximum(stage_w(nb.e2), gf.f_single), stage_w(nb.e2))
    m1 = np.maximum(np.maximum(max_per_tile(nb.router, N), w1), max_per_tile(nb.s1, N))
    m2 = np.maximum(w2, max_per_tile(nb.s2, N))
    both = stage_w(nb.expert_stride)
    return replace(w, m1=np.where(pl.ep, m1, w.m1), m2=np.where(pl.ep, m2, w.m2),
                   e_both=np.where(pl.ep, both, w.e_both),
                   # a token's experts reduce on the chips that hold them
                   expert_pools=np.where(pl.ep, np.minimum(sh.top_k, chip.chips.astype(np.int64)), w.expert_pools))


def ep_tile_demand(chip: Chip, mp: Mapping, sh: ModelShape, nb: StageBlocks, tw: TokenWork, p_hot: Array,
                   pl: Placement) -> TileDemand:
    """The busiest tile's demand per step (steps.TileDemand): every non-expert block a token
    uses (dense models: all), the routed experts at the hottest expert's probability and the LM
    head. With the experts spread a chip holds its share of the rest beside its ⌈E/C⌉ experts
    of every MoE layer."""
    is_moe = sh.experts > 0
    per_token = np.where(is_moe, mp.total - mp.expert - mp.embedding_all - mp.position_all + nb.emb_tok - nb.lm,
                         tw.mvm)
    expert = np.where(is_moe, mp.expert, 0)
    C = np.maximum(chip.chips, 1).astype(np.int64)
    per_token = np.where(pl.ep, ceil_div(per_token, C), per_token)
    expert = np.where(pl.ep, sh.moe_layers * pl.experts_here * nb.expert_stride, expert)
    return tile_demand(chip.mvm_latency_ns, per_token, expert, p_hot, nb.lm, np.where(pl.ep, mp.N, mp.n_all))


@dataclass(frozen=True)
class LinkCoeffs:
    """Chip-to-chip traffic of a step as per-point coefficients (steps.link_step).

    crossings: store-and-forward crossings per step (each adds the link latency);
    bytes_per_token: bytes all crossings move per token of the step;
    port_bytes_per_token: bytes one chip's link port transmits per token (throughput demand).
    """

    crossings: Array
    bytes_per_token: Array
    port_bytes_per_token: Array


def link_coeffs(chip: Chip, sh: ModelShape, pl: Placement) -> LinkCoeffs:
    """Pipeline: C crossings of d activations (C − 1 between stages, the sampled token back to
    the first chip); expert parallelism adds a dispatch and a combine of k_r·d per MoE layer."""
    multi = chip.chips > 1
    act = sh.d * chip.act_bytes
    a2a = np.where(pl.ep, 2.0 * sh.moe_layers, 0.0)
    return LinkCoeffs(
        crossings=np.where(multi, chip.chips + a2a, 0.0),
        bytes_per_token=np.where(multi, chip.chips * act + a2a * pl.remote * act, 0.0),
        port_bytes_per_token=np.where(multi, act + a2a * pl.remote * act / np.maximum(chip.chips, 1), 0.0),
    )
