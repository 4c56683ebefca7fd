"""Model specs: decoder-only transformers, dense or Mixture-of-Experts (COST-MODEL.md §2).

The weight matrices are listed in the reference mapper's order (reference-simulators.md
§B.1) by ``matrices()``; parameter counts and tier-block counts derive from that one list,
so the mapper, the counts and ``aimc-dse show`` can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from .base import (
    MAX_EXPERT_SLOTS,
    MAX_EXPERTS,
    MAX_HEADS,
    MAX_LAYERS,
    MAX_PARAMETERS,
    MAX_POSITIONS,
    MAX_SHARED_EXPERTS,
    MAX_TOP_K,
    MAX_VOCAB,
    MAX_WIDTH,
    Spec,
)


class MoeSpec(Spec):
    """Mixture-of-Experts feed-forward layers."""

    experts: int = Field(gt=0, le=MAX_EXPERTS, description="routed experts per MoE layer, E")
    top_k: int = Field(gt=0, le=MAX_TOP_K, description="experts each token selects, k (token choice)")
    d_ff_expert: int = Field(gt=0, le=MAX_WIDTH, description="hidden width of one routed expert")
    shared_experts: int = Field(0, ge=0, le=MAX_SHARED_EXPERTS, description="always-active shared experts per MoE layer")
    d_ff_shared: int | None = Field(None, gt=0, le=MAX_WIDTH, description="hidden width of one shared expert (default d_ff_expert)")
    every: int = Field(1, ge=1, le=MAX_LAYERS, description="MoE on every f-th layer (layer l is MoE iff l mod f == 0)")
    first_dense_layers: int = Field(0, ge=0, le=MAX_LAYERS, description="leading layers that stay dense (DeepSeek-MoE: 1)")
    routing: Literal["token_choice", "expert_choice"] = Field(
        "token_choice", description="token choice (top-k per token) or expert choice (top tokens per expert)"
    )

    @model_validator(mode="after")
    def _k_le_e(self):
        if self.top_k > self.experts:
            raise ValueError(f"top_k ({self.top_k}) exceeds experts ({self.experts})")
        return self


@dataclass(frozen=True)
class Matrix:
    """One weight matrix I×O (x·W), with where it sits in the network."""

    name: str  # e.g. "layer3.expert5.ffn1"
    rows: int  # I (input width)
    cols: int  # O (output width)
    layer: int  # -1 for embeddings / lm_head
    part: str  # embedding | position | attention | router | expert | shared | ffn | lm_head
    expert: int = -1

    @property
    def params(self) -> int:
        return self.rows * self.cols


class ModelSpec(Spec):
    """A decoder-only transformer."""

    name: str = Field("custom-model", description="preset name")
    description: str = Field("", description="one line shown by `aimc-dse presets`")
    sources: list[str] = Field(default_factory=list, description="where the numbers come from")

    layers: int = Field(gt=0, le=MAX_LAYERS, description="decoder layers L")
    d_model: int = Field(gt=0, le=MAX_WIDTH, description="model width d")
    heads: int = Field(gt=0, le=MAX_HEADS, description="attention heads")
    kv_heads: int | None = Field(None, gt=0, le=MAX_HEADS, description="key/value heads (grouped-query attention); default heads")
    head_dim: int | None = Field(None, gt=0, le=MAX_WIDTH, description="width of one head; default d_model / heads")
    d_ff: int = Field(0, ge=0, le=MAX_WIDTH, description="hidden width of a dense FFN (0 if every layer is MoE)")
    mlp: Literal["plain", "gated"] = Field("plain", description="plain two-matrix FFN, or gated (SwiGLU: gate, up, down)")
    activation: Literal["relu", "gelu", "silu"] = Field("relu", description="FFN activation")
    vocab: int = Field(gt=0, le=MAX_VOCAB, description="vocabulary size V")
    position_embedding: Literal["learned", "rope", "none"] = Field(
        "rope", description="learned table (mapped on tiers), rotary, or none"
    )
    max_positions: int = Field(2048, gt=0, le=MAX_POSITIONS, description="rows of a learned position table")
    tie_embeddings: bool = Field(False, description="lm_head shares the token embedding's weights (counted once)")
    moe: MoeSpec | None = Field(None, description="MoE settings; absent for a dense model")

    @model_validator(mode="after")
    def _consistent(self):
        if self.kv_heads is not None and self.kv_heads > self.heads:
            raise ValueError(f"kv_heads ({self.kv_heads}) exceeds heads ({self.heads})")
        if self.kv_heads is not None and self.heads % self.kv_heads:
            raise ValueError(f"heads ({self.heads}) is not a multiple of kv_heads ({self.kv_heads})")
        if self.head_dim is None and self.d_model % self.heads:
            raise ValueError(f"d_model ({self.d_model}) is not a multiple of heads ({self.heads}); give head_dim")
        if any(not self.is_moe_layer(l) for l in range(self.layers)) and self.d_ff <= 0:
            raise ValueError("d_ff must be positive: the model has dense FFN layers")
        return self

    @model_validator(mode="after")
    def _bounded_size(self):
        """Refuse models far beyond any real one before anything lists their matrices.

        The parameter count is computed arithmetically (Python integers, no matrix list), so
        the check itself is instant; within the limit, every integer product the cost model
        forms (parameters, tier blocks, bytes) stays exact in int64.
        """
        m = self.moe
        slots = self.layers * ((m.experts + m.shared_experts) if m else 0)
        if slots > MAX_EXPERT_SLOTS:
            raise ValueError(
                f"layers × experts per layer is {slots:,}, more than {MAX_EXPERT_SLOTS:,} (far beyond any real model)"
            )
        d, f = self.d_model, self.ffn_matrices
        attn = 2 * d * self.q_width + 2 * d * self.kv_width
        moe_layers = 0 if m is None else max(0, -(-(self.layers - m.first_dense_layers) // m.every))
        total = self.layers * attn + (self.layers - moe_layers) * f * d * self.d_ff + self.vocab * d
        total += 0 if self.tie_embeddings else self.vocab * d
        total += self.max_positions * d if self.position_embedding == "learned" else 0
        if m is not None:
            total += moe_layers * (d * m.experts + m.experts * f * d * m.d_ff_expert)
            total += moe_layers * m.shared_experts * f * d * (m.d_ff_shared or m.d_ff_expert)
        if total > MAX_PARAMETERS:
            raise ValueError(f"the model has {total:.3g} parameters, more than {MAX_PARAMETERS:.3g} (far beyond any real model)")
        return self

    # ---- shape helpers ----------------------------------------------------------------
    @property
    def q_width(self) -> int:
        return self.heads * (self.head_dim or self.d_model // self.heads)

    @property
    def kv_width(self) -> int:
        return (self.kv_heads or self.heads) * (self.head_dim or self.d_model // self.heads)

    @property
    def ffn_matrices(self) -> int:
        """Matrices per FFN / expert: 3 when gated (gate, up, down), else 2."""
        return 3 if self.mlp == "gated" else 2

    def is_moe_layer(self, layer: int) -> bool:
        m = self.moe
        return m is not None and layer >= m.first_dense_layers and (layer - m.first_dense_layers) % m.every == 0

    @property
    def moe_layers(self) -> int:
        return sum(self.is_moe_layer(l) for l in range(self.layers))

    @property
    def dense_layers(self) -> int:
        return self.layers - self.moe_layers

    def _ffn(self, layer: int, d_ff: int, part: str, prefix: str, expert: int = -1) -> list[Matrix]:
        d = self.d_model
        out = []
        if self.mlp == "gated":
            out.append(Matrix(f"{prefix}.gate", d, d_ff, layer, part, expert))
        out.append(Matrix(f"{prefix}.ffn1", d, d_ff, layer, part, expert))
        out.append(Matrix(f"{prefix}.ffn2", d_ff, d, layer, part, expert))
        return out

    def layer_matrices(self, layer: int) -> list[Matrix]:
        """The matrices of one layer: Q, K, V, out, then the FFN or MoE block."""
        d, p = self.d_model, f"layer{layer}"
        mats = [
            Matrix(f"{p}.q", d, self.q_width, layer, "attention"),
            Matrix(f"{p}.k", d, self.kv_width, layer, "attention"),
            Matrix(f"{p}.v", d, self.kv_width, layer, "attention"),
            Matrix(f"{p}.out", self.q_width, d, layer, "attention"),
        ]
        if self.is_moe_layer(layer):
            m = self.moe
            mats.append(Matrix(f"{p}.router", d, m.experts, layer, "router"))
            for e in range(m.experts):
                mats += self._ffn(layer, m.d_ff_expert, "expert", f"{p}.expert{e}", e)
            for s in range(m.shared_experts):
                mats += self._ffn(layer, m.d_ff_shared or m.d_ff_expert, "shared", f"{p}.shared{s}")
        else:
            mats += self._ffn(layer, self.d_ff, "ffn", f"{p}.ffn")
        return mats

    def matrices(self) -> list[Matrix]:
        """Every weight matrix, embeddings first, lm_head last (reference mapping order)."""
        d = self.d_model
        mats = [Matrix("embedding", self.vocab, d, -1, "embedding")]
        if self.position_embedding == "learned":
            mats.append(Matrix("position", self.max_positions, d, -1, "position"))
        for l in range(self.layers):
            mats += self.layer_matrices(l)
        mats.append(Matrix("lm_head", d, self.vocab, -1, "lm_head"))
        return mats

    # ---- derived figures ----------------------------------------------------------------
    @property
    def parameters(self) -> int:
        """Weights of all 2-D matrices (a tied lm_head counted once)."""
        total = sum(m.params for m in self.matrices())
        if self.tie_embeddings:
            total -= self.vocab * self.d_model
        return total

    @property
    def active_parameters(self) -> int:
        """Weights one token touches: all but the unselected routed experts.

        Counted as the published "active parameters" figures do (Mixtral ≈12.9 B): embedding
        table and lm_head in full, routed experts scaled by k/E.
        """
        total = self.parameters
        if self.moe is not None:
            unused = 1.0 - self.moe.top_k / self.moe.experts
            total -= unused * sum(m.params for m in self.matrices() if m.part == "expert")
        return int(round(total))

    def tier_blocks(self, tier_rows: int, tier_cols: int) -> dict[str, int]:
        """Tier blocks per part: Σ ⌈I/R⌉·⌈O/C⌉ over the part's matrices (§B.2)."""
        out: dict[str, int] = {}
        for m in self.matrices():
            nb = -(-m.rows // tier_rows) * -(-m.cols // tier_cols)
            out[m.part] = out.get(m.part, 0) + nb
        return out
