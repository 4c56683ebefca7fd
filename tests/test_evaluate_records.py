"""A one-point evaluate without pandas (issue 15, fast start): the same numbers and bytes.

``aimc-dse evaluate`` evaluates its few points as dicts (``cost.evaluate.evaluate_records``)
and prints them from plain columns (``report.output._table``), so it never loads pandas.
These tests hold that path to the frame path it replaces: the cost model's input arrays
(``column_array`` against pandas's inference), every result to the bit, the API's frame
(dtypes included), the printed bytes, and — in a real process — that pandas stays unloaded.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aimc_dse import api
from aimc_dse.cost.columns import _column
from aimc_dse.cost.evaluate import evaluate_frame, evaluate_records
from aimc_dse.cost.metrics import RATIO_METRICS
from aimc_dse.cost.numeric import column_array
from aimc_dse.report.output import emit

ROOT = Path(__file__).resolve().parent.parent

ATOMS = [True, False, np.bool_(True), 1, 0, np.int64(5), 2.5, np.float64(1.0), 3.0, math.nan, None, "a", "", 2**40]

# (hardware, models, --set items): single systems, both systems, dense and MoE, MLA, overrides
MIXES = [
    (["hermes-3d"], ["mixtral-8x7b"], []),
    (["nature-3d-aimc"], ["llama-2-7b", "mixtral-8x7b"], ["hw.tiles=900"]),
    (["nature-3d-aimc", "a100-sxm4-80gb"], ["mixtral-8x7b"], []),
    (["a100-sxm4-80gb", "hermes-3d", "h100-sxm"], ["deepseek-v3", "gpt2-xl"], []),
    (["moewithpim-hermes", "b200", "nature-3d-aimc-sim"], ["moewithpim-layer", "llama-2-7b"], ["workload.batch=4", "workload.gen_len=32"]),
    (["hermes-3d", "mi300x"], ["gpt-oss-20b", "deepseek-moe-16b"], ["hw.devices=2"]),
]


def _gap(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind == "f":
        return np.array_equal(a, b, equal_nan=True)
    return all(x is y or x == y or (x != x and y != y) for x, y in zip(a.tolist(), b.tolist()))


def test_column_array_is_what_cols_reads_from_a_frame():
    """Every column of up to three values drawn from ATOMS: the same dtype and values as
    ``Cols`` gets from the column of ``pd.DataFrame(records)``."""
    wrong = []
    for n in (1, 2, 3):
        for values in itertools.product(ATOMS, repeat=n):
            ref = _column(pd.DataFrame([{"x": v} for v in values])["x"])
            got = column_array(list(values))
            if not _same(ref, got):
                wrong.append((values, ref.dtype, got.dtype))
    assert not wrong, wrong[:5]


def test_records_are_typed_as_their_frame():
    """Every column of up to three ATOMS values: the kind (bool, number, text) and the values
    ``report.output`` reads from the records are those it reads from their DataFrame."""
    from aimc_dse.report.output import _plain, _table

    wrong = []
    for n in (1, 2, 3):
        for values in itertools.product(ATOMS, repeat=n):
            recs = [{"x": v} for v in values]
            a, b = _table(recs), _table(pd.DataFrame(recs))
            got, want = [_plain(v) for v in a.cols["x"]], [_plain(v) for v in b.cols["x"]]
            if a.kinds != b.kinds or got != want or [type(v) for v in got] != [type(v) for v in want]:
                wrong.append((values, a.kinds, b.kinds, got, want))
    assert not wrong, wrong[:5]


def _rows(hws, models, sets):
    rows, _ = api.design_rows(hws, models, {}, api.split_overrides(sets))
    return rows


@pytest.mark.parametrize("hws,models,sets", MIXES)
def test_evaluate_records_equals_evaluate_frame(hws, models, sets):
    """Every column of every row, to the bit (NaN where a row lacks the column)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = _rows(hws, models, sets)
    ref = evaluate_frame(pd.DataFrame(rows)).reset_index(drop=True)
    got = evaluate_records(rows)
    assert [list(r) for r in got] == [list(ref.columns)] * len(ref)
    for c in ref.columns:
        want = ref[c].tolist()
        have = [r[c] for r in got]
        for w, h in zip(want, have):
            assert (w == h) or (_gap(w) and _gap(h)), (c, w, h)  # a gap is NaN in the frame, None or NaN here
            if isinstance(w, float) and isinstance(h, float) and not math.isnan(w):
                assert h.hex() == w.hex(), (c, w, h)  # a knob the frame widened to float stays int here


