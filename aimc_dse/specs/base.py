"""Common base for every spec: strict (unknown fields rejected), frozen, documented fields.

Specs are the project's vocabulary (docs/architecture.md, "specs/"): pydantic v2 models that
describe hardware, models, workloads and sweeps. They never import the cost model.

Every spec also refuses numbers no real design has (issue 16, "bounded inputs"): floats must
be finite (``allow_inf_nan=False``, dict values included) and every integer and float of a
spec lies inside the generic limits below unless its field sets a tighter bound
(``Field(le=...)``). The limits are far beyond any published design yet small enough that
the cost model's integer products stay inside int64 and a design point evaluates in seconds.
"""

from __future__ import annotations

import math
import operator
import re
import sys
from functools import lru_cache
from typing import Any, ClassVar

import annotated_types
import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from pydantic_core import PydanticCustomError

# ---- limits (shared by the specs; a field may set a tighter one) --------------------------
# Generic magnitude limits for any number in a spec. 2**53 keeps integers exact as floats
# and in JSON; 1e15/1e-15 bound every physical figure in the units the specs use (ns, nJ,
# pJ, W, mm², GB/s, TOPS) with a margin of many orders of magnitude, so products and
# quotients of a few of them stay finite in float64.
MAX_INT = 2**53
MAX_FLOAT = 1e15
MIN_NONZERO_FLOAT = 1e-15

# Counts and lengths (largest real values for scale: 1M-token contexts, batch ~4k, 128-200
# layers, d_model 16-25k, vocab 256k, 384 experts, a few shared experts, 3D stacks of a few
# hundred tiers, chips of ~10^5 tiles).
MAX_TOKENS = 2**22  # prompt_len, gen_len: 4,194,304 tokens
MAX_TOKENS_NO_KV = 2**15  # gen_len without a KV cache: every step recomputes the whole context
MAX_BATCH = 2**18  # concurrent sequences: 262,144
MAX_LAYERS = 2**14  # 16,384 decoder layers
MAX_WIDTH = 2**20  # d_model, d_ff, d_ff_expert, head_dim, q/kv widths: 1,048,576
MAX_VOCAB = 2**24  # 16,777,216 tokens
MAX_HEADS = 2**14
MAX_EXPERTS = 2**13  # routed experts per MoE layer: 8,192
MAX_TOP_K = 2**8  # experts a token selects
MAX_SHARED_EXPERTS = 2**8
MAX_POSITIONS = 2**27
MAX_EXPERT_SLOTS = 2**18  # layers × (routed + shared experts): matrices a model lists
MAX_PARAMETERS = 2**50  # ~1.1e15 weights: 500× the largest models; int64 products stay exact
MAX_TIER_DIM = 2**16  # crossbar rows / columns per tier
MAX_STACK = 2**16  # tiers per tile
MAX_TILES = 2**30
MAX_UNITS = 2**20  # DPUs, MHA units, digital units, GPU devices, sharing group size


def _in_bounds(v: Any) -> bool:
    """True for the common values that need no closer look: a str, None, a bool, or an int or a
    float (by exact type) inside the limits; this runs on every field of every spec."""
    t = type(v)
    if t is int:
        return -MAX_INT <= v <= MAX_INT
    if t is float:
        return v == 0.0 or MIN_NONZERO_FLOAT <= abs(v) <= MAX_FLOAT  # NaN and ±inf fail both
    return t is str or t is bool or v is None


def _check_number(v: Any, depth: int = 0) -> None:
    """ValueError for an int or float outside the generic limits (recursing into lists/dicts)."""
    if _in_bounds(v):
        return
    if isinstance(v, int):
        if abs(v) > MAX_INT:
            raise ValueError(f"{v} is too large (integers must be at most {MAX_INT:,} in size)")
    elif isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        if abs(v) > MAX_FLOAT or (v != 0 and abs(v) < MIN_NONZERO_FLOAT):
            raise ValueError(f"{v!r} is outside the accepted range (0, or 1e-15 to 1e15 in size)")
    elif depth < 4 and isinstance(v, (list, tuple)):
        for x in v:
            _check_number(x, depth + 1)
    elif depth < 4 and isinstance(v, dict):
        for x in v.values():
            _check_number(x, depth + 1)


