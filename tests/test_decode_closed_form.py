"""The closed-form decode steps (cost/aimc/decode.py) against the step loop they replace.

Every result column of the AIMC model must agree to 1e-11 relative with the step-by-step
evaluation, on design points that mix accounting profiles, caches, prefill on/off, batch,
stacked and planar chips, long and short prompts and generations, sliding-window (gpt-oss)
and MLA (DeepSeek-V3) attention and several chips — and the closed form must actually
take the one-token and the whole-context decode steps (else the comparison would be vacuous).
"""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest

from aimc_dse.cost.aimc import aimc_cost, decode
from aimc_dse.cost.columns import Cols
from aimc_dse.specs.points import build_points
from tests.golden.points import points

MODELS = ["gpt-oss-20b", "deepseek-v3"]


def _frame() -> pd.DataFrame:
    rng = random.Random(7)
    frames = []
    for p in points():
        if p["hw"] in ("a100-sxm4-80gb", "a100-sxm4-40gb", "a100-paper", "h100-sxm"):
            continue
        wl = dict(p["workload"], gen_len=rng.choice([1, 2, 17, 64, 300]), prompt_len=rng.choice([1, 9, 100, 700]))
        if not wl.get("prefill", True):
            wl["gen_len"] = max(wl["gen_len"], 2)
        frames.append(build_points([p["hw"]], [p["model"]], wl, p["sets"]))
    for model in MODELS:
        for kv, go, chips in ((True, False, 1), (True, True, 2), (False, False, 1)):
            wl = {"prompt_len": 300, "gen_len": 40, "batch": 8, "kv_cache": kv, "go_cache": go}
            frames.append(build_points(["nature-3d-aimc"], [model], wl, [f"hw.chips={chips}", "hw.size_to_model=true"]))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def both():
    df = _frame()
    closed = aimc_cost(Cols(df))
    seen: dict[str, list] = {"loop": [], "single": [], "digital": []}
    real_loop, real_steps = decode.decode_loop, decode.decode_steps

    def counting_loop(m, single):
        seen["loop"].append(len(single))
        return real_loop(m, single)

    def recording_steps(tot, m, single):
        seen["single"].append(single & (m.work.G > 1))
        seen["digital"] = [(m.d.tw.dig_macs > 0) | (m.d.dmac.lm > 0)]
        return real_steps(tot, m, single)

    mp = pytest.MonkeyPatch()
    mp.setattr(decode, "decode_loop", counting_loop)
    mp.setattr(decode, "decode_steps", recording_steps)
    try:
        aimc_cost(Cols(df))
        mp.setattr(decode, "CLOSED_FORM", False)
        loop = aimc_cost(Cols(df))
    finally:
        mp.undo()
    return df, closed, loop, seen["loop"][0], seen["single"][0], seen["digital"][0]


def test_closed_form_equals_the_step_loop(both):
    df, closed, loop, _, _, _ = both
    assert closed.keys() == loop.keys()
    for name, a in closed.items():
        b = loop[name]
        if np.asarray(a).dtype.kind in "fi":
            a, b = np.asarray(a, float), np.asarray(b, float)
            same = np.isclose(a, b, rtol=1e-11, atol=1e-9) | (np.isnan(a) & np.isnan(b))
            bad = np.flatnonzero(~same)
            assert not len(bad), f"{name}: row {bad[0]} closed {a[bad[0]]!r} loop {b[bad[0]]!r}"
        else:
            assert np.array_equal(np.asarray(a), np.asarray(b)), name


def test_the_closed_form_takes_the_decode_steps(both):
    df, _, _, looped, single, digital = both
    decoding = (df["workload.gen_len"] > 1).to_numpy()
    recompute = decoding & ~single
    # one-token steps and whole-context steps both go to the closed form; the loop keeps
    # whole-context steps with digital-engine work and (rarely) ranges where the MHA demand
    # is not monotone against the other demands, or a one-token job that dips
    assert single.sum() > 100 and (recompute & ~digital).sum() > 50
    assert looped <= (recompute & digital).sum() + math.ceil(0.1 * (decoding & ~(recompute & digital)).sum())


def test_envelope_sums_the_maximum_of_lines_by_hand():
    # K(n) = max(0, n − 5, 2n − 12) on 0 … 10: 0 ×6 (n ≤ 5), 1 (n = 6), 2, then 2n − 12 = 4, 6, 8
    lines = decode.Lines(s=np.array([[0.0], [1.0], [2.0]]), i=np.array([[0.0], [-5.0], [-12.0]]))
    env = decode.envelope(lines, np.array([0]), np.array([10]))
    assert env.exact.all()
    assert env.sum(np.array([0]), np.array([10]))[0] == 0 + 1 + 2 + 4 + 6 + 8
    assert env.sum(np.array([7]), np.array([8]))[0] == 2 + 4
    lo, hi = env.slopes()
    assert (lo[0], hi[0]) == (0.0, 2.0)


def test_envelope_equals_brute_force_on_random_lines():
    rng = np.random.default_rng(3)
    k, n = 6, 400
    s = rng.choice([0.0, 0.5, 1.0, 3.0, 7.25], size=(k, n))  # repeated slopes: parallel lines
    i = rng.integers(-200, 200, size=(k, n)).astype(float)
    a = rng.integers(0, 50, size=n)
    b = a + rng.integers(-1, 80, size=n)  # some empty ranges
    env = decode.envelope(decode.Lines(s=s, i=i), a, b)
    assert env.exact.all()
    brute = np.array([sum((s[:, p] * x + i[:, p]).max() for x in range(a[p], b[p] + 1)) for p in range(n)])
    assert np.allclose(env.sum(a, b), brute, rtol=1e-12, atol=1e-9)
