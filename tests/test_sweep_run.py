"""Running sweeps: the same bytes whoever runs them, nothing half-written, resumable, refusing to clobber.

These run the real cost models (AIMC and GPU) on small grids cut into small chunks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from aimc_dse.cost.metrics import HEADLINE_COLUMNS, SCHEMA_VERSION
from aimc_dse.report.writer import (
    partial_dir,
    read_constants,
    read_results,
    result_columns,
    schema_version,
    sidecar_path,
)
from aimc_dse.sweep.grid import load_grid
from aimc_dse.sweep.runner import _local_cluster, run_sweep

from .sweep_support import SMALL, entry_point, invoke, write_sweep


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The SMALL sweep file and its uninterrupted -j 1 results (CSV bytes), chunks of 4 points."""
    folder = tmp_path_factory.mktemp("small")
    path = write_sweep(folder, SMALL)
    out = folder / "ref.csv"
    code, stdout, stderr = invoke(["sweep", path, "-o", out, "-j", "1", "--chunk-size", "4"])
    assert code == 0, stderr
    return path, out.read_bytes(), stdout


@pytest.fixture(scope="module")
def dask_scheduler():
    cluster = _local_cluster(2)
    yield cluster.scheduler_address
    cluster.close()


def sweep_cmd(path, out, *extra):
    return ["sweep", path, "-o", out, "--chunk-size", "4", "-q", *extra]


