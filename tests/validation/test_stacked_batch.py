"""Several sequences on stacked chips: the closed form against the MoEwithPIM runs shipped in
aimc_dse/validation/data (docs/reference-simulators.md §G.4).

Operations are exact counts and energy carries passive power × makespan, so every run must
agree within 0.1 % and 10 %. Latency: issue 11's target is ≤ 10 % on ≥ 90 % of runs and ≤ 20 %
on all. The closed form (docs/batch-fidelity.md) meets it: 105 of 112 within 10 % and all
within 20 % (worst 19.1 %); before this round's changes 96 and 110, and with the mean-value
correction before that 62 and 89. The latency tests below assert these achieved figures, so
they fail if the closed form gets worse; ``aimc-dse validate --group stacked_batch`` checks
the target itself.
"""

from __future__ import annotations

import pytest

from aimc_dse.validation import stacked

RES = stacked.evaluate_runs()
ERR = {q: (RES[q] / RES[f"ref.{q}"] - 1).abs() for q in ("latency_ns", "energy_nj", "flops")}


def test_corpus_is_shipped_and_evaluated():
    assert len(RES) >= 112  # the 60-run corpus and 52 runs of our own
    assert RES["fits"].all()


@pytest.mark.parametrize("i", range(len(RES)), ids=list(RES["run"]))
def test_operations_are_exact_and_energy_within_10pct(i):
    assert ERR["flops"].iloc[i] <= stacked.OPS_TOL
    assert ERR["energy_nj"].iloc[i] <= stacked.E_TOL


def test_latency_ratchet():
    lat = ERR["latency_ns"]
    assert (lat <= 0.10).sum() >= 105, f"within 10 %: {(lat <= 0.10).sum()}/{len(lat)}"
    assert (lat <= 0.20).sum() >= 112, f"within 20 %: {(lat <= 0.20).sum()}/{len(lat)}"
    assert lat.median() <= 0.043 and lat.max() <= 0.20
