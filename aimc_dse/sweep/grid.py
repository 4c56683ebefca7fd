"""The grid of a sweep: one row per design point, built lazily by index arithmetic.

A sweep (``specs.sweep.SweepSpec``) expands into *blocks*, one per (system, model) pair in
file order; a block is the full product of its *factors* — one per independent axis, one per
``zip`` group — over the axes that apply to its system (a GPU has no ``hw.tiles``: that axis
neither multiplies its rows nor appears in them, so its column is NaN there). Row ``i`` of a
block is the mixed-radix number of its factors' value indices, the last factor fastest.

Columns are ``cost.columns.spec_columns`` of the realised specs, so derived columns stay
right (``model.head_dim`` follows ``model.heads``). To stay fast for millions of points,
each spec part (hw, model, workload) is realised once per *distinct combination of its own
axes* (when there are at most ``JOINT_LIMIT``), which also validates every combination; for
larger products each axis value is realised alone and only the columns it changes are
patched in, with axes that change a shared derived column realised together. A combination
that sets only numbers no cross-field rule reads (``Spec.FREE_NUMBERS``: ``hw.tiles`` …) is
checked against those fields' own type and bounds and patched into the base spec's columns,
which is what validating and flattening it gives (values those checks refuse are validated).

Everything the user can get wrong — an unknown field, a value the spec rejects, a grid over
``max_points`` — is a ``SpecError`` naming the sweep file and the field, raised before any
evaluation starts.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import pandas as pd

from ..cost.columns import hardware_columns, model_columns, workload_columns
from ..specs import loader
from ..specs.base import SpecError, takes_as_is
from ..specs.columns import raw_columns
from ..specs.hardware import AimcHardware, GpuHardware
from ..specs.model import ModelSpec, positions_note
from ..specs.sweep import SWEEP_DICT, SpecRef, SweepSpec, axis_len, axis_values
from ..specs.workload import Workload

DEFAULT_MAX_POINTS = 10_000_000
JOINT_LIMIT = 10_000  # combinations of one spec part's axes realised (and validated) one by one
HEADS = ("hw", "model", "workload")


@dataclass(frozen=True)
class Factor:
    """Axes that advance together (one axis, or a zip group) and their value tuples."""

    paths: tuple[str, ...]
    entries: tuple[tuple[Any, ...], ...]


@dataclass
class Component:
    """Columns that a set of factors determine: ``columns[c][ravel(digits of factors)]``."""

    factors: tuple[int, ...]  # indices into the block's factors
    columns: dict[str, np.ndarray]


@dataclass
class Block:
    """All points of one (system, model) pair: the product of its factors."""

    system: str
    model: str
    kind: str
    columns: list[str]  # this block's columns, in spec_columns order
    base: dict[str, np.ndarray]  # one-element arrays: the base point
    factors: list[Factor]
    components: list[Component] = field(default_factory=list)
    start: int = 0  # first global row

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(f.entries) for f in self.factors)

    @property
    def n(self) -> int:
        return math.prod(self.sizes)

    def arrays(self, a: int = 0, b: int | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Rows ``a:b`` as (columns fixed in this block → their one value, varying columns → arrays).

        What the runner feeds the cost model: a fixed column is never repeated n times.
        """
        b = self.n if b is None else b
        sizes = self.sizes
        digits = np.unravel_index(np.arange(a, b, dtype=np.int64), sizes) if sizes else ()
        varying: dict[str, np.ndarray] = {}
        for comp in self.components:
            if comp.factors:
                k = np.ravel_multi_index([digits[f] for f in comp.factors], [sizes[f] for f in comp.factors])
            else:
                k = np.zeros(b - a, dtype=np.int64)
            for c, arr in comp.columns.items():
                varying[c] = arr[k]
        fixed = {c: self.base[c][0] for c in self.columns if c not in varying}
        return fixed, varying

    def frame(self, a: int = 0, b: int | None = None, columns: list[str] | None = None) -> pd.DataFrame:
        """Rows ``a:b`` of this block (block-local indices), this block's columns (or ``columns`` of them)."""
        b = self.n if b is None else b
        n = b - a
        cols = self.columns if columns is None else [c for c in self.columns if c in set(columns)]
        sizes = self.sizes
        digits = np.unravel_index(np.arange(a, b, dtype=np.int64), sizes) if sizes else ()
        data = {c: np.repeat(self.base[c], n) for c in cols}
        for comp in self.components:
            mine = {c: arr for c, arr in comp.columns.items() if c in data}
            if not mine:
                continue
            if comp.factors:
                k = np.ravel_multi_index([digits[f] for f in comp.factors], [sizes[f] for f in comp.factors])
            else:
                k = np.zeros(n, dtype=np.int64)
            for c, arr in mine.items():
                data[c] = arr[k]
        return pd.DataFrame(data, columns=cols)