def test_two_loky_workers_give_the_same_bytes_as_one(small, tmp_path):
    path, ref, _ = small
    code, _, err = invoke(sweep_cmd(path, tmp_path / "j2.csv", "-j", "2"))
    assert code == 0, err
    assert (tmp_path / "j2.csv").read_bytes() == ref


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_forked_and_spawned_workers_give_the_same_bytes_as_one_core(small, tmp_path, method):
    path, ref, _ = small
    out = tmp_path / f"{method}.csv"
    env = {**os.environ, "AIMC_DSE_START_METHOD": method}
    proc = subprocess.run(entry_point() + [str(a) for a in sweep_cmd(path, out, "-j", "2")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == ref


START_METHOD = """
import sys, threading
from aimc_dse.sweep import runner
print(runner.start_method())
threading.Thread(target=threading.Event().wait, args=(5,), daemon=True).start()
print(runner.start_method())
"""


def test_workers_are_forked_only_while_the_process_has_one_thread(tmp_path):
    def run(method: str | None) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "AIMC_DSE_START_METHOD"}
        if method is not None:
            env["AIMC_DSE_START_METHOD"] = method
        return subprocess.run([sys.executable, "-c", START_METHOD], env=env, capture_output=True, text=True, timeout=120)

    assert run(None).stdout.split() == ["fork", "spawn"]
    assert run("spawn").stdout.split() == ["spawn", "spawn"]
    bad = run("thread")
    assert bad.returncode != 0 and "AIMC_DSE_START_METHOD" in bad.stderr and "use fork or spawn" in bad.stderr


FORKED_RUN = """
import gc, sys
from aimc_dse.sweep import runner
from aimc_dse.sweep.grid import load_grid
spec, grid = load_grid(sys.argv[1])
frozen = []
runner.run_sweep(spec, grid, sys.argv[2], jobs=2, quiet=True, chunk_size=4,
                 on_chunk=lambda k: frozen.append((runner._pool_forked, gc.get_freeze_count())))
print(all(forked for forked, _ in frozen), min(n for _, n in frozen) > 0, gc.get_freeze_count())
"""


def test_forked_workers_run_with_the_collector_frozen_and_it_is_thawed_after(small, tmp_path):
    # Forks share this process's pages; the collector's passes would write into every object
    # and copy those pages (gc.freeze before the fork, gc.unfreeze once the forks are gone).
    path, ref, _ = small
    out = tmp_path / "f.csv"
    env = {k: v for k, v in os.environ.items() if k != "AIMC_DSE_START_METHOD"}
    done = subprocess.run([sys.executable, "-c", FORKED_RUN, str(path), str(out)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "0"]
    assert out.read_bytes() == ref


def test_an_unknown_start_method_is_one_line_exit_2(small, tmp_path):
    path, _, _ = small
    env = {**os.environ, "AIMC_DSE_START_METHOD": "threads"}
    proc = subprocess.run(entry_point() + [str(a) for a in sweep_cmd(path, tmp_path / "x.csv", "-j", "2")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "AIMC_DSE_START_METHOD" in proc.stderr, proc.stderr
    assert not (tmp_path / "x.csv").exists()


def test_a_dask_cluster_gives_the_same_bytes_as_one_core(small, tmp_path, dask_scheduler):
    path, ref, _ = small
    code, _, err = invoke(sweep_cmd(path, tmp_path / "dask.csv", "--backend", "dask", "--scheduler", dask_scheduler))
    assert code == 0, err
    assert (tmp_path / "dask.csv").read_bytes() == ref


def test_parquet_is_the_same_whatever_the_workers(small, tmp_path):
    path, _, _ = small
    outs = []
    # --backend dask without --scheduler starts (and stops) its own local cluster of 2 workers
    for i, extra in enumerate((["-j", "1"], ["-j", "2"], ["--backend", "dask"])):
        out = tmp_path / f"r{i}.parquet"
        assert invoke(sweep_cmd(path, out, *extra))[0] == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2]


def values(df: pd.DataFrame) -> pd.DataFrame:
    """Cell values only: missing as None, and (CSV cannot tell them apart) empty strings as missing."""
    df = df.astype(object)
    return df.where(df.notna() & (df != ""), None)


def test_csv_and_parquet_round_trip_with_every_knob_in_every_row(small, tmp_path):
    """--all-knobs: every knob on every row, CSV and Parquet alike, equal to the grid."""
    path, _, _ = small
    pq_out, csv_out = tmp_path / "r.parquet", tmp_path / "r.csv"
    assert invoke(sweep_cmd(path, pq_out, "-j", "1", "--all-knobs"))[0] == 0
    assert invoke(sweep_cmd(path, csv_out, "-j", "1", "--all-knobs"))[0] == 0
    assert not sidecar_path(csv_out).exists()
    from_csv = pd.read_csv(csv_out)
    from_pq = pd.read_parquet(pq_out)
    pd.testing.assert_frame_equal(values(from_csv), values(from_pq), check_exact=True)

    assert schema_version(pq_out) == SCHEMA_VERSION == 2
    meta = pq.read_schema(pq_out).metadata
    assert meta[b"aimc_dse.sweep"] == b"small"
    assert b"aimc_dse.constants" not in meta

    _, grid = load_grid(path)
    assert list(from_csv.columns) == grid.columns + HEADLINE_COLUMNS
    pd.testing.assert_frame_equal(values(from_csv[grid.columns]), values(grid.frame()), check_exact=True)
    pd.testing.assert_frame_equal(values(from_pq[grid.columns]), values(grid.frame()), check_exact=True)


def test_rows_carry_what_varies_and_readers_put_the_constant_knobs_back(small, tmp_path):
    """Default: identity, axes and varying knobs on the rows; the rest once (metadata / sidecar), restored on reading."""
    path, ref, _ = small
    _, grid = load_grid(path)
    full = tmp_path / "all.csv"
    assert invoke(sweep_cmd(path, full, "-j", "1", "--all-knobs"))[0] == 0
    for suffix in (".csv", ".parquet"):
        out = tmp_path / f"d{suffix[1:]}{suffix}"
        assert invoke(sweep_cmd(path, out, "-j", "2"))[0] == 0
        raw = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
        knobs = [c for c in raw.columns if c in grid.columns]
        # hw.tiles and workload.batch are the axes; the ids name the design; hw.kind etc. are per hardware
        assert knobs == ["hw.name", "hw.tiles", "model.name", "workload.batch"]
        assert list(raw.columns[len(knobs):]) == HEADLINE_COLUMNS
        consts = read_constants(out)
        assert consts is not None and consts.values["hw.name"]["hermes-3d"]["hw.kind"] == "aimc"
        assert consts.values["model.name"]["olmoe-1b-7b"]["model.moe.experts"] == 64
        assert consts.values["all"][""]["workload.prompt_len"] == 32
        back = read_results(out)
        same_format = full if suffix == ".csv" else _all_parquet(path, tmp_path)
        want = read_results(same_format)
        assert result_columns(out) == list(want.columns) == list(back.columns)
        pd.testing.assert_frame_equal(back, want, check_exact=True)
        cols = ["tokens_per_s", "hw.tier_rows", "model.layers", "workload.batch"]
        pd.testing.assert_frame_equal(read_results(out, cols), read_results(same_format, cols), check_exact=True)
    assert sidecar_path(tmp_path / "dcsv.csv").exists() and not sidecar_path(tmp_path / "dparquet.parquet").exists()
    assert (tmp_path / "dcsv.csv").stat().st_size < 0.5 * full.stat().st_size


def test_a_swept_hardware_name_keeps_its_knobs(tmp_path):
    """hw.name as an axis names rows, not blocks: the hardware's knobs are stored for the whole sweep."""
    data = {"name": "names", "systems": ["nature-3d-aimc"], "model": "olmoe-1b-7b", "workload": {"prompt_len": 16, "gen_len": 4},
            "axes": {"hw.name": ["chip-a", "chip-b"], "workload.batch": [1, 2]}}
    path = write_sweep(tmp_path, data)
    for suffix in (".csv", ".parquet"):
        out, full = tmp_path / f"n{suffix}", tmp_path / f"all{suffix}"
        assert invoke(sweep_cmd(path, out, "-j", "1"))[0] == 0
        assert invoke(sweep_cmd(path, full, "-j", "1", "--all-knobs"))[0] == 0
        back = read_results(out)
        assert back["hw.kind"].tolist() == ["aimc"] * 4 and back["hw.name"].tolist() == ["chip-a"] * 2 + ["chip-b"] * 2
        pd.testing.assert_frame_equal(back, read_results(full), check_exact=True)


def test_a_knob_one_system_leaves_unset_keeps_its_number_type(tmp_path):
    """nature-3d-aimc sets hw.stack.max_tiers and hw.dram.channel_capacity_gb, moewithpim-hermes
    leaves them unset (None) and the GPU has no such fields: the knobs stay numbers (they were
    written as text, and the default Parquet file could not be read back), and every reader
    gives what the --all-knobs file gives, whole and one knob at a time (a single knob with
    a missing value once lost its row on the CSV path)."""
    data = {"name": "gaps", "systems": ["nature-3d-aimc", "moewithpim-hermes", "a100-sxm4-80gb"], "model": "mixtral-8x7b",
            "axes": {"workload.batch": [1, 2]}}
    path = write_sweep(tmp_path, data)
    for suffix in (".csv", ".parquet"):
        out, full = tmp_path / f"d{suffix}", tmp_path / f"all{suffix}"
        assert invoke(sweep_cmd(path, out, "-j", "1"))[0] == 0
        assert invoke(sweep_cmd(path, full, "-j", "1", "--all-knobs"))[0] == 0
        if suffix == ".parquet":
            types = {f.name: str(f.type) for f in pq.read_schema(full)}
            assert types["hw.stack.max_tiers"] == "int64" and types["hw.dram.channel_capacity_gb"] == "double"
        back = read_results(out)
        assert back["hw.stack.max_tiers"].tolist()[:2] == [321, 321] and back["hw.stack.max_tiers"].isna().tolist()[2:] == [True] * 4
        pd.testing.assert_frame_equal(back, read_results(full), check_exact=True)
        for cols in (["hw.tier_rows"], ["hw.dram.channel_capacity_gb"], ["hw.name", "hw.tier_rows"]):
            pd.testing.assert_frame_equal(read_results(out, cols), read_results(full, cols), check_exact=True)
        code, stdout, stderr = invoke(["pareto", out, "--x", "tokens_per_s_per_w", "--y", "tokens_per_s_per_mm2", "-f", "json"])
        assert code == 0, stderr


def test_reading_only_columns_the_rows_carry_works_and_keeps_the_asked_order(small, tmp_path):
    """No held knob among the asked columns: the CSV path once built an empty constants table
    and reported the file as empty. Both formats give the columns in the asked order."""
    path, _, _ = small
    for suffix in (".csv", ".parquet"):
        out = tmp_path / f"r{suffix}"
        assert invoke(sweep_cmd(path, out, "-j", "1"))[0] == 0
        for cols in (["tokens_per_s"], ["tokens_per_s", "fits", "hw.name"], ["tokens_per_s", "hw.kind"]):
            got = read_results(out, cols)
            assert list(got.columns) == cols and len(got) == 30, (suffix, cols)


def test_files_that_typed_such_a_knob_as_text_still_read():
    """Earlier versions wrote hw.stack.max_tiers as text on the rows while storing its
    constant value as a number: reading puts it back as its text, as those rows have it."""
    import pyarrow as pa

    from aimc_dse.report.writer import Constants

    consts = Constants(["hw.name", "hw.stack.max_tiers"], {"hw.name": "large_string", "hw.stack.max_tiers": "large_string"},
                       {"hw.name": {"nature-3d-aimc": {"hw.stack.max_tiers": 321}, "moewithpim-hermes": {"hw.stack.max_tiers": None}}})
    rows = pa.table({"hw.name": pa.array(["nature-3d-aimc", "moewithpim-hermes"], pa.large_string())})
    assert consts.restore(rows).column("hw.stack.max_tiers").to_pylist() == ["321", None]


def _all_parquet(path, tmp_path):
    out = tmp_path / "all.parquet"
    if not out.exists():
        assert invoke(sweep_cmd(path, out, "-j", "1", "--all-knobs"))[0] == 0
    return out


def test_all_knobs_again_replaces_a_stale_sidecar(small, tmp_path):
    path, _, _ = small
    out = tmp_path / "r.csv"
    assert invoke(sweep_cmd(path, out, "-j", "1"))[0] == 0
    assert sidecar_path(out).exists()
    assert invoke(sweep_cmd(path, out, "-j", "1", "--force", "--all-knobs"))[0] == 0
    assert not sidecar_path(out).exists()


def test_the_bytes_do_not_depend_on_the_chunk_size_when_the_rows_do_not(tmp_path):
    """Row groups have a fixed size: only the rows decide the bytes (GPU rows: no batching effects)."""
    data = dict(SMALL, systems=["a100-sxm4-80gb", "h100-sxm"], axes={"workload.batch": [1, 4, 16], "workload.gen_len": [4, 8]})
    path = write_sweep(tmp_path, data)
    outs = []
    for cs in ("1", "3", "100"):
        out = tmp_path / f"c{cs}.parquet"
        assert invoke(["sweep", path, "-o", out, "--chunk-size", cs, "-q", "-j", "1"])[0] == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2]


def test_summary_lists_the_best_designs_and_a_pareto_front(small):
    _, _, stdout = small
    assert "best design per metric" in stdout
    assert "Pareto front of tokens_per_s_per_w × tokens_per_s_per_mm2" in stdout


def test_existing_output_is_refused_without_force(small, tmp_path):
    path, ref, _ = small
    out = tmp_path / "r.csv"
    out.write_text("precious\n")
    code, _, err = invoke(sweep_cmd(path, out))
    assert code == 2
    assert err.strip() == f"error: {out}: already exists; pass --force to overwrite it, or -o to write elsewhere"
    assert out.read_text() == "precious\n"
    code, _, err = invoke(sweep_cmd(path, out, "-j", "1", "--force"))
    assert code == 0, err
    assert out.read_bytes() == ref


def test_filters_and_columns_shape_the_rows(tmp_path):
    data = dict(SMALL, filters=["fits == true", "workload.batch >= 4"], columns=["tokens_per_s", "energy_nj.*"])
    path = write_sweep(tmp_path, data)
    out = tmp_path / "f.csv"
    code, _, err = invoke(sweep_cmd(path, out, "-j", "1"))
    assert code == 0, err
    df = pd.read_csv(out)
    _, grid = load_grid(path)
    results = [c for c in df.columns if c not in grid.columns]
    # besides the named columns, fits (a headline column: first) and the Pareto front's
    # metrics (the default front) are always written
    assert results[:2] == ["fits", "tokens_per_s"]
    pareto = {"tokens_per_s_per_w", "tokens_per_s_per_mm2"}
    assert all(c.startswith("energy_nj.") or c in pareto for c in results[2:]) and len(results) > 4
    assert pareto <= set(results)
    assert len(df) > 0 and (df["workload.batch"] >= 4).all()
    # the rows are exactly the fitting ones among batch >= 4
    all_out = tmp_path / "all.csv"
    assert invoke(sweep_cmd(write_sweep(tmp_path, SMALL, "all.yaml"), all_out, "-j", "1"))[0] == 0
    full = pd.read_csv(all_out)
    want = full[full["fits"] & (full["workload.batch"] >= 4)]
    assert df["tokens_per_s"].tolist() == want["tokens_per_s"].tolist()


def test_filters_that_keep_no_row_say_so(tmp_path):
    path = write_sweep(tmp_path, dict(SMALL, filters=["tokens_per_s > 1e12"]))
    code, out, err = invoke(["sweep", path, "-o", tmp_path / "none.csv", "-j", "1"])
    assert code == 0, err
    assert "the filters kept no row; nothing to rank" in out and "fits its hardware" not in out
    assert pd.read_csv(tmp_path / "none.csv").empty


def test_a_cost_model_failure_exits_1_naming_the_points(tmp_path, monkeypatch):
    from aimc_dse.cost import evaluate

    def boom(_cols):
        raise ValueError("boom")

    monkeypatch.setattr(evaluate, "_cost_fn", lambda kind: boom)
    path = write_sweep(tmp_path, SMALL)
    code, _, err = invoke(sweep_cmd(path, tmp_path / "x.csv", "-j", "1"))
    assert code == 1
    assert "could not be evaluated: ValueError: boom" in err
    assert not (tmp_path / "x.csv").exists()


def test_the_cost_models_batches_do_not_follow_the_chunk_size(tmp_path, monkeypatch):
    """The AIMC model's last bits depend on which rows it evaluates together; batches end at
    global multiples of EVAL_ROWS, so chunk sizes that are multiples of it give the same batches
    (and the same bytes)."""
    from aimc_dse.sweep import runner

    monkeypatch.setattr(runner, "EVAL_ROWS", 4)
    real = runner.evaluate_columns
    path = write_sweep(tmp_path, SMALL)  # blocks of 6 AIMC rows: batches cross chunk and block ends
    batches, outs = [], []
    for cs in ("4", "8", "12", "40"):
        seen = []

        def spy(kind, fixed, varying, n):
            seen.append((fixed["hw.name"], fixed["model.name"], tuple(varying.get("hw.tiles", ())),
                         tuple(varying.get("workload.batch", ()))))
            return real(kind, fixed, varying, n)

        monkeypatch.setattr(runner, "evaluate_columns", spy)
        out = tmp_path / f"c{cs}.parquet"
        assert invoke(["sweep", path, "-o", out, "--chunk-size", cs, "-q", "-j", "1"])[0] == 0
        batches.append(sorted(seen))
        outs.append(out.read_bytes())
    assert batches[0] == batches[1] == batches[2] == batches[3]
    assert max(len(b[3]) for b in batches[0]) == 4 and min(len(b[3]) for b in batches[0]) < 4
    assert outs[0] == outs[1] == outs[2] == outs[3]


def test_measured_chunk_sizes_resume_and_give_the_same_bytes(tmp_path, monkeypatch):
    """Big grids get chunks of ~CHUNK_SECONDS at the measured rate, in whole batches; a resume
    keeps the interrupted run's size; the bytes do not depend on it. (Scaled down: batches of
    4 rows, any grid calibrates, the rate is set rather than measured.)"""
    import json

    from aimc_dse.sweep import runner

    monkeypatch.setattr(runner, "EVAL_ROWS", 4)
    monkeypatch.setattr(runner, "CALIBRATE_POINTS", 0)
    path = write_sweep(tmp_path, SMALL)
    spec, grid = load_grid(path)
    seen = []

    def at(rate):
        monkeypatch.setattr(runner, "measured_rate", lambda job: rate)

    def stop_after_two(k):
        seen.append(json.loads((partial_dir(out) / "manifest.json").read_text())["chunk_size"])
        if len(seen) == 2:
            raise KeyboardInterrupt

    out = tmp_path / "m.parquet"
    at(8 / runner.CHUNK_SECONDS)  # 8 points in CHUNK_SECONDS: chunks of 2 batches
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, grid, out, jobs=1, quiet=True, on_chunk=stop_after_two)
    assert seen == [8, 8]
    at(1e9)  # a resume measures nothing: it takes the interrupted run's chunks
    res = run_sweep(spec, grid, out, jobs=1, quiet=True, resume=True)
    assert res.resumed_chunks == 2
    fresh = tmp_path / "f.parquet"
    run_sweep(spec, grid, fresh, jobs=1, quiet=True)  # 16 batches a chunk: one chunk of 30 rows
    assert out.read_bytes() == fresh.read_bytes()
    at(0.001)
    assert runner._chunk_size(runner.Job(grid, 0, [], None), runner.ChunkStore(tmp_path / "x"), False) == 4


def test_default_chunks_are_whole_batches():
    from aimc_dse.sweep.runner import EVAL_ROWS, MAX_CHUNK, default_chunk_size

    assert MAX_CHUNK % EVAL_ROWS == 0
    for n in (300_000, 1_000_000, 100_000_000):
        assert default_chunk_size(n) % EVAL_ROWS == 0 and default_chunk_size(n) <= MAX_CHUNK
    assert default_chunk_size(200_000) == 12_500 < EVAL_ROWS  # under one batch: the chunk is the batch
    assert default_chunk_size(30) == 1_000 and default_chunk_size(64_000) == 4_000  # small grids: 16 chunks


# ---- interruption and resume ---------------------------------------------------------------

KILL = {
    "name": "kill",
    "systems": ["nature-3d-aimc", "a100-sxm4-80gb"],
    "model": "olmoe-1b-7b",
    "workload": {"prompt_len": 16, "gen_len": 4},
    "axes": {"hw.tiles": [1024, 2048, 4096], "workload.batch": [1, 2, 4, 8, 16]},
}  # 3 × 5 + 5 = 20 points, one chunk each


@pytest.fixture(scope="module")
def kill_ref(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kill")
    path = write_sweep(folder, KILL)
    out = folder / "ref.csv"
    code, _, err = invoke(["sweep", path, "-o", out, "-j", "1", "--chunk-size", "1", "-q"])
    assert code == 0, err
    return out.read_bytes()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_killed_sweep_leaves_no_output_and_resume_completes_it_to_the_same_bytes(tmp_path, sig):
    # A slower grid for the run we interrupt: many one-point chunks of a longer generation.
    data = dict(KILL, axes=dict(KILL["axes"], **{"hw.tiles": [1024 + 256 * i for i in range(12)]}))
    path = write_sweep(tmp_path, data)
    out = tmp_path / "k.csv"
    args = ["sweep", str(path), "-o", str(out), "-j", "1", "--chunk-size", "1", "-q"]
    # The child gets SIGINT's default disposition even if this test run inherited an ignored
    # SIGINT (background job, nohup, CI): Python then installs its KeyboardInterrupt handler.
    proc = subprocess.Popen(
        entry_point() + args,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    partial = partial_dir(out)
    deadline = time.monotonic() + 300
    try:
        while not list(partial.glob("chunk-*.arrow")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no chunk landed"
            time.sleep(0.002)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    n_points = 12 * 5 + 5
    done = len(list(partial.glob("chunk-*.arrow")))
    assert 1 <= done < n_points, "interrupted mid-way"
    assert not out.exists(), "no output file after an interruption"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([partial.name, path.name]), "nothing else written"
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert "--resume" in err and "Traceback" not in err
    else:
        assert proc.returncode == -signal.SIGKILL

    code, _, err = invoke(args + ["--resume"])
    assert code == 0, err
    assert not partial.exists()
    resumed = out.read_bytes()
    fresh = tmp_path / "fresh.csv"
    assert invoke(["sweep", path, "-o", fresh, "-j", "1", "--chunk-size", "1", "-q"])[0] == 0
    assert resumed == fresh.read_bytes()


def test_resume_reuses_finished_chunks(tmp_path, kill_ref):
    path = write_sweep(tmp_path, KILL)
    out = tmp_path / "k.csv"
    spec, grid = load_grid(path)

    def stop_after_three(k):
        if k >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, grid, out, jobs=1, quiet=True, chunk_size=1, on_chunk=stop_after_three)
    assert not out.exists()
    assert len(list(partial_dir(out).glob("chunk-*.arrow"))) == 3

    code, _, err = invoke(["sweep", path, "-o", out, "-j", "1", "--chunk-size", "1", "--resume"])
    assert code == 0, err
    assert "20 points, 3 chunk(s) reused" in err
    assert out.read_bytes() == kill_ref


def test_the_code_hash_covers_the_cost_models_subpackages():
    import aimc_dse
    from aimc_dse.sweep.runner import code_files

    package = Path(aimc_dse.__file__).parent
    rel = {p.relative_to(package).as_posix() for p in code_files()}
    assert {"cost/aimc/__init__.py", "cost/gpu.py", "moe/routing.py", "sim/core.py"} <= rel


def test_resume_of_a_changed_sweep_is_refused(tmp_path):
    path = write_sweep(tmp_path, KILL)
    out = tmp_path / "k.csv"
    spec, grid = load_grid(path)

    def stop(k):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, grid, out, jobs=1, quiet=True, chunk_size=1, on_chunk=stop)
    changed = write_sweep(tmp_path, dict(KILL, axes=dict(KILL["axes"], **{"workload.batch": [1, 2, 4, 8, 32]})))
    code, _, err = invoke(["sweep", changed, "-o", out, "-j", "1", "--chunk-size", "1", "--resume"])
    assert code == 2
    # the edited file is named, not the partial folder whose grid it changed
    assert err.strip() == (
        f"error: {changed.resolve()}: has changed since the interrupted run (its content is hashed); cannot resume: its "
        "results would mix old and new inputs. Run without --resume to start over"
    )
    write_sweep(tmp_path, KILL)  # the file as it was: now the chunk size is what differs
    code, _, err = invoke(["sweep", path, "-o", out, "-j", "1", "--chunk-size", "2", "--resume"])
    assert code == 2 and "the interrupted run's chunks were 1 points (resume with --chunk-size 1, or without" in err
    changed = write_sweep(tmp_path, dict(KILL, axes=dict(KILL["axes"], **{"workload.batch": [1, 2, 4, 8, 32]})))
    # Without --resume the leftovers are discarded (and said so) and the run starts over.
    code, _, err = invoke(["sweep", changed, "-o", out, "-j", "1", "--chunk-size", "1"])
    assert code == 0, err
    assert "discarding 1 finished chunk(s)" in err
    assert len(pd.read_csv(out)) == 20


def test_the_summary_tells_two_entries_of_one_preset_apart(tmp_path):
    """Two nature-3d-aimc entries that differ by a `set:` (and two of one model): the summary's
    best designs and front carry the knobs that tell them apart."""
    data = {"name": "two", "systems": ["nature-3d-aimc", {"spec": "nature-3d-aimc", "set": {"tiles": 800}}],
            "models": [{"spec": "olmoe-1b-7b", "set": {"layers": 8}}, "olmoe-1b-7b"],
            "axes": {"workload.batch": [1, 4]}}
    path = write_sweep(tmp_path, data)
    code, out, err = invoke(["sweep", path, "-o", tmp_path / "t.csv", "-j", "1", "-f", "json"])
    assert code == 0, err
    summary = json.loads(out)
    for rec in summary["best"] + summary["pareto"]:
        assert {"hw.tiles", "model.layers"} <= set(rec), rec


def test_result_columns_read_the_same_from_csv_and_parquet(tmp_path):
    """Every result column of a mixed AIMC/GPU sweep reads back alike from both formats:
    fit_reason '' (not NaN) where a design fits, whole-number floats (max_batch, mvms …) as
    floats (not Int64)."""
    from aimc_dse.cost import registry

    data = {"name": "both", "systems": ["nature-3d-aimc", "moewithpim-hermes", "a100-sxm4-80gb"], "model": "mixtral-8x7b",
            "axes": {"workload.batch": [1, 16]}, "columns": ["*"]}
    path = write_sweep(tmp_path, data)
    frames = {}
    for suffix in (".csv", ".parquet"):
        out = tmp_path / f"b{suffix}"
        assert invoke(sweep_cmd(path, out, "-j", "1"))[0] == 0
        frames[suffix] = read_results(out)
    results = [c for c in frames[".parquet"].columns if registry.column(c) is not None]
    assert len(results) > 40 and "fit_reason" in results and "max_batch" in results
    pd.testing.assert_frame_equal(frames[".csv"][results], frames[".parquet"][results], check_exact=True)
    assert "" in set(frames[".csv"]["fit_reason"])
    # every design fits: fit_reason is '' on every row, which CSV text reads as an empty column
    fit = write_sweep(tmp_path, dict(data, systems=["nature-3d-aimc"], model="olmoe-1b-7b"), "fit.yaml")
    for suffix in (".csv", ".parquet"):
        out = tmp_path / f"fit{suffix}"
        assert invoke(sweep_cmd(fit, out, "-j", "1"))[0] == 0
        frames[suffix] = read_results(out)
    assert frames[".csv"]["fit_reason"].tolist() == frames[".parquet"]["fit_reason"].tolist() == ["", ""]


def test_a_sweep_past_a_models_positions_warns_as_evaluate_does(tmp_path):
    import warnings

    import aimc_dse

    data = {"name": "pos", "systems": ["nature-3d-aimc"], "model": "gpt2-medium", "workload": {"gen_len": 8},
            "axes": {"workload.prompt_len": [64, 2000]}}
    path = write_sweep(tmp_path, data)
    code, _, err = invoke(["sweep", path, "-o", tmp_path / "p.csv", "-j", "1", "-q"])
    assert code == 0
    assert ("warning: gpt2-medium: workloads of this sweep feed up to 2,007 positions (prompt_len 2,000 + gen_len 8 − 1), "
            "more than model.max_positions; its learned position table has 1,024 rows") in err
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        aimc_dse.sweep(data)
    assert [w.category for w in caught] == [aimc_dse.PositionsWarning]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        aimc_dse.sweep(dict(data, axes={"workload.prompt_len": [64, 512]}))
    assert not caught
