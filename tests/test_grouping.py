"""Expert groupings, group-wise schedules and their factors (cost/grouping.py; Gao & Yang 2026,
docs/reference-simulators.md §E.4–§E.7, §G.6)."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aimc_dse.moe import grouping as gr
from aimc_dse.moe.routing import expert_choice_choices, synth_choices
from aimc_dse.validation import schedules as toy_checks

# ---- helpers ---------------------------------------------------------------------------------


def toy():
    choices, groups = toy_checks.toy_example()
    return gr.group_token_loads(choices, groups)


def assert_valid(s: gr.Schedule, ell: np.ndarray, length: int | None = None) -> None:
    """Every group serves exactly its FIFO queue, in order, one item per step."""
    T, G = ell.shape
    assert s.slots.shape == (s.length, G)
    for g in range(G):
        col = s.slots[:, g]
        assert np.array_equal(col[col >= 0], np.repeat(np.arange(T), ell[:, g]))
    if length is not None:
        assert s.length == length
    assert s.transfers == gr.count_transfers(s.slots)


def rows_1based(s: gr.Schedule) -> list[list[int | None]]:
    return [[int(x) + 1 if x >= 0 else None for x in row] for row in s.slots]


def reference_literal(ell: np.ndarray) -> np.ndarray:
    """§E.5.3 applied literally: insert idles into each queue one insertion at a time."""
    T, G = ell.shape
    tot = ell.sum(axis=0)
    L, star = int(tot.max()), int(np.argmax(tot))
    C = np.cumsum(ell, axis=0)
    out = np.full((L, G), -1)
    for g in range(G):
        col = np.repeat(np.arange(T), ell[:, g])
        for t, m in zip(*gr._reference_insertions(C[:, star] - C[:, g])):
            later = np.flatnonzero(col >= t)
            if later.size == 0:
                break
            col = np.insert(col, later[0], [-1] * m)
        out[: col.size, g] = col
    return out


def scan_literal(r: np.ndarray) -> tuple[list[int], list[int]]:
    """§E.5.3's scan of one group's slack as written: every t with r(t) > 0 looks at its own
    window r[t..] (O(T) each) — the oracle for ``gr._reference_insertions``."""
    r = np.array(r, dtype=np.int64)
    T = r.size
    at: list[int] = []
    num: list[int] = []
    for t in range(T):
        if r[-1] == 0:
            break
        if r[t] > 0:
            window = r[t:]
            positive = window > 0
            n_pos = int(positive.sum())
            if n_pos > (T - t) - n_pos:
                m = int(window[positive].min())
                at.append(t)
                num.append(m)
                r[t:] -= m
    return at, num


def lazy_literal(queues: list[np.ndarray], L: int) -> list[np.ndarray]:
    """The greedy start step by step over arrays — the oracle for ``gr._lazy_positions``."""
    G = len(queues)
    head = np.zeros(G, dtype=np.int64)
    n = np.array([q.size for q in queues], dtype=np.int64)
    pos = [np.empty(q.size, dtype=np.int64) for q in queues]
    for s in range(L):
        left = n - head
        active = left > 0
        cur = np.array([queues[g][head[g]] if active[g] else -1 for g in range(G)], dtype=np.int64)
        must = active & (left == L - s)
        serve = must | (active & np.isin(cur, cur[must]))
        for g in np.flatnonzero(serve):
            pos[g][head[g]] = s
            head[g] += 1
    return pos


def exact_min_transfers(ell: np.ndarray) -> int:
    """Brute force over every idle placement at the compact length (small cases only)."""
    queues = [np.repeat(np.arange(ell.shape[0]), ell[:, g]).tolist() for g in range(ell.shape[1])]
    n = [len(q) for q in queues]
    L, G = max(n), len(queues)

    @functools.lru_cache(maxsize=None)
    def best(step: int, heads: tuple[int, ...]) -> int:
        if step == L:
            return 0
        active = [g for g in range(G) if heads[g] < n[g]]
        out = 10**9
        for mask in range(1 << len(active)):
            serve = [active[i] for i in range(len(active)) if mask >> i & 1]
            nxt = list(heads)
            for g in serve:
                nxt[g] += 1
            if any(n[g] - nxt[g] > L - step - 1 for g in range(G)):
                continue
            cost = len({queues[g][heads[g]] for g in serve})
            out = min(out, cost + best(step + 1, tuple(nxt)))
        return out

    return best(0, (0,) * G)


@st.composite
def traces(draw, max_tokens=200):
    E = draw(st.sampled_from([2, 4, 6, 8, 12, 16]))
    k = draw(st.integers(1, E))
    T = draw(st.integers(1, max_tokens))
    zipf = draw(st.floats(0, 2))
    seed = draw(st.integers(0, 2**31 - 1))
    g = draw(st.sampled_from([d for d in range(1, E + 1) if E % d == 0]))
    grouping = draw(st.sampled_from(gr.GROUPINGS))
    c = synth_choices(E, k, T, zipf=zipf, seed=seed)[0]
    if draw(st.booleans()):  # expert choice: varying experts per token, some tokens with none
        c = expert_choice_choices(E, T, max(1, T * k // E), seed=seed)[0]
    return gr.group_token_loads(c, gr.make_groups(gr.expert_loads(c), g, grouping))


# ---- the toy example (Gao & Yang Fig. 2; §E.5.5) ---------------------------------------------


def test_toy_group_loads():
    assert toy().sum(axis=0).tolist() == [7, 7, 5, 5]


def test_toy_single_token_schedule_is_10_steps_10_transfers():
    s = gr.single_schedule(toy())
    assert_valid(s, toy())
    assert (s.length, s.transfers) == (10, 10)


def test_toy_compact_schedule_is_7_steps_16_transfers():
    s = gr.compact_schedule(toy())
    assert_valid(s, toy())
    assert (s.length, s.transfers) == (7, 16)


def test_toy_reference_heuristic_gives_the_codes_7_13_rows():
    s = gr.optimized_reference_schedule(toy())
    assert_valid(s, toy(), length=7)
    assert s.transfers == 13
    N = None
    assert rows_1based(s) == [[1, 1, 1, 1], [2, 2, N, 2], [3, 2, N, N], [3, 4, 3, 3],
                              [4, 5, 4, N], [4, 6, 5, 5], [5, 6, 6, 6]]


def test_toy_optimized_reaches_the_paper_figures_7_12():
    s = gr.optimized_schedule(toy())
    assert_valid(s, toy(), length=7)
    assert s.transfers == 12


def test_toy_12_is_optimal():
    assert exact_min_transfers(toy()) == 12


def test_toy_checks_all_pass():
    checks = toy_checks.checks()
    assert len(checks) == 8
    assert all(c.passed for c in checks), [(c.name, c.quantity, c.model) for c in checks if not c.passed]


# ---- schedules on random traces ---------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(traces())
def test_optimized_never_needs_more_transfers_than_compact_or_the_reference(ell):
    c = gr.compact_schedule(ell)
    o = gr.optimized_schedule(ell)
    r = gr.optimized_reference_schedule(ell)
    assert_valid(o, ell, length=c.length)
    assert_valid(r, ell, length=c.length)
    assert o.transfers <= c.transfers
    assert o.transfers <= r.transfers
    routed = int((ell.sum(axis=1) > 0).sum())
    assert o.transfers >= max(c.length, routed)


@settings(max_examples=100, deadline=None)
@given(traces())
def test_reference_heuristic_matches_its_literal_idle_insertion(ell):
    assert np.array_equal(gr.optimized_reference_schedule(ell).slots, reference_literal(ell))


@settings(max_examples=150, deadline=None)
@given(traces())
def test_reference_scan_and_greedy_start_match_their_step_by_step_definitions(ell):
    # both run in O(T) per insertion / per step of plain Python (a 400k-token trace: 28 s → 8 s
    # for `schedule --schedule optimized`); the literal versions are the definitions
    tot = ell.sum(axis=0)
    C = np.cumsum(ell, axis=0)
    for g in range(ell.shape[1]):
        slack = C[:, int(np.argmax(tot))] - C[:, g]
        assert gr._reference_insertions(slack) == scan_literal(slack)
    queues = gr._queues(ell)
    L = max((q.size for q in queues), default=0)
    for got, want in zip(gr._lazy_positions(queues, L), lazy_literal(queues, L)):
        assert np.array_equal(got, want)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-6, 9), min_size=1, max_size=60))
def test_reference_scan_matches_its_definition_on_any_slack(r):
    r[-1] = abs(r[-1])  # r(T−1) ≥ 0: g* is the heaviest group
    assert gr._reference_insertions(np.array(r)) == scan_literal(np.array(r))


@settings(max_examples=100, deadline=None)
@given(traces())
def test_single_and_compact_follow_their_definitions(ell):
    s = gr.single_schedule(ell)
    assert_valid(s, ell, length=int(ell.max(axis=1).sum()))
    assert s.transfers == s.length == gr.single_length(ell)
    c = gr.compact_schedule(ell)
    assert_valid(c, ell, length=int(ell.sum(axis=0).max()))
    assert c.transfers <= int(ell.sum())  # at most one transfer per served slot


@pytest.mark.parametrize("seed", range(12))
def test_optimized_is_optimal_on_small_traces(seed):
    rng = np.random.default_rng(seed)
    E, g = (8, 2) if seed % 2 else (16, 4)
    k, T = int(rng.integers(2, 5)), int(rng.integers(5, 10))
    c = synth_choices(E, k, T, zipf=float(rng.uniform(0, 1.5)), seed=seed)[0]
    ell = gr.group_token_loads(c, gr.make_groups(gr.expert_loads(c), g, ["uniform", "sorted", "balanced"][seed % 3]))
    assert gr.optimized_schedule(ell).transfers == exact_min_transfers(ell)


def test_optimized_beats_the_reference_on_a_real_sized_trace():
    c = synth_choices(16, 4, 1024, zipf=1.0, seed=0)[0]
    ell = gr.group_token_loads(c, gr.uniform_groups(16, 2))
    o, r = gr.optimized_schedule(ell), gr.optimized_reference_schedule(ell)
    assert o.length == r.length
    assert o.transfers < r.transfers


def test_schedules_are_frozen():
    s = gr.compact_schedule(toy())
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.length = 3
    with pytest.raises(ValueError):
        s.slots[0, 0] = 5


def test_unknown_schedule_is_a_value_error():
    with pytest.raises(ValueError, match="choose one of single, compact, optimized"):
        gr.run_schedule(toy(), "fastest")


# ---- groupings (§E.4) ---------------------------------------------------------------------------


def test_uniform_groups_by_index():
    assert gr.uniform_groups(8, 2).tolist() == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert gr.uniform_groups(8, 4).tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]


LOADS16 = np.array([50, 3, 17, 90, 8, 41, 66, 12, 29, 75, 5, 33, 58, 21, 84, 1])


def test_sorted_g2_pairs_lightest_with_heaviest():
    idx = np.argsort(LOADS16, kind="stable")
    expect = [{idx[i], idx[15 - i]} for i in range(8)]
    assert [set(g) for g in gr.sorted_groups(LOADS16, 2).tolist()] == expect


def test_sorted_g4_is_the_reference_S4():
    idx = np.argsort(LOADS16, kind="stable")
    expect = [{idx[2 * i], idx[2 * i + 1], idx[15 - 2 * i], idx[14 - 2 * i]} for i in range(4)]
    assert [set(g) for g in gr.sorted_groups(LOADS16, 4).tolist()] == expect


def test_sorted_g1_is_singletons_and_odd_g_adds_a_middle_expert():
    assert gr.sorted_groups(LOADS16, 1).ravel().tolist() == np.argsort(LOADS16, kind="stable").tolist()
    loads = np.arange(12.0)  # expert e has load e
    assert [sorted(g) for g in gr.sorted_groups(loads, 3).tolist()] == [[0, 4, 11], [1, 5, 10], [2, 6, 9], [3, 7, 8]]


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([4, 8, 12, 16, 24]), st.data())
def test_every_grouping_is_a_partition_into_groups_of_g(E, data):
    g = data.draw(st.sampled_from([d for d in range(1, E + 1) if E % d == 0]))
    loads = np.array(data.draw(st.lists(st.integers(0, 100), min_size=E, max_size=E)))
    for name in gr.GROUPINGS:
        groups = gr.make_groups(loads, g, name)
        assert groups.shape == (E // g, g)
        assert sorted(groups.ravel().tolist()) == list(range(E))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([4, 8, 16]), st.data())
def test_balanced_is_never_worse_than_sorted_or_uniform_on_two_groups_or_pairs(E, data):
    loads = np.array(data.draw(st.lists(st.integers(0, 100), min_size=E, max_size=E)))
    heaviest = lambda groups: loads[groups].sum(axis=1).max()  # noqa: E731
    # with two experts per group, LPT + swaps is optimal, so it matches or beats both
    b = heaviest(gr.balanced_groups(loads, 2))
    assert b <= heaviest(gr.sorted_groups(loads, 2))
    assert b <= heaviest(gr.uniform_groups(E, 2))


def test_group_size_must_divide_the_experts():
    with pytest.raises(ValueError, match=r"group size 3 does not divide 16 experts; choose one of \[1, 2, 4, 8, 16\]"):
        gr.make_groups(np.ones(16), 3, "uniform")
    with pytest.raises(ValueError, match="unknown grouping"):
        gr.make_groups(np.ones(16), 2, "random")


# ---- the paper's claim on a zipf trace, and where the S4 rule breaks ---------------------------

ZIPF = synth_choices(16, 4, 3000, layers=4, zipf=1.2, seed=2026)


def compact_fm(g, grouping):
    return gr.expert_phase_factors(ZIPF, g, grouping, "compact")["f_m_layers"]


@pytest.mark.parametrize("g", [2, 4])
def test_balanced_grouping_shortens_the_compact_schedule_on_a_zipf_trace(g):
    assert compact_fm(g, "balanced").mean() < compact_fm(g, "uniform").mean()
    assert (compact_fm(g, "balanced") <= compact_fm(g, "sorted")).all()


def test_sorted_pairs_shorten_the_compact_schedule_on_a_zipf_trace():
    # lightest-with-heaviest is the optimal pairing for the loads it is fitted on, so per
    # layer it can only tie uniform pairs (when index neighbours happen to be such a pair)
    assert (compact_fm(2, "sorted") <= compact_fm(2, "uniform")).all()
    assert compact_fm(2, "sorted").mean() < compact_fm(2, "uniform").mean()


def test_s4_puts_the_two_heaviest_experts_together_so_a_steep_zipf_defeats_it():
    # S4 = {idx[2i], idx[2i+1], idx[E−1−2i], idx[E−2−2i]}: group 0 holds the two heaviest
    # experts. Under zipf 1.2 (top-4 of 16) they alone carry ~1.5 of the 4 selections per
    # token, so S4's compact length (~1.67·T) is no better than uniform grouping on average
    # (~1.64·T over layers) and far from balanced (~1.13·T).
    loads = gr.expert_loads(ZIPF[0])
    idx = np.argsort(loads, kind="stable")
    s4 = gr.sorted_groups(loads, 4)
    assert {idx[-1], idx[-2]} <= set(s4[0].tolist())
    c = synth_choices(16, 4, 3000, layers=8, zipf=1.2, seed=0)
    f = {name: gr.expert_phase_factors(c, 4, name, "compact")["f_m"] for name in gr.GROUPINGS}
    assert f["balanced"] < f["uniform"] and f["balanced"] < f["sorted"]
    assert f["sorted"] > 0.95 * f["uniform"]


# ---- factors (§E.2, §E.3, §E.7, §G.6) ----------------------------------------------------------


@pytest.mark.parametrize("g,f_g", [(1, 1.0), (2, 0.6), (4, 0.4), (8, 0.3)])
def test_area_factor_is_0_2_plus_0_8_over_g(g, f_g):
    assert gr.sharing_area_factor(g, 0.2) == pytest.approx(f_g)
    assert gr.sharing_area_factor(g) == pytest.approx(0.2 + 0.8 / g)


def test_area_factor_with_the_papers_other_crossbar_shares():
    assert gr.sharing_area_factor(2, 0.4) == pytest.approx(0.7)
    assert gr.sharing_area_factor(4, 0.05) == pytest.approx(0.2875)
    with pytest.raises(ValueError):
        gr.sharing_area_factor(0)


UNIFORM = synth_choices(16, 4, 4000, layers=2, zipf=0.0, seed=1)
SKEWED = synth_choices(16, 4, 4000, layers=2, zipf=1.0, seed=1)


@pytest.mark.parametrize("c", [UNIFORM, SKEWED], ids=["uniform", "zipf1"])
def test_compact_fc_is_close_to_k(c):
    f = gr.expert_phase_factors(c, 1, "uniform", "compact")
    assert 0.95 * 4 < f["f_c"] <= 4  # almost no token shares a step (§E.7)


@pytest.mark.parametrize("c", [UNIFORM, SKEWED], ids=["uniform", "zipf1"])
def test_u1_compact_fm_is_the_busiest_experts_share_of_tokens(c):
    f = gr.expert_phase_factors(c, 1, "uniform", "compact")
    busiest = c.sum(axis=1).max(axis=1) / c.shape[1]
    assert np.allclose(f["f_m_layers"], busiest)
    assert f["f_single"] == 1.0  # U1: one step per token (§E.5.1)


def test_uniform_routing_u1_fm_is_near_k_over_E_and_zipf_is_above():
    u = gr.expert_phase_factors(UNIFORM, 1, "uniform", "compact")["f_m"]
    z = gr.expert_phase_factors(SKEWED, 1, "uniform", "compact")["f_m"]
    assert 0.25 < u < 0.28 and z > 0.5


@pytest.mark.parametrize("g", [1, 2, 4])
def test_single_schedule_factors_are_its_length_per_token(g):
    f = gr.expert_phase_factors(SKEWED, g, "sorted", "single")
    assert f["f_m"] == f["f_c"] == f["f_single"]
    assert 1.0 <= f["f_single"] <= min(g, 4)


def test_optimized_keeps_the_compact_fm_and_cuts_fc():
    c = synth_choices(16, 4, 800, layers=2, zipf=1.0, seed=4)
    comp = gr.expert_phase_factors(c, 2, "sorted", "compact")
    opt = gr.expert_phase_factors(c, 2, "sorted", "optimized")
    ref = gr.expert_phase_factors(c, 2, "sorted", "optimized_reference")
    assert np.array_equal(opt["length"], comp["length"])
    assert (opt["transfers"] <= ref["transfers"]).all() and (ref["transfers"] < comp["transfers"]).all()


def test_factors_average_the_layers_and_report_loads():
    f = gr.expert_phase_factors(SKEWED, 2, "balanced", "compact")
    assert f["f_m"] == pytest.approx(f["f_m_layers"].mean())
    assert f["f_m_layers"].shape == (2,) and f["group_loads"].shape == (2, 8) and f["groups"].shape == (2, 8, 2)
    assert (f["group_loads"].sum(axis=1) == 4 * 4000).all()
    assert np.array_equal(f["length"], f["group_loads"].max(axis=1))
    one = gr.expert_phase_factors(SKEWED[0], 2, "balanced", "compact")  # a 2-D layer
    assert one["f_m"] == pytest.approx(f["f_m_layers"][0])


def test_fit_tokens_chooses_groups_on_the_first_tokens_and_evaluates_the_rest():
    c = synth_choices(16, 4, 1000, zipf=1.2, seed=9)
    f = gr.expert_phase_factors(c, 2, "sorted", "compact", fit_tokens=0.3)
    assert f["fit_tokens"] == 300 and f["tokens"] == 700
    groups = gr.sorted_groups(gr.expert_loads(c[0, :300]), 2)
    assert np.array_equal(f["groups"][0], groups)
    assert np.array_equal(f["group_loads"][0], gr.expert_loads(c[0, 300:])[groups].sum(axis=1))
    # sorted pairs are the optimal pairing for the loads they are fitted on, so the oracle
    # (fitted on the evaluated tokens) is at least as short; a stationary trace generalises
    oracle = gr.expert_phase_factors(c[:, 300:], 2, "sorted", "compact")
    assert oracle["f_m"] <= f["f_m"] < 1.05 * oracle["f_m"]
    whole = gr.expert_phase_factors(c, 2, "sorted", "compact", fit_tokens=1.0)
    assert whole["tokens"] == whole["fit_tokens"] == 1000


def test_split_tokens_needs_a_token_on_each_side():
    c = np.ones((1, 4), dtype=bool)
    with pytest.raises(ValueError, match="at least 2 tokens"):
        gr.split_tokens(c, 0.5)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        gr.split_tokens(c, 1.5)
    fit, ev = gr.split_tokens(np.ones((10, 4), dtype=bool), 0.99)
    assert fit.shape[0] == 9 and ev.shape[0] == 1
