"""Which experts each traced token uses, for the event simulator (docs/reference-simulators.md §D.2, §C.3).

Two regimes:

* **Reference accounting** (``moewithpim``, ``ibm3dsim``). The references draw a token's
  experts at trace time with ``torch.randperm(E)[:k]``, per traced step, per MoE layer, per
  token (recomputed tokens redraw), after ``torch.rand(vocab)`` drew the sampling density;
  every sequence of a batch shares the draws (the graph is deep-copied). torch's CPU
  generator is the standard 32-bit Mersenne Twister seeded with ``init_genrand(seed)``, and
  its ``randperm`` for small n is a Fisher–Yates shuffle taking ``random() % (n − i)``
  (ATen ``randperm_cpu``). numpy's ``MT19937`` with legacy seeding yields the same raw
  stream, so this module replays the reference's draws *exactly* for uniform routing with
  k > 2 (the corpus case) without torch. For k ≤ 2 the references draw from a random
  skewed density with ``torch.multinomial`` (§H.11), which is not replayed: those points
  (and zipf/trace loads) use the seeded numpy draws below, shared across sequences.
* **Physical accounting.** Each sequence routes on its own; a token keeps its experts when
  its step is recomputed (the router is deterministic). Draws come from
  ``moe.routing.synth_choices`` (uniform or zipf popularity, numpy ``default_rng(seed)``) or
  a gate trace (``moe.routing.load_trace``), indexed by (sequence, position).
"""

from __future__ import annotations

import numpy as np

from ..moe.routing import load_trace, synth_choices
from .params import SimParams


def torch_randperm_topk(seed: int, skip: int, draws: int, E: int, k: int) -> np.ndarray:
    """``draws`` successive ``torch.randperm(E)[:k]`` after ``skip`` raw 32-bit draws (torch CPU, seed)."""
    bg = np.random.MT19937()
    bg._legacy_seeding(int(seed))  # init_genrand(seed), as torch.manual_seed / std::mt19937(seed)
    if skip:
        bg.random_raw(skip)
    if draws == 0:
        return np.zeros((0, k), dtype=np.int64)
    if E == 1:
        return np.zeros((draws, 1), dtype=np.int64)
    raw = bg.random_raw(draws * (E - 1)).reshape(draws, E - 1).astype(np.int64)
    perm = np.tile(np.arange(E, dtype=np.int64), (draws, 1))
    rows = np.arange(draws)
    for i in range(E - 1):
        z = raw[:, i] % (E - i) + i
        a = perm[:, i].copy()
        perm[:, i] = perm[rows, z]
        perm[rows, z] = a
    return perm[:, :k]


def _choices_to_lists(c: np.ndarray) -> np.ndarray:
    """bool (..., E) with k true per row → int (..., k) expert ids, ascending."""
    k = int(c[(0,) * (c.ndim - 1)].sum()) if c.size else 0
    idx = np.nonzero(c.reshape(-1, c.shape[-1]))[1].reshape(*c.shape[:-1], k)
    return idx


class Router:
    """experts(step, moe_layer, seq, tid, pos) → the expert ids of one token, in call order."""

    def __init__(self, p: SimParams, step_tokens: list[int], positions: int):
        self.p = p
        self.nl = sum(p.moe_layer)
        self.k = p.k
        self.mode = "none"
        if not p.is_moe or self.k == 0:
            return
        E, k = p.E, p.k
        if p.shared_routing:
            # draws in trace order: the prompt graph (always traced), then every decode graph;
            # per graph: MoE layer, then token.
            total = sum(step_tokens)
            self.by_step = []
            o = 0
            if p.load_model == "uniform" and k > 2:
                flat = torch_randperm_topk(p.seed, p.vocab, self.nl * total, E, k)  # (step, layer, token) order
                self.mode = "torch"
                for n in step_tokens:
                    self.by_step.append(flat[o:o + self.nl * n].reshape(self.nl, n, k))
                    o += self.nl * n
            else:
                arr = self._numpy(total, 1).reshape(self.nl, total, k)
                self.mode = "numpy-shared"
                for n in step_tokens:
                    self.by_step.append(arr[:, o:o + n, :])
                    o += n
        else:
            self.mode = "numpy"
            self.by_pos = self._numpy(positions, p.B).reshape(p.B, self.nl, positions, k)

    def _numpy(self, tokens: int, seqs: int) -> np.ndarray:
        """(seqs · layers · tokens, k) expert ids from the configured load model."""
        p = self.p
        if p.load_model == "trace" and p.trace:
            tr = load_trace(p.trace, p.k, k_from="the model's moe.top_k")  # layers × tokens × experts
            lt, tt = tr.shape[0], tr.shape[1]
            out = np.empty((seqs, self.nl, tokens, p.k), dtype=np.int64)
            ids = _choices_to_lists(tr)
            for s in range(seqs):
                for l in range(self.nl):
                    rows = (s * tokens + np.arange(tokens)) % tt
                    out[s, l] = ids[l % lt, rows]
            return out.reshape(-1, p.k)
        zipf = p.zipf if p.load_model == "zipf" else 0.0
        c = synth_choices(p.E, p.k, tokens * seqs, self.nl, zipf=zipf, seed=p.seed)  # layers × (seqs·tokens) × E
        ids = _choices_to_lists(c).reshape(self.nl, seqs, tokens, p.k).transpose(1, 0, 2, 3)
        return np.ascontiguousarray(ids).reshape(-1, p.k)

    def experts(self, step: int, ml: int, seq: int, tid: int, pos: int) -> list[int]:
        if self.mode in ("torch", "numpy-shared"):
            return self.by_step[step][ml, tid].tolist()
        return self.by_pos[seq, ml, pos].tolist()
