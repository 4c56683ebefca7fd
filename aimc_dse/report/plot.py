"""Pictures of result tables with matplotlib (Agg backend; the optional ``plot`` extra).

One figure per call: ``y`` against ``x``, with

* colour by ``hue`` columns and marker by ``style`` columns (e.g. colour = hardware, marker =
  model), one legend entry per combination that has points (a colour bar instead for one
  numeric hue with many values);
* ``kind="line"``: lines only along ``x`` within one design — rows are grouped by every
  other column that varies (``by``), so different designs are never joined; ``along`` names
  the swept knob a line follows when ``x`` is a result column (φ for the digital share);
* rows that cannot be drawn are counted, not dropped silently: designs that do not fit
  (``fits`` false, no metrics) and other missing values are stated in a note on the figure
  and in the returned :class:`PlotStats`;
* log axes that hold zero or negative values switch to a symmetric-log scale (linear
  below the smallest positive value) and say so in the axis label, so φ = 0 stays visible;
* the Pareto front of ``x`` and ``y`` among the designs that fit (as ``aimc-dse pareto``)
  drawn on top of everything (large point clouds are rasterised and drawn translucent);
* ``annotate``: a column whose value is written beside a line where it changes (e.g. the
  GPU's ``n_devices``, which explains a jump of the calibrated A100);
* facets: one panel per value of ``col`` / ``row`` columns, axes shared.

Axis labels carry units (``labels.axis_label``). PNG, SVG or PDF by the file extension;
SVG output is byte-stable (fixed hash salt, no date).
"""

from __future__ import annotations

import itertools
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..specs.base import SpecError
from .labels import axis_label, describe, display_scale
from .pareto import pareto_front, senses

FORMATS = (".png", ".svg", ".pdf")
MAX_CATEGORIES = 12
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p"]
BIG = 20_000  # more points than this: rasterised, small and translucent


@dataclass
class PlotStats:
    rows: int  # rows given
    drawn: int  # points drawn (finite x and y)
    not_fitting: int  # rows whose design does not fit (no metrics)
    missing: int  # other rows without a finite x or y
    symlog: tuple[str, ...] = ()  # axes switched to symlog because of values ≤ 0
    lines: int = 0  # lines drawn (kind="line"): one per design and panel

    def summary(self) -> str:
        parts = [f"{self.drawn:,} of {self.rows:,} rows drawn"]
        if self.not_fitting:
            parts.append(f"{self.not_fitting:,} do not fit")
        if self.missing:
            parts.append(f"{self.missing:,} without a value")
        if self.symlog:
            parts.append(f"symlog {'/'.join(self.symlog)} (values ≤ 0)")
        return "; ".join(parts)


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


def _as_list(v: str | list[str] | tuple[str, ...] | None) -> list[str]:
    if v is None:
        return []
    return [v] if isinstance(v, str) else list(v)


def _short(cols: list[str]) -> list[str]:
    short = [c.rsplit(".", 1)[-1] for c in cols]
    return short if len(set(short)) == len(short) else cols


