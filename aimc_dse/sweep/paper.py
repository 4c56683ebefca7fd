"""Reproduce the papers' studies (``make paper``): sweeps → CSV tables, figures, headline ratios.

Each study is a sweep file in ``sweeps/`` (Büchel et al. 2025: dense vs MoE, expert count,
stack height vs tiles, d_model across the tier size, batch size, the A100 comparison; Gao &
Yang 2026: KV/GO caches over the generated length, and peripheral-sharing group size ×
grouping × schedule) run through the same runner as ``aimc-dse sweep`` into
``results/<study>.csv``, drawn into ``results/<study>.png``. Two headline claims get a
derived table of their own: the 3D AIMC chip over the A100 per model
(``buechel-a100-ratios.csv``) and the cached over the uncached generation per length
(``gao-caches-ratios.csv``); so does issue 13's comparison of several AIMC chips with 8 H100s /
H200s (``multichip-moe-ratios.csv``). ``results/README.md`` says what each table shows.

    python -m aimc_dse.sweep.paper [--jobs N] [--sweeps sweeps] [--out results]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..cost.metrics import RATIO_METRICS
from ..report.output import emit
from ..report.plot import plot
from ..report.writer import read_results, write_frame
from ..specs.sweep import load_sweep_spec, with_pareto_columns
from .grid import build_grid
from .runner import run_sweep


@dataclass(frozen=True)
class Study:
    name: str  # sweep file stem and results name
    x: str
    y: str
    hue: tuple[str, ...] = ()  # colour
    style: tuple[str, ...] = ()  # marker
    log: bool = False
    kind: str = "line"
    col: str | None = None  # one panel per value
    annotate: str | None = None  # labelled where it changes along a line
    extra_columns: tuple[str, ...] = ()  # written besides the sweep file's columns (for the figure)
    pareto: bool = False
    along: str | None = None  # the swept knob a line follows when x is a result column
    lines_by: tuple[str, ...] | None = None  # what separates lines (default: the sweep's axes but x)


def _architecture(df: pd.DataFrame) -> pd.Series:
    """dense or MoE, per row (model.moe.experts is 0 — or missing — for a dense model)."""
    return pd.Series(["dense" if pd.isna(v) or v == 0 else "MoE" for v in df["model.moe.experts"]], index=df.index)


# columns a figure may need that no sweep writes
DERIVED_COLUMNS = {"architecture": _architecture}


STUDIES = [
    # the paper's figure: one line through the dense models by size, one through the MoEs by expert count
    Study(
        "buechel-dense-vs-moe", "tier_blocks", "tokens_per_s", ("architecture",), log=True, annotate="model.name",
        lines_by=("architecture",),
    ),
    # the calibrated A100 jumps where the weights need a second device: n_devices is written and labelled
    Study(
        "buechel-experts",
        "model.moe.experts",
        "tokens_per_s",
        ("hw.name",),
        ("workload.batch",),
        log=True,
        annotate="n_devices",
        extra_columns=("n_devices",),
    ),
    # stack heights share the area of their tile count: marker by stack height so overlaps show
    Study("buechel-stack", "area_mm2", "tokens_per_s", ("model.name",), ("hw.stack_height",), log=True, kind="scatter"),
    # the MVM busy time summed over the run: what jumps when d_model crosses the 512-row tier
    Study("buechel-dmodel", "model.d_model", "busy_ns.mvm"),
    Study(
        "buechel-batch", "workload.batch", "tokens_per_s", ("hw.name",), log=True, annotate="n_devices", extra_columns=("n_devices",)
    ),
    # four models × three systems: colour by hardware, marker by model
    Study("buechel-a100", "tokens_per_s_per_w", "tokens_per_s", ("hw.name",), ("model.name",), log=True, kind="scatter"),
    Study("gao-caches", "workload.gen_len", "latency_ns", ("workload.kv_cache", "workload.go_cache"), log=True),
    # expert-phase length (f_m) against MoE-part GOPS/W/mm²: sharing raises the density and
    # lengthens the expert phase; grouping and scheduling win part of the length back
    Study(
        "grouping",
        "grouping.f_m",
        "gops_per_w_per_mm2.moe",
        ("hw.sharing.group_size",),
        ("workload.grouping.schedule",),
        kind="scatter",
        col="workload.grouping.grouping",
    ),
    # Chowdhury et al.: the share of parameters run digitally against energy efficiency
    # (φ = 0, the all-analog reference, sits at x = 0: the x axis is symlog)
    Study(
        "heterogeneous",
        "digital_param_fraction",
        "tokens_per_s_per_w",
        ("workload.digital.score",),
        ("workload.digital.attention",),
        log=True,
        kind="line",
        along="workload.digital.fraction",
    ),
    # issue 13: several 3D AIMC chips (pipeline or expert parallel) vs 8 H100s / H200s with EP, by batch;
    # one panel per model, colour by system and chip count, marker by prompt length and placement
    Study(
        "multichip-moe",
        "workload.batch",
        "tokens_per_s",
        ("hw.name", "hw.chips"),
        ("workload.prompt_len", "hw.parallelism"),
        log=True,
        col="model.name",
        lines_by=("hw.name", "hw.parallelism", "hw.chips", "workload.prompt_len", "model.name"),
    ),
]

MULTICHIP_METRICS = [*RATIO_METRICS, "gops_per_w_per_mm2"]


def gpu_labels(gpus: pd.DataFrame) -> pd.Series:
    """One label per GPU system of a results table: ``hw.name`` where one configuration of that
    GPU ran, else the name with the ``hw.*`` knobs that tell its configurations apart
    (``h100-sxm (devices=1, parallelism=tp)``). Keying the ratios by the name alone paired an
    AIMC row with whichever configuration came first, or failed outright."""
    knobs = [c for c in gpus.columns if c.startswith("hw.") and c != "hw.name"]
    labels = pd.Series(gpus["hw.name"].astype(str), index=gpus.index)
    for name, g in gpus.groupby("hw.name", sort=False):
        differ = [c for c in knobs if g[c].nunique(dropna=False) > 1]
        if differ:
            for i, r in g.iterrows():
                labels[i] = f"{name} (" + ", ".join(f"{c[3:]}={_knob(r[c])}" for c in differ) + ")"
    return labels


def _knob(v: object) -> str:
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def a100_ratios(df: pd.DataFrame) -> pd.DataFrame:
    """Each 3D AIMC chip ÷ each GPU system for the same model and KV-cache setting, per
    headline metric (> 1: AIMC ahead)."""
    key = ["model.name", "workload.kv_cache"]
    is_aimc = df["system"] == "aimc"
    gpu_label = gpu_labels(df[~is_aimc])
    rows = []
    for (chip, *k), a in df[is_aimc].groupby(["hw.name", *key], sort=False):
        same = (df[key] == pd.Series(k, index=key)).all(axis=1) & ~is_aimc
        for gpu, g in df[same].groupby(gpu_label[same[same].index], sort=False):
            if len(g) > 1:
                raise ValueError(f"{len(g)} rows of GPU system {gpu!r} for one model and KV-cache setting")
            rec = {"aimc": chip, "gpu": gpu, "model.name": k[0], "workload.kv_cache": bool(k[1])}
            for m in RATIO_METRICS:
                rec[f"{m}.ratio"] = float(a[m].iloc[0]) / float(g[m].iloc[0])
            rows.append(rec)
    return pd.DataFrame(rows)


def cache_ratios(df: pd.DataFrame) -> pd.DataFrame:
    """No cache ÷ KV cache and ÷ KV + GO cache, latency and energy, per generated length."""
    key = ["workload.gen_len"]
    none = df[~df["workload.kv_cache"] & ~df["workload.go_cache"]].set_index(key)
    rows = []
    for label, sel in (("kv", df["workload.kv_cache"] & ~df["workload.go_cache"]), ("kv+go", df["workload.kv_cache"] & df["workload.go_cache"])):
        for n, g in df[sel].groupby(key):
            n = n[0] if isinstance(n, tuple) else n
            rows.append(
                {
                    "workload.gen_len": n,
                    "cache": label,
                    "latency.speedup": float(none.loc[n, "latency_ns"]) / float(g["latency_ns"].iloc[0]),
                    "energy.ratio": float(none.loc[n, "energy_nj"]) / float(g["energy_nj"].iloc[0]),
                }
            )
    return pd.DataFrame(rows).sort_values(["cache", "workload.gen_len"], kind="stable").reset_index(drop=True)


def multichip_ratios(df: pd.DataFrame) -> pd.DataFrame:
    """Each multi-chip AIMC system (chips, placement) ÷ each GPU system for the same model,
    prompt and batch, per metric (> 1: AIMC ahead; NaN where either does not fit)."""
    key = ["model.name", "workload.prompt_len", "workload.batch"]
    is_aimc = df["system"] == "aimc"
    g_rows = df[~is_aimc]
    label = gpu_labels(g_rows)
    gpus = g_rows.set_index([label.rename("gpu"), *key])
    if not gpus.index.is_unique:
        raise ValueError("several rows of one GPU system for one model, prompt and batch")
    rows = []
    for _, a in df[is_aimc].iterrows():
        for gpu in pd.unique(label):
            k = (gpu, *(a[c] for c in key))
            if k not in gpus.index:
                continue
            g = gpus.loc[k]
            rec = {"model.name": a["model.name"], "workload.prompt_len": int(a["workload.prompt_len"]),
                   "workload.batch": int(a["workload.batch"]), "aimc_chips": int(a["hw.chips"]),
                   "placement": a["placement"], "gpu": gpu,
                   "gpu_devices": int(g["n_devices"]) if "n_devices" in g and pd.notna(g["n_devices"]) else None}
            for m in MULTICHIP_METRICS:
                rec[f"{m}.ratio"] = float(a[m]) / float(g[m])
            rows.append(rec)
    return pd.DataFrame(rows)


DERIVED = {
    "multichip-moe": ("multichip-moe-ratios", multichip_ratios),
    "buechel-a100": ("buechel-a100-ratios", a100_ratios),
    "gao-caches": ("gao-caches-ratios", cache_ratios),
}


def run_study(study: Study, sweeps: Path, out: Path, jobs: int) -> pd.DataFrame:


    spec, src = load_sweep_spec(sweeps / f"{study.name}.yaml")
    spec = with_pareto_columns(spec)
    if study.extra_columns:
        from ..cost.metrics import HEADLINE_COLUMNS

        base = list(spec.columns) if spec.columns is not None else list(HEADLINE_COLUMNS)
        spec = spec.model_copy(update={"columns": base + [c for c in study.extra_columns if c not in base]})
    grid = build_grid(spec, src)
    csv = out / f"{study.name}.csv"
    run_sweep(spec, grid, csv, jobs=jobs, force=True, quiet=True)
    df = read_results(csv)
    for c in (*study.hue, *study.style):
        if c in DERIVED_COLUMNS and c not in df.columns:
            df[c] = DERIVED_COLUMNS[c](df)
    if study.lines_by is not None:
        by = list(study.lines_by)
    else:
        by = [c for c in grid.axes if c != study.x and c in df.columns] + ["hw.name", "model.name"]
    stats = plot(
        df,
        study.x,
        study.y,
        out / f"{study.name}.png",
        hue=list(study.hue),
        style=list(study.style),
        by=by,
        along=study.along,
        log=study.log,
        kind=study.kind,
        title=spec.description,
        col=study.col,
        annotate=study.annotate,
        pareto=study.pareto,
    )
    print(f"{study.name}.png: {stats.summary()}", flush=True)
    return df


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m aimc_dse.sweep.paper", description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", "-j", type=int, default=-1, help="cores per sweep (-1: all)")
    ap.add_argument("--sweeps", type=Path, default=Path("sweeps"), help="folder of the sweep files")
    ap.add_argument("--out", type=Path, default=Path("results"), help="folder for tables and figures")
    ap.add_argument("studies", nargs="*", help="run only these studies (default: all)")
    args = ap.parse_args(argv)

    chosen = [s for s in STUDIES if not args.studies or s.name in args.studies]
    args.out.mkdir(parents=True, exist_ok=True)
    for study in chosen:
        t = time.perf_counter()
        df = run_study(study, args.sweeps, args.out, args.jobs)
        made = [f"{study.name}.csv", f"{study.name}.png"]
        if study.name in DERIVED:
            name, fn = DERIVED[study.name]
            table = fn(df)
            write_frame(table, args.out / f"{name}.csv")
            made.append(f"{name}.csv")
            emit(table, "table", title=name)
        print(f"{study.name}: {len(df):,} rows → {', '.join(str(args.out / m) for m in made)} ({time.perf_counter() - t:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
