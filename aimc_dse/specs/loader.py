"""The one loader for spec files, presets and ``--set`` overrides.

A spec is named by a preset name (a file in ``hw_specs/`` or ``model_specs/``) or by a
path to a YAML/JSON file (a Hugging Face ``config.json`` is recognised and translated).
Every failure becomes a :class:`SpecError` naming the file, the field and the problem.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from .base import WRONG_TYPE, SpecError
from .digital import DIGITAL_DIR, DigitalCompute
from .hardware import AimcHardware, GpuHardware, Hardware
from .model import ModelSpec
from .workload import Workload

_PKG = Path(__file__).resolve().parent.parent
_REPO = _PKG.parent

KINDS = {"hw": "hw_specs", "model": "model_specs"}
_HW_ADAPTER = TypeAdapter(Hardware)


def preset_dir(kind: str) -> Path:
    """Folder of the presets of one kind: the checkout's, else the installed copy."""
    folder = KINDS[kind]
    for base in (_REPO, _PKG / "presets"):
        if (base / folder).is_dir():
            return base / folder
    return _REPO / folder


@lru_cache(maxsize=None)
def preset_names(kind: str) -> tuple[str, ...]:
    d = preset_dir(kind)
    return tuple(sorted(p.stem for p in d.glob("*.yaml")))


def _read_file(path: Path) -> dict:
    from .safe_io import parse_document, read_input

    src = str(path)
    data = parse_document(read_input(path, "spec"), src, json_syntax=path.suffix == ".json")
    if not isinstance(data, dict):
        raise SpecError(src, None, "expected a mapping of fields at the top level")
    return data


def resolve(kind: str, name_or_path: str) -> tuple[dict, str]:
    """Raw dict of a preset name or file path, and the source to name in errors."""
    p = Path(name_or_path)
    if kind == "model" and _is_dir(p) and (p / "config.json").is_file():
        p = p / "config.json"  # a Hugging Face checkout: its config.json
    if p.suffix in (".yaml", ".yml", ".json") or "/" in name_or_path or _exists(p):
        data = _read_file(p)
        if kind == "model" and p.suffix == ".json" and ("model_type" in data or "architectures" in data):
            from .hf import model_dict_from_hf_config

            try:
                # A checkout's config.json is named by its folder; any other file by its stem.
                name = (p.resolve().parent.name if p.stem == "config" else "") or p.stem
                data = model_dict_from_hf_config(data, name=name)
            except ValueError as e:
                raise SpecError(str(p), None, str(e)) from None
        return data, str(p)
    names = preset_names(kind)
    if name_or_path not in names:
        close = difflib.get_close_matches(name_or_path, names, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(names)}"
        what = "hardware" if kind == "hw" else "model"
        raise SpecError(name_or_path, None, f"unknown {what} preset{hint}")
    path = preset_dir(kind) / f"{name_or_path}.yaml"
    return _read_file(path), _display(path)


def _is_dir(p: Path) -> bool:
    try:
        return p.is_dir()
    except (OSError, ValueError):
        return False


def _exists(p: Path) -> bool:
    try:
        return p.exists()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte …
        return False


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _loc(err: Any, model_cls: Any) -> str:
    parts = [str(x) for x in err["loc"]]
    # Discriminated unions put the tag first (e.g. "aimc"); it is not a field.
    if model_cls is None and parts and parts[0] in ("aimc", "gpu"):
        parts = parts[1:]
    parts = [p for p in parts if not p.startswith("function-")]
    return ".".join(parts)


