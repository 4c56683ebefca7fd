"""The closed form against the event-driven simulator on a fixed sample of stacked designs
(aimc_dse/validation/closed_vs_event.py; docs/batch-fidelity.md).

The sample's event results are cached in aimc_dse/validation/data/closed_vs_event.csv. The
tests prove the cache is current (the seeded draw gives the same designs; a seeded subset of
20 designs re-simulated gives the same latency and energy), then evaluate the closed form on
the whole sample.

Issue 11's target is within 10 % of the event mode on ≥ 90 % of the sample and within 25 %
on all. The closed form achieves 92.4 % within 10 % (474 of 513) and 99.4 % within 25 %
(510 of 513; worst 33 %, the three designs docs/batch-fidelity.md explains), so the second
half of the target is not met. ``test_closed_form_ratchet`` asserts these achieved figures,
so it fails if the closed form gets worse.
"""

from __future__ import annotations

import numpy as np
import pytest

from aimc_dse.validation import closed_vs_event as cve

CACHE = cve.load_cache()


def test_sample_is_large_and_covers_the_regimes():
    ok = CACHE[CACHE["event_latency_ns"].notna()]
    assert len(ok) >= 500
    assert set(ok["regime"]) >= {"tile", "dpu", "dram"}
    assert ok["moe"].any() and (~ok["moe"].astype(bool)).any()
    assert set(ok["strategy"]) == {"greedy_in_order", "moe_separated"}
    assert ok["batch"].min() == 1 and ok["batch"].max() == 64
    assert ok["cache"].any() and (~ok["cache"].astype(bool)).any()


def test_seeded_draw_matches_the_cache():
    rng = np.random.default_rng(cve.SEED)
    drawn = [cve.draw_design(rng, i) for i in range(cve.N_SAMPLE)]
    knobs = [c for c in cve.KNOBS if c != "stack"]
    for k, row in zip(drawn, cve.designs_of(CACHE)):
        assert {c: k[c] for c in knobs} == {c: row[c] for c in knobs}


def test_cached_event_results_are_current():
    rng = np.random.default_rng(7)
    light = CACHE[CACHE["event_latency_ns"].notna() & (CACHE["batch"] <= 16)]
    sub = light.iloc[np.sort(rng.choice(len(light), 20, replace=False))]
    sim = cve.simulate(cve.designs_of(sub))
    assert sim["event_latency_ns"].to_numpy() == pytest.approx(sub["event_latency_ns"].to_numpy(), rel=1e-9)
    assert sim["event_energy_nj"].to_numpy() == pytest.approx(sub["event_energy_nj"].to_numpy(), rel=1e-9)
    assert list(sim["regime"]) == list(sub["regime"])


def test_closed_form_ratchet():
    e = cve.closed_errors(CACHE)
    a = e["err"].abs()
    n = len(a)
    assert (a <= 0.10).sum() >= 474, f"within 10 %: {(a <= 0.10).sum()}/{n}"  # 92.4 % (target: 90 %)
    assert (a <= 0.25).sum() >= 510, f"within 25 %: {(a <= 0.25).sum()}/{n}"  # 99.4 % (target: all)
    assert a.max() <= 0.34 and abs(e["err"].median()) <= 0.01
    assert e["err_energy"].abs().median() <= 0.005
