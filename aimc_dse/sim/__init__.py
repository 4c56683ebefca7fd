"""Event-driven simulation of the AIMC hardware model (``--fidelity event``; docs/event-simulation.md).

A discrete-event list scheduler at the references' granularity — each tier MVM, partial-sum
add, transfer, layer norm, activation, attention job (with its KV/GO DRAM load) and
sampling is a node of a dependency graph — on tiles under one-tier-at-a-time, the DPU pool
and the MHA units, with the reference simulators' priority policy (docs/reference-simulators.md
§C.4). It is the ground truth the closed form (``cost.aimc``) approximates.
"""

from __future__ import annotations

from .core import simulate_point
from .frame import evaluate_frame_event

__all__ = ["simulate_point", "evaluate_frame_event"]
