"""Pareto fronts of hand-made tables, the `pareto` and `plot` commands, and filter expressions."""

from __future__ import annotations

import builtins
import io
import json
import re

import numpy as np
import pandas as pd
import pytest

from aimc_dse.report import query
from aimc_dse.report.pareto import ParetoFront, default_maximize, pareto_front, senses

from .sweep_support import invoke, run

# Six designs; the front of (throughput max, efficiency max) is a, b, d (and d2, equal to d).
TABLE = pd.DataFrame(
    {
        "hw.name": ["a", "b", "c", "d", "d2", "e", "f"],
        "fits": [True, True, True, True, True, True, False],
        "tokens_per_s": [100.0, 80.0, 70.0, 50.0, 50.0, 50.0, 1000.0],
        "tokens_per_s_per_w": [1.0, 2.0, 1.5, 3.0, 3.0, 2.5, 99.0],
        "area_mm2": [10.0, 20.0, 5.0, 40.0, 40.0, 1.0, 1.0],
        "latency_ns": [5.0, 6.0, 7.0, 8.0, 8.0, 8.0, np.nan],
    }
)


def names(df: pd.DataFrame) -> list[str]:
    return df["hw.name"].tolist()


def test_front_of_two_maximised_metrics_keeps_equal_rows_and_drops_dominated_ones():
    t = TABLE[TABLE["fits"]]
    front = pareto_front(t, ["tokens_per_s", "tokens_per_s_per_w"])
    assert names(front) == ["a", "b", "d", "d2"]  # best-first in tokens_per_s; c < b, e < d


def test_front_with_a_minimised_metric():
    t = TABLE[TABLE["fits"]]
    # area is minimised by default: e (1 mm²) and c (5 mm²) join a, which is fastest.
    front = pareto_front(t, ["tokens_per_s", "area_mm2"])
    assert names(front) == ["a", "c", "e"]


def test_front_of_three_metrics():
    t = TABLE[TABLE["fits"]]
    front = pareto_front(t, ["tokens_per_s", "tokens_per_s_per_w", "area_mm2"])
    # c survives with its small area; e with the smallest; b and d for efficiency, a for speed
    assert names(front) == ["a", "b", "c", "d", "d2", "e"]


def test_rows_with_missing_metrics_take_no_part():
    front = pareto_front(TABLE, ["tokens_per_s", "latency_ns"])
    assert "f" not in names(front)
    assert names(front) == ["a"]  # a is fastest and has the lowest latency


def test_default_senses():
    assert default_maximize("tokens_per_s_per_w")
    assert not default_maximize("latency_ns") and not default_maximize("energy_nj.mvm")
    assert not default_maximize("power_w") and not default_maximize("area_mm2")
    assert senses(["tokens_per_s", "area_mm2"], maximize=["area_mm2"]) == [True, True]
    assert senses(["tokens_per_s"], minimize=["tokens_per_s"]) == [False]


def test_the_registry_says_the_default_direction_of_every_number_column():
    """docs/columns.md's *better* is the direction fronts use: a blank one is maximised. busy_ns.*
    and area_mm2.digital were blank yet minimised by name; devices_needed (the GPU's
    chips_needed) was maximised."""
    from aimc_dse.cost import registry

    for c in registry.COLUMNS:
        if c.dtype in ("float", "int"):
            assert default_maximize(c.name) == (c.better != "lower"), c.name
    assert not default_maximize("devices_needed") and not default_maximize("chips_needed")


def test_nondominated_equals_the_definition_with_ties_and_signed_zeros():
    """Against a brute-force dominance check: many ties, -0.0 beside 0.0, 1 to 3 metrics."""
    from aimc_dse.report.pareto import nondominated

    rng = np.random.default_rng(7)
    for _ in range(300):
        n, d = int(rng.integers(1, 50)), int(rng.integers(1, 4))
        v = rng.integers(-2, 3, (n, d)).astype(float)
        v[rng.random(v.shape) < 0.1] = -0.0
        dominated = [bool(np.any(np.all(v >= v[i], axis=1) & np.any(v > v[i], axis=1))) for i in range(n)]
        assert nondominated(v).tolist() == [not x for x in dominated]
    # three metrics are compared a block of 1,024 points at a time: several blocks, big fronts
    for n, spread in ((2500, 4), (3000, 1000), (2100, 40)):
        v = rng.integers(0, spread, (n, 3)).astype(float)
        v[:, 2] = -v[:, 1] + rng.integers(0, 3, n) if spread == 1000 else v[:, 2]  # a trade-off: most on the front
        dominated = [bool(np.any(np.all(v >= v[i], axis=1) & np.any(v > v[i], axis=1))) for i in range(n)]
        assert nondominated(v).tolist() == [not x for x in dominated]


