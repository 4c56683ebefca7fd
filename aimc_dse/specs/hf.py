"""Hugging Face ``config.json`` → a :class:`~aimc_dse.specs.model.ModelSpec` dict.

Reads the field names of the public ``transformers`` configs (no network, no ``transformers``
import) and returns a plain dict that ``ModelSpec`` validates; ``specs.loader`` calls it for
any ``.json`` file carrying ``model_type`` or ``architectures``. Supported ``model_type``:

* ``llama``, ``mistral`` — dense, SwiGLU (gate/up/down), RoPE, optional GQA and ``head_dim``;
* ``mixtral`` — every layer MoE: ``num_local_experts`` experts of ``intermediate_size``;
* ``olmoe`` — every layer MoE: ``num_experts`` experts of ``intermediate_size``;
* ``deepseek`` (DeepSeekMoE v1) — ``n_routed_experts`` of ``moe_intermediate_size``,
  ``n_shared_experts`` of the same width, MoE on layers ``l ≥ first_k_dense_replace`` with
  ``l mod moe_layer_freq == 0``, dense layers of ``intermediate_size``;
* ``qwen2_moe`` — ``num_experts`` of ``moe_intermediate_size``, one shared expert of
  ``shared_expert_intermediate_size``, MoE on layers with ``(l+1) mod decoder_sparse_step
  == 0`` not in ``mlp_only_layers``;
* ``gpt2`` — plain MLP of ``n_inner`` (default 4·``n_embd``), learned positions, tied lm_head.

Only 2-D weight matrices are modelled (COST-MODEL.md §2): biases, norms and Qwen's 1-wide
shared-expert gate are left out. A missing required key, a value of the wrong type, an
unknown ``model_type`` or a layer pattern the spec cannot express raises ``ValueError``
naming the config key; the loader turns it into a one-line error naming the file.
"""

from __future__ import annotations

from typing import Any, Callable

# transformers' ACT2FN names → the spec's activation families
_ACTIVATIONS = {
    "silu": "silu",
    "swish": "silu",
    "gelu": "gelu",
    "gelu_new": "gelu",
    "gelu_fast": "gelu",
    "gelu_pytorch_tanh": "gelu",
    "gelu_python": "gelu",
    "gelu_accurate": "gelu",
    "quick_gelu": "gelu",
    "relu": "relu",
}

# architectures[0] → model_type, for configs that omit model_type
_ARCHITECTURES = {
    "LlamaForCausalLM": "llama",
    "MistralForCausalLM": "mistral",
    "MixtralForCausalLM": "mixtral",
    "DeepseekForCausalLM": "deepseek",
    "OlmoeForCausalLM": "olmoe",
    "Qwen2MoeForCausalLM": "qwen2_moe",
    "GPT2LMHeadModel": "gpt2",
    "GPT2Model": "gpt2",
}


class _Config:
    """Typed access to a config dict; every problem names the config key."""

    def __init__(self, cfg: dict, model_type: str):
        self.cfg = cfg
        self.model_type = model_type

    def _missing(self, key: str) -> ValueError:
        return ValueError(f"{key}: missing (required for model_type {self.model_type!r})")

    def integer(self, key: str, default: Any = ..., minimum: int = 1) -> Any:
        """An integer ≥ ``minimum``; ``default`` when absent or null (required if no default)."""
        v = self.cfg.get(key)
        if v is None:
            if default is ...:
                raise self._missing(key)
            return default
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"{key}: expected an integer, got {v!r}")
        if v < minimum:
            raise ValueError(f"{key}: must be at least {minimum}, got {v}")
        return v

    def flag(self, key: str, default: bool) -> bool:
        v = self.cfg.get(key)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise ValueError(f"{key}: expected true or false, got {v!r}")
        return v

    def int_list(self, key: str) -> list[int]:
        v = self.cfg.get(key)
        if v is None:
            return []
        if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            raise ValueError(f"{key}: expected a list of layer indices, got {v!r}")
        return v

    def activation(self, key: str, default: str) -> str:
        v = self.cfg.get(key, default)
        if v is None:
            v = default
        if v not in _ACTIVATIONS:
            raise ValueError(f"{key}: unsupported activation {v!r}; known: {', '.join(sorted(_ACTIVATIONS))}")
        return _ACTIVATIONS[v]


