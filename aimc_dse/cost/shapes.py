"""Model shapes, vectorised: widths, layer counts and parameters per part, for columns of points.

Shared by the AIMC and GPU models so both see the same network. Mirrors
``specs.model.ModelSpec.matrices()`` (which the tests check it against) without building
per-matrix Python objects, so a million design points cost a few numpy operations.

Attention, for both forms the spec knows (docs/models.md):

* ``attn_mats`` — the five attention matrix slots (rows, cols) of one layer, in dataflow
  order: q_a, q (or q_b), k (or kv_a), v (or kv_b), out. GQA leaves q_a empty (0×0); MLA
  without ``q_lora_rank`` too. Every cost model should map / stream / multiply these.
* ``kv_elems`` — KV-cache elements one token adds in one layer (2·kv_heads·h, or
  kv_lora_rank + rope for MLA); ``kv_elements(n)`` — one sequence's cache at context n over
  all layers, local (sliding-window) layers holding at most ``window`` tokens;
  ``attended_keys(t, n)`` — keys the t newest tokens of a context n attend to, summed over
  tokens and layers; ``att_width(decode)`` — multiply-adds per attended key and token.
* ``q`` and ``kv`` keep their GQA meaning (query width; K width). For MLA they are the
  nearest GQA equivalents — q = heads·v_head_dim (the out projection's input) and kv =
  kv_elems / 2 — so a model reading only ``q``/``kv`` gets the out projection, the KV
  cache size and kv_a right but not q_a/q_b/kv_b (see ``attn_mats``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .columns import Cols
from .numeric import Array, ArrayLike, ceil_div


def window_pairs(m: ArrayLike, window: ArrayLike) -> Array:
    """Σ_{i=1..m} min(i, W): the keys m consecutive queries from position 1 attend on a
    sliding-window layer of window W (causal)."""
    m = np.asarray(m, dtype=np.float64)
    W = np.asarray(window, dtype=np.float64)
    return np.where(m <= W, m * (m + 1.0) / 2.0, W * (W + 1.0) / 2.0 + (m - W) * W)


def local_window_share(n: ArrayLike, window: ArrayLike, cached: ArrayLike) -> Array:
    """The share of a full-context attention job a sliding-window layer of window W does at
    context n: one cached query attends min(n, W) of n keys, a whole-context step
    window_pairs(n, W) of n(n + 1)/2 pairs."""
    n = np.asarray(n, dtype=np.float64)
    W = np.asarray(window, dtype=np.float64)
    return np.where(cached, np.minimum(n, W) / n, window_pairs(n, W) / (n * (n + 1.0) / 2.0))


def _unset() -> Array:
    return np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class ModelShape:
    """Per-point model dimensions (all numpy arrays of length n)."""

    layers: Array  # L
    d: Array  # d_model
    q: Array  # query width (heads · head_dim)
    kv: Array  # key/value width (kv_heads · head_dim)
    d_ff: Array  # dense FFN width
    n_ffn_mats: Array  # 2 (plain) or 3 (gated)
    vocab: Array
    experts: Array  # E (0 = dense)
    top_k: Array  # k
    d_ff_expert: Array
    shared: Array  # shared experts per MoE layer
    d_ff_shared: Array
    moe_layers: Array
    dense_layers: Array
    learned_pos: Array  # bool
    max_positions: Array
    tie: Array  # bool
    expert_choice: Array  # bool
    activation: Array  # str
    # ---- attention form (defaults: plain GQA without window, biases or sinks) ----
    heads: Array = field(default_factory=_unset)  # attention heads
    q_lora: Array = field(default_factory=_unset)  # MLA query rank (0: direct q projection)
    kv_lora: Array = field(default_factory=_unset)  # MLA latent KV width (0: GQA)
    rope: Array = field(default_factory=_unset)  # MLA rotary width per head
    nope: Array = field(default_factory=_unset)  # MLA non-rotary q/k width per head
    v_head: Array = field(default_factory=_unset)  # MLA value width per head
    window: Array = field(default_factory=_unset)  # sliding window, tokens (0: none)
    global_every: Array = field(default_factory=_unset)  # with a window: every n-th layer global (0: none)
    qkv_bias: Array = field(default_factory=_unset)  # bool
    o_bias: Array = field(default_factory=_unset)  # bool
    mlp_bias: Array = field(default_factory=_unset)  # bool
    sinks: Array = field(default_factory=_unset)  # bool

    def __post_init__(self) -> None:
        n = np.shape(self.layers)
        zero, no = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
        fills = {"heads": np.maximum(self.q, 1), "q_lora": zero, "kv_lora": zero, "rope": zero, "nope": zero,
                 "v_head": zero, "window": zero, "global_every": zero, "qkv_bias": no, "o_bias": no,
                 "mlp_bias": no, "sinks": no}
        for k, v in fills.items():
            if np.shape(getattr(self, k)) != n:  # not given: the plain-attention default
                object.__setattr__(self, k, v)

    # ---- attention ------------------------------------------------------------------
    @property
    def mla(self) -> Array:
        return self.kv_lora > 0

    @property
    def attn_mats(self) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        """(rows, cols) of the five attention slots: q_a, q/q_b, k/kv_a, v/kv_b, out."""
        mla, d, H = self.mla, self.d, self.heads
        ql = np.where(mla, self.q_lora, 0)
        q_in = np.where(ql > 0, ql, d)
        q_out = np.where(mla, H * (self.nope + self.rope), self.q)
        return (
            (np.where(ql > 0, d, 0), ql),
            (q_in, q_out),
            (d, np.where(mla, self.kv_lora + self.rope, self.kv)),
            (np.where(mla, self.kv_lora, d), np.where(mla, H * (self.nope + self.v_head), self.kv)),
            (self.q, d),
        )

    @property
    def kv_elems(self) -> Array:
        """KV-cache elements per token per layer: 2·kv (GQA) or kv_lora_rank + rope (MLA)."""
        return np.where(self.mla, self.kv_lora + self.rope, 2 * self.kv)

    @property
    def local_layers(self) -> Array:
        """Sliding-window layers: all but every ``global_every``-th, when a window is set."""
        g = np.maximum(self.global_every, 1)
        n_global = np.where(self.global_every > 0, self.layers // g, 0)
        return np.where(self.window > 0, self.layers - n_global, 0)

    def kv_elements(self, n: ArrayLike) -> Array:
        """KV-cache elements of one sequence at context n, all layers (local layers ≤ window)."""
        n = np.asarray(n, dtype=np.float64)
        loc = self.local_layers
        w = np.where(self.window > 0, np.minimum(n, self.window), n)
        return self.kv_elems * ((self.layers - loc) * n + loc * w)

    def attended_keys(self, t: ArrayLike, n: ArrayLike) -> Array:
        """Σ over the t newest tokens (positions n−t+1 … n) and all layers of the keys each
        attends to (causal; a local layer sees at most ``window`` keys)."""
        t = np.asarray(t, dtype=np.float64)
        n = np.asarray(n, dtype=np.float64)
        full = t * n - t * (t - 1.0) / 2.0
        W = np.where(self.window > 0, self.window, 1).astype(np.float64)
        local = np.where(self.window > 0, window_pairs(n, W) - window_pairs(n - t, W), full)
        loc = self.local_layers
        return (self.layers - loc) * full + loc * local

    def att_width(self, decode: ArrayLike) -> Array:
        """Multiply-adds per attended key per token in one layer (QKᵀ plus A·V, all heads).

        GQA: 2·q. MLA in its absorbed decode form (queries and outputs in the latent space,
        FlashMLA's): heads·(2·kv_lora_rank + rope); in prefill, with K and V expanded:
        heads·(nope + rope + v).
        """
        H = self.heads
        mla_dec = H * (2 * self.kv_lora + self.rope)
        mla_pre = H * (self.nope + self.rope + self.v_head)
        return np.where(self.mla, np.where(decode, mla_dec, mla_pre), 2 * self.q)

    # ---- parameters per part ---------------------------------------------------------
    @property
    def attn_params_layer(self) -> Array:
        """Attention matrices of one layer, their biases and sinks."""
        mats = sum(r * c for r, c in self.attn_mats)
        (_, qa), (_, qo), (_, ko), (_, vo), _ = self.attn_mats
        first_q = np.where(qa > 0, qa, qo)
        qkv_b = np.where(self.mla, first_q + ko, qo + ko + vo)
        return mats + self.qkv_bias * qkv_b + self.o_bias * self.d + self.sinks * self.heads

    def _ffn_params(self, width: Array) -> Array:
        """One FFN of hidden width ``width``: its matrices and (mlp_bias) their biases."""
        bias = (self.n_ffn_mats - 1) * width + self.d
        return self.n_ffn_mats * self.d * width + self.mlp_bias * bias

    @property
    def dense_ffn_params_layer(self) -> Array:
        return self._ffn_params(self.d_ff)

    @property
    def expert_params(self) -> Array:
        """One routed expert."""
        return self._ffn_params(self.d_ff_expert)

    @property
    def router_params_layer(self) -> Array:
        return self.d * self.experts + self.mlp_bias * self.experts

    @property
    def shared_params_layer(self) -> Array:
        return self.shared * self._ffn_params(self.d_ff_shared)

    @property
    def embedding_params(self) -> Array:
        return self.vocab * self.d

    @property
    def position_params(self) -> Array:
        return np.where(self.learned_pos, self.max_positions * self.d, 0)

    @property
    def lm_head_params(self) -> Array:
        return np.where(self.tie, 0, self.d * self.vocab)

    @property
    def expert_params_total(self) -> Array:
        return self.moe_layers * self.experts * self.expert_params

    @property
    def non_expert_params(self) -> Array:
        """Everything but the routed experts (attention, dense FFNs, routers, shared, embeddings)."""
        return (
            self.layers * self.attn_params_layer
            + self.dense_layers * self.dense_ffn_params_layer
            + self.moe_layers * (self.router_params_layer + self.shared_params_layer)
            + self.embedding_params
            + self.position_params
            + self.lm_head_params
        )

    @property
    def params(self) -> Array:
        return self.non_expert_params + self.expert_params_total

    @property
    def active_params(self) -> Array:
        """Weights one token touches (published convention: embeddings in full, k of E experts)."""
        return self.non_expert_params + self.moe_layers * self.top_k * self.expert_params

    @property
    def is_moe(self) -> Array:
        return self.experts > 0


def moe_layer_count(layers: Array, experts: Array, first_dense: Array, every: Array) -> Array:
    """Layers l ≥ first_dense with (l − first_dense) mod every == 0, when the model has experts."""
    span = np.maximum(layers - first_dense, 0)
    n = ceil_div(span, np.maximum(every, 1))
    return np.where(experts > 0, n, 0)


def model_shape(c: Cols) -> ModelShape:
    L = c.i("model.layers")
    d = c.i("model.d_model")
    heads = c.i("model.heads")
    head_dim = c.i("model.head_dim")
    E = c.i("model.moe.experts", 0)
    moe_layers = moe_layer_count(L, E, c.i("model.moe.first_dense_layers", 0), c.i("model.moe.every", 1))
    kv_lora = c.i("model.mla.kv_lora_rank", 0)
    rope = c.i("model.mla.qk_rope_head_dim", 0)
    v_head = c.i("model.mla.v_head_dim", 0)
    mla = kv_lora > 0
    bias = c.s("model.attention_bias", "none")
    return ModelShape(
        layers=L,
        d=d,
        # GQA meaning; MLA: the nearest GQA equivalents (module docstring)
        q=np.where(mla, heads * v_head, heads * head_dim),
        kv=np.where(mla, (kv_lora + rope) // 2, c.i("model.kv_heads") * head_dim),
        d_ff=c.i("model.d_ff"),
        n_ffn_mats=np.where(c.eq("model.mlp", "gated"), 3, 2),
        vocab=c.i("model.vocab"),
        experts=E,
        top_k=c.i("model.moe.top_k", 0),
        d_ff_expert=c.i("model.moe.d_ff_expert", 0),
        shared=c.i("model.moe.shared_experts", 0),
        d_ff_shared=c.i("model.moe.d_ff_shared", 0),
        moe_layers=moe_layers,
        dense_layers=L - moe_layers,
        learned_pos=c.eq("model.position_embedding", "learned"),
        max_positions=c.i("model.max_positions"),
        tie=c.b("model.tie_embeddings"),
        expert_choice=c.eq("model.moe.routing", "expert_choice"),
        activation=c.s("model.activation"),
        heads=heads,
        q_lora=c.i("model.mla.q_lora_rank", 0),
        kv_lora=kv_lora,
        rope=rope,
        nope=c.i("model.mla.qk_nope_head_dim", 0),
        v_head=v_head,
        window=c.i("model.sliding_window", 0),
        global_every=c.i("model.global_every", 0),
        qkv_bias=bias != "none",
        o_bias=bias == "qkvo",
        mlp_bias=c.b("model.mlp_bias", False),
        sinks=c.b("model.attention_sinks", False),
    )