def test_front_folded_chunk_by_chunk_equals_the_front_of_the_whole():
    rng = np.random.default_rng(1)
    df = pd.DataFrame(rng.integers(0, 20, size=(500, 3)).astype(float), columns=["x", "y", "z"])
    for metrics in (["x", "y"], ["x", "y", "z"]):
        whole = pareto_front(df, metrics)
        f = ParetoFront(metrics)
        for i in range(0, len(df), 37):
            f.add(df.iloc[i : i + 37])
        got = f.rows
        pd.testing.assert_frame_equal(got.reset_index(drop=True), whole.reset_index(drop=True))
        # brute force: no kept row dominated, every dropped row dominated
        v = df[metrics].to_numpy()
        keep = set(map(tuple, got[metrics].to_numpy()))
        for row in v:
            dominated = np.any(np.all(v >= row, axis=1) & np.any(v > row, axis=1))
            assert (tuple(row) in keep) == (not dominated)


# ---- the pareto command ------------------------------------------------------------------


@pytest.fixture
def table_csv(tmp_path):
    path = tmp_path / "results.csv"
    TABLE.to_csv(path, index=False)
    return path


def test_pareto_command_prints_exactly_the_front_rows(table_csv):
    code, out, err = invoke(["pareto", table_csv, "--x", "tokens_per_s", "--y", "tokens_per_s_per_w", "-f", "json"])
    assert code == 0, err
    assert [r["hw.name"] for r in json.loads(out)] == ["a", "b", "d"]  # d and d2 tie: shown once
    assert [r["ties"] for r in json.loads(out)] == [1, 1, 2]
    code, out, err = invoke(["pareto", table_csv, "--x", "tokens_per_s", "--y", "tokens_per_s_per_w", "-f", "json", "--ties"])
    assert code == 0, err
    assert [r["hw.name"] for r in json.loads(out)] == ["a", "b", "d", "d2"]


def test_pareto_command_all_rows_includes_designs_that_do_not_fit(table_csv):
    code, out, _ = invoke(["pareto", table_csv, "--x", "tokens_per_s", "--y", "tokens_per_s_per_w", "--all", "-f", "csv"])
    assert code == 0
    assert pd.read_csv(io.StringIO(out))["hw.name"].tolist() == ["f"]


def test_pareto_command_minimize_and_where(table_csv):
    code, out, _ = invoke(
        ["pareto", table_csv, "--x", "tokens_per_s", "--y", "tokens_per_s_per_w", "--minimize", "tokens_per_s_per_w",
         "--where", "area_mm2 >= 5", "-f", "json"]
    )
    assert code == 0
    # maximise speed, minimise efficiency, among rows with area >= 5: a (fastest, least efficient)
    assert [r["hw.name"] for r in json.loads(out)] == ["a"]


def test_pareto_command_table(table_csv):
    code, out, _ = invoke(["pareto", table_csv, "--x", "tokens_per_s", "--y", "area_mm2"])
    assert code == 0
    assert "Pareto front (tokens_per_s max, area_mm2 min): 3 of 7 rows" in " ".join(out.split())  # title may wrap


@pytest.mark.parametrize(
    "args,problem",
    [
        (["--x", "tokens_per_sec", "--y", "area_mm2"], "--x tokens_per_sec: no such column; did you mean tokens_per_s?"),
        (["--x", "tokens_per_s", "--y", "tokens_per_s"], "must be different metrics"),
        (["--x", "tokens_per_s", "--y", "area_mm2", "--where", "hw.nam == 'a'"], "unknown column hw.nam"),
        (["--x", "tokens_per_s", "--y", "hw.name"], "--y hw.name: not a number column (it holds text)"),
        (["--x", "fits", "--y", "tokens_per_s"], "--x fits: not a number column (it holds true/false)"),
        (["--x", "tokens_per_s", "--y", "area_mm2", "--minimize", "latency_ns"],
         "--minimize latency_ns: not one of the metrics (--x tokens_per_s, --y area_mm2)"),
        # both directions for one metric was accepted, --minimize silently winning
        (["--x", "tokens_per_s", "--y", "area_mm2", "--minimize", "tokens_per_s", "--maximize", "area_mm2,tokens_per_s"],
         "--minimize tokens_per_s and --maximize tokens_per_s: give one direction per metric"),
    ],
)
def test_pareto_command_bad_input_exits_2(table_csv, args, problem):
    code, _, err = invoke(["pareto", table_csv, *args])
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and problem in err


