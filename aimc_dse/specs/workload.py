"""Workload specs: what is asked of the hardware (docs/cost-model.md §2, §6).

``gen_len`` G counts generated tokens: with ``prefill`` the prompt step emits token 1 and
G − 1 decode steps emit the rest; without ``prefill`` only the G − 1 decode steps are
costed (the reference's "generate 8 tokens" runs, docs/reference-simulators.md §E.7).
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from .base import MAX_BATCH, MAX_TOKENS, MAX_TOKENS_NO_KV, Spec
from .placement import DigitalPlacement


class ExpertLoad(Spec):
    """Which experts tokens select: the expert-load model."""

    model: Literal["uniform", "zipf", "trace"] = Field("uniform", description="uniform, zipf popularity, or a gate trace")
    zipf_exponent: float = Field(1.0, ge=0, description="zipf exponent s: popularity of the i-th expert ∝ 1/i^s")
    trace: str | None = Field(None, description="gate-trace .npy (layers × tokens × experts, 0/1) when model = trace")

    @model_validator(mode="after")
    def _trace_given(self) -> Self:
        if self.model == "trace" and not self.trace:
            raise ValueError("expert_load.model is 'trace' but no expert_load.trace file is given")
        return self


class GroupingFactors(Spec):
    """Grouping factors as the MoEwithPIM reference takes them (docs/reference-simulators.md §E.2).

    When set they override the values the grouping/schedule would derive.
    """

    mvm: float | None = Field(None, gt=0, description="f_m: expert-phase steps per token (schedule length / tokens)")
    comm: float | None = Field(None, gt=0, description="f_c: token-vector transfers per token into expert groups")
    area: float | None = Field(None, gt=0, description="f_g: per-crossbar area (and static power; moewithpim: MVM energy) scale of sharing")


class Grouping(Spec):
    """Expert grouping and group-wise scheduling for peripheral sharing (Gao & Yang 2026)."""

    grouping: Literal["uniform", "sorted", "balanced"] = Field("uniform", description="how experts form groups")
    schedule: Literal["none", "single", "compact", "optimized", "optimized_reference"] = Field(
        "none", description="group-wise schedule of the expert phase (none = one step per token: no grouping factors on "
        "unshared peripherals; with hw.sharing.group_size > 1 under physical accounting, the single schedule's)"
    )
    factors: GroupingFactors = Field(default_factory=GroupingFactors, description="explicit factors (reproduction)")
    fit_tokens: float = Field(
        1.0, gt=0, le=1, description="fraction of the trace used to choose the grouping; the rest evaluates it"
    )


class Workload(Spec):
    """One inference request pattern."""

    prompt_len: int = Field(32, gt=0, le=MAX_TOKENS, description="prompt tokens per sequence")
    gen_len: int = Field(8, gt=0, le=MAX_TOKENS, description="generated tokens per sequence (prefill emits the first)")
    batch: int = Field(1, gt=0, le=MAX_BATCH, description="concurrent sequences B")
    prefill: bool = Field(True, description="cost the prompt step (prefill); off = decode steps only")
    kv_cache: bool = Field(True, description="keep keys and values in DRAM instead of recomputing them")
    go_cache: bool = Field(False, description="gate-output cache for expert-choice routing (Gao & Yang §III)")
    expert_load: ExpertLoad = Field(default_factory=ExpertLoad, description="expert-load model")
    grouping: Grouping = Field(default_factory=Grouping, description="expert grouping and schedule")
    digital: DigitalPlacement = Field(default_factory=DigitalPlacement, description="experts and dense modules run on digital units (default: none)")
    seed: int = Field(0, ge=0, description="seed for every random draw")

    @model_validator(mode="after")
    def _something_to_cost(self) -> Self:
        if not self.prefill and self.gen_len < 2:
            raise ValueError("with prefill off, gen_len must be at least 2 (gen_len − 1 decode steps are costed)")
        if not self.kv_cache and self.gen_len > MAX_TOKENS_NO_KV:
            # Without a cache every step recomputes the whole context (cost grows as G²);
            # nobody generates this many tokens that way, and the GPU model steps through them.
            raise ValueError(f"without kv_cache, gen_len must be at most {MAX_TOKENS_NO_KV:,}")
        return self

    @property
    def decode_steps(self) -> int:
        """Decode steps per sequence: G − 1."""
        return self.gen_len - 1

    @property
    def generated_tokens(self) -> int:
        """Tokens emitted per sequence by the costed steps."""
        return self.gen_len if self.prefill else max(self.gen_len - 1, 0)
