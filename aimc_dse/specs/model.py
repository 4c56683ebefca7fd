"""Model specs: decoder-only transformers, dense or Mixture-of-Experts (docs/cost-model.md §2).

The weight matrices are listed in the reference mapper's order (docs/reference-simulators.md
§B.1) by ``matrices()``; parameter counts and tier-block counts derive from that one list,
so the mapper, the counts and ``aimc-dse show`` can never disagree.

Attention comes in two forms. Grouped-query attention (GQA, the default): Q (d → heads·h),
K and V (d → kv_heads·h each), out (heads·h → d); the KV cache holds 2·kv_heads·h elements
per token per layer. Multi-head latent attention (``mla``, DeepSeek-V2/V3, DeepSeek-V2
paper §2.1): an optional query down-projection q_a (d → q_lora_rank) and up-projection
q_b (→ heads·(nope + rope)), a joint KV down-projection kv_a (d → kv_lora_rank + rope) whose
output is what the cache stores, the KV up-projection kv_b (kv_lora_rank → heads·(nope + v))
and out (heads·v → d); the cache holds kv_lora_rank + rope elements per token per layer.

Sliding-window attention (``sliding_window``): local layers attend to (and cache) at most the
last W tokens; ``global_every`` = n makes every n-th layer (layer l with (l+1) mod n == 0)
a full-attention layer (gpt-oss and Gemma-2: n = 2; Gemma-3: n = 6; Mistral-7B-v0.1: 0, all
local). Biases (``attention_bias``, ``mlp_bias``) and attention sinks (one logit per head
per layer, gpt-oss) add vectors to the parameter count; norms are not counted (< 0.01 % of
any model here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Self

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
    def _k_le_e(self) -> Self:
        if self.top_k > self.experts:
            raise ValueError(f"top_k ({self.top_k}) exceeds experts ({self.experts})")
        return self


class MlaSpec(Spec):
    """Multi-head latent attention (DeepSeek-V2/V3): low-rank query and joint KV compression."""

    q_lora_rank: int | None = Field(None, gt=0, description="query compression rank (None: a direct q projection)")
    kv_lora_rank: int = Field(gt=0, description="latent KV width the cache stores (plus the rope part)")
    qk_nope_head_dim: int = Field(gt=0, description="per-head query/key width without rotary embedding")
    qk_rope_head_dim: int = Field(gt=0, description="per-head rotary query/key width (the key part is shared by all heads)")
    v_head_dim: int = Field(gt=0, description="per-head value width")


@dataclass(frozen=True)
class Matrix:
    """One weight matrix I×O (x·W), with where it sits in the network."""

    name: str  # e.g. "layer3.expert5.ffn1"
    rows: int  # I (input width)
    cols: int  # O (output width)
    layer: int  # -1 for embeddings / lm_head
    part: str  # embedding | position | attention | router | expert | shared | ffn | lm_head
    expert: int = -1
    bias: bool = False  # a bias vector of O elements (counted in params, not mapped on tiers)

    @property
    def params(self) -> int:
        return self.rows * self.cols + (self.cols if self.bias else 0)


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
    mla: MlaSpec | None = Field(None, description="multi-head latent attention; absent for grouped-query attention")
    sliding_window: int | None = Field(
        None, gt=0, description="tokens a local (sliding-window) layer attends to and caches; None = every layer global"
    )
    global_every: int = Field(
        0, ge=0, description="with sliding_window: layer l is global iff (l+1) mod n == 0 (0 = every layer local)"
    )
    attention_bias: Literal["none", "qkv", "qkvo"] = Field(
        "none", description="bias vectors on the attention projections: none, Q/K/V (Qwen2), or Q/K/V and out (gpt-oss)"
    )
    mlp_bias: bool = Field(False, description="bias vectors on the FFN/expert matrices and the router (gpt-oss)")
    attention_sinks: bool = Field(False, description="one learned sink logit per head per layer (gpt-oss)")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.kv_heads is not None and self.kv_heads > self.heads:
            raise ValueError(f"kv_heads ({self.kv_heads}) exceeds heads ({self.heads})")
        if self.kv_heads is not None and self.heads % self.kv_heads:
            raise ValueError(f"heads ({self.heads}) is not a multiple of kv_heads ({self.kv_heads})")
        if self.head_dim is None and self.mla is None and self.d_model % self.heads:
            raise ValueError(f"d_model ({self.d_model}) is not a multiple of heads ({self.heads}); give head_dim")
        if any(not self.is_moe_layer(l) for l in range(self.layers)) and self.d_ff <= 0:
            raise ValueError("d_ff must be positive: the model has dense FFN layers")
        if self.global_every and self.sliding_window is None:
            raise ValueError("global_every needs sliding_window (which layers are local only matters with a window)")
        return self

    @model_validator(mode="after")
    def _bounded_size(self) -> Self:
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
        """Query width: heads·head_dim (GQA) or heads·(nope + rope) (MLA)."""
        if self.mla is not None:
            return self.heads * (self.mla.qk_nope_head_dim + self.mla.qk_rope_head_dim)
        return self.heads * (self.head_dim or self.d_model // self.heads)

    @property
    def kv_width(self) -> int:
        """Width of K (and of V) in GQA: kv_heads·head_dim. Not a matrix width under MLA."""
        return (self.kv_heads or self.heads) * (self.head_dim or self.d_model // self.heads)

    @property
    def attn_out_width(self) -> int:
        """Input width of the out projection: heads·head_dim (GQA) or heads·v_head_dim (MLA)."""
        if self.mla is not None:
            return self.heads * self.mla.v_head_dim
        return self.q_width

    @property
    def kv_elements_per_token_layer(self) -> int:
        """KV-cache elements one token adds in one layer: 2·kv_heads·h, or kv_lora_rank + rope (MLA)."""
        if self.mla is not None:
            return self.mla.kv_lora_rank + self.mla.qk_rope_head_dim
        return 2 * self.kv_width

    def is_local_layer(self, layer: int) -> bool:
        """Sliding-window layer (attends to and caches at most ``sliding_window`` tokens)."""
        if self.sliding_window is None:
            return False
        return not (self.global_every and (layer + 1) % self.global_every == 0)

    @property
    def local_layers(self) -> int:
        return sum(self.is_local_layer(l) for l in range(self.layers))

    def kv_elements(self, context: int) -> int:
        """KV-cache elements of one sequence holding ``context`` tokens, all layers (window-bounded)."""
        e = self.kv_elements_per_token_layer
        local = self.local_layers
        w = min(context, self.sliding_window) if self.sliding_window else context
        return e * ((self.layers - local) * context + local * w)

    @property
    def kv_elements_per_token(self) -> int:
        """KV-cache elements per token over all layers while the context is within the window."""
        return self.kv_elements_per_token_layer * self.layers

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
        d, b = self.d_model, self.mlp_bias
        out = []
        if self.mlp == "gated":
            out.append(Matrix(f"{prefix}.gate", d, d_ff, layer, part, expert, b))
        out.append(Matrix(f"{prefix}.ffn1", d, d_ff, layer, part, expert, b))
        out.append(Matrix(f"{prefix}.ffn2", d_ff, d, layer, part, expert, b))
        return out

    def attention_matrices(self, layer: int) -> list[Matrix]:
        """GQA: q, k, v, out. MLA: (q_a,) q_b (or q), kv_a, kv_b, out — in dataflow order."""
        d, p = self.d_model, f"layer{layer}"
        qkv_b = self.attention_bias != "none"
        o_b = self.attention_bias == "qkvo"
        if self.mla is None:
            return [
                Matrix(f"{p}.q", d, self.q_width, layer, "attention", bias=qkv_b),
                Matrix(f"{p}.k", d, self.kv_width, layer, "attention", bias=qkv_b),
                Matrix(f"{p}.v", d, self.kv_width, layer, "attention", bias=qkv_b),
                Matrix(f"{p}.out", self.q_width, d, layer, "attention", bias=o_b),
            ]
        a, H = self.mla, self.heads
        mats = []
        if a.q_lora_rank:
            mats += [
                Matrix(f"{p}.q_a", d, a.q_lora_rank, layer, "attention", bias=qkv_b),
                Matrix(f"{p}.q_b", a.q_lora_rank, self.q_width, layer, "attention"),
            ]
        else:
            mats.append(Matrix(f"{p}.q", d, self.q_width, layer, "attention", bias=qkv_b))
        mats += [
            Matrix(f"{p}.kv_a", d, a.kv_lora_rank + a.qk_rope_head_dim, layer, "attention", bias=qkv_b),
            Matrix(f"{p}.kv_b", a.kv_lora_rank, H * (a.qk_nope_head_dim + a.v_head_dim), layer, "attention"),
            Matrix(f"{p}.out", self.attn_out_width, d, layer, "attention", bias=o_b),
        ]
        return mats

    def layer_matrices(self, layer: int) -> list[Matrix]:
        """The matrices of one layer: the attention projections, then the FFN or MoE block."""
        d, p = self.d_model, f"layer{layer}"
        mats = self.attention_matrices(layer)
        if self.is_moe_layer(layer):
            m = self.moe
            assert m is not None  # is_moe_layer is false without an MoE block
            mats.append(Matrix(f"{p}.router", d, m.experts, layer, "router", bias=self.mlp_bias))
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
        """Weights of all matrices and their biases, plus attention sinks (a tied lm_head counted once)."""
        total = sum(m.params for m in self.matrices())
        if self.tie_embeddings:
            total -= self.vocab * self.d_model
        if self.attention_sinks:
            total += self.layers * self.heads
        return total

    @property
    def active_parameters(self) -> int:
        """Weights one token touches: all but the unselected routed experts.

        Counted as the published "active parameters" figures do (Mixtral ≈12.9 B): embedding
        table and lm_head in full, routed experts scaled by k/E.
        """
        total: float = self.parameters
        if self.moe is not None:
            unused = 1.0 - self.moe.top_k / self.moe.experts
            total -= unused * sum(m.params for m in self.matrices() if m.part == "expert")
        return int(round(total))

    @property
    def active_parameters_excl_embedding(self) -> int:
        """Active parameters without the input embedding table (a lookup reads one row).

        The convention of DeepSeek ("36.6B activated, including 0.9B for the output head"),
        OpenAI (gpt-oss "3.6B active") and Databricks (DBRX "36B active"); Mistral and Qwen
        count the table (``active_parameters``). A tied table is kept: the lm_head uses it.
        """
        lookup = 0 if self.tie_embeddings else self.vocab * self.d_model
        if self.position_embedding == "learned":
            lookup += self.max_positions * self.d_model
        return self.active_parameters - lookup

    def tier_blocks(self, tier_rows: int, tier_cols: int) -> dict[str, int]:
        """Tier blocks per part: Σ ⌈I/R⌉·⌈O/C⌉ over the part's matrices (§B.2)."""
        out: dict[str, int] = {}
        for m in self.matrices():
            nb = -(-m.rows // tier_rows) * -(-m.cols // tier_cols)
            out[m.part] = out.get(m.part, 0) + nb
        return out


def positions_note(model: str, prompt_len: int, gen_len: int, max_positions: int, position_embedding: str,
                   who: str = "the workload feeds") -> str | None:
    """A one-line note when a request feeds more positions than the model's ``max_positions``.

    A request feeds prompt_len + gen_len − 1 positions (the last generated token is not fed
    back). A learned position table (GPT-2, the Nature MoE) has no row beyond it; a RoPE
    model was trained up to it. The cost is computed either way — it is a warning (``evaluate``
    for one workload, ``who`` "the workload feeds"; a sweep for its largest)."""
    need = prompt_len + gen_len - 1
    if need <= max_positions:
        return None
    if position_embedding == "learned":
        what = f"its learned position table has {max_positions:,} rows (costed as mapped; a real model cannot run this)"
    else:
        what = f"it was trained for {max_positions:,} positions ({position_embedding}; the cost is still computed)"
    return (f"{model}: {who} {need:,} positions (prompt_len {prompt_len:,} + gen_len {gen_len:,} − 1), "
            f"more than model.max_positions; {what}")