@dataclass
class Grid:
    """A sweep's design points: blocks in order, union of columns, explicit dtypes."""

    name: str
    source: str
    axes: list[str]
    blocks: list[Block]
    columns: list[str]
    dtypes: dict[str, str]  # pandas dtype per column of the whole grid
    inputs: dict[str, str] = field(default_factory=dict)  # resolved path → sha256 of every file read

    @property
    def n(self) -> int:
        return sum(b.n for b in self.blocks)

    def segments(self, start: int, stop: int) -> Iterator[tuple[Block, int, int]]:
        """(block, local start, local stop) pieces of the global row range ``start:stop``."""
        for blk in self.blocks:
            a, b = max(start, blk.start), min(stop, blk.start + blk.n)
            if a < b:
                yield blk, a - blk.start, b - blk.start

    def frame(self, start: int = 0, stop: int | None = None) -> pd.DataFrame:
        """Rows ``start:stop`` as one DataFrame with every column of the grid and explicit dtypes."""
        stop = self.n if stop is None else stop
        parts = [blk.frame(a, b).reindex(columns=self.columns) for blk, a, b in self.segments(start, stop)]
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype=self.dtypes[c]) for c in self.columns})
        df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
        return df.astype(self.dtypes)

    def digest(self) -> str:
        """Hash of everything that determines the rows (for resume checks)."""
        h = hashlib.sha256()
        h.update(json.dumps([self.columns, self.dtypes], default=str).encode())
        for blk in self.blocks:
            desc = {
                "system": blk.system,
                "model": blk.model,
                "start": blk.start,
                "columns": blk.columns,
                "base": {c: blk.base[c].tolist() for c in blk.columns},
                "factors": [[f.paths, f.entries] for f in blk.factors],
                "components": [[c.factors, {k: v.tolist() for k, v in c.columns.items()}] for c in blk.components],
            }
            h.update(json.dumps(desc, default=str, sort_keys=True).encode())
        return h.hexdigest()


# ---- building ------------------------------------------------------------------------------


