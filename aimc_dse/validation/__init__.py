"""Reference numbers the model must reproduce, shipped with the package (never read from outside).

Each module here defines ``checks() -> list[Check]``: it evaluates the model on a reference
configuration and returns model vs reference with the tolerance. ``aimc-dse validate`` and
``tests/validation/`` run the same checks. The reference values themselves live in
``targets.yaml`` beside this file, each with its source.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

TARGETS_FILE = Path(__file__).with_name("targets.yaml")

# Modules contributing checks; each defines checks() -> list[Check].
CHECK_MODULES: list[str] = ["reference", "schedules", "gpu", "stacked"]

# The groups their checks carry, in the order all_checks() returns them. `aimc-dse validate`
# lists these in its --help and checks --group names against them before any check runs
# (tests/test_cli_ux.py checks them against the groups of all_checks()).
GROUPS: tuple[str, ...] = ("moewithpim", "ibm3dsim_readme", "paper_claims", "schedules", "gpu", "stacked_batch")


@dataclass(frozen=True)
class Check:
    group: str  # e.g. "moewithpim", "ibm3dsim_readme", "gpu", "schedules"
    name: str  # the run, e.g. "1_ prefill 32 tokens, no grouping"
    quantity: str  # e.g. "latency_ns"
    reference: float
    model: float
    tolerance: float  # relative; a check passes when |model/reference − 1| ≤ tolerance
    source: str  # where the reference number comes from
    command: str = ""  # the CLI command that reproduces it, when there is one

    @property
    def error(self) -> float:
        return self.model / self.reference - 1.0 if self.reference else float("inf")

    @property
    def passed(self) -> bool:
        return abs(self.error) <= self.tolerance + 1e-12


@lru_cache(maxsize=1)
def targets() -> dict:
    from ..specs.safe_io import YAML_LOADER

    return yaml.load(TARGETS_FILE.read_text(), Loader=YAML_LOADER)


def all_checks() -> list[Check]:
    out: list[Check] = []
    for name in CHECK_MODULES:
        out += importlib.import_module(f"{__name__}.{name}").checks()
    return out
