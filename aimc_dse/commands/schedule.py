"""`aimc-dse schedule` and `aimc-dse trace synth`: expert groupings and group-wise schedules.

``schedule`` groups a gate trace's experts (uniform / sorted / balanced) and prints, per
layer and schedule, the per-group loads, the schedule length and transfers and the factors
f_m, f_c, f_g the cost model uses (Gao & Yang 2026; docs/reference-simulators.md §E.4–§E.5,
§G.6). ``--toy`` runs the paper's Fig. 2 example. ``trace synth`` writes a synthetic
token-choice trace (layers × tokens × experts, 0/1) that ``schedule`` and the cost model
accept.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from pathlib import Path
from typing import Annotated, Literal, Optional

import numpy as np
import typer

from ..moe import grouping as grp
from ..moe.routing import load_trace, synth_choices
from ..report.output import emit
from ..specs.base import SpecError
from .common import FormatOpt, check_new_file

GroupingName = Literal["uniform", "sorted", "balanced"]
ScheduleName = Literal["single", "compact", "optimized", "optimized-reference"]
ALL_SCHEDULES = ("single", "compact", "optimized")

TraceOpt = Annotated[
    Optional[Path],
    typer.Option("--trace", help="gate trace .npy: layers × tokens × experts (or tokens × experts), 0/1"),
]
ToyOpt = Annotated[
    bool,
    typer.Option(
        "--toy", help="the paper's Fig. 2 example: 6 tokens, 8 experts, top-4, groups {0,1} {2,3} {4,5} {6,7}"
    ),
]
GroupSizeOpt = Annotated[int, typer.Option("--group-size", "-g", help="experts per shared periphery g (must divide E)")]
GroupingOpt = Annotated[
    GroupingName,
    typer.Option("--grouping", help="uniform (by index), sorted (light with heavy), balanced (min heaviest group)"),
]
ScheduleOpt = Annotated[
    Optional[ScheduleName],
    typer.Option("--schedule", help="single | compact | optimized | optimized-reference (default: the first three)"),
]
LayerOpt = Annotated[Optional[int], typer.Option("--layer", help="only this layer (0-based; default: every layer)")]
TopKOpt = Annotated[
    Optional[int],
    typer.Option("--top-k", help="experts per token the trace must show (default: the first token's count)"),
]
FitOpt = Annotated[
    float,
    typer.Option(
        "--fit-tokens",
        help="fraction of tokens (the first ones) that choose the grouping; the rest evaluate it (1 = whole trace)",
    ),
]
ShareOpt = Annotated[
    float,
    typer.Option("--crossbar-area-share", help="crossbar's share of a core's area, for f_g = share + (1 − share)/g"),
]
ZipfOpt = Annotated[
    float, typer.Option("--zipf", help="popularity exponent s (p ∝ 1/rank^s, new ranking per layer); 0 = uniform")
]


# zipf exponents beyond this pick the k most popular experts for every token anyway (at 100
# the second expert is 1e-30 as likely as the first); larger ones only overflow the logarithms
MAX_ZIPF = 100.0

def _braces(groups: np.ndarray) -> str:
    return " ".join("{" + ",".join(str(int(e)) for e in g) + "}" for g in groups)


def schedule_rows(
    choices: np.ndarray,
    group_size: int,
    grouping: str,
    schedules: tuple[str, ...],
    layers: list[int],
    fit_tokens: float = 1.0,
    crossbar_area_share: float = 0.2,
) -> list[dict]:
    """One row per (layer, schedule) of a choice array layers × tokens × experts."""
    f_g = grp.sharing_area_factor(group_size, crossbar_area_share)
    rows = []
    for l in layers:
        fit, ev = grp.split_tokens(choices[l], fit_tokens)
        g_l = grp.make_groups(grp.expert_loads(fit), group_size, grouping)
        ell = grp.group_token_loads(ev, g_l)
        T = ell.shape[0]
        loads = ell.sum(axis=0)
        for kind in schedules:
            s = grp.run_schedule(ell, kind)
            rows.append(
                {
                    "layer": l,
                    "grouping": grouping,
                    "g": int(g_l.shape[1]),
                    "schedule": kind.replace("_", "-"),
                    "tokens": T,
                    "group_loads": [int(x) for x in loads],
                    "length": s.length,
                    "transfers": s.transfers,
                    "f_m": s.length / T,
                    "f_c": s.transfers / T,
                    "f_single": grp.single_length(ell) / T,
                    "f_g": f_g,
                    "groups": [[int(e) for e in row] for row in g_l],
                }
            )
    return rows


def npy_file_size(shape: tuple[int, ...], dtype=np.bool_) -> int:
    """The bytes ``np.save`` writes for an array of ``shape`` and ``dtype``, without making it:
    its header (as ``np.save`` writes it) and the data."""
    import io

    from numpy.lib import format as npy

    header = io.BytesIO()
    npy.write_array_header_1_0(header, {"descr": npy.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape})
    return len(header.getvalue()) + math.prod(shape) * np.dtype(dtype).itemsize


def _write_npy_atomic(path: Path, arr: np.ndarray) -> None:
    """Write ``arr`` to ``path`` via a temporary file in the same folder and os.replace."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, arr)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def register(app: typer.Typer) -> None:
    from .errors import cli_errors

    @app.command("schedule")
    @cli_errors
    def schedule(
        trace: TraceOpt = None,
        toy: ToyOpt = False,
        group_size: GroupSizeOpt = 2,
        grouping: GroupingOpt = "uniform",
        schedule: ScheduleOpt = None,
        layer: LayerOpt = None,
        top_k: TopKOpt = None,
        fit_tokens: FitOpt = 1.0,
        crossbar_area_share: ShareOpt = 0.2,
        fmt: FormatOpt = "table",
    ) -> None:
        """Group experts and schedule a trace's expert phase: loads per group, length, transfers, f_m, f_c, f_g.

        Expert ids are 0-based; f_m = length/T, f_c = transfers/T, f_g = per-crossbar area factor, f_single = \
single-token length/T (decode serialisation).
        """
        if toy == (trace is not None):
            raise SpecError("--trace", None, "give a gate trace (--trace FILE.npy) or --toy, not both or neither")
        if not 0 < fit_tokens <= 1:
            raise SpecError("--fit-tokens", None, f"must be in (0, 1], got {fit_tokens}")
        if not 0 < crossbar_area_share <= 1:
            raise SpecError("--crossbar-area-share", None, f"must be in (0, 1], got {crossbar_area_share}")
        if toy:  # the paper's groups {1,2} {3,4} … are the default: uniform, g = 2
            from ..validation.schedules import toy_example

            c2, _ = toy_example()
            choices, source = c2[None], "toy example (Gao & Yang Fig. 2)"
            if top_k is not None and top_k != int(c2[0].sum()):
                raise SpecError("--top-k", None, f"the toy example has top-k = {int(c2[0].sum())}")
        else:
            from ..sweep.inputs import check_file

            check_file(str(trace), "trace")  # exists, a regular file, within the size limit
            choices, source = load_trace(trace, top_k), str(trace)
        L, T, E = choices.shape
        if layer is not None and not 0 <= layer < L:
            raise SpecError(
                source, "--layer", f"layer {layer} is out of range; the trace has {L} layer(s), 0–{L - 1}"
            )
        if group_size < 1 or E % group_size:
            divisors = ", ".join(str(d) for d in range(1, E + 1) if E % d == 0)
            raise SpecError(
                "--group-size", None, f"{group_size} does not divide the {E} experts; choose one of {divisors}"
            )
        try:
            rows = schedule_rows(
                choices,
                group_size,
                grouping,
                (schedule.replace("-", "_"),) if schedule else ALL_SCHEDULES,
                [layer] if layer is not None else list(range(L)),
                fit_tokens,
                crossbar_area_share,
            )
        except ValueError as e:  # e.g. --fit-tokens leaving no token to evaluate
            raise SpecError(source, None, str(e)) from None
        k = int(choices[0, 0].sum())
        title = f"{source}: {L} layer(s) × {T} tokens × {E} experts, top-{k}; g = {group_size}, {grouping} grouping"
        if fmt != "json":  # flat cells for tables and CSV; JSON keeps the lists
            for r in rows:
                r["group_loads"] = " ".join(str(x) for x in r["group_loads"])
                groups = r.pop("groups")
                if fmt == "csv":
                    r["groups"] = _braces(groups)
        emit(rows, fmt, title=title)

    trace_app = typer.Typer(
        help="Gate traces (.npy, layers × tokens × experts, 0/1) for `schedule` and the cost model.",
        no_args_is_help=True,
    )
    app.add_typer(trace_app, name="trace")

    @trace_app.command("synth")
    @cli_errors
    def synth(
        output: Annotated[Path, typer.Option("--output", "-o", help="the .npy file to write")],
        experts: Annotated[int, typer.Option("--experts", "-E", help="routed experts per layer, E")],
        top_k: Annotated[int, typer.Option("--top-k", "-k", help="distinct experts per token, k")],
        tokens: Annotated[int, typer.Option("--tokens", "-T", help="tokens per layer")] = 1024,
        layers: Annotated[int, typer.Option("--layers", "-L", help="MoE layers")] = 1,
        zipf: ZipfOpt = 0.0,
        seed: Annotated[int, typer.Option("--seed", help="random seed (same seed, same bytes)")] = 0,
        force: Annotated[bool, typer.Option("--force", help="overwrite an existing file")] = False,
        fmt: FormatOpt = "table",
    ) -> None:
        """Write a synthetic token-choice gate trace: k distinct experts per token, zipf popularity."""
        from ..specs.base import MAX_EXPERTS, MAX_LAYERS, MAX_TOP_K

        for name, value, low in (
            ("--experts", experts, 1),
            ("--tokens", tokens, 1),
            ("--layers", layers, 1),
            ("--seed", seed, 0),
        ):
            if value < low:
                raise SpecError(name, None, f"must be at least {low}, got {value}")
        # the bounds a model spec has: a trace no model could use is refused, not written
        for name, value, high in (("--experts", experts, MAX_EXPERTS), ("--top-k", top_k, MAX_TOP_K),
                                  ("--layers", layers, MAX_LAYERS)):
            if value > high:
                raise SpecError(name, None, f"must be at most {high:,} (a model's limit), got {value:,}")
        if not 1 <= top_k <= experts:
            raise SpecError("--top-k", None, f"must be between 1 and --experts ({experts}), got {top_k}")
        if not (math.isfinite(zipf) and 0 <= zipf <= MAX_ZIPF):
            raise SpecError("--zipf", None, f"must be a number from 0 to {MAX_ZIPF:g}, got {zipf}")
        check_new_file(output, force)  # a folder is named as one, not "already exists"
        if output.exists() and not output.is_file():
            raise SpecError(str(output), None, "exists and is not a file")
        from ..specs.safe_io import SIZE_LIMITS

        size, limit = npy_file_size((layers, tokens, experts)), SIZE_LIMITS["trace"]  # what `schedule` and sweeps read
        if size > limit:  # before the array is made: it would not be read back (or not fit in memory)
            raise SpecError(
                str(output), None,
                f"the trace would be {size:,} bytes ({layers:,} layers × {tokens:,} tokens × {experts:,} experts), more than "
                f"the {limit:,} a trace file may have; give fewer --layers, --tokens or --experts",
            )
        choices = synth_choices(experts, top_k, tokens, layers, zipf, seed)
        try:
            output.parent.mkdir(parents=True, exist_ok=True)  # as every output: sweep -o, plot -o, --timeline
            _write_npy_atomic(output, choices)
        except OSError as e:
            raise SpecError(str(output), None, f"cannot write: {e.strerror or e}") from None
        hottest = choices.sum(axis=1).max(axis=1) / tokens  # busiest expert's share of tokens, per layer
        emit(
            [
                {
                    "file": str(output),
                    "layers": layers,
                    "tokens": tokens,
                    "experts": experts,
                    "top_k": top_k,
                    "zipf": zipf,
                    "seed": seed,
                    "busiest_expert_share": float(hottest.mean()),
                    "uniform_share": top_k / experts,
                }
            ],
            fmt,
            title="trace written",
            transpose=True,
        )