def _key(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def _show(v: Any) -> str:
    return json.dumps(v, default=str)


def _arrays(rows: list[dict[str, Any]], cols: list[str]) -> dict[str, np.ndarray]:
    """Columns of a list of row dicts, with pandas' dtype inference (as a one-row frame gets)."""
    df = pd.DataFrame(rows, columns=cols)
    return {c: df[c].to_numpy() for c in cols}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


# Realising a spec variant (validate + flatten) costs ~0.06 ms; a sweep over thousands of tier
# sizes realises thousands (tile counts, free numbers, take ~µs each: _Part._free_diff). With
# local workers started (``aimc-dse sweep -j N``) the runner passes a Realiser that spreads
# them over the workers; below this many it is not worth it.
PARALLEL_REALISE_MIN = 256
Realiser = Callable[["_Part", list[dict[str, Any]]], list["dict[str, Any] | SpecError"]]  # try_diff of each


def realise_batch(args: tuple, batch: list[dict[str, Any]]) -> tuple[list[dict[str, Any] | SpecError], dict[str, str]]:
    """In a worker: ``try_diff`` of every set of ``batch`` for the part ``_Part(*args)``, and
    the inputs read meanwhile (``safe_io.recording``, for ``--resume``)."""
    from ..specs.safe_io import recording

    with recording() as inputs:
        part = _worker_part(args)
        got = [part.try_diff(x) for x in batch]
    return got, dict(inputs)


_WORKER_PARTS: dict[str, _Part] = {}


def _worker_part(args: tuple) -> _Part:
    key = hashlib.sha256(json.dumps(args, sort_keys=True, default=repr).encode()).hexdigest()
    if key not in _WORKER_PARTS:
        if len(_WORKER_PARTS) > 64:
            _WORKER_PARTS.clear()
        _WORKER_PARTS[key] = _Part(*args)
    return _WORKER_PARTS[key]


class _Part:
    """One spec part of the base design (a system, a model, or the workload) and how to realise it."""

    def __init__(self, head: str, label: str, data: dict, src: str, sets: dict[str, Any], sweep_src: str, where: str):
        self.head, self.label, self.data, self.src, self.sets = head, label, data, src, sets
        self.sweep_src, self.where = sweep_src, where
        self._diffs: dict[str, dict[str, Any] | SpecError] = {}  # try_diff's, per variant
        self.joints: dict[tuple, dict[str, np.ndarray]] = {}  # _head_components' columns, per axis values
        if head == "hw":
            self.classes = loader.hw_classes(data)
        else:
            self.classes = [ModelSpec] if head == "model" else [Workload]
        try:
            self.base = self._build({})
        except SpecError as e:
            raise self._blame(e, {}) from None

    def missing(self, path: str) -> str | None:
        """Why ``path`` is not a knob of this spec (None if it is).

        An axis applies to the specs that have its field: hw axes to systems of the right
        kind, and an axis inside an optional group only where the base spec has that group
        (``model.moe.experts`` varies MoE models; a dense model has no ``moe``).
        """
        try:
            loader.check_path({self.head: self.classes}, path)
        except SpecError:
            return "not a field of its kind"
        obj: Any = self.spec
        keys = path.split(".")[1:-1]
        for i, key in enumerate(keys):
            obj = obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)
            if obj is None:
                return f"{'.'.join([self.head] + keys[: i + 1])} is not set"
        return None

    def applies(self, path: str) -> bool:
        return self.missing(path) is None

    def _spec(self, sets: dict[str, Any]):
        merged = {**self.sets, **sets}
        if self.head == "hw":
            return loader.validate_hardware(self.data, self.src, merged, self._reusable(sets))
        if self.head == "model":
            return loader.validate_model(self.data, self.src, merged)
        return loader.load_workload(self.data, self.src, merged)

    def _reusable(self, sets: dict[str, Any]) -> dict[str, Any] | None:
        """The base spec's validated groups a hardware variant leaves untouched: its data holds
        the same dicts for them, so validating them again would give these same instances."""
        spec = getattr(self, "spec", None)
        if not sets or not isinstance(spec, AimcHardware):
            return None
        touched = {p.split(".")[0] for p in sets}
        return {g: getattr(spec, g) for g in AimcHardware.REUSABLE_GROUPS if g not in touched}

    def _build(self, sets: dict[str, Any]) -> dict[str, Any]:
        spec = self._spec(sets)
        columns = {"hw": hardware_columns, "model": model_columns, "workload": workload_columns}[self.head]
        prefix = self.head + "."
        if not sets:
            self.spec = spec
            self._raw = raw_columns(spec, prefix)
            return columns(spec, self._raw)
        # a variant of the base spec: only the fields that differ are flattened
        return columns(spec, raw_columns(spec, prefix, (self.spec, self._raw)))

    def args(self) -> tuple:
        """What rebuilds this part elsewhere (a worker process): ``_Part(*part.args())``."""
        return (self.head, self.label, self.data, self.src, self.sets, self.sweep_src, self.where)

    def try_diff(self, sets: dict[str, Any], key: str | None = None) -> dict[str, Any] | SpecError:
        """The columns in which the variant ``sets`` differs from the base (by ``_same``), or
        why it is rejected; cached per variant."""
        k = _key(sets) if key is None else key
        got = self._diffs.get(k)
        if got is None:
            got = self._free_diff(sets)
            if got is None:
                try:
                    row = self._build(sets) if sets else self.base
                except SpecError as e:
                    got = e
                else:
                    got = self._columns_changed(row) if row.keys() == self.base.keys() else self._reshaped(row)
            self._diffs[k] = got
        return got

    def _free_diff(self, sets: dict[str, Any]) -> dict[str, Any] | None:
        """try_diff of a variant that sets only free numbers of the base spec's class
        (``Spec.FREE_NUMBERS``, e.g. ``hw.tiles``), each to a value its field takes as it is
        (``base.takes_as_is``: type, bounds and limits checked here); None for any other.

        Such a variant validates to the base spec with those fields replaced, so its columns
        are the base's with them replaced: validating and flattening it again (~0.1 ms, for
        thousands of tile counts) would give the same. A value the field refuses or converts
        takes the full path, which words the error exactly as before."""
        cls = type(self.spec)
        if not sets or not all(k in cls.FREE_NUMBERS and takes_as_is(cls, k, v) for k, v in sets.items()):
            return None
        diff = {}
        for k, v in sets.items():
            c = f"{self.head}.{k}"
            if c not in self.base:
                return None
            if not _same(v, self.base[c]):
                diff[c] = v
        return diff

    def _columns_changed(self, row: dict[str, Any]) -> dict[str, Any]:
        # unchanged leaves are the base's own objects (flatten_like): `is` settles most at once
        return {c: row[c] for c, b in self.base.items() if row[c] is not b and not _same(row[c], b)}

    def _reshaped(self, row: dict[str, Any]) -> SpecError:
        """A variant whose columns are not the base's: it switches an optional group (a
        digital unit, MoE, MLA …) on or off, which a grid of one column set cannot hold."""
        odd = [k for k in row if k not in self.base] + [k for k in self.base if k not in row]
        group = ".".join(odd[0].split(".")[:2])
        what = {"hw": "system", "model": "model", "workload": "workload"}[self.head]
        return SpecError(self.src, None, f"it turns {group} on or off, which an axis cannot; give the {what} "
                         f"with {group} set (`set:` beside its name) and vary what is inside it")

    def realise_many(self, many: list[dict[str, Any]], realiser: Realiser | None) -> list[dict[str, Any]]:
        """``try_diff`` of every axis-value set of ``many`` in order (the first rejected one
        raises, naming the sweep file and its axis); the uncached ones by ``realiser`` when given."""
        sets = [{p.partition(".")[2]: v for p, v in vals.items()} for vals in many]
        keys = [_key(x) for x in sets]
        if realiser is not None:
            todo = {}
            for k, x in zip(keys, sets):
                if k not in self._diffs:  # variants of free numbers only are cheaper checked here than by a worker
                    free = self._free_diff(x)
                    if free is None:
                        todo[k] = x
                    else:
                        self._diffs[k] = free
            if len(todo) >= PARALLEL_REALISE_MIN:
                self._diffs.update(zip(todo, realiser(self, list(todo.values()))))
        out = []
        for vals, x, k in zip(many, sets, keys):
            got = self.try_diff(x, k)
            if isinstance(got, SpecError):
                raise self._blame(got, vals)
            out.append(got)
        return out

    def _blame(self, e: SpecError, values: dict[str, Any]) -> SpecError:
        problem = e.problem if e.field is None else f"{e.field}: {e.problem}"
        if not values:
            if self.head == "workload" and e.field:
                return SpecError(self.sweep_src, e.field, e.problem)
            return SpecError(self.sweep_src, self.where, f"{self.label}: {problem}")
        for path, v in values.items():
            if len(values) == 1 or e.field and (e.field == path or e.field.startswith(path + ".")):
                why = e.problem if e.field in (None, path) else problem
                return SpecError(self.sweep_src, f"axes.{path}", f"value {_show(v)} is rejected for {self.label}: {why}")
        combo = ", ".join(f"{p}={_show(v)}" for p, v in values.items())
        return SpecError(self.sweep_src, "axes", f"combination {combo} is rejected for {self.label}: {problem}")


