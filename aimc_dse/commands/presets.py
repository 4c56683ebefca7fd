"""`aimc-dse presets` and `aimc-dse show`: the vocabulary, validated, with derived figures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..api import set_text
from ..report.output import emit
from ..specs import loader
from ..specs.base import SpecError
from ..specs.flat import flatten
from ..specs.hardware import AimcHardware, GpuHardware
from ..specs.model import ModelSpec
from .common import FormatOpt, SetOpt


def presets_rows() -> list[dict]:
    from ..specs.loader import digital_preset_dir, digital_preset_names

    rows = []
    for kind, label in (("hw", "hardware"), ("model", "model")):
        for name in loader.preset_names(kind):
            data, _ = loader.resolve(kind, name)
            sub = data.get("kind", "aimc") if kind == "hw" else ("moe" if data.get("moe") else "dense")
            rows.append({"name": name, "kind": label, "type": sub, "description": data.get("description", "")})
    # Digital engines (hw.digital=NAME on an AIMC chip; Chowdhury et al.'s heterogeneous MoE)
    for name in digital_preset_names():
        data = loader._read_file(digital_preset_dir() / f"{name}.yaml")
        rows.append({"name": name, "kind": "digital engine", "type": "digital", "description": data.get("description", "")})
    return rows


def _guess_kind(name_or_path: str) -> str:
    from ..specs.loader import digital_preset_names

    if name_or_path in loader.preset_names("hw"):
        return "hw"
    if name_or_path in loader.preset_names("model"):
        return "model"
    if name_or_path in digital_preset_names():
        return "digital"
    p = Path(name_or_path)
    if p.is_dir():
        if (p / "config.json").is_file():
            return "model"  # a Hugging Face checkout
        raise SpecError(name_or_path, None, "is a folder, not a file (a Hugging Face checkout is read through its config.json)")
    if p.exists() and p.is_file():
        data, _ = loader.resolve("model", name_or_path) if p.suffix == ".json" else (loader._read_file(p), str(p))
        if data.get("kind") in ("aimc", "gpu") or "tier_rows" in data or "hbm_bandwidth_gbps" in data:
            return "hw"
        if "peak_tops" in data and "energy_pj_per_mac" in data:
            return "digital"
        return "model"
    if p.suffix or "/" in name_or_path:
        raise SpecError(name_or_path, None, "file not found")
    # Unknown name: report it against both preset lists, closest names first.
    all_names = loader.preset_names("hw") + loader.preset_names("model") + digital_preset_names()
    import difflib

    close = difflib.get_close_matches(name_or_path, all_names, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; run `aimc-dse presets` for the list"
    raise SpecError(name_or_path, None, f"unknown preset{hint}")


def digital_figures(d) -> dict:
    """Derived figures of a digital engine (all units together)."""
    return {
        "derived.total_peak_tops": d.total_peak_tops,
        "derived.tops_per_w": d.tops_per_w,
        "derived.sram_bytes": d.sram_bytes,
        "derived.sram_weights": d.sram_weights,
        "derived.area_mm2": d.area_mm2,
        "derived.total_static_power_w": d.total_static_power_w,
    }


def hardware_figures(hw) -> dict:
    if isinstance(hw, AimcHardware):
        return {
            "derived.total_tiers": hw.total_tiers,
            "derived.weights_capacity": hw.total_tiers * hw.tier_rows * hw.weight_cols // hw.tiers_per_block,
            "derived.peak_tops": hw.peak_tops,
            "derived.tile_mm2": hw.tile_mm2,  # area.tile_mm2 at this tier size (reference_tier)
            "derived.chip_area_mm2": hw.chip_area_mm2(),
            "derived.sharing_area_factor": hw.sharing_area_factor,
        }
    assert isinstance(hw, GpuHardware)
    return {
        "derived.peak_tflops": hw.peak_tflops[hw.compute_precision],
        "derived.usable_memory_gb": hw.usable_memory_bytes / 1e9,
    }


def _kv_bytes(hw) -> float:
    """Bytes per KV element: the GPU's kv_precision, the AIMC chip's kv_bits, else 1 (an 8-bit cache)."""
    from ..specs.hardware import BYTES_PER_ELEMENT

    if isinstance(hw, AimcHardware):
        return hw.kv_bits / 8.0
    return BYTES_PER_ELEMENT[hw.kv_precision] if isinstance(hw, GpuHardware) else 1.0


def model_figures(m: ModelSpec, hw=None) -> dict:
    out = {
        "derived.parameters": m.parameters,
        "derived.parameters_b": m.parameters / 1e9,
        "derived.active_parameters": m.active_parameters,
        "derived.active_parameters_b": m.active_parameters / 1e9,
        "derived.active_parameters_excl_embedding": m.active_parameters_excl_embedding,
        "derived.active_parameters_excl_embedding_b": m.active_parameters_excl_embedding / 1e9,
        "derived.moe_layers": m.moe_layers,
        "derived.dense_layers": m.dense_layers,
        "derived.kv_elements_per_token": m.kv_elements_per_token,
        # 1 byte per element (8-bit cache) unless the hardware's KV precision says otherwise
        "derived.kv_bytes_per_token": m.kv_elements_per_token * _kv_bytes(hw),
        "derived.local_layers": m.local_layers,
    }
    if isinstance(hw, AimcHardware):
        blocks = {k: v * hw.tiers_per_block for k, v in m.tier_blocks(hw.tier_rows, hw.weight_cols).items()}
        total = sum(blocks.values())
        for part, n in blocks.items():
            out[f"tier_blocks.{part}"] = n
        if m.moe is not None:
            out["tier_blocks.per_expert"] = blocks.get("expert", 0) // (m.moe.experts * m.moe_layers)
        out["tier_blocks.total"] = total
        out["derived.tiles_needed"] = -(-total // hw.stack_height)
        out["derived.tiers_available"] = hw.total_tiers
        out["derived.fits"] = total <= hw.total_tiers
        out["derived.chip_area_mm2"] = hw.chip_area_mm2()
    elif isinstance(hw, GpuHardware):
        from ..specs.hardware import BYTES_PER_ELEMENT

        need = m.parameters * BYTES_PER_ELEMENT[hw.weight_precision]
        out["derived.weight_bytes"] = need
        if hw.parallelism == "ep" and m.moe is not None:  # everything but the experts on every device
            experts = sum(x.params for x in m.matrices() if x.part == "expert") * BYTES_PER_ELEMENT[hw.weight_precision]
            free = hw.usable_memory_bytes - (need - experts)
            out["derived.devices_needed"] = max(1, -(-int(experts) // int(free))) if free > 0 else 0
        else:
            out["derived.devices_needed"] = max(1, -(-int(need) // int(hw.usable_memory_bytes)))
    return out


def _check_unused_sets(overrides: dict[str, dict], used: set[str]) -> None:
    """Reject ``--set`` items that `show` would silently ignore (a typo'd path is "no such field")."""
    from ..specs.workload import Workload

    roots = {"hw": [AimcHardware, GpuHardware], "model": [ModelSpec], "workload": [Workload]}
    for head, items in overrides.items():
        for rest, value in items.items():
            loader.check_path(roots, f"{head}.{rest}")
            if head not in used:
                hint = "; give --hw to map the model onto hardware" if head == "hw" else ""
                raise SpecError(f"--set {set_text(f'{head}.{rest}', value)}", f"{head}.{rest}", f"not used by `show` here{hint}")


def register(app: typer.Typer) -> None:
    from .errors import cli_errors

    @app.command("presets")
    @cli_errors
    def presets(fmt: FormatOpt = "table") -> None:
        """List hardware, model and digital-engine presets with a one-line description."""
        emit(presets_rows(), fmt, title="aimc-dse presets")

    @app.command("show")
    @cli_errors
    def show(
        spec: Annotated[str, typer.Argument(help="preset name or path to a YAML/JSON spec (or HF config.json)")],
        hw: Annotated[Optional[str], typer.Option("--hw", help="hardware to map a model onto (tier blocks, fit)")] = None,
        sets: SetOpt = None,
        fmt: FormatOpt = "table",
    ) -> None:
        """Print a validated spec with its derived figures (parameters, tier blocks, tiles needed, fit, area)."""
        overrides = loader.split_sets(sets)
        kind = _guess_kind(spec)
        if hw and kind == "hw":
            raise SpecError(f"--hw {hw}", None, f"`show` maps a model onto hardware; {spec} is hardware and takes no --hw")
        if kind != "digital":
            _check_unused_sets(overrides, {"hw"} if kind == "hw" else {"model", "hw"} if hw else {"model"})
        if kind == "digital":
            from ..specs.loader import load_digital

            if hw:
                raise SpecError(f"--hw {hw}", None, "`show` maps a model onto hardware; a digital engine takes no --hw")
            prefix = "hw.digital."
            bad = [k for k in overrides["hw"] if not k.startswith("digital.")]
            if bad or overrides["model"] or overrides["workload"]:
                item = f"hw.{bad[0]}" if bad else next(f"{h}.{k}" for h in ("model", "workload") for k in overrides[h])
                raise SpecError(f"--set {item}", None, f"a digital engine takes --set {prefix}FIELD=VALUE only")
            d = load_digital(spec, {k[len("digital."):]: v for k, v in overrides["hw"].items()})
            row = {**flatten(d), **digital_figures(d)}
            emit([row], fmt, title=f"{spec}", transpose=True)
            return
        if kind == "hw":
            h = loader.load_hardware(spec, overrides["hw"])
            row = {**flatten(h), **hardware_figures(h)}
        else:
            m = loader.load_model(spec, overrides["model"])
            h = loader.load_hardware(hw, overrides["hw"]) if hw else None
            row = {**flatten(m), **model_figures(m, h)}
            if h is not None:
                row = {"hardware": h.name, **row}
        emit([row], fmt, title=f"{spec}", transpose=True)
