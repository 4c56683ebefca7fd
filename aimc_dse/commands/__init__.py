"""CLI command modules. Each module defines ``register(app)``; list its commands here to add it.

Keeping each command in its own module lets capabilities land independently while
``cli.py`` stays thin. ``COMMANDS`` maps each command name to the module that registers it
and its one-line help: ``aimc-dse --help`` lists them without importing any module, and
running a command imports only its own (start-up time: numpy, pandas, pyarrow, the cost
model and matplotlib load only when the command needs them).
"""

from __future__ import annotations

import importlib

# name -> (module, one-line help shown by `aimc-dse --help`); the order is the help's order
COMMANDS: dict[str, tuple[str, str]] = {
    "presets": ("presets", "List hardware, model and digital-engine presets with a one-line description."),
    "show": ("presets", "Print a validated spec with its derived figures (parameters, tier blocks, tiles needed, fit, area)."),
    "evaluate": ("evaluate", "Evaluate design points: tokens/s, tokens/s/W, tokens/s/mm², latency, energy, area."),
    "validate": ("validate", "Run the model against the shipped reference targets; exit 1 when a tolerance is broken."),
    "sweep": ("sweep", "Evaluate every design point of a sweep file; write CSV/Parquet; print the best designs and a Pareto front."),
    "pareto": ("pareto", "Print the Pareto front of two or three metrics of a results file."),
    "plot": ("plot", "Plot one column of a results file against another (matplotlib)."),
    "schedule": ("schedule", "Group experts and schedule a trace's expert phase: loads per group, length, transfers, f_m, f_c, f_g."),
    "trace": ("schedule", "Gate traces (.npy, layers × tokens × experts, 0/1) for `schedule` and the cost model."),
    "columns": ("columns", "List the result columns: unit, type, which systems write them, and what they mean."),
    "experts": ("experts", "Expert-level analysis from real weights (heterogeneous analog–digital MoE)."),
}

# Commands whose work is dense linear algebra (matrix products through numpy's BLAS, as the
# experts' noise proxy computes). Every other command uses numpy element-wise only, and the
# CLI starts them with one BLAS thread (aimc_dse/runtime.py says why).
LINEAR_ALGEBRA: frozenset[str] = frozenset({"experts"})


def module(name: str):
    """The command module ``aimc_dse.commands.<name>`` (imported on first use)."""
    return importlib.import_module(f"{__name__}.{name}")


def __getattr__(name: str):
    if name == "COMMAND_MODULES":  # every module, for code that wants them all
        return [module(m) for m in dict.fromkeys(m for m, _ in COMMANDS.values())]
    raise AttributeError(name)