def _resolve_ref(kind: str, ref: str | SpecRef, sweep_dir: Path, sweep_src: str, where: str) -> tuple[dict, str, dict]:
    name, sets = (ref, {}) if isinstance(ref, str) else (ref.spec, dict(ref.set))
    p = Path(name)
    if not p.is_absolute() and (p.suffix in (".yaml", ".yml", ".json") or "/" in name):
        cand = sweep_dir / p
        if cand.exists():
            name = str(cand)
    try:
        data, src = loader.resolve(kind, name)
    except SpecError as e:
        raise SpecError(sweep_src, where, str(e)) from None
    return data, src, sets


def _check_axis(path: str, sweep_src: str) -> str:
    head, _, _ = path.partition(".")
    roots = {"hw": [AimcHardware, GpuHardware], "model": [ModelSpec], "workload": [Workload]}
    try:
        loader.check_path(roots, path)
    except SpecError as e:
        problem = e.problem if e.field in (None, path) else f"{e.field}: {e.problem}"
        raise SpecError(sweep_src, f"axes.{path}", problem) from None
    return head


def _factors(sweep: SweepSpec) -> list[Factor]:
    """Independent axes and zip groups, in the order their first axis appears in ``axes``."""
    group_of = {p: tuple(g) for g in sweep.zip for p in g}
    out, seen = [], set()
    for path in sweep.axes:
        paths = group_of.get(path, (path,))
        if paths in seen:
            continue
        seen.add(paths)
        cols = [axis_values(sweep.axes[p]) for p in paths]
        out.append(Factor(paths, tuple(zip(*cols))))
    return out


