"""Sweep files: which systems, models and workload to evaluate, and which knobs to vary.

A sweep file (YAML) names a base design — hardware presets (``systems``, AIMC and GPU may be
mixed), a model (or several, ``models``) and an inline workload — and ``axes``: dotted spec
paths (the ``--set`` paths, which are also the result column names) with the values each
takes. Axes form a full product, except ``zip`` groups, whose axes advance together. The
grid is built and checked in ``sweep/grid.py``; this module is only the vocabulary.

Example::

    name: moe-vs-gpu
    systems: [nature-3d-aimc, {spec: a100-sxm4-80gb, set: {accounting: paper}}]
    model: nature-moe-51b
    workload: {prompt_len: 32, gen_len: 8}
    axes:
      workload.batch: {pow2: [1, 64]}
      hw.tiles: {start: 100, stop: 400, num: 4}
    filters: ["fits == true"]
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Self, Union

import numpy as np
from pydantic import Discriminator, Field, Tag, ValidationError, model_validator

from .base import Spec, SpecError

# Values one range axis may list; the grid's size is checked against --max-points
# arithmetically before any axis is listed (sweep/grid.py).
MAX_AXIS_VALUES = 10**9

# Union tags; they appear in pydantic's error locations and are removed from the field path.
_TAG_LIST, _TAG_RANGE, _TAG_POW2, _TAG_NAME, _TAG_ENTRY = "<values>", "<range>", "<pow2>", "<name>", "<entry>"
_TAGS = {_TAG_LIST, _TAG_RANGE, _TAG_POW2, _TAG_NAME, _TAG_ENTRY}


class RangeAxis(Spec):
    """Evenly spaced values from ``start`` to ``stop`` inclusive (linear or logarithmic)."""

    start: float = Field(description="first value")
    stop: float = Field(description="last value (included)")
    num: int = Field(ge=1, le=MAX_AXIS_VALUES, description="number of values")
    scale: Literal["lin", "log"] = Field("lin", description="lin: equal steps; log: equal ratios (start, stop > 0)")

    @model_validator(mode="after")
    def _log_positive(self) -> Self:
        if self.scale == "log" and (self.start <= 0 or self.stop <= 0):
            raise ValueError("a log range needs start > 0 and stop > 0")
        return self

    def size(self) -> int:
        return self.num

    def values(self) -> list[Any]:
        if self.scale == "log":
            v = np.geomspace(self.start, self.stop, self.num)
        else:
            v = np.linspace(self.start, self.stop, self.num)
        # Whole numbers come out as ints so that integer fields accept them.
        return [int(round(x)) if abs(x - round(x)) < 1e-9 * max(1.0, abs(x)) else float(x) for x in v]


class Pow2Axis(Spec):
    """Integer powers of two from ``lo`` to ``hi`` inclusive: ``{pow2: [1, 256]}`` → 1, 2, 4 … 256."""

    pow2: tuple[int, int] = Field(description="[lo, hi], both powers of two, lo ≤ hi")

    @model_validator(mode="after")
    def _powers(self) -> Self:
        lo, hi = self.pow2
        for v in (lo, hi):
            if v < 1 or v & (v - 1):
                raise ValueError(f"{v} is not a power of two")
        if lo > hi:
            raise ValueError(f"lo ({lo}) exceeds hi ({hi})")
        return self

    def size(self) -> int:
        lo, hi = self.pow2
        return hi.bit_length() - lo.bit_length() + 1

    def values(self) -> list[int]:
        lo, hi = self.pow2
        return [2**e for e in range(int(math.log2(lo)), int(math.log2(hi)) + 1)]


def _axis_tag(v: Any) -> str:
    if isinstance(v, dict):
        return _TAG_POW2 if "pow2" in v else _TAG_RANGE
    return _TAG_LIST


AxisValues = Annotated[
    Union[
        Annotated[list[Any], Tag(_TAG_LIST), Field(min_length=1)],
        Annotated[RangeAxis, Tag(_TAG_RANGE)],
        Annotated[Pow2Axis, Tag(_TAG_POW2)],
    ],
    Discriminator(_axis_tag),
]


class SpecRef(Spec):
    """A preset or spec file with fields overridden for this sweep only."""

    spec: str = Field(description="preset name or path to a YAML/JSON spec (relative to the sweep file or the working folder)")
    set: dict[str, Any] = Field(
        default_factory=dict, description="field overrides by dotted path inside the spec, e.g. {accounting: paper}"
    )


def _ref_tag(v: Any) -> str:
    return _TAG_ENTRY if isinstance(v, dict) else _TAG_NAME


Ref = Annotated[
    Union[Annotated[str, Tag(_TAG_NAME)], Annotated[SpecRef, Tag(_TAG_ENTRY)]],
    Discriminator(_ref_tag),
]


def axis_values(axis: list[Any] | RangeAxis | Pow2Axis) -> list[Any]:
    """The values an axis takes, in order."""
    return list(axis) if isinstance(axis, list) else axis.values()


def axis_len(axis: list[Any] | RangeAxis | Pow2Axis) -> int:
    """How many values an axis takes, computed without listing them."""
    return len(axis) if isinstance(axis, list) else axis.size()


class SweepSpec(Spec):
    """A design-space sweep: base systems/models/workload, the axes varied over them, and output options."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="sweep name; the default output is results/<name>.csv",
    )
    description: str = Field("", description="what the sweep studies, one line")
    systems: list[Ref] = Field(
        min_length=1, description="hardware presets or spec files (AIMC and GPU may be mixed), each optionally with `set`"
    )
    model: Ref | None = Field(None, description="the model (preset or file); give this or `models`")
    models: list[Ref] | None = Field(
        None, min_length=1, description="several models: an axis over models (in the product with every other axis)"
    )
    workload: dict[str, Any] = Field(
        default_factory=dict, description="base workload: Workload fields (prompt_len, gen_len, batch, kv_cache …)"
    )
    axes: dict[str, AxisValues] = Field(
        default_factory=dict,
        description="dotted spec path → values: a list, {start, stop, num, scale: lin|log}, or {pow2: [lo, hi]}",
    )
    zip: list[list[str]] = Field(
        default_factory=list,
        description="groups of axes that advance together (equal numbers of values) instead of forming a product",
    )
    filters: list[str] = Field(
        default_factory=list,
        description="keep only rows where every expression holds (comparisons of knob and result columns, e.g. fits == true; see README)",
    )
    columns: list[str] | None = Field(
        None,
        description="result columns to write besides every knob, fits and the pareto metrics: names or patterns (energy_nj.*); default the headline columns",
    )
    pareto: list[str] = Field(
        default_factory=lambda: ["tokens_per_s_per_w", "tokens_per_s_per_mm2"],
        min_length=2,
        max_length=3,
        description="metrics of the Pareto front printed after the sweep",
    )

    @model_validator(mode="after")
    def _one_model_field(self) -> Self:
        if (self.model is None) == (self.models is None):
            raise ValueError("give exactly one of `model` (one model) or `models` (a list)")
        seen: dict[str, int] = {}
        for g, group in enumerate(self.zip):
            if len(group) < 2:
                raise ValueError(f"zip group {g + 1} needs at least two axes")
            for path in group:
                if path not in self.axes:
                    raise ValueError(f"zip group {g + 1} names {path!r}, which is not one of the axes")
                if path in seen:
                    where = "twice in zip group " + str(g + 1) if seen[path] == g else f"in zip groups {seen[path] + 1} and {g + 1}"
                    raise ValueError(f"axis {path!r} is named {where}")
                seen[path] = g
            sizes = {p: axis_len(self.axes[p]) for p in group}
            if len(set(sizes.values())) > 1:
                detail = ", ".join(f"{p} has {n}" for p, n in sizes.items())
                raise ValueError(f"zip group {g + 1}: axes must have equal numbers of values ({detail})")
        return self

    def model_refs(self) -> list[str | SpecRef]:
        if self.models is not None:
            return list(self.models)
        assert self.model is not None  # _one_model_field: exactly one is given
        return [self.model]


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file; every problem is a SpecError naming the file and field."""
    from . import loader

    path = Path(path)
    data = loader._read_file(path)
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as e:
        err = loader.validation_error(str(path), e, "", SweepSpec)
        field = ".".join(p for p in (err.field or "").split(".") if p not in _TAGS) or None
        raise SpecError(err.source, field, err.problem) from None


def with_pareto_columns(spec: SweepSpec) -> SweepSpec:
    """The sweep with its ``pareto`` metrics and ``fits`` always among the written columns.

    A sweep file may keep only some result columns (``columns: [tokens_per_s, "energy_nj.*"]``)
    and still ask for a front of others; the front (and a later ``aimc-dse pareto`` of the
    file) needs them written. ``fits`` too: without it the summary and ``pareto`` cannot tell
    the designs that do not fit and rank them with the others (their area, ``max_batch`` …
    are numbers).
    """
    import fnmatch

    if spec.columns is None:
        return spec
    missing = [m for m in ["fits", *spec.pareto] if not any(fnmatch.fnmatchcase(m, p) for p in spec.columns)]
    if not missing:
        return spec
    return spec.model_copy(update={"columns": list(spec.columns) + missing})


SWEEP_DICT = "sweep (dict)"  # how errors name a sweep given as a dict (the API's aimc_dse.sweep)


def load_sweep_spec(path_or_dict: str | Path | Mapping[str, Any]) -> tuple[SweepSpec, Path]:
    """(SweepSpec, source path) from a sweep file or a dict with the same fields."""
    if isinstance(path_or_dict, Mapping):
        from . import loader

        src = Path.cwd() / "<sweep dict>"  # relative spec files resolve against the working folder
        try:
            return SweepSpec.model_validate(dict(path_or_dict)), src
        except ValidationError as e:
            raise loader.validation_error(SWEEP_DICT, e, "", SweepSpec) from None
    return load_sweep(path_or_dict), Path(path_or_dict)