def _value(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    return "–" if pd.isna(v) else str(v)


def _label(names: list[str], key: tuple) -> str:
    # a name column speaks for itself (nature-3d-aimc); other columns as name=value
    return ", ".join(_value(v) if n in ("name",) or n.endswith(".name") else f"{n}={_value(v)}" for n, v in zip(names, key))


def _key(df: pd.DataFrame, cols: list[str]) -> pd.Series:
    """One hashable key per row from ``cols`` (missing values as a dash)."""
    if not cols:
        return pd.Series([()] * len(df), index=df.index, dtype=object)
    parts = [df[c].astype(object).where(df[c].notna(), "–") for c in cols]
    return pd.Series(list(zip(*parts)), index=df.index, dtype=object)


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _plain_math(label: str) -> str:
    """matplotlib's log tick label as plain text: ``$\\mathdefault{2\\times10^{-3}}$`` → ``2×10⁻³``.
    Figures draw text as typed (``text.parse_math`` off), so mathtext would be drawn raw."""
    import re

    m = re.fullmatch(r"\$\\mathdefault\{(.*)\}\$", label)
    if m is None:
        return label
    s = m.group(1).replace("\\times", "×")
    return re.sub(r"\^\{([-\d]+)\}", lambda e: e.group(1).translate(_SUPERSCRIPT), s).replace("-", "−")


def _plain_log_ticks(axes) -> None:
    """Log and symlog tick labels in plain text on every panel (after every scale is set: a
    shared axis's set_xscale resets the formatters of all its siblings)."""
    from matplotlib.ticker import Formatter, LogFormatterMathtext

    class Plain(Formatter):
        # the log formatter still picks which ticks get a label (set_locs), this only rewrites it
        def __init__(self, inner: LogFormatterMathtext):
            self.inner = inner

        def set_axis(self, axis):
            super().set_axis(axis)
            self.inner.set_axis(axis)

        def set_locs(self, locs):
            super().set_locs(locs)
            self.inner.set_locs(locs)

        def __call__(self, x, pos=None):
            return _plain_math(self.inner(x, pos))

    for ax in axes:
        for axis in (ax.xaxis, ax.yaxis):
            for get, put in ((axis.get_major_formatter, axis.set_major_formatter),
                             (axis.get_minor_formatter, axis.set_minor_formatter)):
                f = get()
                if isinstance(f, LogFormatterMathtext):
                    put(Plain(f))


def _scale(ax, axis: str, values: np.ndarray, log: bool) -> bool:
    """Set a log axis; symlog (linear below the smallest positive value) if any value ≤ 0."""
    if not log:
        return False
    v = values[np.isfinite(values)]
    setter = ax.set_xscale if axis == "x" else ax.set_yscale
    if v.size and (v <= 0).any():
        pos = v[v > 0]
        setter("symlog", linthresh=float(pos.min()) if pos.size else 1.0)
        return True
    setter("log")
    return False


def plot(
    df: pd.DataFrame,
    x: str,
    y: str,
    output: str | Path,
    *,
    hue: str | list[str] | None = None,
    style: str | list[str] | None = None,
    by: list[str] | None = None,
    along: str | list[str] | None = None,
    log: bool = False,
    logx: bool | None = None,
    logy: bool | None = None,
    kind: str = "scatter",
    title: str | None = None,
    pareto: bool = False,
    col: str | None = None,
    row: str | None = None,
    annotate: str | None = None,
) -> PlotStats:
    """Draw ``y`` over ``x`` of ``df`` into ``output`` (.png, .svg or .pdf); see the module docstring."""
    output = Path(output)
    if output.suffix.lower() not in FORMATS:
        raise SpecError(str(output), None, f"figure must end in {', '.join(FORMATS)}")
    matplotlib, plt = _pyplot()
    matplotlib.rcParams["svg.hashsalt"] = "aimc-dse"
    # titles, names and values are text, never mathtext: "$5 vs $10" is drawn as typed, and a
    # lone "$" in a hardware name does not stop the figure with a parse error
    matplotlib.rcParams["text.parse_math"] = False
    logx = log if logx is None else logx
    logy = log if logy is None else logy
    hues, styles = _as_list(hue), [s for s in _as_list(style) if s not in _as_list(hue)]

    df = df.reset_index(drop=True)
    xs = pd.to_numeric(df[x], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    ys = pd.to_numeric(df[y], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    ok = np.isfinite(xs) & np.isfinite(ys)
    # draw ns as ms (nJ as mJ …) when the values are large; the label says which
    xdiv, xunit = display_scale(x, float(np.nanmax(np.abs(xs[ok]))) if ok.any() else 0.0)
    ydiv, yunit = display_scale(y, float(np.nanmax(np.abs(ys[ok]))) if ok.any() else 0.0)
    xs, ys = xs / xdiv, ys / ydiv
    fits = df["fits"].astype("boolean").fillna(False).to_numpy(dtype=bool) if "fits" in df.columns else np.ones(len(df), bool)
    stats = PlotStats(len(df), int(ok.sum()), int((~ok & ~fits).sum()), int((~ok & fits).sum()))

    # colour per hue combination, marker per style combination (only combinations with points)
    numeric_hue = None
    if len(hues) == 1 and not styles and pd.api.types.is_numeric_dtype(df[hues[0]]) and df[hues[0]].nunique() > MAX_CATEGORIES:
        numeric_hue = pd.to_numeric(df[hues[0]], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    hkey, skey = _key(df, hues), _key(df, styles)
    hue_vals = list(dict.fromkeys(hkey[ok])) if numeric_hue is None else []
    style_vals = list(dict.fromkeys(skey[ok]))
    if len(hue_vals) <= 20:
        cmap = plt.get_cmap("tab10" if len(hue_vals) <= 10 else "tab20")
        colour = {k: cmap(i % cmap.N) for i, k in enumerate(hue_vals)}
    else:  # more values than a qualitative map has colours: spread them over a continuous one
        turbo = plt.get_cmap("turbo")
        colour = {k: turbo(i / (len(hue_vals) - 1)) for i, k in enumerate(hue_vals)}
    marker = {k: MARKERS[i % len(MARKERS)] for i, k in enumerate(style_vals)}
    hnames, snames = _short(hues), _short(styles)

    # a line joins the rows of one design: equal in every grouping column but x
    # (``along``: the swept knob(s) the line follows when x is a result, e.g. φ for digital_param_fraction)
    skip = {x, *_as_list(along)}
    xkey = pd.Series(xs, index=df.index)
    for c in by or []:  # knobs zipped with x (one value per x) move along the line too
        if c not in skip and c in df.columns and df[c].groupby(xkey).nunique(dropna=False).max() <= 1:
            skip.add(c)
    line_cols = list(dict.fromkeys(hues + styles + [c for c in (by or []) if c not in skip]))
    lkey = _key(df, line_cols)

    cols_vals = list(dict.fromkeys(df[col].tolist())) if col else [None]
    rows_vals = list(dict.fromkeys(df[row].tolist())) if row else [None]
    fig, axes = plt.subplots(
        len(rows_vals),
        len(cols_vals),
        figsize=(min((6.4 if len(cols_vals) == 1 else 4.4) * len(cols_vals), 19) + 2.2, min(4.6 * len(rows_vals), 14) + 0.6),
        dpi=120,
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    big = stats.drawn > BIG
    handles: dict[str, object] = {}
    symlog: set[str] = set()
    try:
        for (ri, rv), (ci, cv) in itertools.product(enumerate(rows_vals), enumerate(cols_vals)):
            ax = axes[ri][ci]
            sel = ok.copy()
            if col:
                sel &= (df[col] == cv).fillna(False).to_numpy(dtype=bool) if not pd.isna(cv) else df[col].isna().to_numpy()
            if row:
                sel &= (df[row] == rv).fillna(False).to_numpy(dtype=bool) if not pd.isna(rv) else df[row].isna().to_numpy()
            idx = np.flatnonzero(sel)
            if numeric_hue is not None:
                sc = ax.scatter(xs[idx], ys[idx], c=numeric_hue[idx], s=4 if big else 14, cmap="viridis",
                                rasterized=big, zorder=2)
                if ri == 0 and ci == len(cols_vals) - 1:
                    fig.colorbar(sc, ax=axes.ravel().tolist(), label=axis_label(hues[0]))
            else:
                sub = pd.DataFrame({"h": hkey.iloc[idx].to_numpy(), "s": skey.iloc[idx].to_numpy(), "l": lkey.iloc[idx].to_numpy()}, index=idx)
                for (h, s), g in sub.groupby(["h", "s"], sort=False):
                    label = ", ".join(p for p in (_label(hnames, h), _label(snames, s)) if p) or None
                    kw = dict(color=colour.get(h, "C0"), marker=marker.get(s, "o"))
                    si = style_vals.index(s) if s in style_vals else 0  # later styles hollow and larger: overlaps stay visible
                    if kind == "line":
                        for _, lg in g.groupby("l", sort=False):
                            ii = lg.index.to_numpy()
                            ii = ii[np.argsort(xs[ii], kind="stable")]
                            (h_,) = ax.plot(xs[ii], ys[ii], ms=4 + 1.5 * si, lw=1.3, zorder=2,
                                            mfc="none" if si else kw["color"], **kw)
                            stats.lines += 1
                            if annotate and annotate in df.columns:
                                _annotate(ax, df[annotate].to_numpy()[ii], xs[ii], ys[ii], annotate, kw["color"])
                    else:
                        ii = g.index.to_numpy()
                        c = kw.pop("color")
                        h_ = ax.scatter(xs[ii], ys[ii], s=4 if big else 16 + 18 * si, alpha=0.35 if big else 0.9,
                                        rasterized=big, zorder=2 + (0 if si else 0.5),
                                        facecolors="none" if si and not big else c, edgecolors=c, **kw)
                    if label and label not in handles:
                        handles[label] = h_
            fit_idx = idx[fits[idx]]  # as `pareto`: a design that does not fit is drawn, never on the front
            if pareto and fit_idx.size:
                front = pareto_front(pd.DataFrame({x: xs[fit_idx], y: ys[fit_idx]}), [x, y], senses([x, y]))
                front = front.sort_values(x, kind="stable")
                (fh,) = ax.plot(front[x], front[y], color="black", lw=1.4, marker="o", ms=5, mfc="white",
                                zorder=10, label="Pareto front")
                handles.setdefault("Pareto front", fh)
            if _scale(ax, "x", xs[ok], logx):
                symlog.add("x")
            if _scale(ax, "y", ys[ok], logy):
                symlog.add("y")
            facet = ", ".join(f"{n}={_value(v)}" for n, v in ((col, cv), (row, rv)) if n)
            if facet:
                ax.set_title(facet, fontsize="small")
            ax.grid(True, which="major", alpha=0.3)
            if ri == len(rows_vals) - 1:
                ax.set_xlabel(axis_label(x, xunit) + (" — symlog: 0 shown" if "x" in symlog else ""))
            if ci == 0:
                ax.set_ylabel(axis_label(y, yunit) + (" — symlog: 0 shown" if "y" in symlog else ""))
        stats.symlog = tuple(sorted(symlog))
        _plain_log_ticks(axes.ravel())
        if hues and styles and numeric_hue is None:
            # two keys instead of every combination: colour = hue, marker = style
            from matplotlib.lines import Line2D

            ls = "-" if kind == "line" else ""
            keyed: dict[str, object] = {}
            for h in hue_vals:
                keyed[_label(hnames, h)] = Line2D([], [], color=colour[h], marker="o", ls=ls, ms=5)
            for i, st in enumerate(style_vals):
                keyed[_label(snames, st)] = Line2D([], [], color="0.35", marker=marker[st], ls="", ms=5 + 1.5 * i,
                                                   mfc="none" if i else "0.35")
            keyed.update({k: v for k, v in handles.items() if k.startswith("Pareto front")})
            handles = keyed
        if handles:
            # beside the last panel, so no point hides behind it
            axes[0][-1].legend(list(handles.values()), list(handles.keys()), fontsize="x-small", loc="upper left",
                               bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, framealpha=0.85)
        head = f"{describe(y)} vs {describe(x)}"
        chars = int(11 * fig.get_figwidth())  # characters per title line at this size
        fig.suptitle((textwrap.fill(title, chars) + "\n" if title else "") + textwrap.fill(head, chars), fontsize="medium")
        notes = [stats.summary()]
        fig.text(0.01, 0.005, "; ".join(notes), fontsize="x-small", color="0.3", ha="left", va="bottom")
        if numeric_hue is None:  # a colour bar has taken its room already (tight_layout would draw over it)
            fig.tight_layout(rect=(0, 0.03, 1, 1))
        # no creation date in the file: the same inputs give the same bytes (SVG and PDF stamp one)
        meta = {".svg": {"Date": None}, ".pdf": {"CreationDate": None}}.get(output.suffix.lower())
        tmp = output.with_name(f".{output.stem}.tmp{output.suffix}")
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            # bbox "tight": a long legend beside the last panel is kept whole, not cut at the edge
            fig.savefig(tmp, metadata=meta, bbox_inches="tight")
            os.replace(tmp, output)
        except OSError as e:  # the figure the user asked for, not the temporary file, is named
            if tmp.is_file():
                tmp.unlink()
            raise SpecError(str(output), None, f"cannot write: {e.strerror or e}") from None
    finally:
        plt.close(fig)
    return stats


def _annotate(ax, values, xs, ys, name: str, color) -> None:
    """Write ``name=value`` at a line's start and wherever it changes (nothing for a constant 1)."""
    vals = pd.Series(values)
    first = vals.dropna()
    if vals.nunique(dropna=True) < 2 and (first.empty or first.iloc[0] == 1):
        return  # one value all along, the unremarkable one (a single device)
    prev = object()
    for v, px, py in zip(vals.tolist(), xs, ys):
        if pd.isna(v) or v == prev:
            continue
        prev = v
        if isinstance(v, str):
            txt = v if name.endswith("name") else f"{name}={v}"
        else:
            txt = f"{name.removeprefix('n_')}={int(v) if float(v).is_integer() else v}"
        ax.annotate(txt, (px, py), textcoords="offset points", xytext=(4, 6), fontsize="x-small", color=color)