def _restrict(f: Factor, keep: list[str]) -> Factor | None:
    """The factor over the axes in ``keep`` only, repeated value tuples dropped (order kept)."""
    idx = [i for i, p in enumerate(f.paths) if p in keep]
    if not idx:
        return None
    if len(idx) == len(f.paths):
        return f
    entries, seen = [], set()
    for e in f.entries:
        sub = tuple(e[i] for i in idx)
        k = _key(sub)
        if k not in seen:
            seen.add(k)
            entries.append(sub)
    return Factor(tuple(f.paths[i] for i in idx), tuple(entries))


def _merge_overlapping(groups: list[list[int]], cols: dict[int, set[str]]) -> list[list[int]]:
    """Merge groups of factors until no two groups change a common column."""
    groups = [list(g) for g in groups]
    merged = True
    while merged:
        merged = False
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                if set().union(*(cols[i] for i in groups[a])) & set().union(*(cols[i] for i in groups[b])):
                    groups[a] += groups.pop(b)
                    merged = True
                    break
            if merged:
                break
    return groups


def _head_components(part: _Part, factors: list[Factor], block_cols: list[str],
                     realiser: Realiser | None = None) -> list[Component]:
    """Components of one spec part in one block (see module docstring)."""
    mine = [(i, [j for j, p in enumerate(f.paths) if p.startswith(part.head + ".")]) for i, f in enumerate(factors)]
    mine = [(i, js) for i, js in mine if js]
    if not mine:
        return []
    base = part.base

    def values(i: int, js: list[int], e: int) -> dict[str, Any]:
        f = factors[i]
        return {f.paths[j]: f.entries[e][j] for j in js}

    def joint(group: list[tuple[int, list[int]]]) -> Component:
        # The same part over the same axis values in another block (a system with each
        # model) gives the same columns: computed once per part.
        mine_cols = tuple(c for c in block_cols if c in base)
        key = (mine_cols, tuple((factors[i].paths, factors[i].entries, tuple(js)) for i, js in group))
        if key not in part.joints:
            sizes = [len(factors[i].entries) for i, _ in group]
            many = []
            for digits in np.ndindex(*sizes):
                vals: dict[str, Any] = {}
                for (i, js), d in zip(group, digits):
                    vals.update(values(i, js, d))
                many.append(vals)
            diffs = part.realise_many(many, realiser)
            differ = set().union(*diffs)
            changed = [c for c in mine_cols if c in differ]
            part.joints[key] = _arrays([{c: d.get(c, base[c]) for c in changed} for d in diffs], changed)
        return Component(tuple(i for i, _ in group), part.joints[key])

    total = math.prod(len(factors[i].entries) for i, _ in mine)
    if total <= JOINT_LIMIT:
        return [joint(mine)]

    # Too many combinations to realise each: realise every value alone and patch.
    changed_by: dict[int, set[str]] = {}
    own: dict[int, set[str]] = {}
    for i, js in mine:
        diffs = part.realise_many([values(i, js, e) for e in range(len(factors[i].entries))], realiser)
        changed_by[i] = set().union(*diffs)
        own[i] = {factors[i].paths[j] for j in js}
    simple = {i for i, _ in mine if changed_by[i] <= own[i] and own[i] <= set(base)}
    # Group factors whose changed columns overlap; non-simple factors always realised together.
    groups: list[list[int]] = []
    nonsimple = [i for i, _ in mine if i not in simple]
    if nonsimple:
        groups.append(nonsimple)
    for i, _ in mine:
        if i in simple:
            groups.append([i])
    groups = _merge_overlapping(groups, {i: changed_by[i] | own[i] for i, _ in mine})
    comps = []
    js_of = dict(mine)
    for g in groups:
        g = sorted(g)
        size = math.prod(len(factors[i].entries) for i in g)
        if len(g) > 1 and size > JOINT_LIMIT:
            paths = ", ".join(p for i in g for p in factors[i].paths if p.startswith(part.head + "."))
            raise SpecError(
                part.sweep_src,
                "axes",
                f"axes {paths} change derived columns together; their {size:,} combinations exceed "
                f"{JOINT_LIMIT:,} — zip them or give fewer values",
            )
        comps.append(joint([(i, js_of[i]) for i in g]))
    return comps


