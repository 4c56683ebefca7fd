"""Hugging Face ``config.json`` → a :class:`~aimc_dse.specs.model.ModelSpec` dict.

Reads the field names of the public ``transformers`` configs (no network, no ``transformers``
import) and returns a plain dict that ``ModelSpec`` validates; ``specs.loader`` calls it for
any ``.json`` file carrying ``model_type`` or ``architectures``. Supported ``model_type``:

* ``llama``, ``mistral``, ``qwen2``, ``qwen3`` — dense, SwiGLU (gate/up/down), RoPE, optional
  GQA and ``head_dim``; Qwen2 always has Q/K/V biases, Llama/Qwen3 follow ``attention_bias``;
  Mistral's ``sliding_window`` makes every layer local;
* ``gemma2``, ``gemma3`` — dense GeGLU, explicit ``head_dim``, tied embeddings, alternating
  local/global layers (Gemma-2: every 2nd layer global; Gemma-3: every
  ``sliding_window_pattern``-th, default 6, or ``layer_types``); a ``gemma3`` config nests
  the language model in ``text_config`` (``vision_config`` is ignored: text only), with
  ``Gemma3TextConfig``'s defaults for keys it omits (``vocab_size`` 262,208, pattern 6);
* ``mixtral``, ``phimoe`` — every layer MoE: ``num_local_experts`` of ``intermediate_size``
  (Phi-3.5-MoE: Q/K/V/out biases);
* ``olmoe`` — every layer MoE: ``num_experts`` experts of ``intermediate_size``;
* ``gpt_oss`` — every layer MoE (``num_local_experts`` of ``intermediate_size``), biases on
  attention, experts and router, attention sinks, ``layer_types`` sliding/full;
* ``dbrx`` — every layer MoE from the nested ``attn_config`` / ``ffn_config``;
* ``deepseek`` (DeepSeekMoE v1), ``deepseek_v2``, ``deepseek_v3``, and ``kimi_k2`` (Moonshot's
  Kimi-K2: DeepSeek-V3's architecture and keys) — fine-grained routed experts
  of ``moe_intermediate_size``, ``n_shared_experts`` of the same width, MoE on layers
  ``l ≥ first_k_dense_replace`` with ``l mod moe_layer_freq == 0``, dense layers of
  ``intermediate_size``; V2/V3 with multi-head latent attention (``q_lora_rank`` (may be
  null), ``kv_lora_rank``, ``qk_nope_head_dim``, ``qk_rope_head_dim``, ``v_head_dim``). The
  multi-token-prediction module (``num_nextn_predict_layers``) is not part of the model, as
  in the published 671 B of DeepSeek-V3. ``kimi_k25`` (Kimi-K2.5) nests a ``kimi_k2`` language
  model in ``text_config`` (its vision tower is ignored: text only);
* ``qwen2_moe``, ``qwen3_moe`` — ``num_experts`` of ``moe_intermediate_size``, MoE on layers
  with ``(l+1) mod decoder_sparse_step == 0`` not in ``mlp_only_layers``; Qwen2-MoE adds one
  shared expert of ``shared_expert_intermediate_size``;
* ``gpt2`` — plain MLP of ``n_inner`` (default 4·``n_embd``), learned positions, tied lm_head.

What is counted: every weight matrix, the bias vectors and attention sinks named above;
norms, GPT-2's biases, Phi-3.5-MoE's lm_head bias and Qwen's 1-wide shared-expert gate are
left out (each < 0.01 % of its model). Keys that do not change the weight matrices are
ignored: norm epsilons, RoPE/YaRN scaling, dropout, token ids, logit soft-capping, routing
details (``scoring_func``, ``n_group``, ``topk_method``, ``norm_topk_prob``), and
``quantization_config`` (the weight format is a hardware setting: ``hw.weight_precision``).
Refused, with the key named: a missing required key, a value of the wrong type, an unknown
``model_type``, an MoE layer pattern or a local/global layer pattern the spec cannot express,
and attention kinds it does not model (``layer_types`` other than sliding/full attention,
e.g. linear attention). The loader turns each into a one-line error naming the file.
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
    "DeepseekV2ForCausalLM": "deepseek_v2",
    "DeepseekV3ForCausalLM": "deepseek_v3",
    "OlmoeForCausalLM": "olmoe",
    "Qwen2ForCausalLM": "qwen2",
    "Qwen3ForCausalLM": "qwen3",
    "Qwen2MoeForCausalLM": "qwen2_moe",
    "Qwen3MoeForCausalLM": "qwen3_moe",
    "GptOssForCausalLM": "gpt_oss",
    "DbrxForCausalLM": "dbrx",
    "PhimoeForCausalLM": "phimoe",
    "PhiMoEForCausalLM": "phimoe",
    "Gemma2ForCausalLM": "gemma2",
    "Gemma3ForCausalLM": "gemma3_text",
    "Gemma3ForConditionalGeneration": "gemma3",
    "GPT2LMHeadModel": "gpt2",
    "GPT2Model": "gpt2",
}


class _Config:
    """Typed access to a config dict; every problem names the config key."""

    def __init__(self, cfg: dict, model_type: str, prefix: str = ""):
        self.cfg = cfg
        self.model_type = model_type
        self.prefix = prefix  # "text_config." for a nested block: errors name the full key

    def sub(self, key: str) -> "_Config":
        """A nested block (``text_config``, ``attn_config``); errors name ``key.field``."""
        v = self.cfg.get(key)
        if v is None:
            raise self._missing(key)
        if not isinstance(v, dict):
            raise ValueError(f"{self.prefix}{key}: expected a mapping of fields, got {v!r}")
        return _Config(v, self.model_type, f"{self.prefix}{key}.")

    def _missing(self, key: str) -> ValueError:
        return ValueError(f"{self.prefix}{key}: missing (required for model_type {self.model_type!r})")

    def integer(self, key: str, default: Any = ..., minimum: int = 1) -> Any:
        """An integer ≥ ``minimum``; ``default`` when absent or null (required if no default)."""
        v = self.cfg.get(key)
        if v is None:
            if default is ...:
                raise self._missing(key)
            return default
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"{self.prefix}{key}: expected an integer, got {v!r}")
        if v < minimum:
            raise ValueError(f"{self.prefix}{key}: must be at least {minimum}, got {v}")
        return v

    def flag(self, key: str, default: bool) -> bool:
        v = self.cfg.get(key)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise ValueError(f"{self.prefix}{key}: expected true or false, got {v!r}")
        return v

    def int_list(self, key: str) -> list[int]:
        v = self.cfg.get(key)
        if v is None:
            return []
        if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            raise ValueError(f"{self.prefix}{key}: expected a list of layer indices, got {v!r}")
        return v

    def str_list(self, key: str) -> list[str] | None:
        v = self.cfg.get(key)
        if v is None:
            return None
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise ValueError(f"{self.prefix}{key}: expected a list of names, got {v!r}")
        return v

    def activation(self, key: str, default: str) -> str:
        v = self.cfg.get(key, default)
        if v is None:
            v = default
        if v not in _ACTIVATIONS:
            raise ValueError(f"{self.prefix}{key}: unsupported activation {v!r}; known: {', '.join(sorted(_ACTIVATIONS))}")
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


def _window_pattern(c: _Config, layers: int, every: int | None) -> dict:
    """``sliding_window`` and ``global_every`` from ``layer_types`` or a fixed period.

    ``every``: the model family's period of global layers when the config has no
    ``layer_types`` (0: all layers local; None: the config's window does not apply).
    """
    window = c.integer("sliding_window", None)
    types = c.str_list("layer_types")
    if types is not None:
        if len(types) != layers:
            raise ValueError(f"{c.prefix}layer_types: {len(types)} entries for {layers} layers")
        unknown = sorted(set(types) - {"sliding_attention", "full_attention"})
        if unknown:
            raise ValueError(
                f"{c.prefix}layer_types: {', '.join(unknown)} is not modelled (only sliding_attention and full_attention)"
            )
        local = [t == "sliding_attention" for t in types]
        if not any(local):
            return {}
        if window is None:
            raise c._missing("sliding_window")
        glob = [l for l, loc in enumerate(local) if not loc]
        every = glob[0] + 1 if glob else 0
        if [not ((l + 1) % every == 0) if every else True for l in range(layers)] != local:
            raise ValueError(
                f"{c.prefix}layer_types: the local/global pattern is not 'every n-th layer global', "
                "which is all a model spec can express"
            )
    elif window is None or every is None:
        return {}
    out = {"sliding_window": window}
    if every:
        out["global_every"] = every
    return out


def _llama_like(c: _Config, bias_key: str | None = "attention_bias", bias: str = "qkvo") -> dict:
    """Dense LLaMA-style decoder: GQA attention, SwiGLU FFN, RoPE.

    ``bias_key``: the flag that turns on the ``bias`` attention biases (None: always on).
    """
    heads = c.integer("num_attention_heads")
    layers = c.integer("num_hidden_layers")
    out = {
        "layers": layers,
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
    if bias_key is None or c.flag(bias_key, False):
        out["attention_bias"] = bias
    if c.flag("mlp_bias", False):
        out["mlp_bias"] = True
    return out


def _llama(c: _Config) -> dict:
    out = {**_llama_like(c), "d_ff": c.integer("intermediate_size")}
    return {**out, **_window_pattern(c, out["layers"], None)}


def _mistral(c: _Config) -> dict:
    """Mistral: a ``sliding_window`` (v0.1: 4096) applies to every layer."""
    out = {**_llama_like(c), "d_ff": c.integer("intermediate_size")}
    return {**out, **_window_pattern(c, out["layers"], 0)}


def _qwen_window(c: _Config, layers: int) -> dict:
    """Qwen2/3: ``use_sliding_window`` puts layers ≥ ``max_window_layers`` on the window."""
    if c.str_list("layer_types") is not None:
        return _window_pattern(c, layers, None)
    if not c.flag("use_sliding_window", False):
        return {}
    first = c.integer("max_window_layers", layers, minimum=0)
    if first >= layers:
        return {}
    if first:
        raise ValueError(
            f"{c.prefix}max_window_layers: full attention on the first {first} layers and a window on the rest "
            "is not expressible (only 'every n-th layer global')"
        )
    return {"sliding_window": c.integer("sliding_window")}


def _qwen2(c: _Config) -> dict:
    """Qwen2/Qwen2.5: Q, K and V always carry biases (modeling_qwen2), the out projection not."""
    out = {**_llama_like(c, bias_key=None, bias="qkv"), "d_ff": c.integer("intermediate_size")}
    return {**out, **_qwen_window(c, out["layers"])}


def _qwen3(c: _Config) -> dict:
    """Qwen3: explicit ``head_dim``, biases only with ``attention_bias``."""
    out = {**_llama_like(c), "d_ff": c.integer("intermediate_size")}
    return {**out, **_qwen_window(c, out["layers"])}


def _gemma(c: _Config, every: int, vocab_default: int | None = None) -> dict:
    """Gemma-2/3: GeGLU, explicit head_dim, tied embeddings, every ``every``-th layer global."""
    heads = c.integer("num_attention_heads")
    layers = c.integer("num_hidden_layers")
    act_key = "hidden_activation" if "hidden_activation" in c.cfg else "hidden_act"
    out = {
        "layers": layers,
        "d_model": c.integer("hidden_size"),
        "heads": heads,
        "kv_heads": c.integer("num_key_value_heads", heads),
        "head_dim": c.integer("head_dim"),
        "d_ff": c.integer("intermediate_size"),
        "mlp": "gated",
        "activation": c.activation(act_key, "gelu_pytorch_tanh"),
        "vocab": c.integer("vocab_size", vocab_default) if vocab_default else c.integer("vocab_size"),
        "position_embedding": "rope",
        "max_positions": c.integer("max_position_embeddings", 8192),
        "tie_embeddings": c.flag("tie_word_embeddings", True),
    }
    if c.flag("attention_bias", False):
        out["attention_bias"] = "qkvo"
    return {**out, **_window_pattern(c, layers, every)}


def _gemma2(c: _Config) -> dict:
    # modeling_gemma2: layer l is sliding iff l is even → every 2nd layer global
    return _gemma(c, 2)


def _gemma3_text(c: _Config) -> dict:
    # Gemma3TextConfig defaults: vocab_size 262,208, sliding_window_pattern 6; layer l is
    # sliding iff (l + 1) mod pattern != 0
    every = c.integer("sliding_window_pattern", None) or c.integer("_sliding_window_pattern", 6)
    return _gemma(c, every, vocab_default=262_208)


def _gemma3(c: _Config) -> dict:
    """Gemma-3 multimodal checkpoint: the language model in ``text_config`` (vision ignored)."""
    if "text_config" not in c.cfg and "hidden_size" in c.cfg:
        return _gemma3_text(c)
    return _gemma3_text(c.sub("text_config"))


def _all_moe(c: _Config, experts_key: str, **llama_kw: Any) -> dict:
    """Every layer MoE, experts of ``intermediate_size`` (Mixtral, OLMoE, Phi-3.5-MoE)."""
    out = {
        **_llama_like(c, **llama_kw),
        "d_ff": 0,
        "moe": {
            "experts": c.integer(experts_key),
            "top_k": c.integer("num_experts_per_tok"),
            "d_ff_expert": c.integer("intermediate_size"),
            "routing": "token_choice",
        },
    }
    return out


def _mixtral(c: _Config) -> dict:
    out = _all_moe(c, "num_local_experts")
    return {**out, **_window_pattern(c, out["layers"], 0)}


def _phimoe(c: _Config) -> dict:
    """Phi-3.5-MoE: Mixtral layout with Q/K/V/out biases (``attention_bias``)."""
    out = _all_moe(c, "num_local_experts")
    return {**out, **_window_pattern(c, out["layers"], 0)}


def _gpt_oss(c: _Config) -> dict:
    """gpt-oss: MoE on every layer, biases on attention, experts and router, attention sinks,
    alternating sliding (128) / full layers from ``layer_types``."""
    out = _all_moe(c, "num_local_experts")
    out["attention_bias"] = "qkvo" if c.flag("attention_bias", True) else "none"
    out["mlp_bias"] = True  # modeling_gpt_oss: gate_up_proj_bias, down_proj_bias, router bias
    out["attention_sinks"] = True  # one sink logit per head per layer
    return {**out, **_window_pattern(c, out["layers"], None)}


def _dbrx(c: _Config) -> dict:
    """DBRX: fused Wqkv (GQA), GLU experts; sizes in the nested attn_config / ffn_config."""
    attn, ffn = c.sub("attn_config"), c.sub("ffn_config")
    heads = c.integer("n_heads")
    act = ffn.cfg.get("ffn_act_fn") or {"name": "silu"}
    name = act.get("name", "silu") if isinstance(act, dict) else act
    if name not in _ACTIVATIONS:
        raise ValueError(f"ffn_config.ffn_act_fn: unsupported activation {name!r}")
    return {
        "layers": c.integer("n_layers"),
        "d_model": c.integer("d_model"),
        "heads": heads,
        "kv_heads": attn.integer("kv_n_heads", heads),
        "d_ff": 0,
        "mlp": "gated",
        "activation": _ACTIVATIONS[name],
        "vocab": c.integer("vocab_size"),
        "position_embedding": "rope",
        "max_positions": c.integer("max_seq_len", 2048),
        "tie_embeddings": c.flag("tie_word_embeddings", False),
        "moe": {
            "experts": ffn.integer("moe_num_experts"),
            "top_k": ffn.integer("moe_top_k"),
            "d_ff_expert": ffn.integer("ffn_hidden_size"),
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


def _deepseek_moe(c: _Config, out: dict) -> dict:
    """DeepSeekMoE: fine-grained routed experts + shared experts, first k layers dense."""
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


def _deepseek(c: _Config) -> dict:
    """DeepSeekMoE (v1): standard multi-head attention."""
    return _deepseek_moe(c, _llama_like(c))


def _deepseek_mla(c: _Config) -> dict:
    """DeepSeek-V2/V3: multi-head latent attention + DeepSeekMoE. The MTP module
    (``num_nextn_predict_layers``) is left out, as the published parameter counts do."""
    out = _llama_like(c)
    out.pop("kv_heads", None)  # MLA has no K/V heads of its own (num_key_value_heads = heads)
    out.pop("head_dim", None)
    q_rank = c.integer("q_lora_rank", None)
    out["mla"] = {
        "q_lora_rank": q_rank,
        "kv_lora_rank": c.integer("kv_lora_rank"),
        "qk_nope_head_dim": c.integer("qk_nope_head_dim"),
        "qk_rope_head_dim": c.integer("qk_rope_head_dim"),
        "v_head_dim": c.integer("v_head_dim"),
    }
    return _deepseek_moe(c, out)


def _kimi_k25(c: _Config) -> dict:
    """Kimi-K2.5: the Kimi-K2 language model (DeepSeek-V3's layout) in ``text_config``; the
    vision tower (``vision_config``) is ignored, as Gemma-3's is."""
    return _deepseek_mla(c.sub("text_config"))


def _qwen_moe(c: _Config, shared_key: str | None, **llama_kw: Any) -> dict:
    """Qwen2-MoE / Qwen3-MoE: routed experts (+ one shared expert of its own width in Qwen2-MoE)."""
    out = _llama_like(c, **llama_kw)
    out.update(_qwen_window(c, out["layers"]))
    experts = c.integer("num_experts", 0, minimum=0)
    if not experts:
        return _with_moe_layers(c, out, [], {}, "")
    step = c.integer("decoder_sparse_step", 1)
    mlp_only = set(c.int_list("mlp_only_layers"))
    # modeling_qwen2_moe.py / modeling_qwen3_moe.py: MoE iff layer not in mlp_only_layers and
    # (layer_idx + 1) % decoder_sparse_step == 0
    moe_layers = [l for l in range(out["layers"]) if l not in mlp_only and (l + 1) % step == 0]
    shared = c.integer(shared_key, 0, minimum=0) if shared_key else 0
    moe = {
        "experts": experts,
        "top_k": c.integer("num_experts_per_tok"),
        "d_ff_expert": c.integer("moe_intermediate_size"),
        "shared_experts": 1 if shared else 0,
    }
    if shared:
        moe["d_ff_shared"] = shared
    return _with_moe_layers(c, out, moe_layers, moe, "decoder_sparse_step/mlp_only_layers")


def _qwen2_moe(c: _Config) -> dict:
    return _qwen_moe(c, "shared_expert_intermediate_size", bias_key=None, bias="qkv")


def _qwen3_moe(c: _Config) -> dict:
    return _qwen_moe(c, None)


def _gpt2(c: _Config) -> dict:
    """GPT-2: plain MLP, learned positions, lm_head tied to the token embedding (biases not counted)."""
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
    "mistral": _mistral,
    "qwen2": _qwen2,
    "qwen3": _qwen3,
    "gemma2": _gemma2,
    "gemma3": _gemma3,
    "gemma3_text": _gemma3_text,
    "mixtral": _mixtral,
    "phimoe": _phimoe,
    "olmoe": lambda c: _all_moe(c, "num_experts"),
    "gpt_oss": _gpt_oss,
    "dbrx": _dbrx,
    "deepseek": _deepseek,
    "deepseek_v2": _deepseek_mla,
    "deepseek_v3": _deepseek_mla,
    "kimi_k2": _deepseek_mla,
    "kimi_k25": _kimi_k25,
    "qwen2_moe": _qwen2_moe,
    "qwen3_moe": _qwen3_moe,
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
