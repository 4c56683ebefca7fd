"""Pictures of result tables with matplotlib (Agg backend; the optional ``plot`` extra).

One figure per call: ``y`` against ``x`` as a scatter or lines, coloured by ``hue`` (one
column or several — a legend entry per combination, a colour bar for one numeric column
with many values), log
axes on request, and optionally the Pareto front of ``x`` and ``y`` drawn over it.
PNG or SVG by the file extension; SVG output is byte-stable (fixed hash salt, no date).
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from ..specs.base import SpecError
from .pareto import pareto_front, senses

FORMATS = (".png", ".svg", ".pdf")
MAX_CATEGORIES = 12


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise SpecError(
            "plot", None, "matplotlib is not installed; install the plot extra: pip install 'aimc-dse[plot]'"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return matplotlib, plt


def plot(
    df: pd.DataFrame,
    x: str,
    y: str,
    output: str | Path,
    *,
    hue: str | list[str] | None = None,
    log: bool = False,
    kind: str = "scatter",
    title: str | None = None,
    pareto: bool = False,
) -> None:
    """Draw ``y`` over ``x`` of ``df`` into ``output`` (.png, .svg or .pdf)."""
    output = Path(output)
    if output.suffix.lower() not in FORMATS:
        raise SpecError(str(output), None, f"figure must end in {', '.join(FORMATS)}")
    matplotlib, plt = _pyplot()
    matplotlib.rcParams["svg.hashsalt"] = "aimc-dse"
    fig, ax = plt.subplots(figsize=(7, 4.8), dpi=120)
    try:
        xs = pd.to_numeric(df[x], errors="coerce")
        ys = pd.to_numeric(df[y], errors="coerce")
        hues = [hue] if isinstance(hue, str) else list(hue or [])
        groups: list[tuple[str | None, pd.Index]] = [(None, df.index)]
        numeric_hue = None
        if len(hues) == 1 and pd.api.types.is_numeric_dtype(df[hues[0]]) and df[hues[0]].nunique() > MAX_CATEGORIES:
            numeric_hue = pd.to_numeric(df[hues[0]], errors="coerce")
        elif hues:
            short = [h.rsplit(".", 1)[-1] for h in hues]
            names = short if len(hues) > 1 and len(set(short)) == len(short) else hues
            groups = []
            for key, g in df.groupby(hues, sort=False, dropna=False):
                key = key if isinstance(key, tuple) else (key,)
                label = ", ".join(f"{n}={'–' if pd.isna(v) else v}" for n, v in zip(names, key))
                groups.append((label, g.index))
        if numeric_hue is not None:
            sc = ax.scatter(xs, ys, c=numeric_hue, s=14, cmap="viridis", norm="log" if log and (numeric_hue > 0).all() else None)
            fig.colorbar(sc, ax=ax, label=hues[0])
        else:
            for label, idx in groups:
                gx, gy = xs.loc[idx], ys.loc[idx]
                if kind == "line":
                    order = np.argsort(gx.to_numpy(dtype=float), kind="stable")
                    ax.plot(gx.iloc[order], gy.iloc[order], marker="o", ms=3, label=label)
                else:
                    ax.scatter(gx, gy, s=14, label=label)
            if hues:
                ax.legend(fontsize="small", loc="best")
        if pareto:
            front = pareto_front(pd.DataFrame({x: xs, y: ys}), [x, y], senses([x, y]))
            front = front.sort_values(x, kind="stable")
            ax.plot(front[x], front[y], color="black", lw=1.2, label="Pareto front")
            ax.legend(fontsize="small", loc="best")
        if log:
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        if title:
            ax.set_title(textwrap.fill(title, 80), fontsize="medium")
        ax.grid(True, which="major", alpha=0.3)
        fig.tight_layout()
        output.parent.mkdir(parents=True, exist_ok=True)
        meta = {"Date": None} if output.suffix.lower() == ".svg" else None
        tmp = output.with_name(f".{output.stem}.tmp{output.suffix}")
        fig.savefig(tmp, metadata=meta)
        os.replace(tmp, output)
    finally:
        plt.close(fig)