def value_kind(a: np.ndarray) -> tuple[str | None, bool]:
    """(numpy kind of the values of ``a``, whether it holds a missing value); the kind of an
    object array is that of its values (None when it holds only missing ones), so a knob that
    one system leaves unset (None) and another sets to a number stays a number."""
    if a.dtype.kind != "O":
        return a.dtype.kind, False
    vals = [v for v in a.tolist() if v is not None and v is not pd.NA and not (isinstance(v, float) and math.isnan(v))]
    missing = len(vals) < len(a)
    if not vals:
        return None, missing
    if all(isinstance(v, (bool, np.bool_)) for v in vals):
        return "b", missing
    if all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) for v in vals):
        return "i", missing
    if all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in vals):
        return "f", missing
    if all(isinstance(v, str) for v in vals):
        return "U", missing
    return "O", missing


def _dtype(arrays: list[np.ndarray], complete: bool) -> str:
    """The column's dtype over every block: ``complete`` is False when a block lacks the
    column (then ints and bools are nullable); a missing value inside a block counts alike."""
    kinds = set()
    for a in arrays:
        kind, missing = value_kind(a)
        complete = complete and not missing
        if kind is not None:
            kinds.add(kind)
    if not kinds or kinds <= {"U", "S"}:
        return "str"
    if kinds == {"b"}:
        return "bool" if complete else "boolean"
    if kinds <= {"i", "u"}:
        return "int64" if complete else "Int64"
    if kinds <= {"i", "u", "f", "b"}:
        return "float64"
    return "object"


def position_overruns(grid: Grid) -> list[str]:
    """One note per model whose workloads in the grid feed more positions than its
    ``model.max_positions`` (what ``evaluate`` warns about; here the largest a sweep reaches).
    Read from each block's base point and factor values, not its rows."""
    worst: dict[str, tuple[int, int, int, int, str]] = {}
    for blk in grid.blocks:
        def largest(col: str) -> Any:
            vals = [blk.base[col][0]] if col in blk.base else []
            for comp in blk.components:
                if col in comp.columns:
                    vals += list(comp.columns[col])
            return max(vals) if vals else None

        mp, P, G = blk.base.get("model.max_positions", [None])[0], largest("workload.prompt_len"), largest("workload.gen_len")
        if mp is None or P is None or G is None or (isinstance(mp, float) and math.isnan(mp)):
            continue
        n = int(P) + int(G) - 1
        if blk.model not in worst or n > worst[blk.model][0]:
            worst[blk.model] = (n, int(P), int(G), int(mp), str(blk.base.get("model.position_embedding", ["?"])[0]))
    notes = (positions_note(model, P, G, mp, pe, who="workloads of this sweep feed up to")
             for model, (_, P, G, mp, pe) in worst.items())
    return [n for n in notes if n]