def _moe_pattern(layers: int, moe_layers: list[int], what: str) -> tuple[int, int]:
    """(first_dense_layers, every) reproducing the MoE layer indices ``moe_layers``.

    The spec puts MoE on layers l ≥ first with (l − first) mod every == 0.
    """
    first = moe_layers[0]
    every = moe_layers[1] - first if len(moe_layers) > 1 else max(layers - first, 1)
    if list(range(first, layers, every)) != moe_layers:
        raise ValueError(
            f"{what}: MoE on layers {moe_layers} is not 'every f-th layer after the first dense ones', "
            "which is all a model spec can express"
        )
    return first, every


def _llama_like(c: _Config) -> dict:
    """Dense LLaMA-style decoder: GQA attention, SwiGLU FFN, RoPE."""
    heads = c.integer("num_attention_heads")
    out = {
        "layers": c.integer("num_hidden_layers"),
        "d_model": c.integer("hidden_size"),
        "heads": heads,
        "kv_heads": c.integer("num_key_value_heads", heads),
        "mlp": "gated",
        "activation": c.activation("hidden_act", "silu"),
        "vocab": c.integer("vocab_size"),
        "position_embedding": "rope",
        "max_positions": c.integer("max_position_embeddings", 2048),
        "tie_embeddings": c.flag("tie_word_embeddings", False),
    }
    head_dim = c.integer("head_dim", None)
    if head_dim is not None:
        out["head_dim"] = head_dim
    return out


def _llama(c: _Config) -> dict:
    return {**_llama_like(c), "d_ff": c.integer("intermediate_size")}


def _all_moe(c: _Config, experts_key: str) -> dict:
    """Every layer MoE, experts of ``intermediate_size`` (Mixtral, OLMoE)."""
    return {
        **_llama_like(c),
        "d_ff": 0,
        "moe": {
            "experts": c.integer(experts_key),
            "top_k": c.integer("num_experts_per_tok"),
            "d_ff_expert": c.integer("intermediate_size"),
            "routing": "token_choice",
        },
    }


def _with_moe_layers(c: _Config, out: dict, moe_layers: list[int], moe: dict, what: str) -> dict:
    """Attach ``moe`` on the given layers; dense layers (if any) need ``intermediate_size``."""
    layers = out["layers"]
    dense = layers - len(moe_layers)
    out["d_ff"] = c.integer("intermediate_size") if dense else c.integer("intermediate_size", 0, minimum=0)
    if moe_layers:
        first, every = _moe_pattern(layers, moe_layers, what)
        out["moe"] = {**moe, "first_dense_layers": first, "every": every, "routing": "token_choice"}
    return out


def _deepseek(c: _Config) -> dict:
    """DeepSeekMoE (v1): fine-grained routed experts + shared experts, first k layers dense."""
    out = _llama_like(c)
    routed = c.integer("n_routed_experts", None)
    if routed is None:
        return _with_moe_layers(c, out, [], {}, "")
    first_k = c.integer("first_k_dense_replace", 0, minimum=0)
    freq = c.integer("moe_layer_freq", 1)
    # modeling_deepseek.py: MoE iff layer_idx >= first_k_dense_replace and layer_idx % moe_layer_freq == 0
    moe_layers = [l for l in range(out["layers"]) if l >= first_k and l % freq == 0]
    width = c.integer("moe_intermediate_size")
    moe = {
        "experts": routed,
        "top_k": c.integer("num_experts_per_tok"),
        "d_ff_expert": width,
        "shared_experts": c.integer("n_shared_experts", 0, minimum=0),
        "d_ff_shared": width,  # the shared MLP is n_shared_experts × moe_intermediate_size wide
    }
    return _with_moe_layers(c, out, moe_layers, moe, "first_k_dense_replace/moe_layer_freq")