def validation_error(source: str, e: ValidationError, prefix: str = "", model_cls: Any = None) -> SpecError:
    """First error of a pydantic ValidationError as a one-line SpecError."""
    errors = e.errors()
    # An unknown field first: a misspelt `tilez` also leaves `tiles` missing, and the name the
    # person wrote is the one to show (the missing field follows from it).
    err = next((x for x in errors if x["type"] == "extra_forbidden"), errors[0])
    loc = _loc(err, model_cls)
    msg = err["msg"]
    if err["type"] == WRONG_TYPE:  # a spec's check of its input (specs.base): the field is in the context
        ctx = err.get("ctx") or {}
        loc = ".".join(x for x in (loc, str(ctx.get("field", ""))) if x)
        msg = str(ctx.get("problem", msg))
    elif err["type"] == "extra_forbidden":
        # the field it stands for is usually among the missing ones beside it
        here = tuple(err["loc"][:-1])
        missing = [str(x["loc"][-1]) for x in errors if x["type"] == "missing" and tuple(x["loc"][:-1]) == here]
        close = difflib.get_close_matches(str(err["loc"][-1]), missing, n=1)
        hint = f"did you mean {close[0]}?" if close else "check its spelling"
        msg = f"unknown field (not part of the spec; {hint})"
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    field = ".".join(x for x in (prefix, loc) if x) or None
    if field == source:  # a check of the whole spec, whose source is its name ("workload: workload: …")
        field = None
    more = len(errors) - 1
    if more:
        msg += f" (and {more} more problem{'s' if more > 1 else ''})"
    return SpecError(source, field, msg)


# ---- --set overrides ---------------------------------------------------------------------

def _field_type(model_cls: type[BaseModel] | None, key: str) -> Any:
    if model_cls is None:
        return None
    f = model_cls.model_fields.get(key)
    return None if f is None else f.annotation


