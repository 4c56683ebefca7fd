"""Mapping weights onto tiers: block counts, fit, and per-tile loads (docs/reference-simulators.md §B, §G.5).

A matrix I×O is cut into v·h tier blocks, v = ⌈I/R⌉ row chunks and h = ⌈O/C⌉ column
chunks; the v partial sums of a column are reduced by (v − 1) digital adds (§B.2).

Placement. The default strategy, greedy in order, puts each block on the least-filled tile
(lowest index on ties), which on a fresh chip is round-robin: the b-th block lands on tile
b mod N. A stage or phase whose blocks are contiguous in mapping order therefore puts at
most ⌈m/N⌉ of its m blocks on one tile — the closed forms below. An exact mapper that
replays the reference block by block checks them in the tests
(``tests/support/exact_mapper.py``). ``moe_separated`` stacks all experts of a layer on the same
tiles, so the k chosen experts always serialise.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..moe.routing import zipf_weights
from .numeric import Array, ArrayLike, ceil_div


def blocks(rows: ArrayLike, cols: ArrayLike, R: ArrayLike, C: ArrayLike) -> Array:
    """nb = ⌈I/R⌉·⌈O/C⌉ tier blocks of an I×O matrix."""
    return ceil_div(rows, R) * ceil_div(cols, C)


def reduction_adds(rows: ArrayLike, cols: ArrayLike, R: ArrayLike, C: ArrayLike) -> Array:
    """na = (⌈I/R⌉ − 1)·⌈O/C⌉ partial-sum adds (size C) per use of an I×O matrix."""
    return (ceil_div(rows, R) - 1) * ceil_div(cols, C)


def max_per_tile(m: ArrayLike, N: ArrayLike) -> Array:
    """Most blocks one tile holds of m blocks placed contiguously round-robin: ⌈m/N⌉."""
    return np.where(np.asarray(m) > 0, ceil_div(m, N), 0)


def max_weighted_two_ranges(m1: ArrayLike, w1: ArrayLike, m2: ArrayLike, w2: ArrayLike, N: ArrayLike) -> Array:
    """Max over tiles of w1·(count of range 1) + w2·(count of range 2), two adjacent round-robin ranges.

    Range 1 (m1 blocks) is followed directly by range 2 (m2 blocks). Each range puts
    ⌊m/N⌋ blocks on every tile and one more on (m mod N) consecutive tiles; the two sets of
    'one more' tiles are adjacent, so they overlap only when r1 + r2 > N.
    """
    m1 = np.asarray(m1, dtype=np.int64)
    m2 = np.asarray(m2, dtype=np.int64)
    f1, r1 = m1 // N, m1 % N
    f2, r2 = m2 // N, m2 % N
    base = f1 * w1 + f2 * w2
    both = (r1 + r2) > N
    extra = np.where(
        both,
        w1 + w2,
        np.maximum(np.where(r1 > 0, w1, 0), np.where(r2 > 0, w2, 0)),
    )
    return base + extra


# Routings drawn per distinct (chip, expert layout, routing model) for the expected
# serialisation: the standard error of the mean of a max over k ≤ 8 arcs stays below ~2 %.
ROUTING_DRAWS = 256


# ---- expected OTT serialisation of the k chosen experts (§G.5) ----------------------------

@lru_cache(maxsize=4096)
def expected_expert_stage_w(
    N: int, E: int, k: int, stride: int, span: int, zipf: float, seed: int, draws: int = ROUTING_DRAWS
) -> float:
    """E[max over tiles of the chosen experts' blocks] for one expert stage, round-robin placement.

    Expert e's stage blocks occupy ``span`` consecutive round-robin slots starting at
    e·stride (its other matrices fill the rest of the stride). The k experts a token picks
    (uniform, or zipf popularity in a seeded random order) may share tiles once the layer's
    expert region E·stride wraps past N tiles. Monte-Carlo over ``draws`` routings, cached
    per distinct input (it is the same for every layer and every design point sharing it).
    """
    if E * stride <= N:  # the layer's experts sit on distinct tiles: no two chosen experts meet
        return float(ceil_div(span, N))
    return _mc(N, E, k, stride, span, zipf, seed, draws)


@lru_cache(maxsize=256)
def routing_draws(E: int, k: int, zipf: float, seed: int, draws: int) -> np.ndarray:
    """The chosen experts of ``draws`` seeded routings (draws × k); the same for every chip
    and stage, so a sweep over tiles or stage spans draws them once."""
    rng = np.random.default_rng(seed)
    if zipf > 0:
        p = zipf_weights(E, zipf)[rng.permutation(E)]
        keys = -(rng.gumbel(size=(draws, E)) + np.log(p))
    else:
        keys = rng.random((draws, E))
    # the k smallest keys per draw: a uniform k-subset, or Gumbel-top-k under zipf
    chosen = keys.argsort(axis=1)[:, :k] if k >= E else np.argpartition(keys, k - 1, axis=1)[:, :k]
    chosen.setflags(write=False)
    return chosen


def _mc(N: int, E: int, k: int, stride: int, span: int, zipf: float, seed: int, draws: int) -> float:
    chosen = routing_draws(E, k, zipf, seed, draws)
    # Each chosen expert covers `span` consecutive slots of a circle of N tiles: ⌊span/N⌋
    # full turns plus an arc of length span mod N. The most-covered tile lies at the start of
    # some arc, so the maximum is a k×k comparison per draw.
    starts = (chosen.astype(np.int64) * stride) % N
    full, rem = divmod(span, N)
    if rem == 0:
        return float(full * k)
    ahead = (starts[:, :, None] - starts[:, None, :]) % N  # how far arc i starts after arc j
    cover = (ahead < rem).sum(axis=2)
    return float(cover.max(axis=1).mean() + full * k)