def _frame_oracle(hws, models, sets, fidelity: str = "closed") -> pd.DataFrame:
    """``api.evaluate`` as it was built on frames: evaluate_frame (or the event simulator's),
    then the ratio columns."""
    from aimc_dse.sim import evaluate_frame_event

    grid = pd.DataFrame(_rows(hws, models, sets))
    res = (evaluate_frame(grid) if fidelity == "closed" else evaluate_frame_event(grid)).reset_index(drop=True)
    out = res.copy()
    for _, g in res[res["system"] == "gpu"].iterrows():
        same = (out["model"] == g["model"]) & (out["system"] == "aimc")
        for metric in RATIO_METRICS:
            out.loc[same, f"vs.{g['hardware']}.{metric}"] = out.loc[same, metric] / g[metric]
    return out


@pytest.mark.parametrize("hws,models,sets", MIXES)
def test_api_frame_is_the_frame_path_s(hws, models, sets):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = api.evaluate(hws, models, set=sets)
        want = _typed_like(_frame_oracle(hws, models, sets), got)
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def _typed_like(want: pd.DataFrame, got: pd.DataFrame) -> pd.DataFrame:
    """The oracle's columns that the API gives as nullable integers or flags (some rows lack
    them: api.records_frame), converted so; the values are compared exactly."""
    nullable = {c: str(got[c].dtype) for c in got.columns if str(got[c].dtype) in ("Int64", "boolean")}
    return want.astype(nullable)