def _qwen2_moe(c: _Config) -> dict:
    """Qwen1.5/Qwen2-MoE: routed experts + one shared expert of its own width."""
    out = _llama_like(c)
    experts = c.integer("num_experts", 0, minimum=0)
    if not experts:
        return _with_moe_layers(c, out, [], {}, "")
    step = c.integer("decoder_sparse_step", 1)
    mlp_only = set(c.int_list("mlp_only_layers"))
    # modeling_qwen2_moe.py: MoE iff layer not in mlp_only_layers and (layer_idx + 1) % decoder_sparse_step == 0
    moe_layers = [l for l in range(out["layers"]) if l not in mlp_only and (l + 1) % step == 0]
    shared = c.integer("shared_expert_intermediate_size", 0, minimum=0)
    moe = {
        "experts": experts,
        "top_k": c.integer("num_experts_per_tok"),
        "d_ff_expert": c.integer("moe_intermediate_size"),
        "shared_experts": 1 if shared else 0,
    }
    if shared:
        moe["d_ff_shared"] = shared
    return _with_moe_layers(c, out, moe_layers, moe, "decoder_sparse_step/mlp_only_layers")


def _gpt2(c: _Config) -> dict:
    """GPT-2: plain MLP, learned positions, lm_head tied to the token embedding."""
    d = c.integer("n_embd")
    return {
        "layers": c.integer("n_layer"),
        "d_model": d,
        "heads": c.integer("n_head"),
        "d_ff": c.integer("n_inner", 4 * d),
        "mlp": "plain",
        "activation": c.activation("activation_function", "gelu_new"),
        "vocab": c.integer("vocab_size"),
        "position_embedding": "learned",
        "max_positions": c.integer("n_positions", 1024),
        "tie_embeddings": c.flag("tie_word_embeddings", True),
    }


_TRANSLATORS: dict[str, Callable[[_Config], dict]] = {
    "llama": _llama,
    "mistral": _llama,
    "mixtral": lambda c: _all_moe(c, "num_local_experts"),
    "olmoe": lambda c: _all_moe(c, "num_experts"),
    "deepseek": _deepseek,
    "qwen2_moe": _qwen2_moe,
    "gpt2": _gpt2,
}

SUPPORTED_MODEL_TYPES = tuple(sorted(_TRANSLATORS))


def _model_type(cfg: dict) -> str:
    mt = cfg.get("model_type")
    if mt is not None:
        if not isinstance(mt, str):
            raise ValueError(f"model_type: expected a string, got {mt!r}")
        return mt
    archs = cfg.get("architectures") or []
    if not isinstance(archs, list):
        raise ValueError(f"architectures: expected a list of class names, got {archs!r}")
    for a in archs:
        if a in _ARCHITECTURES:
            return _ARCHITECTURES[a]
    raise ValueError(
        f"architectures: {archs!r} is not a supported architecture and model_type is missing; "
        f"supported model_type: {', '.join(SUPPORTED_MODEL_TYPES)}"
    )


def model_dict_from_hf_config(cfg: dict, name: str) -> dict:
    """Translate a Hugging Face ``config.json`` (parsed) into a ModelSpec dict.

    Raises ``ValueError`` naming the config key for an unknown ``model_type``, a missing
    required key, a value of the wrong type, or an MoE layer pattern the spec cannot express.
    """
    if not isinstance(cfg, dict):
        raise ValueError("expected a JSON object at the top level")
    mt = _model_type(cfg)
    fn = _TRANSLATORS.get(mt)
    if fn is None:
        raise ValueError(f"model_type: {mt!r} is not supported; supported: {', '.join(SUPPORTED_MODEL_TYPES)}")
    spec = fn(_Config(cfg, mt))
    origin = cfg.get("_name_or_path")
    src = f"Hugging Face config.json (model_type {mt}" + (f", {origin}" if isinstance(origin, str) and origin else "") + ")"
    kind = "MoE" if spec.get("moe") else "dense"
    return {
        "name": name,
        "description": f"{kind} model from a Hugging Face config.json (model_type {mt})",
        "sources": [src],
        **spec,
    }