def _check_filters(sweep: SweepSpec, src: str) -> None:
    """Filters are checked against the safe filter grammar before anything runs (--dry-run too)."""
    from ..report import query

    for i, expr in enumerate(sweep.filters):
        try:
            query.parse(expr)
        except query.QueryError as e:
            raise SpecError(src, f"filters.{i}", f"{expr!r}: {e}") from None


def _check_size(sweep: SweepSpec, src: str, systems: list[_Part], models: list[_Part], workload: _Part,
                heads: dict[str, str], max_points: int) -> None:
    # The grid's size, arithmetically, before any axis is listed: an axis longer than the
    # limit makes a grid over it (num: 1e12 must be refused at once, not allocated).
    for p, axis in sweep.axes.items():
        size = axis_len(axis)
        if size > max_points:
            raise SpecError(
                src, f"axes.{p}", f"has {size:,} values, more than --max-points {max_points:,} (raise --max-points or narrow the axis)"
            )
    bound, exact = 0, True
    for s in systems:
        for m in models:
            parts = {"hw": s, "model": m}
            keep = {p for p in sweep.axes if parts.get(heads[p], workload).applies(p)}
            sizes = [axis_len(sweep.axes[g[0]]) for g in _groups(sweep) if keep & set(g)]
            # A zip group that applies only in part may repeat value tuples (dropped later): then
            # its length is an upper bound and the exact count waits for the listed values.
            exact &= all(keep >= set(g) or not keep & set(g) for g in _groups(sweep))
            bound += math.prod(sizes)
    if exact and bound > max_points:
        raise SpecError(
            src,
            "axes",
            f"the grid has {bound:,} points, more than --max-points {max_points:,} (raise --max-points or narrow the axes)",
        )


def build_grid(sweep: SweepSpec, source: str | Path, max_points: int = DEFAULT_MAX_POINTS,
               realiser: Realiser | None = None) -> Grid:
    """Expand a sweep into its grid, refusing anything wrong before any evaluation.

    ``realiser``: realises many variants of a spec at once (the runner's, spreading them
    over its local workers); the grid is the same with or without it."""
    # a sweep given as a dict has no file: errors name it as such (its relative spec files
    # resolve against the working folder, sweep_dir below)
    src = SWEEP_DICT if Path(source).name == "<sweep dict>" else str(source)
    sweep_dir = Path(source).resolve().parent

    # Base specs: systems, models, workload (each validated with its own overrides).
    systems = []
    for i, ref in enumerate(sweep.systems):
        data, psrc, sets = _resolve_ref("hw", ref, sweep_dir, src, f"systems.{i}")
        name = data.get("name", psrc) if "name" not in sets else sets["name"]
        systems.append(_Part("hw", f"system {name}", data, psrc, sets, src, f"systems.{i}"))
    models = []
    mfield = "model" if sweep.model is not None else "models"
    for i, ref in enumerate(sweep.model_refs()):
        where = mfield if sweep.model is not None else f"models.{i}"
        data, psrc, sets = _resolve_ref("model", ref, sweep_dir, src, where)
        name = data.get("name", psrc) if "name" not in sets else sets["name"]
        models.append(_Part("model", f"model {name}", data, psrc, sets, src, where))
    workload = _Part("workload", "the workload", dict(sweep.workload), src, {}, src, "workload")

    # Axes: every path names a field of some spec, and applies to at least one system/model.
    heads = {p: _check_axis(p, src) for p in sweep.axes}
    for p, h in heads.items():
        parts, what = (systems, "system in `systems`") if h == "hw" else (models, f"model in `{mfield}`")
        if h != "workload" and not any(x.applies(p) for x in parts):
            if h == "hw" and all(x.missing(p) == "not a field of its kind" for x in parts):
                kinds = [k for k, cls in (("aimc", AimcHardware), ("gpu", GpuHardware)) if _applies_cls(cls, p)]
                why = f"it belongs to {' and '.join(kinds)} hardware"
            else:
                why = parts[0].missing(p)
            raise SpecError(src, f"axes.{p}", f"no {what} has this field ({why})")

    _check_filters(sweep, src)
    _check_size(sweep, src, systems, models, workload, heads, max_points)

    factors = _factors(sweep)
    plan: list[tuple[_Part, _Part, list[Factor]]] = []
    total = 0
    for s in systems:
        for m in models:
            keep = [p for p in sweep.axes if {"hw": s, "model": m}.get(heads[p], workload).applies(p)]
            fs = [r for f in factors if (r := _restrict(f, keep)) is not None]
            plan.append((s, m, fs))
            total += math.prod(len(f.entries) for f in fs)
    if total > max_points:
        raise SpecError(
            src,
            "axes",
            f"the grid has {total:,} points, more than --max-points {max_points:,} (raise --max-points or narrow the axes)",
        )

    blocks = []
    start = 0
    for s, m, fs in plan:
        base = {**s.base, **m.base, **workload.base}
        cols = list(base)
        blk = Block(
            system=s.base.get("hw.name", s.label),
            model=m.base.get("model.name", m.label),
            kind=str(s.base["hw.kind"]),
            columns=cols,
            base=_arrays([base], cols),
            factors=fs,
            start=start,
        )
        for part in (s, m, workload):
            blk.components += _head_components(part, fs, cols, realiser)
        blocks.append(blk)
        start += blk.n

    # Files the designs point at (gate traces, selection files) exist and fit their models.
    for blk in blocks:
        _check_references(blk, src)

    columns = list(dict.fromkeys(c for blk in blocks for c in blk.columns))
    dtypes = {}
    for c in columns:
        arrays, complete = [], True
        for blk in blocks:
            if c not in blk.base:
                complete = False
                continue
            arrays.append(blk.base[c])
            arrays += [comp.columns[c] for comp in blk.components if c in comp.columns]
        dtypes[c] = _dtype(arrays, complete)
    return Grid(name=sweep.name, source=src, axes=list(sweep.axes), blocks=blocks, columns=columns, dtypes=dtypes)


