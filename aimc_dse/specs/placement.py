"""Which experts and modules run digitally: heterogeneous analog–digital MoE (docs/cost-model.md §8).

Chowdhury et al. (arXiv 2603.02633; docs/paper-numbers.md §3) keep most routed experts on the
crossbars and run a fraction φ of them — the noise-sensitive ones, picked by their
MaxNNScore — plus the densely activated modules (attention, router, shared experts, LM head)
on digital units. :class:`DigitalPlacement` is the workload's description of that split
(``workload.digital``); :func:`digital_experts` turns it into a layers × experts boolean
mask for the cost model. Nothing here reads files: the MaxNNScores of ``selection_file``
are read by ``aimc_dse.experts.selection.selection_scores`` and passed in as ``scores``.

Counting rule (all scores but ``list``): per MoE layer, n = ⌈φ·E⌉ experts go digital — at
least the fraction asked for, and at least one expert whenever φ > 0. φ·E within 1e-9 of an
integer counts as that integer, so φ = 0.125 of E = 64 is exactly 8 (the paper's 12.5 %).
Ties are broken by the lower expert index, so the choice is deterministic.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal, Self, Sequence

import numpy as np
from pydantic import Field, field_validator, model_validator

from .base import Spec, SpecError

Score = Literal["maxnn", "load", "random", "list"]

# Matrix.part names (specs/model.py) of the dense modules each flag moves to digital units.
_PART_OF_FLAG = {
    "attention": "attention",
    "router": "router",
    "shared_experts": "shared",
    "lm_head": "lm_head",
    "dense_ffn": "ffn",
}

ExpertList = list[int] | list[list[int]] | dict[int, list[int]]


class DigitalPlacement(Spec):
    """Which routed experts (a fraction φ per MoE layer) and which dense modules run digitally."""

    fraction: float = Field(
        0.0, ge=0, le=1, description="φ: fraction of the routed experts of each MoE layer run digitally (⌈φ·E⌉ per layer)"
    )
    score: Score = Field(
        "maxnn",
        description=(
            "how experts are ranked: maxnn = MaxNNScore from selection_file (highest first); "
            "load = most-selected first under the workload's expert-load model; "
            "random = a seeded random choice (workload.seed); list = the experts given in `experts`"
        ),
    )
    experts: ExpertList | None = Field(
        None,
        description=(
            "score = list only: expert indices run digitally — one list for every MoE layer, a list of "
            "lists (one per MoE layer, in order), or a mapping {model layer index: list}"
        ),
    )
    selection_file: str | None = Field(
        None, description="score = maxnn: the selection JSON written by `aimc-dse experts score` (its MaxNNScores are used)"
    )
    attention: bool = Field(False, description="run the attention projections (Q, K, V, out) digitally")
    router: bool = Field(False, description="run the MoE router (gate) digitally")
    shared_experts: bool = Field(False, description="run the always-active shared experts digitally")
    lm_head: bool = Field(False, description="run the LM head (output projection) digitally")
    dense_ffn: bool = Field(False, description="run the FFNs of dense (non-MoE) layers digitally")

    @field_validator("experts")
    @classmethod
    def _entries(cls, v: Any) -> Any:
        if v is None:
            return v
        lists = list(v.values()) if isinstance(v, dict) else (v if v and isinstance(v[0], list) else [v])
        if isinstance(v, dict):
            bad = [k for k in v if k < 0]
            if bad:
                raise ValueError(f"layer index {bad[0]} is negative")
        for lst in lists:
            for e in lst:
                if e < 0:
                    raise ValueError(f"expert index {e} is negative")
            dup = sorted({e for e in lst if lst.count(e) > 1})
            if dup:
                raise ValueError(f"expert {dup[0]} is listed twice")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.score == "list":
            if not self.experts:
                raise ValueError("score is 'list' but no experts are given (digital.experts)")
            if self.fraction != 0:
                raise ValueError("fraction is not used with score = list (the list sets the digital experts); leave it at 0")
        elif self.experts is not None:
            raise ValueError(f"experts is used only with score = list (score is {self.score!r})")
        if self.selection_file is not None and self.score != "maxnn":
            raise ValueError(f"selection_file is used only with score = maxnn (score is {self.score!r})")
        if self.score == "maxnn" and self.fraction > 0 and not self.selection_file:
            raise ValueError(
                "score 'maxnn' needs selection_file (written by `aimc-dse experts score`); or use score load or random"
            )
        return self

    # ---- derived ---------------------------------------------------------------------
    @property
    def digital_parts(self) -> frozenset[str]:
        """``Matrix.part`` names (specs/model.py) of the dense modules placed on digital units."""
        return frozenset(part for flag, part in _PART_OF_FLAG.items() if getattr(self, flag))

    @property
    def any_digital(self) -> bool:
        """True when anything at all runs digitally."""
        return self.fraction > 0 or (self.score == "list" and bool(self.experts)) or bool(self.digital_parts)

    def check_experts(self, experts: int, moe_layer_ids: Sequence[int], source: str = "workload") -> None:
        """Raise :class:`SpecError` unless the ``experts`` list fits a model with E experts and these MoE layers."""
        if self.experts is None:
            return
        field = "digital.experts"
        v = self.experts
        if isinstance(v, dict):
            for layer, lst in v.items():
                if layer not in moe_layer_ids:
                    raise SpecError(source, f"{field}.{layer}", f"layer {layer} is not an MoE layer of the model")
                _check_range(lst, experts, source, f"{field}.{layer}")
        elif v and isinstance(v[0], list):
            if len(v) != len(moe_layer_ids):
                raise SpecError(
                    source, field, f"{len(v)} lists given but the model has {len(moe_layer_ids)} MoE layers"
                )
            for i, lst in enumerate(v):
                _check_range(lst, experts, source, f"{field}.{i}")
        else:
            _check_range(v, experts, source, field)  # type: ignore[arg-type]  # one flat list here


def _check_range(lst: list[int], experts: int, source: str, field: str) -> None:
    for e in lst:
        if not 0 <= e < experts:
            raise SpecError(source, field, f"expert {e} is out of range (the model has {experts} experts: 0…{experts - 1})")


def listed_count(experts_json: str, experts: int, moe_layer_ids: Sequence[int]) -> float:
    """Mean digital experts per MoE layer of a ``score = list`` placement given as the JSON of
    its ``experts`` field (one list for every layer, a list per MoE layer, or {layer: list}),
    re-validated against the model; 0 for an empty string."""
    if not experts_json or not moe_layer_ids:
        return 0.0
    p = DigitalPlacement(score="list", experts=json.loads(experts_json))
    mask = digital_experts(p, experts, len(moe_layer_ids), layer_ids=moe_layer_ids)
    return float(mask.sum()) / len(moe_layer_ids)


def digital_count(fraction: float, experts: int) -> int:
    """Experts per layer run digitally: ⌈φ·E⌉ (φ·E within 1e-9 of an integer counts as it)."""
    return int(min(experts, max(0, math.ceil(fraction * experts - 1e-9))))


def _per_layer(a: Any, layers: int, experts: int, what: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = np.broadcast_to(a, (layers, a.shape[0]))
    if a.shape != (layers, experts):
        raise ValueError(f"{what} must have shape (experts,) or (layers, experts) = ({layers}, {experts}), got {a.shape}")
    return np.where(np.isnan(a), -np.inf, a)


def top_mask(values: Any, n: int) -> np.ndarray:
    """Mask of the n largest entries of each row (NaN counts as −∞); ties go to the lower index."""
    values = np.atleast_2d(np.where(np.isnan(np.asarray(values, dtype=np.float64)), -np.inf, values))
    mask = np.zeros(values.shape, dtype=bool)
    if n == 0:
        return mask
    order = np.argsort(-values, axis=1, kind="stable")[:, :n]
    np.put_along_axis(mask, order, True, axis=1)
    return mask


def digital_experts(
    placement: DigitalPlacement,
    experts: int,
    layers: int,
    load_probs: Any = None,
    scores: Any = None,
    seed: int = 0,
    layer_ids: Sequence[int] | None = None,
) -> np.ndarray:
    """Boolean mask layers × experts: True where a routed expert runs digitally.

    Rows are the model's MoE layers in order; ``layer_ids`` gives each row's model layer
    index (default 0…layers−1) and is used only by a ``{layer: [experts]}`` list.

    * ``maxnn``: the ⌈φ·E⌉ highest ``scores`` per row (MaxNNScore, shape (experts,) or
      (layers, experts); see ``aimc_dse.experts.selection.selection_scores``);
    * ``load``: the ⌈φ·E⌉ highest ``load_probs`` per row (per-token selection probability,
      e.g. ``moe.routing.selection_probabilities`` or a trace's ``choices.mean(axis=1)``);
    * ``random``: ⌈φ·E⌉ distinct experts per row, drawn with ``numpy.random.default_rng(seed)``
      (one permutation per row, rows in order);
    * ``list``: exactly the listed experts (out-of-range entries raise ``ValueError``).

    φ = 0 (the default) gives an all-False mask.
    """
    if experts < 1 or layers < 0:
        raise ValueError(f"need experts ≥ 1 and layers ≥ 0, got experts={experts}, layers={layers}")
    mask = np.zeros((layers, experts), dtype=bool)
    ids = list(range(layers)) if layer_ids is None else list(layer_ids)
    if len(ids) != layers:
        raise ValueError(f"layer_ids has {len(ids)} entries for {layers} layers")
    p = placement
    if p.score == "list":
        try:
            p.check_experts(experts, ids, "digital_experts")
        except SpecError as e:
            raise ValueError(str(e)) from None
        v = p.experts or []
        if isinstance(v, dict):
            for row, lid in enumerate(ids):
                mask[row, v.get(lid, [])] = True
        elif v and isinstance(v[0], list):
            for row, lst in enumerate(v):
                mask[row, lst] = True
        else:
            mask[:, v] = True
        return mask
    n = digital_count(p.fraction, experts)
    if n == 0:
        return mask
    if p.score == "maxnn":
        if scores is None:
            raise ValueError("score 'maxnn' needs the MaxNNScores (scores=...) from the selection file")
        return top_mask(_per_layer(scores, layers, experts, "scores"), n)
    if p.score == "load":
        if load_probs is None:
            raise ValueError("score 'load' needs the per-expert selection probabilities (load_probs=...)")
        return top_mask(_per_layer(load_probs, layers, experts, "load_probs"), n)
    # random
    rng = np.random.default_rng(seed)
    for row in range(layers):
        mask[row, rng.permutation(experts)[:n]] = True
    return mask
