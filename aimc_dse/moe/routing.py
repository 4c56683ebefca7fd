"""Expert-load sources: which experts each token selects (docs/reference-simulators.md §D.2, §E.4, §G.5).

A *choice array* is boolean, shaped layers × tokens × experts: ``c[l, t, e]`` is true when
token t is routed to expert e in MoE layer l. It is the MoEwithPIM reference's
``gate_choices`` ``.npy`` format (§E.4), and every function in ``cost/grouping.py`` takes
one layer of it (tokens × experts).

Sources:

* :func:`load_trace` — a recorded gate trace (the only function here that touches a file);
* :func:`synth_choices` — token-choice routing, k distinct experts per token, with uniform
  or zipf expert popularity (a different popularity order per layer);
* :func:`expert_choice_choices` — expert-choice routing: every expert takes the same number
  of tokens (its capacity), so the per-token expert count varies;
* :func:`selection_probabilities` — per-expert marginal selection probability p_e per token,
  for the cost model's expected loads (§G.5: u_j = Σ_e p_e·b_{e,j}).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..specs.base import SpecError

# Tokens per block when drawing random keys, so memory stays ~ BLOCK × experts × 8 bytes.
_BLOCK_CELLS = 1 << 22


def _where(layers: int, l: int, t: int) -> str:
    return f"layer {l}, token {t}" if layers > 1 else f"token {t}"


def _read_npy(p: Path, src: str):
    try:
        return np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "allow_pickle" in msg or "pickled" in msg:  # numpy's word for any file it cannot read as an array
            msg = "not an .npy array file (no .npy header); pickled objects are never loaded"
        raise SpecError(src, None, f"not a readable .npy array ({msg})") from None


def load_trace(path: str | Path, top_k: int | None = None, *, exact_k: bool = True, k_from: str = "--top-k") -> np.ndarray:
    """Read a gate trace ``.npy`` (layers × tokens × experts, 0/1) as a boolean array.

    A 2-D array (tokens × experts) is taken as one layer. Every token must select exactly
    k experts: k = ``top_k`` when given, else the first token's count (token-choice routing).
    ``exact_k=False`` skips that check, for expert-choice traces whose per-token counts vary.
    ``k_from`` names where ``top_k`` came from in the error (the option, or the model's field).

    Raises :class:`SpecError` (file, field, problem) for a missing or unreadable file, a
    wrong number of dimensions, empty axes, values other than 0/1, or a token whose count
    is not k — naming the first bad layer/token.
    """
    src = str(path)
    p = Path(path)
    if not p.exists():
        raise SpecError(src, None, "file not found")
    if not p.is_file():
        raise SpecError(src, None, "not a file")
    a = _read_npy(p, src)
    if isinstance(a, np.lib.npyio.NpzFile):  # pragma: no cover - np.load of .npz
        a.close()
        raise SpecError(src, None, "is an .npz archive; expected a single .npy array")
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise SpecError(
            src, "shape", f"expected layers × tokens × experts (3-D) or tokens × experts (2-D), got shape {a.shape}"
        )
    layers, tokens, experts = a.shape
    if layers == 0 or tokens == 0 or experts == 0:
        raise SpecError(src, "shape", f"empty axis in shape {a.shape} (layers × tokens × experts)")
    if a.dtype != np.bool_:
        if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
            raise SpecError(src, "values", f"expected 0/1 values, got dtype {a.dtype}")
        bad = (a != 0) & (a != 1)  # NaN compares unequal to both, so it is caught too
        if bad.any():
            l, t, e = np.argwhere(bad)[0]
            raise SpecError(
                src, "values", f"{_where(layers, l, t)}, expert {e}: value {a[l, t, e].item()!r} is not 0 or 1"
            )
        a = a.astype(bool)
    counts = a.sum(axis=2, dtype=np.int64)
    if top_k is not None and not 1 <= top_k <= experts:
        raise SpecError(src, "top_k", f"top-k {top_k} is not between 1 and the trace's {experts} experts")
    if exact_k:
        k = int(top_k) if top_k is not None else int(counts[0, 0])
        if k == 0:
            raise SpecError(src, "values", f"{_where(layers, 0, 0)} selects no expert")
        bad_rows = counts != k
        if bad_rows.any():
            l, t = np.argwhere(bad_rows)[0]
            origin = k_from if top_k is not None else "the first token's count"
            raise SpecError(
                src,
                "values",
                f"{_where(layers, l, t)} selects {counts[l, t]} experts, expected k = {k} ({origin})",
            )
    return a


def _check_counts(experts: int, top_k: int, tokens: int, layers: int) -> None:
    if experts < 1:
        raise ValueError(f"experts must be at least 1, got {experts}")
    if not 1 <= top_k <= experts:
        raise ValueError(f"top_k must be between 1 and experts ({experts}), got {top_k}")
    if tokens < 1:
        raise ValueError(f"tokens must be at least 1, got {tokens}")
    if layers < 1:
        raise ValueError(f"layers must be at least 1, got {layers}")


def zipf_weights(experts: int, zipf: float) -> np.ndarray:
    """Popularity by rank, normalised: p_i ∝ 1/i^s for i = 1…E (s = 0 is uniform)."""
    if zipf < 0:
        raise ValueError(f"zipf exponent must be ≥ 0, got {zipf}")
    w = np.arange(1, experts + 1, dtype=float) ** (-float(zipf))
    return w / w.sum()


def synth_choices(
    experts: int, top_k: int, tokens: int, layers: int = 1, zipf: float = 0.0, seed: int = 0
) -> np.ndarray:
    """Synthetic token-choice routing: each token picks k distinct experts.

    Expert popularity follows a zipf law, p_i ∝ 1/rank^s; each layer draws its own random
    assignment of ranks to experts (a permutation), so the hot experts differ per layer.
    Each token's k experts are drawn *without replacement, proportional to popularity*
    (successive sampling), via the Gumbel-top-k trick: the k largest of log p_e + Gumbel
    noise. ``zipf = 0`` is uniform: every k-subset equally likely (the reference's
    ``randperm(E)[:k]``, §D.2). Deterministic for a given seed (numpy ``default_rng(seed)``;
    per layer: one permutation, then the keys in blocks of tokens).

    Returns a bool array layers × tokens × experts with exactly k true per token.
    """
    _check_counts(experts, top_k, tokens, layers)
    logw = np.log(zipf_weights(experts, zipf))
    rng = np.random.default_rng(seed)
    out = np.zeros((layers, tokens, experts), dtype=bool)
    block = max(1, _BLOCK_CELLS // experts)
    for l in range(layers):
        perm = rng.permutation(experts)  # expert perm[r] has popularity rank r
        logp = np.empty(experts)
        logp[perm] = logw
        for t0 in range(0, tokens, block):
            n = min(block, tokens - t0)
            keys = logp + rng.gumbel(size=(n, experts))
            top = np.argpartition(-keys, top_k - 1, axis=1)[:, :top_k]
            np.put_along_axis(out[l, t0 : t0 + n], top, True, axis=1)
    return out


def expert_choice_capacity(tokens: int, top_k: int, experts: int) -> int:
    """Capacity of expert-choice routing: each expert takes ⌊T·k/E⌉ tokens (at least 1)."""
    return max(1, min(tokens, int(round(tokens * top_k / experts))))


def expert_choice_choices(
    experts: int, tokens: int, capacity: int, layers: int = 1, seed: int = 0
) -> np.ndarray:
    """Expert-choice routing (Gao & Yang §III; docs/reference-simulators.md §E.1): column top-k.

    Every expert takes exactly ``capacity`` tokens (use :func:`expert_choice_capacity` for
    capacity = T·k/E). Tokens are chosen as the router would with random gate scores: a
    seeded standard-normal score per (token, expert) (numpy ``default_rng(seed)``, one
    tokens × experts draw per layer), and each expert takes its ``capacity`` highest-scoring
    tokens. Per-expert loads are therefore perfectly equal; the number of experts per token
    varies (some tokens get none). Returns bool layers × tokens × experts.
    """
    _check_counts(experts, 1, tokens, layers)
    if not 1 <= capacity <= tokens:
        raise ValueError(f"capacity must be between 1 and tokens ({tokens}), got {capacity}")
    rng = np.random.default_rng(seed)
    out = np.zeros((layers, tokens, experts), dtype=bool)
    for l in range(layers):
        scores = rng.standard_normal((tokens, experts))
        top = np.argpartition(-scores, capacity - 1, axis=0)[:capacity]  # capacity × experts
        np.put_along_axis(out[l], top, True, axis=0)
    return out


def _successive_sampling_inclusion(w: np.ndarray, k: int, points: int = 600) -> np.ndarray:
    """Inclusion probabilities of drawing k of E items without replacement ∝ w (exact, numerically).

    Successive (Plackett–Luce, Gumbel-top-k) sampling is a race of exponential clocks
    X_e ~ Exp(w_e) whose first k finishers are chosen, so

        π_i = ∫_0^∞ w_i e^{−w_i t} · P(#{j ≠ i : X_j < t} ≤ k − 1) dt,

    where the count is Poisson-binomial with p_j(t) = 1 − e^{−w_j t}. The count's distribution
    without item i is the convolution of prefix (j < i) and suffix (j > i) distributions,
    truncated to k terms, on a log-spaced grid of t; the integral is a trapezoid rule in
    log t (its integrand is a smooth bump there). Cost O(E·points·k²); Σπ = k to ~1e−6,
    renormalised exactly. Matches Monte-Carlo within its noise (tests/test_routing.py).
    """
    E = w.size
    if k >= E:
        return np.ones(E)
    w = np.asarray(w, dtype=float) / np.max(w)
    t = np.geomspace(1e-6, 60.0 / w.min(), points)
    p = -np.expm1(-np.outer(w, t))  # E × points: P(X_j < t)

    def partial(order) -> np.ndarray:  # dist[j] = count distribution over the items before j in `order`
        dist = np.empty((E, points, k))
        cur = np.zeros((points, k))
        cur[:, 0] = 1.0
        for j in order:
            dist[j] = cur
            nxt = cur * (1.0 - p[j])[:, None]
            nxt[:, 1:] += cur[:, :-1] * p[j][:, None]
            cur = nxt
        return dist

    pre, suf = partial(range(E)), partial(range(E - 1, -1, -1))
    suf_cdf = np.cumsum(suf, axis=2)  # P(suffix count ≤ b)
    below_k = np.einsum("eqa,eqa->eq", pre, suf_cdf[:, :, ::-1])  # Σ_a P(pre = a)·P(suf ≤ k−1−a)
    y = w[:, None] * t * np.exp(-np.outer(w, t)) * below_k  # integrand in log t
    pi = np.sum((y[:, 1:] + y[:, :-1]) * 0.5 * np.diff(np.log(t)), axis=1)
    return pi * (k / pi.sum())


def selection_probabilities(
    experts: int, top_k: int, model: str = "uniform", zipf: float = 1.0
) -> np.ndarray:
    """Per-expert marginal probability p_e that a token selects expert e (Σ_e p_e = k).

    ``uniform``: p_e = k/E. ``zipf``: the inclusion probabilities of :func:`synth_choices`
    (k draws without replacement ∝ 1/rank^s), computed by numerical integration (see
    :func:`_successive_sampling_inclusion`). Entries are in popularity-rank order (most
    popular first); a synthetic layer permutes experts, which changes no expected group
    load of a load-aware grouping. For a trace use ``choices.mean(axis=-2)`` instead.
    """
    _check_counts(experts, top_k, 1, 1)
    if model == "uniform":
        return np.full(experts, top_k / experts)
    if model == "zipf":
        return _successive_sampling_inclusion(zipf_weights(experts, zipf), top_k)
    raise ValueError(f"expert-load model must be 'uniform' or 'zipf', got {model!r} (for a trace use its mean)")