def _as_model(tp: Any) -> list[type[BaseModel]]:
    """The pydantic model classes an annotation may hold (unwrapping Optional/Union/Annotated)."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    out = []
    for a in get_args(tp):
        out += _as_model(a)
    return out


def _is_mapping(tp: Any) -> bool:
    if get_origin(tp) is dict:
        return True
    return any(_is_mapping(a) for a in get_args(tp))


def check_path(roots: dict[str, list[type[BaseModel]]], path: str) -> None:
    """Raise SpecError unless ``path`` (e.g. ``hw.dram.bandwidth_gbps``) names a spec field."""
    head, _, rest = path.partition(".")
    if head not in roots or not rest:
        raise SpecError(f"--set {path}", None, f"path must start with one of {', '.join(sorted(roots))} and name a field")
    classes = roots[head]
    keys = rest.split(".")
    for i, key in enumerate(keys):
        found = [c for c in classes if key in c.model_fields]
        if not found:
            known = sorted({k for c in classes for k in c.model_fields})
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise SpecError(f"--set {path}", ".".join([head] + keys[: i + 1]), f"no such field{hint}")
        tps = [c.model_fields[key].annotation for c in found]
        if i < len(keys) - 1 and any(_is_mapping(t) for t in tps):
            return  # free-form mapping (e.g. peak_tflops.fp16): any key
        classes = [m for t in tps for m in _as_model(t)]
        if i < len(keys) - 1 and not classes:
            raise SpecError(f"--set {path}", ".".join([head] + keys[: i + 1]), "is a value, not a group of fields")


def parse_set(item: str) -> tuple[str, Any]:
    if "=" not in item:
        raise SpecError(f"--set {item}", None, "expected PATH=VALUE, e.g. hw.tiles=4096")
    path, _, raw = item.partition("=")
    path = path.strip()
    from .safe_io import parse_document

    try:
        value = parse_document(raw.encode(), f"--set {item}") if raw.strip() else None
    except SpecError as e:
        if "malformed YAML" not in e.problem:
            raise
        value = raw
    return path, value


def set_in(data: dict, keys: list[str], value: Any) -> None:
    """``data[k1][k2]… = value``, copying every dict along the path (copy on write: the dicts
    ``data`` shared with the caller's stay as they were); a missing or non-dict step becomes {}."""
    cur = data
    for k in keys[:-1]:
        nxt = cur.get(k)
        nxt = dict(nxt) if isinstance(nxt, dict) else {}
        cur[k] = nxt
        cur = nxt
    cur[keys[-1]] = value


def hw_classes(data: dict | None) -> list[type[BaseModel]]:
    kind = (data or {}).get("kind", "aimc")
    return [GpuHardware] if kind == "gpu" else [AimcHardware]


# ---- public entry points -------------------------------------------------------------------

def load_hardware(name_or_path: str, sets: dict[str, Any] | None = None) -> AimcHardware | GpuHardware:
    data, src = resolve("hw", name_or_path)
    return validate_hardware(data, src, sets)


def validate_hardware(data: dict, src: str, sets: dict[str, Any] | None = None,
                      reuse: dict[str, Any] | None = None) -> AimcHardware | GpuHardware:
    """``reuse``: validated groups of a spec that had these very groups in its data (a sweep's
    base spec), taken as they are instead of validated again (AimcHardware.REUSABLE_GROUPS)."""
    data, sets = _resolve_digital(data, sets)
    if sets and "kind" in sets and sets["kind"] != data.get("kind", "aimc"):
        # every other field would then be wrong for the new kind: name the override, not them
        raise SpecError(f"--set hw.kind={sets['kind']}", "hw.kind", f"cannot turn {data.get('kind', 'aimc')} hardware "
                        "into another kind; give a spec of that kind (a GPU preset such as a100-sxm4-80gb, or an AIMC one)")
    data = _apply(data, sets, "hw", {"hw": hw_classes(data)})
    if reuse:
        data = {**data, **reuse}
    try:
        return _HW_ADAPTER.validate_python({"kind": "aimc", **data})
    except ValidationError as e:
        raise _blame(src, e, "hw", sets) from None


def load_model(name_or_path: str, sets: dict[str, Any] | None = None) -> ModelSpec:
    data, src = resolve("model", name_or_path)
    return validate_model(data, src, sets)


def validate_model(data: dict, src: str, sets: dict[str, Any] | None = None) -> ModelSpec:
    data = _apply(data, sets, "model", {"model": [ModelSpec]})
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as e:
        raise _blame(src, e, "model", sets, ModelSpec) from None


def load_workload(data: dict | None = None, src: str = "workload", sets: dict[str, Any] | None = None) -> Workload:
    data = _apply(dict(data or {}), sets, "workload", {"workload": [Workload]})
    try:
        return Workload.model_validate(data)
    except ValidationError as e:
        raise _blame(src, e, "workload", sets, Workload) from None


def split_sets(items: list[str] | None) -> dict[str, dict[str, Any]]:
    """Parse ``--set`` items into {"hw": {...}, "model": {...}, "workload": {...}} by dotted path."""
    out: dict[str, dict[str, Any]] = {"hw": {}, "model": {}, "workload": {}}
    for item in items or []:
        path, value = parse_set(item)
        head, _, rest = path.partition(".")
        if head not in out or not rest:
            raise SpecError(f"--set {item}", None, "path must start with hw., model. or workload. and name a field")
        if rest in out[head] and out[head][rest] != value:  # one value per field, not the last one silently
            raise SpecError(f"--set {item}", path, f"is also set to {out[head][rest]!r}; give it once")
        out[head][rest] = value
    return out


def _apply(data: dict, sets: dict[str, Any] | None, head: str, roots: Any) -> dict:
    if not sets:
        return data
    # copy on write: only the dicts along each path are copied (validation never mutates its
    # input, and the caller's data stays as it was)
    data = dict(data)
    for rest, value in _leaves(data, sets):
        _check_path_once(head, tuple(tuple(c) for c in roots.values()), tuple(roots), f"{head}.{rest}")
        set_in(data, rest.split("."), value)
    return data


def _leaves(data: dict, sets: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """The overrides as (dotted path, value); a mapping given for a group the spec has is
    merged into it key by key: ``{efficiency: {memory: 0.8}}`` changes ``efficiency.memory``
    and keeps the group's other fields, as ``efficiency.memory: 0.8`` does (replacing the
    group would silently reset them to their defaults). A mapping for a group the spec does
    not have yet (switching one on) is set whole."""
    for rest, value in sets.items():
        path = prefix + rest
        if isinstance(value, dict) and value and all(isinstance(k, str) for k in value) \
                and isinstance(_get_in(data, path.split(".")), dict):
            yield from _leaves(data, value, path + ".")
        else:
            yield path, value


def _get_in(data: Any, keys: list[str]) -> Any:
    for k in keys:
        data = data.get(k) if isinstance(data, dict) else None
    return data


@lru_cache(maxsize=4096)
def _check_path_once(head: str, classes: tuple, heads: tuple, path: str) -> None:
    """check_path, once per (spec classes, path): a sweep sets the same paths thousands of times."""
    check_path(dict(zip(heads, (list(c) for c in classes))), path)


def _blame(src: str, e: ValidationError, head: str, sets: dict[str, Any] | None, model_cls: Any = None) -> SpecError:
    err = validation_error(src, e, head, model_cls)
    loc = (err.field or "")[len(head) + 1:]
    for rest, value in (sets or {}).items():
        if loc == rest or loc.startswith(rest + ".") or rest.startswith(loc + ".") and loc:
            return SpecError(f"--set {head}.{rest}={'' if value is None else value}", err.field, err.problem)
    # A sibling in the same group (e.g. model.moe.top_k set on a dense model leaves moe.experts
    # missing): the --set made the group, so blame it rather than the file.
    parent = loc.rpartition(".")[0]
    for rest, value in (sets or {}).items():
        if parent and rest.startswith(parent + "."):
            return SpecError(f"--set {head}.{rest}={'' if value is None else value}", err.field, err.problem)
    return err


# ---- digital units (hw.digital) ----------------------------------------------------------

def digital_preset_dir() -> Path:
    """``hw_specs/digital/`` of the checkout (or of the installed copy)."""
    return preset_dir("hw") / DIGITAL_DIR


def digital_preset_names() -> tuple[str, ...]:
    d = digital_preset_dir()
    return tuple(sorted(p.stem for p in d.glob("*.yaml"))) if d.is_dir() else ()


def load_digital(name_or_path: str, sets: dict[str, Any] | None = None) -> DigitalCompute:
    """A digital-unit preset (name in ``hw_specs/digital/``) or a YAML/JSON file path.

    ``sets`` overrides fields by dotted path (``{"sram_mb": 64}``). Raises :class:`SpecError`
    naming the file, the field and the problem.
    """
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml", ".json") or "/" in name_or_path or p.exists():
        data, src = _read_file(p), str(p)
    else:
        names = digital_preset_names()
        if name_or_path not in names:
            close = difflib.get_close_matches(name_or_path, names, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(names) or 'none'}"
            raise SpecError(name_or_path, None, f"unknown digital-unit preset{hint}")
        path = digital_preset_dir() / f"{name_or_path}.yaml"
        data, src = _read_file(path), _display(path)
    return validate_digital(data, src, sets)


def validate_digital(data: dict, src: str, sets: dict[str, Any] | None = None) -> DigitalCompute:
    if sets:
        data = _apply(data, dict(sets), "digital", {"digital": [DigitalCompute]})
    try:
        return DigitalCompute.model_validate(data)
    except ValidationError as e:
        raise validation_error(src, e, "", DigitalCompute) from None


def _digital_fields(value: str) -> dict:
    """A preset name or file path given for ``hw.digital``, as the validated unit's fields."""
    try:
        return load_digital(value).model_dump(mode="json")
    except SpecError as e:
        if e.field is None and e.source == value:  # unknown name / missing file: say which field
            raise SpecError(value, "digital", e.problem) from None
        raise  # a problem inside the preset file names that file and its field


def _resolve_digital(data: dict, sets: dict[str, Any] | None) -> tuple[dict, dict[str, Any] | None]:
    """Replace a digital-unit name (in the file or a ``--set hw.digital=NAME``) by its fields,
    so ``--set hw.digital.sram_mb=…`` can refine a named unit."""
    if isinstance(data.get("digital"), str):
        data = {**data, "digital": _digital_fields(data["digital"])}
    if sets and isinstance(sets.get("digital"), str):
        sets = {**sets, "digital": _digital_fields(sets["digital"])}
    return data, sets
