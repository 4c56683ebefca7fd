"""Axis labels with units for result and knob columns: ``axis_label("latency_ns.mvm")``.

Units come from the column name's suffix, the project's naming rule (``_ns``, ``_nj``,
``_mm2``, ``_w``, ``_gbps`` …; COMMON standards), plus a few whole names (``tokens_per_s``,
``gops_per_w_per_mm2``, workload knobs). This is the one place figures get their labels;
when ``cost/`` gains a column registry (name, unit, meaning) this function reads it first.
"""

from __future__ import annotations

# whole metric names (the part before any ".breakdown")
METRICS = {
    "tokens_per_s": ("throughput", "tokens/s"),
    "tokens_per_s_per_w": ("energy efficiency", "tokens/s/W"),
    "tokens_per_s_per_mm2": ("area efficiency", "tokens/s/mm²"),
    "gops_per_w_per_mm2": ("performance density", "GOPS/W/mm²"),
    "flops": ("operations", "ops"),
    "latency_ns": ("latency", "ns"),
    "ttft_ns": ("time to first token", "ns"),
    "tpot_ns": ("time per output token", "ns"),
    "energy_nj": ("energy", "nJ"),
    "power_w": ("power", "W"),
    "area_mm2": ("chip area", "mm²"),
    "digital_param_fraction": ("share of parameters on digital units", "fraction"),
    "tier_blocks": ("tier blocks (tiers the weights fill)", "tiers"),
    "tiles_needed": ("tiles needed", "tiles"),
    "n_devices": ("GPU devices", "devices"),
    "grouping.f_m": ("expert-phase steps per token", "steps/token"),
    "grouping.f_c": ("token transfers per token", "transfers/token"),
    "grouping.f_g": ("crossbar area factor", "× area"),
}

# knob columns whose unit is not in their name
KNOBS = {
    "workload.batch": "sequences",
    "workload.prompt_len": "tokens",
    "workload.gen_len": "tokens",
    "model.d_model": "elements",
    "model.d_ff": "elements",
    "model.moe.d_ff_expert": "elements",
    "model.moe.experts": "experts per layer",
    "model.layers": "layers",
    "hw.tiles": "tiles",
    "hw.stack_height": "tiers per tile",
    "hw.sharing.group_size": "crossbars per periphery",
    "workload.digital.fraction": "fraction of experts",
}

SUFFIXES = [  # longest first
    ("_per_256", None),
    ("_gbps", "GB/s"),
    ("_mm2", "mm²"),
    ("_pct", "%"),
    ("_nj", "nJ"),
    ("_pj", "pJ"),
    ("_ns", "ns"),
    ("_us", "µs"),
    ("_ms", "ms"),
    ("_gb", "GB"),
    ("_mb", "MB"),
    ("_w", "W"),
    ("_s", "s"),
]

BREAKDOWN = {  # what a ".part" of a summed quantity means
    "latency_ns": "busy time summed over the run",
    "energy_nj": "energy",
    "area_mm2": "area",
}


def unit(column: str) -> str | None:
    """The unit of a column, or None when its name does not carry one."""
    base, _, part = column.partition(".") if not column.startswith(("hw.", "model.", "workload.")) else (column, "", "")
    if column in METRICS:
        return METRICS[column][1]
    if base in METRICS:
        return METRICS[base][1]
    if column in KNOBS:
        return KNOBS[column]
    last = column.rsplit(".", 1)[-1] if column.startswith(("hw.", "model.", "workload.")) else base
    for suf, u in SUFFIXES:
        if last.endswith(suf):
            return u
    return None


def axis_label(column: str, shown_unit: str | None = None) -> str:
    """``column (unit)``; a latency breakdown says it is summed busy time: ``latency_ns.mvm (ns; summed busy time)``.

    ``shown_unit`` replaces the column's unit when the values are drawn rescaled (ms for ns).
    """
    u = shown_unit or unit(column)
    base, dot, part = column.partition(".")
    if dot and base == "latency_ns" and not column.startswith(("hw.", "model.", "workload.")):
        return f"{column} ({u}; summed busy time)"
    return f"{column} ({u})" if u else column


SCALES = {
    "ns": [(1e9, "s"), (1e6, "ms"), (1e3, "µs")],
    "nJ": [(1e9, "J"), (1e6, "mJ"), (1e3, "µJ")],
}


def display_scale(column: str, largest: float) -> tuple[float, str | None]:
    """(divisor, unit) to draw a column in a readable unit: latency in ms rather than 10⁶ ns."""
    u = unit(column)
    for div, name in SCALES.get(u or "", []):
        if largest >= div:
            return div, name
    return 1.0, None


def describe(column: str) -> str:
    """A few words for a title: ``throughput`` for tokens_per_s, else the column name."""
    base = column.partition(".")[0]
    if column in METRICS:
        return METRICS[column][0]
    if base in METRICS and "." not in column:
        return METRICS[base][0]
    if column.startswith("latency_ns."):
        return f"{column.partition('.')[2].upper()} busy time (summed)"
    return column