def test_api_frame_is_the_frame_path_s_with_the_event_simulator():
    hws, models, sets = ["moewithpim-hermes", "a100-sxm4-80gb"], ["moewithpim-layer"], ["workload.batch=2", "workload.gen_len=4"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = api.evaluate(hws, models, set=sets, fidelity="event")
        want = _typed_like(_frame_oracle(hws, models, sets, fidelity="event"), got)
    assert list(got["system"]) == ["aimc", "gpu"] and "vs.a100-sxm4-80gb.tokens_per_s" in got
    pd.testing.assert_frame_equal(got, want, check_exact=True)


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
@pytest.mark.parametrize("hws,models,sets", MIXES[2:4])
def test_records_print_as_their_frame(fmt, hws, models, sets):
    """The same bytes from the rows as dicts and from the frame made of them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recs = api.evaluate(hws, models, set=sets, as_frame=False)

    def text(rows, **kw) -> str:
        buf = io.StringIO()
        emit(rows, fmt, file=buf, **kw)
        return buf.getvalue()

    assert text(recs) == text(pd.DataFrame(recs))
    names = [f"d{i}" for i in range(len(recs))]
    frame = pd.DataFrame(recs, index=names)
    assert text(recs, transpose=True, index=names) == text(frame, transpose=True)


def test_one_point_evaluate_loads_no_pandas():
    """A real process: the one-point evaluate prints its table and leaves pandas and pyarrow
    unloaded (they cost ~0.2 s of CPU to import)."""
    code = (
        "import sys; from aimc_dse.cli import main; "
        "sys.argv = ['aimc-dse', 'evaluate', '--hw', 'nature-3d-aimc', '--model', 'mixtral-8x7b', '-f', 'json']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print([m for m in ('pandas', 'pyarrow') if m in sys.modules], file=sys.stderr)"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stderr.strip().splitlines()[-1] == "[]"
    (row,) = json.loads(p.stdout)
    assert row["hardware"] == "nature-3d-aimc" and row["fits"] is True and row["tokens_per_s"] > 0


@pytest.mark.parametrize("dtype", [object, "string"])
def test_a_text_column_with_pandas_na_is_hoisted_as_the_frame_reads_it(dtype):
    # a frame's text column may hold pandas's NA: a gap, as None and NaN are (not a value to compare)
    for values, hoisted in ((["a", "a", "a"], True), (["a", pd.NA, "a"], False)):
        df = pd.DataFrame({"hw.name": pd.array(values, dtype=dtype), "x": [1.5, 2.5, 3.5]})
        out = io.StringIO()
        emit(df, "table", title="t", hoist=True, file=out)
        assert ("hw.name: a" in out.getvalue()) == hoisted, out.getvalue()


def test_cli_ratio_table_shows_the_api_ratio_columns():
    """`aimc-dse evaluate`'s AIMC ÷ GPU table is the API's ``vs.<gpu>.<metric>`` columns, not a second computation."""
    from aimc_dse.commands.evaluate import RATIO_LABELS, ratio_rows

    res = api.evaluate(["nature-3d-aimc", "hermes-3d", "a100-paper"], ["nature-moe-51b"], as_frame=False)
    rows = ratio_rows(res)
    assert [(r["aimc"], r["vs gpu"]) for r in rows] == [("nature-3d-aimc", "a100-paper"), ("hermes-3d", "a100-paper")]
    gpu = next(r for r in res if r["system"] == "gpu")
    for row, aimc in zip(rows, [r for r in res if r["system"] == "aimc"]):
        assert list(RATIO_LABELS) == RATIO_METRICS
        for metric in RATIO_METRICS:
            np.testing.assert_equal(row[RATIO_LABELS[metric]], aimc[f"vs.a100-paper.{metric}"])
            np.testing.assert_equal(row[RATIO_LABELS[metric]], aimc[metric] / gpu[metric])
    assert math.isfinite(rows[0]["tokens/s/W ×"]) and math.isnan(rows[1]["tokens/s/W ×"])  # hermes-3d: does not fit


def test_ratio_columns_only_for_gpus_evaluated_beside_an_aimc_chip_on_the_same_model():
    gpu_only = api.evaluate(["a100-sxm4-80gb", "h100-sxm"], ["mixtral-8x7b"], as_frame=False)
    assert not any(c.startswith("vs.") for r in gpu_only for c in r)
    mixed = api.evaluate(["nature-3d-aimc", "a100-sxm4-80gb"], ["mixtral-8x7b", "olmoe-1b-7b"], as_frame=False)
    cols = {c for r in mixed for c in r if c.startswith("vs.")}
    assert cols == {f"vs.a100-sxm4-80gb.{m}" for m in RATIO_METRICS}
    aimc = [r for r in mixed if r["system"] == "aimc"]
    assert all(r["vs.a100-sxm4-80gb.tokens_per_s"] > 0 for r in aimc if r["fits"])


def test_a_mixed_frame_keeps_integers_and_flags_where_some_rows_lack_them():
    """AIMC beside GPU: hw.tiles, tiles_needed and n_devices stay integers, stacked a flag
    (with <NA> where a row has none), so df[df["stacked"].fillna(False)] works; a one-system
    frame keeps plain int64/bool."""
    df = api.evaluate(["nature-3d-aimc", "a100-sxm4-80gb"], ["mixtral-8x7b"])
    assert {c: str(df[c].dtype) for c in ("hw.tiles", "tiles_needed", "n_devices", "stacked")} == \
        {"hw.tiles": "Int64", "tiles_needed": "Int64", "n_devices": "Int64", "stacked": "boolean"}
    assert df["tiles_needed"].tolist()[0] == 558 and df["tiles_needed"].isna().tolist() == [False, True]
    assert df[df["stacked"].fillna(False)]["hardware"].tolist() == ["nature-3d-aimc"]
    one = api.evaluate("nature-3d-aimc", "mixtral-8x7b")
    assert str(one["hw.tiles"].dtype) == "int64" and str(one["stacked"].dtype) == "bool"


def test_the_api_refuses_contradictions_and_loaded_specs_with_one_line():
    import inspect

    import aimc_dse

    cases = [(lambda: aimc_dse.load_workload(batch=8, set={"workload.batch": 4}), "batch=8: workload.batch: is also set to 4"),
             (lambda: aimc_dse.load_workload({"batch": 4}, batch=8), "batch=8: workload.batch: is also 4 in data"),
             (lambda: aimc_dse.evaluate(hw=aimc_dse.load_hw("nature-3d-aimc"), model="olmoe-1b-7b"),
              "takes preset names or spec files, not loaded specs"),
             (lambda: aimc_dse.sweep("sweeps/default.yaml", max_points=0), "max_points=0: must be a whole number of points")]
    for call, fragment in cases:
        with pytest.raises(aimc_dse.SpecError) as e:
            call()
        assert fragment in str(e.value) and "\n" not in str(e.value)
    assert aimc_dse.load_workload(batch=8, set={"workload.batch": 8}).batch == 8  # the same value twice is no contradiction
    assert list(inspect.signature(aimc_dse.sweep).parameters)[:2] == ["path_or_dict", "output"]
