"""Accounting profiles as named flags (docs/accounting.md, docs/reference-simulators.md §H).

``hw.accounting`` chooses what the model charges. ``physical`` (the default) charges what
the hardware does; ``ibm3dsim`` and ``moewithpim`` reproduce the two public reference
simulators, quirks included, so their published runs stay reproducible. Each quirk is one
named flag here; the model's steps read flags, never the profile name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..numeric import Array


@dataclass(frozen=True)
class Accounting:
    """Per-point flags; True means the model charges/behaves as the flag's name says."""

    physical: Array
    ibm3dsim: Array
    moewithpim: Array
    # The references never execute the learned-position-embedding MVMs (§H.6).
    position_mvms: Array
    # Expert-combining adds have width d; the references label them d_ff (§H.8).
    combine_adds_width_d: Array
    # The KV-cache load is charged to the attention job (3D-SiM's stub attention omits it, §H.3).
    kv_load_charged: Array
    # The GO cache's DRAM traffic (gate scores and expert outputs) is charged (the references do not).
    go_traffic_charged: Array
    # Grouping acts on the expert phase and expert crossbars only (physical) …
    grouping_on_expert_phase: Array
    # … or as MoEwithPIM applies it (§E.2): the whole prompt rescaled by f_m, every input
    # transfer by f_c (without re-rounding, §A.5.3), every MVM's energy by f_g.
    prompt_scaled_by_f_m: Array
    transfers_scaled_by_f_c: Array
    all_mvm_energy_scaled_by_f_g: Array
    # MoEwithPIM traces a single token per decode step whenever the GO flag is set, dense
    # models included (docs/reference-simulators.md §E.6).
    go_flag_traces_one_token: Array

    def dram_powered(self, kv_cache: Array, go_cache: Array, go_flag: Array) -> Array:
        """Whether the DRAM's idle power is charged: whenever a cache lives in it (physical);
        3D-SiM only with its KV flag, MoEwithPIM only with its GO flag, dense models
        included (§A.4)."""
        return np.where(self.ibm3dsim, kv_cache, np.where(self.moewithpim, go_flag, kv_cache | go_cache))


def accounting(profile: Array) -> Accounting:
    pim = profile == "moewithpim"
    ibm = profile == "ibm3dsim"
    physical = ~(pim | ibm)
    return Accounting(
        physical=physical, ibm3dsim=ibm, moewithpim=pim,
        position_mvms=physical, combine_adds_width_d=physical, kv_load_charged=physical | pim,
        go_traffic_charged=physical, grouping_on_expert_phase=physical,
        prompt_scaled_by_f_m=pim, transfers_scaled_by_f_c=pim, all_mvm_energy_scaled_by_f_g=pim,
        go_flag_traces_one_token=pim,
    )