def test_pareto_command_missing_file(tmp_path):
    code, _, err = invoke(["pareto", tmp_path / "none.csv", "--x", "a", "--y", "b"])
    assert code == 2 and err.strip() == f"error: {tmp_path / 'none.csv'}: file not found"


def test_pareto_of_a_folder_or_a_non_results_file_says_which(tmp_path):
    code, _, err = invoke(["pareto", tmp_path, "--x", "a", "--y", "b"])
    assert code == 2 and err.strip() == f"error: {tmp_path}: is a folder, not a results file"
    other = tmp_path / "r.txt"
    other.write_text("a,b\n1,2\n")
    code, _, err = invoke(["pareto", other, "--x", "a", "--y", "b"])
    assert code == 2 and err.strip() == f"error: {other}: a results file must end in .csv or .parquet"


def test_a_sweep_given_as_a_dict_is_named_as_one_in_errors():
    import aimc_dse

    for data, msg in [({"name": "x", "systems": ["nature-3d-aimc"], "model": "olmoe-1b-7b", "axes": {"hw.nosuch": [1]}},
                       "sweep (dict): axes.hw.nosuch: no such field"),
                      ({"name": "x", "model": "olmoe-1b-7b"}, "sweep (dict): systems: Field required")]:
        with pytest.raises(aimc_dse.SpecError) as e:
            aimc_dse.sweep(data)
        assert str(e.value).startswith(msg), str(e.value)