class Spec(BaseModel):
    """Base class: unknown fields are errors, instances are immutable, numbers are bounded.

    Derived variants are made with ``model_copy(update=...)`` or by re-validating an
    updated dict (``specs.loader.apply_overrides``), never by mutation.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)

    # Plain number fields (int or float) that no model validator of the class reads and no
    # column is derived from: each is checked on its own, by its type, its bounds and the
    # generic limits. A variant of a valid spec that changes only such fields, each to a value
    # ``takes_as_is`` accepts, is valid and equals that spec with them replaced (sweep/grid.py
    # realises thousands of tile counts so). A validator that starts reading one must drop it.
    FREE_NUMBERS: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # The bound check runs on every field that may hold a number: all but text, flags,
        # literals and nested specs (those check their own fields). Validating a spec calls it
        # per field, and a sweep validates thousands of variants; fields are classified from
        # their annotations here, before pydantic collects the validators, and whatever is not
        # recognised is checked (tests/test_specs.py holds every spec class to that).
        super().__init_subclass__(**kwargs)
        fields = {name: str(ann) for name, ann in cls.__dict__.get("__annotations__", {}).items()
                  if not name.startswith("_") and name != "model_config" and not str(ann).startswith("ClassVar")}
        numeric = [name for name, ann in fields.items() if _may_hold_numbers(ann, cls)]
        if numeric:  # one validator per class, named after it: a subclass keeps its parents'
            setattr(cls, f"_bounded_{cls.__name__}", field_validator(*numeric, mode="after")(classmethod(_bounded)))
        # A number field takes no true/false or text, a flag nothing but true/false: pydantic's
        # lax mode would read `tiles: true` as 1 and `batch: "4"` as 4 without a word. Checked on
        # the input, once per spec (a validator per field would add ~0.1 s to a 1M-point grid).
        numbers = frozenset(name for name, ann in fields.items() if ann in _NUMBER_ANNOTATIONS)
        flags = frozenset(name for name, ann in fields.items() if ann in _FLAG_ANNOTATIONS)
        if numbers or flags:
            check: Any = classmethod(_typed_input(numbers, flags))
            setattr(cls, f"_typed_{cls.__name__}", model_validator(mode="before")(check))


def _typed_input(numbers: frozenset[str], flags: frozenset[str]) -> Any:
    """A spec class's check of its input (a dict): no flag or text (but ``1e-3``) for a number,
    nothing but true/false for a flag (a numpy bool becomes a bool)."""

    def typed(cls: type, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name in numbers.intersection(data):
            v = data[name]
            if type(v) is bool or isinstance(v, np.bool_) or (isinstance(v, str) and not _EXPONENT.fullmatch(v)):
                raise _wrong(name, f"must be a number, not {_shown(v)}")
            if isinstance(v, str):  # `1e3`: the number YAML 1.1 left as text (an int field takes 1000.0)
                data = {**data, name: float(v)}
        for name in flags.intersection(data):
            v = data[name]
            if type(v) is not bool and v is not None:
                if not isinstance(v, np.bool_):
                    raise _wrong(name, f"must be true or false, not {_shown(v)}")
                data = {**data, name: bool(v)}
        return data

    return typed


def _wrong(field: str, problem: str) -> PydanticCustomError:
    return PydanticCustomError(WRONG_TYPE, "{field}: {problem}", {"field": field, "problem": problem})


def _bounded(cls: type, v: Any) -> Any:
    _check_number(v)
    return v


def takes_as_is(cls: type[Spec], name: str, v: Any) -> bool:
    """True when validating ``v`` for the plain number field ``name`` of ``cls`` surely gives
    ``v`` itself without a word: ``v`` is an int for an int field or a float for a float field
    (pydantic keeps those as they are; no flag, text or numpy number, which ``_typed_input``
    and lax mode treat apart), inside the generic limits (``_bounded``; this also rules out
    NaN and ±inf) and the field's own ``gt/ge/lt/le`` bounds. False for anything else, and
    for a field with any other constraint or validator: only validating the spec can then
    tell what becomes of ``v`` or word why it is refused."""
    rule = _plain_rule(cls, name)
    if rule is None or type(v) is not rule[0] or not _in_bounds(v):
        return False
    return all(holds(v, bound) for holds, bound in rule[1])


_BOUNDS = {annotated_types.Gt: ("gt", operator.gt), annotated_types.Ge: ("ge", operator.ge),
           annotated_types.Lt: ("lt", operator.lt), annotated_types.Le: ("le", operator.le)}


@lru_cache(maxsize=None)
def _plain_rule(cls: type[Spec], name: str) -> tuple[type, tuple[tuple[Any, Any], ...]] | None:
    """(int or float, its bound checks) of a field whose validation is just its type, those
    bounds and ``_bounded``, and which is dumped as it is (no alias, no serializer); None for
    any other field (read once per class and field)."""
    f = cls.model_fields.get(name)
    decorators = cls.__pydantic_decorators__
    if f is None or f.alias or f.validation_alias or f.serialization_alias or decorators.model_serializers \
            or any(name in d.info.fields or "*" in d.info.fields for d in decorators.field_serializers.values()):
        return None
    kind: type
    if f.annotation is int:
        kind = int
    elif f.annotation is float:
        kind = float
    else:
        return None
    for d in decorators.field_validators.values():
        if (name in d.info.fields or "*" in d.info.fields) and not d.cls_var_name.startswith("_bounded_"):
            return None
    checks = []
    for m in f.metadata:
        if type(m) not in _BOUNDS:  # strict, multiple_of, allow_inf_nan …: leave them to pydantic
            return None
        attr, holds = _BOUNDS[type(m)]
        checks.append((holds, getattr(m, attr)))
    return kind, tuple(checks)


WRONG_TYPE = "aimc_dse_input_type"  # the error type of an input of the wrong type (loader.validation_error names its field)
_NUMBER_ANNOTATIONS = frozenset({"int", "float", "int | None", "float | None"})
# The one text a number field takes: an exponent without a decimal point (`1e-3`), which YAML
# 1.1 (PyYAML) reads as text where YAML 1.2 and every person read a number.
_EXPONENT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+")
_FLAG_ANNOTATIONS = frozenset({"bool", "bool | None"})


def _shown(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    return f"the text {v!r}" if isinstance(v, str) else repr(v)


_NO_NUMBERS = re.compile(r"^(?:str|bool|Literal\[[^\]]*\])(?: \| None)?$")


def _may_hold_numbers(annotation: str, cls: type) -> bool:
    """False for annotations that cannot hold a number: str, bool, a Literal, a nested spec
    class (each optionally ``| None``); True for anything else."""
    a = annotation.strip()
    if _NO_NUMBERS.match(a):
        return False
    name = a[: -len(" | None")] if a.endswith(" | None") else a
    obj = getattr(sys.modules.get(cls.__module__), name, None)
    return not (isinstance(obj, type) and issubclass(obj, BaseModel))


class PositionsWarning(UserWarning):
    """The workload runs past the model's ``max_positions`` (the cost is still computed)."""


class SpecError(Exception):
    """A bad input: names the file, the field (dotted path) and the problem.

    The CLI prints ``str(err)`` on one line and exits with code 2.
    """

    def __init__(self, source: str, field: str | None, problem: str):
        self.source = source
        self.field = field
        self.problem = problem
        where = f"{source}: {field}" if field else source
        super().__init__(f"{where}: {problem}")

    def __reduce__(self) -> tuple:  # pickled whole (a worker's error reaches the sweep process)
        return (SpecError, (self.source, self.field, self.problem))