def _groups(sweep: SweepSpec) -> list[tuple[str, ...]]:
    """Independent axes and zip groups as path tuples (like ``_factors``, without listing values)."""
    group_of = {p: tuple(g) for g in sweep.zip for p in g}
    return list(dict.fromkeys(group_of.get(p, (p,)) for p in sweep.axes))


def _check_references(blk: Block, src: str, batch: int = 1_000_000) -> None:
    """Check every distinct (model, trace, selection file) combination of a block's rows."""
    from .inputs import REF_COLUMNS, check_rows

    cols = [c for c in REF_COLUMNS if c in blk.columns]
    varying = any(c in comp.columns for comp in blk.components for c in cols)
    try:
        if not varying:  # one row says it all (as a dict: a one-row frame per block cost ~3 ms)
            check_rows([{c: blk.base[c][0] for c in cols}] if blk.n else [], src)
            return
        for a in range(0, blk.n, batch):
            check_rows(blk.frame(a, min(blk.n, a + batch), cols), src)
    except SpecError as e:
        if e.source == src:
            raise
        raise SpecError(src, None, f"{blk.system}, {blk.model}: {e}") from None


def _applies_cls(cls, path: str) -> bool:
    try:
        loader.check_path({"hw": [cls]}, path)
    except SpecError:
        return False
    return True


def load_grid(path_or_dict: str | Path | Mapping[str, Any], max_points: int = DEFAULT_MAX_POINTS,
              realiser: Realiser | None = None) -> tuple[SweepSpec, Grid]:
    """Read a sweep file (or a dict with its fields) and build its grid (SpecError on any problem).

    The Pareto metrics are always among the written columns, and every file the sweep reads
    is recorded with its content hash (``grid.inputs``, for ``--resume``).
    """
    from ..specs.safe_io import recording
    from ..specs.sweep import load_sweep_spec, with_pareto_columns

    with recording() as inputs:
        sweep, src = load_sweep_spec(path_or_dict)
        sweep = with_pareto_columns(sweep)  # the front's metrics are written even when `columns` omits them
        grid = build_grid(sweep, src, max_points, realiser)
    grid.inputs = dict(sorted(inputs.items()))
    return sweep, grid