def test_pareto_entry_point_in_a_subprocess(table_csv):
    r = run(["pareto", table_csv, "--x", "tokens_per_s", "--y", "tokens_per_s_per_w", "-f", "csv"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("hw.name,fits,tokens_per_s")
    assert len(r.stdout.splitlines()) == 1 + 3  # four front rows, d and d2 tied: three distinct points


# ---- the plot command ---------------------------------------------------------------------


def test_plot_writes_png_and_byte_stable_svg(table_csv, tmp_path):
    png = tmp_path / "f.png"
    code, _, err = invoke(["plot", table_csv, "--x", "tokens_per_s", "--y", "tokens_per_s_per_w", "--hue", "fits", "-o", png])
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svgs = []
    for name in ("a.svg", "b.svg"):
        out = tmp_path / name
        args = ["plot", table_csv, "--x", "tokens_per_s", "--y", "area_mm2", "--log", "--kind", "line", "--pareto", "-o", out]
        assert invoke(args)[0] == 0
        svgs.append(out.read_bytes())
    assert svgs[0] == svgs[1] and b"<svg" in svgs[0]


def test_plot_front_leaves_out_designs_that_do_not_fit(tmp_path, monkeypatch):
    """area_mm2 and max_batch are numbers on a design that does not fit (the smallest chip):
    it is drawn, but the front drawn on top is that of the fitting designs, as `pareto` says."""
    pytest.importorskip("matplotlib")
    import aimc_dse.report.plot as plot_mod

    fronts = []
    real = plot_mod.pareto_front
    monkeypatch.setattr(plot_mod, "pareto_front", lambda *a, **k: fronts.append(real(*a, **k)) or fronts[-1])
    df = pd.DataFrame({"hw.name": ["small", "mid", "big"], "fits": [False, True, True],
                       "area_mm2": [250.0, 315.0, 2880.0], "max_batch": [0.0, 365.0, 1096.0]})
    plot_mod.plot(df, "area_mm2", "max_batch", tmp_path / "f.png", pareto=True)
    assert len(fronts) == 1 and sorted(fronts[0]["area_mm2"]) == [315.0, 2880.0]


def test_plot_of_a_text_column_is_refused_and_writes_nothing(table_csv, tmp_path):
    out = tmp_path / "f.png"
    for axis in ("--y", "--x"):
        other = "--x" if axis == "--y" else "--y"
        code, _, err = invoke(["plot", table_csv, other, "tokens_per_s", axis, "hw.name", "-o", out])
        assert code == 2 and err.strip().endswith(f"{axis} hw.name: not a number column (it holds text); name a metric or a numeric knob")
        assert not out.exists()


def test_plot_pdf_is_byte_stable_and_dollars_are_text(table_csv, tmp_path):
    pdfs = []
    for name in ("a.pdf", "b.pdf"):
        out = tmp_path / name
        code, _, err = invoke(["plot", table_csv, "--x", "tokens_per_s", "--y", "area_mm2", "--title", "cost $x^$ and $5", "-o", out])
        assert code == 0, err
        pdfs.append(out.read_bytes())
    assert pdfs[0] == pdfs[1] and pdfs[0][:5] == b"%PDF-"


def test_plot_hue_of_several_columns(table_csv, tmp_path):
    out = tmp_path / "f.svg"
    code, _, err = invoke(["plot", table_csv, "--x", "tokens_per_s", "--y", "area_mm2", "--hue", "fits,hw.name", "-o", out])
    assert code == 0, err
    svg = out.read_text()
    assert "fits=true, a" in svg and "fits=false, f" in svg  # a name column shows its value alone


def test_plot_that_cannot_be_written_names_the_figure_not_its_temporary_file(table_csv, tmp_path):
    out = tmp_path / "f.png"
    (tmp_path / ".f.tmp.png").mkdir()  # the temporary name is taken by a folder: writing the figure fails
    code, _, err = invoke(["plot", table_csv, "--x", "tokens_per_s", "--y", "area_mm2", "-o", out])
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"error: {out}: cannot write: "), err
    assert ".tmp" not in err and not out.exists()


def test_plot_bad_column_and_extension_exit_2(table_csv, tmp_path):
    code, _, err = invoke(["plot", table_csv, "--x", "tokens", "--y", "area_mm2", "-o", tmp_path / "f.png"])
    assert code == 2 and "--x tokens: no such column" in err
    code, _, err = invoke(["plot", table_csv, "--x", "tokens_per_s", "--y", "area_mm2", "--hue", "fits,hw.nam", "-o", tmp_path / "f.png"])
    assert code == 2 and "--hue hw.nam: no such column; did you mean hw.name?" in err
    code, _, err = invoke(["plot", table_csv, "--x", "tokens_per_s", "--y", "area_mm2", "-o", tmp_path / "f.gif"])
    assert code == 2 and "figure must end in .png, .svg, .pdf" in err


def test_plot_without_matplotlib_says_how_to_install_it(table_csv, tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *a, **kw):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    code, _, err = invoke(["plot", table_csv, "--x", "tokens_per_s", "--y", "area_mm2", "-o", tmp_path / "f.png"])
    assert code == 2
    assert err.strip() == "error: plot: matplotlib is not installed; install the plot extra: pip install 'aimc-dse[plot]'"
    assert not (tmp_path / "f.png").exists()


def test_plot_entry_point_in_a_subprocess(table_csv, tmp_path):
    out = tmp_path / "f.svg"
    r = run(["plot", table_csv, "--x", "tokens_per_s", "--y", "area_mm2", "--hue", "hw.name", "-o", out])
    assert r.returncode == 0, r.stderr
    assert out.exists() and f"wrote {out} (7 of 7 rows drawn)" in r.stderr


# ---- filter expressions -------------------------------------------------------------------


def test_filters_take_dotted_names_and_yaml_booleans():
    # true/false are literals, dotted names are columns, strings are left alone
    assert query.names("fits == true and hw.tiles >= 200") == ["fits", "hw.tiles"]
    assert query.names("model.name == 'a.b' or `x.y` > 1") == ["model.name", "x.y"]
    df = pd.DataFrame({"fits": [True, False, True], "hw.tiles": [100, 300, 300]})
    assert query.mask(df, "fits == true and hw.tiles >= 200").tolist() == [False, False, True]
    with pytest.raises(query.QueryError, match="unknown column hw.tile; did you mean hw.tiles"):
        query.mask(df, "hw.tile > 1")


def test_summary_of_arrow_chunks_equals_the_summary_of_frames():
    """Summary.add_table picks the rows that can matter on numpy columns; the tables it
    prints must be those of add() on the whole chunks: ties, NaN/inf metrics, null fits."""
    import pyarrow as pa

    from aimc_dse.report.summary import Summary
    from aimc_dse.report.writer import to_pandas

    rng = np.random.default_rng(11)
    n = 5000
    df = pd.DataFrame({
        "hw.name": rng.choice(["a", "b", "c"], n), "hw.tiles": rng.integers(1, 40, n),
        "fits": pd.array(rng.choice([True, False, None], n, p=[0.6, 0.3, 0.1]), dtype="boolean"),
        "tokens_per_s": rng.integers(0, 30, n).astype(float), "tokens_per_s_per_w": rng.integers(0, 30, n).astype(float),
        "latency_ns": rng.integers(1, 30, n).astype(float),
    })
    df.loc[rng.random(n) < 0.05, "tokens_per_s"] = np.nan
    df.loc[rng.random(n) < 0.02, "latency_ns"] = np.inf
    table = pa.Table.from_pandas(df, preserve_index=False)
    for pareto in (["tokens_per_s", "tokens_per_s_per_w"], ["tokens_per_s", "tokens_per_s_per_w", "latency_ns"]):
        a, b = Summary(["hw.name", "hw.tiles"], pareto), Summary(["hw.name", "hw.tiles"], pareto)
        for s in range(0, n, 1500):
            a.add_table(table.slice(s, 1500))
            b.add(to_pandas(table.slice(s, 1500)))
        assert a.records() == b.records()
        assert a.fitting_rows == b.fitting_rows and a.rows == n


def test_plot_with_many_hue_values_keeps_colours_apart_and_prints_no_warning(tmp_path):
    """30 names: distinct colours (tab20 repeated after 20), the legend kept whole; 39 tile
    counts: a colour bar beside the axes, without matplotlib's tight_layout warning."""
    rng = np.random.default_rng(0)
    n = 120
    table = pd.DataFrame({"hw.name": [f"chip{i % 30}" for i in range(n)], "fits": True,
                          "tokens_per_s": rng.uniform(1, 100, n), "area_mm2": rng.uniform(1, 50, n),
                          "hw.tiles": rng.integers(1, 40, n)})
    path = tmp_path / "many.csv"
    table.to_csv(path, index=False)
    for hue in ("hw.name", "hw.tiles"):
        out = tmp_path / f"{hue}.svg"
        code, _, err = invoke(["plot", path, "--x", "tokens_per_s", "--y", "area_mm2", "--hue", hue, "-o", out])
        assert code == 0 and "Warning" not in err, err
        if hue == "hw.name":
            svg = out.read_text()
            assert "chip29" in svg and "chip0" in svg
            fills = set(re.findall(r"fill: (#[0-9a-f]{6})", svg))
            assert len(fills) >= 30, len(fills)  # one colour per name (and a few for the frame)


def test_plot_log_tick_labels_are_plain_text_not_raw_mathtext(tmp_path):
    """Figures draw text as typed (``text.parse_math`` off, for ``$`` in names), so matplotlib's
    log tick labels (``$\\mathdefault{10^{3}}$``) were drawn raw; they read 10³ and 2×10² instead,
    on log and symlog axes, in every panel of a faceted figure."""
    pytest.importorskip("matplotlib")
    import aimc_dse.report.plot as plot_mod

    figs = []
    import matplotlib.figure

    real = matplotlib.figure.Figure.savefig
    monkey = pytest.MonkeyPatch()
    monkey.setattr(matplotlib.figure.Figure, "savefig", lambda self, *a, **k: figs.append(self) or real(self, *a, **k))
    try:
        df = pd.DataFrame({"hw.name": ["a", "a", "b", "b"], "k": ["p", "q", "p", "q"],
                           "x": [1.0, 2000.0, 0.0, 30.0], "y": [5.0, 0.02, 300.0, 7e4]})
        plot_mod.plot(df, "x", "y", tmp_path / "f.svg", log=True, col="k", hue="hw.name")
    finally:
        monkey.undo()
    (fig,) = figs
    fig.canvas.draw()
    labels = [t.get_text() for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
              for t in axis.get_ticklabels(which="both") if t.get_text()]
    assert labels and not [t for t in labels if "$" in t or "\\" in t], labels
    assert "10³" in labels and "10⁻²" in labels, labels
