"""What a Makefile / shell / notebook user of sweep results runs into: the CSV sidecar's name
taken by another file, a full disk before the first chunk, option values checked even by
--dry-run, and read_results given columns a file does not have."""

from __future__ import annotations

import errno

import pytest

import aimc_dse
from aimc_dse.report import writer
from aimc_dse.report.writer import ChunkStore, iter_results, read_results

from .sweep_support import invoke, write_sweep

ONE = {
    "name": "one",
    "systems": ["nature-3d-aimc", "a100-sxm4-80gb"],
    "model": "olmoe-1b-7b",
    "workload": {"prompt_len": 32, "gen_len": 8},
    "axes": {"workload.batch": [1, 4]},
}


def one_line_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """The same small sweep as a default CSV (with its sidecar) and a default Parquet file."""
    d = tmp_path_factory.mktemp("pipeline")
    path = write_sweep(d, ONE)
    for name in ("r.csv", "r.parquet"):
        code, _, err = invoke(["sweep", path, "-o", d / name, "-j", "1", "-q"])
        assert code == 0, err
    assert (d / "r.constants.csv").is_file()
    return d


# ---- the sidecar's name belongs to another file ---------------------------------------------------


def test_a_csv_output_never_replaces_a_file_at_its_sidecar_name_that_is_not_a_sidecar(tmp_path):
    path = write_sweep(tmp_path, ONE)
    # another sweep's results, written as -o foo.constants.csv
    code, _, err = invoke(["sweep", path, "-o", tmp_path / "foo.constants.csv", "-j", "1", "-q"])
    assert code == 0, err
    theirs = (tmp_path / "foo.constants.csv").read_bytes()
    for extra in ([], ["--force"]):
        code, _, err = invoke(["sweep", path, "-o", tmp_path / "foo.csv", "-j", "1", "-q", *extra])
        assert code == 2
        assert "foo.constants.csv is not a sidecar" in one_line_error(err)
        assert (tmp_path / "foo.constants.csv").read_bytes() == theirs
        assert not (tmp_path / "foo.csv").exists()
    # a folder there is not replaced either
    (tmp_path / "bar.constants.csv").mkdir()
    code, _, err = invoke(["sweep", path, "-o", tmp_path / "bar.csv", "-j", "1", "-q"])
    assert code == 2 and "bar.constants.csv is not a sidecar" in one_line_error(err)


def test_an_old_sidecar_is_still_replaced_by_a_rerun_with_force(tmp_path):
    path = write_sweep(tmp_path, ONE)
    out = tmp_path / "r.csv"
    assert invoke(["sweep", path, "-o", out, "-j", "1", "-q"])[0] == 0
    code, _, err = invoke(["sweep", path, "-o", out, "-j", "1", "-q", "--force"])
    assert code == 0, err
    code, _, err = invoke(["sweep", path, "-o", out, "-j", "1", "-q", "--force", "--all-knobs"])
    assert code == 0, err
    assert not (tmp_path / "r.constants.csv").exists()  # an --all-knobs CSV has no sidecar


def test_the_sink_refuses_at_the_end_too_when_the_sidecar_name_was_taken_during_the_run(tmp_path):
    path = write_sweep(tmp_path, ONE)
    out = tmp_path / "r.csv"
    real = ChunkStore.write

    def write(self, k, table):  # someone writes r.constants.csv while the sweep runs
        (tmp_path / "r.constants.csv").write_text("a,b\n1,2\n")
        real(self, k, table)

    import unittest.mock as mock

    with mock.patch.object(ChunkStore, "write", write):
        code, _, err = invoke(["sweep", path, "-o", out, "-j", "1", "-q", "--chunk-size", "2"])
    assert code == 2 and "r.constants.csv is not a sidecar" in one_line_error(err)
    assert (tmp_path / "r.constants.csv").read_text() == "a,b\n1,2\n" and not out.exists()


# ---- a full disk before the first chunk names the folder -------------------------------------------


def test_a_full_disk_while_writing_the_manifest_is_one_line_naming_the_folder(tmp_path, monkeypatch):
    path = write_sweep(tmp_path, ONE)

    def full(self, target, data):
        raise OSError(errno.ENOSPC, "No space left on device")  # as a close() that fails: no file name

    monkeypatch.setattr(ChunkStore, "_write_atomic", full)
    code, _, err = invoke(["sweep", path, "-o", tmp_path / "o.parquet", "-j", "1", "-q"])
    assert code == 2
    line = one_line_error(err)
    assert "disk is full" in line and ".aimc-dse-o.parquet.partial" in line


# ---- option values are checked first, --dry-run too --------------------------------------------------


@pytest.mark.parametrize("args, fragment", [
    (["--max-points", "0"], "--max-points 0: must be a whole number of points, at least 1"),
    (["--max-points", "-5"], "--max-points -5: must be a whole number of points, at least 1"),
    (["--chunk-size", "0"], "--chunk-size: must be at least 1"),
])
def test_bad_max_points_and_chunk_size_exit_2_even_with_dry_run(tmp_path, args, fragment):
    path = write_sweep(tmp_path, ONE)
    for extra in (["--dry-run"], ["-o", tmp_path / "o.csv", "-j", "1"]):
        code, out, err = invoke(["sweep", path, *args, *extra])
        assert code == 2 and out == ""
        assert fragment in one_line_error(err)
    assert not (tmp_path / "o.csv").exists()


def test_the_api_says_force_true_not_the_cli_flag(tmp_path):
    out = tmp_path / "o.parquet"
    aimc_dse.sweep(ONE, out)
    with pytest.raises(aimc_dse.SpecError, match="pass force=True"):
        aimc_dse.sweep(ONE, out, force=False)


# ---- read_results / iter_results with columns ---------------------------------------------------------


@pytest.mark.parametrize("name", ["r.csv", "r.parquet"])
def test_read_results_refuses_a_column_the_file_does_not_have_in_both_formats(results, name):
    with pytest.raises(aimc_dse.SpecError, match=r"'tokens_per_sec' is not a column of this file; did you mean tokens_per_s\?"):
        read_results(results / name, columns=["tokens_per_sec"])
    with pytest.raises(aimc_dse.SpecError, match="is not a column name"):
        read_results(results / name, columns=[3])
    with pytest.raises(aimc_dse.SpecError, match="not a column of this file"):
        list(iter_results(results / name, ["hw.tiles", "nope"]))


@pytest.mark.parametrize("name", ["r.csv", "r.parquet"])
def test_read_results_takes_one_column_given_as_a_string(results, name):
    one = read_results(results / name, columns="tokens_per_s")
    assert list(one.columns) == ["tokens_per_s"] and len(one) == 4
    held = read_results(results / name, columns="hw.dpus")  # a constant knob, put back on every row
    assert list(held.columns) == ["hw.dpus"] and len(held) == 4


def test_a_missing_sidecar_is_named_when_a_held_knob_is_asked_for(results, tmp_path):
    (tmp_path / "r.csv").write_bytes((results / "r.csv").read_bytes())  # copied without its sidecar
    with pytest.raises(aimc_dse.SpecError, match="r.constants.csv, which is missing"):
        read_results(tmp_path / "r.csv", columns=["hw.dpus"])


def test_read_results_of_a_cut_parquet_file_is_a_spec_error(results, tmp_path):
    cut = tmp_path / "cut.parquet"
    cut.write_bytes((results / "r.parquet").read_bytes()[:500])
    for call in (lambda: read_results(cut), lambda: writer.read_constants(cut)):
        with pytest.raises(aimc_dse.SpecError, match="cut.parquet: cannot read results"):
            call()
