"""Model shapes, vectorised: widths, layer counts and parameters per part, for columns of points.

Shared by the AIMC and GPU models so both see the same network. Mirrors
``specs.model.ModelSpec.matrices()`` (which the tests check it against) without building
per-matrix Python objects, so a million design points cost a few numpy operations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .columns import Cols
from .numeric import ceil_div


@dataclass(frozen=True)
class ModelShape:
    """Per-point model dimensions (all numpy arrays of length n)."""

    layers: np.ndarray  # L
    d: np.ndarray  # d_model
    q: np.ndarray  # query width (heads · head_dim)
    kv: np.ndarray  # key/value width (kv_heads · head_dim)
    d_ff: np.ndarray  # dense FFN width
    n_ffn_mats: np.ndarray  # 2 (plain) or 3 (gated)
    vocab: np.ndarray
    experts: np.ndarray  # E (0 = dense)
    top_k: np.ndarray  # k
    d_ff_expert: np.ndarray
    shared: np.ndarray  # shared experts per MoE layer
    d_ff_shared: np.ndarray
    moe_layers: np.ndarray
    dense_layers: np.ndarray
    learned_pos: np.ndarray  # bool
    max_positions: np.ndarray
    tie: np.ndarray  # bool
    expert_choice: np.ndarray  # bool
    activation: np.ndarray  # str

    # ---- parameters per part ---------------------------------------------------------
    @property
    def attn_params_layer(self):
        return self.d * self.q + 2 * self.d * self.kv + self.q * self.d

    @property
    def dense_ffn_params_layer(self):
        return self.n_ffn_mats * self.d * self.d_ff

    @property
    def expert_params(self):
        """One routed expert."""
        return self.n_ffn_mats * self.d * self.d_ff_expert

    @property
    def router_params_layer(self):
        return self.d * self.experts

    @property
    def shared_params_layer(self):
        return self.shared * self.n_ffn_mats * self.d * self.d_ff_shared

    @property
    def embedding_params(self):
        return self.vocab * self.d

    @property
    def position_params(self):
        return np.where(self.learned_pos, self.max_positions * self.d, 0)

    @property
    def lm_head_params(self):
        return np.where(self.tie, 0, self.d * self.vocab)

    @property
    def expert_params_total(self):
        return self.moe_layers * self.experts * self.expert_params

    @property
    def non_expert_params(self):
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
    def params(self):
        return self.non_expert_params + self.expert_params_total

    @property
    def active_params(self):
        """Weights one token touches (published convention: embeddings in full, k of E experts)."""
        return self.non_expert_params + self.moe_layers * self.top_k * self.expert_params

    @property
    def is_moe(self):
        return self.experts > 0


def moe_layer_count(layers, experts, first_dense, every):
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
    return ModelShape(
        layers=L,
        d=d,
        q=heads * head_dim,
        kv=c.i("model.kv_heads") * head_dim,
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
    )
