"""`aimc-dse experts score`: MaxNNScore and a noise proxy per routed expert, from real weights.

Chowdhury et al. (arXiv 2603.02633, docs/paper-numbers.md §3) run the experts with the largest
MaxNNScore digitally. This command reads a checkpoint (safetensors / npz, one tensor at a
time), checks it against a model preset, ranks each MoE layer's experts and writes the
selection JSON that ``workload.digital.selection_file`` points to.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from ..experts.noise import NoiseKind
from ..experts.score import ExpertScore, score_experts
from ..experts.selection import select, selection_document, write_json_atomic
from ..experts.weights import open_weights
from ..report.output import emit
from ..specs import loader
from ..specs.base import SpecError
from .common import FormatOpt, check_new_file

NoiseKindOpt = Literal["pcm", "weight", "range"]

_TABLE_COLUMNS = ["layer", "rank", "expert", "maxnn_score", "mvm_rel_err", "ffn_rel_err", "ffn_err_vs_layer", "digital"]


def ranking_rows(scores: list[ExpertScore], digital: dict[int, list[int]], top: int | None = None) -> list[dict]:
    """One row per expert: layers in order, experts by MaxNNScore (highest first)."""
    rows = []
    for layer in sorted({s.layer for s in scores}):
        ranked = sorted((s for s in scores if s.layer == layer), key=lambda s: (-s.maxnn, s.expert))
        chosen = set(digital.get(layer, []))
        for rank, s in enumerate(ranked[:top] if top else ranked, start=1):
            rows.append(
                {
                    "layer": s.layer,
                    "rank": rank,
                    "expert": s.expert,
                    "maxnn_score": s.maxnn,
                    "gate_max_norm": s.norms.get("gate"),
                    "up_max_norm": s.norms.get("up"),
                    "down_max_norm": s.norms.get("down"),
                    "mvm_rel_err": s.mvm_rel_err,
                    "ffn_rel_err": s.ffn_rel_err,
                    "ffn_err_vs_layer": s.ffn_err_vs_layer,
                    "digital": s.expert in chosen,
                }
            )
    return rows


def register(app: typer.Typer) -> None:
    from .errors import cli_errors, err_console

    experts_app = typer.Typer(
        name="experts",
        help="Expert-level analysis from real weights (heterogeneous analog–digital MoE).",
        no_args_is_help=True,
    )
    app.add_typer(experts_app, name="experts")

    @experts_app.command("score")
    @cli_errors
    def score(
        weights: Annotated[Path, typer.Argument(help=".safetensors or .npz checkpoint, or a folder of safetensors shards")],
        model: Annotated[str, typer.Option("--model", "-m", help="model preset or spec file the weights belong to")],
        fraction: Annotated[float, typer.Option("--fraction", help="φ: fraction of each layer's experts selected for digital (⌈φ·E⌉)")] = 0.125,
        noise_c: Annotated[
            float,
            typer.Option(
                "--noise-c",
                help="noise factor c of the proxy: pcm = multiple of the measured PCM programming noise (paper: 1.5, 2.5); "
                "weight/range = std as a fraction of |W| / max|W| (e.g. 0.05); 0 = skip the proxy",
            ),
        ] = 1.5,
        noise_kind: Annotated[
            NoiseKindOpt,
            typer.Option("--noise-kind", help="pcm: AIHWKIT PCM model; weight: σ = c·|W| per entry; range: σ = c·max|W| per matrix"),
        ] = "pcm",
        noise_inputs: Annotated[int, typer.Option("--noise-inputs", help="seeded random input vectors per layer for the proxy")] = 32,
        seed: Annotated[int, typer.Option("--seed", help="seed of the proxy's inputs and noise")] = 0,
        top: Annotated[Optional[int], typer.Option("--top", help="show only the N best experts per layer (the file keeps all)")] = None,
        output: Annotated[
            Optional[Path], typer.Option("--output", "-o", help="write the selection JSON here (for workload.digital.selection_file)")
        ] = None,
        force: Annotated[bool, typer.Option("--force", help="overwrite an existing selection file")] = False,
        fmt: FormatOpt = "table",
    ) -> None:
        """Rank each MoE layer's experts by MaxNNScore (with a noise-sensitivity proxy) and select the top φ for digital."""
        if not 0.0 <= fraction <= 1.0:
            raise SpecError(f"--fraction {fraction}", None, "must be between 0 and 1")
        if not (math.isfinite(noise_c) and noise_c >= 0):  # NaN passed `< 0` and wrote invalid JSON
            raise SpecError(f"--noise-c {noise_c}", None, "must be a finite number ≥ 0 (0 skips the noise proxy)")
        if noise_inputs < 1:
            raise SpecError(f"--noise-inputs {noise_inputs}", None, "must be at least 1")
        if seed < 0:
            raise SpecError(f"--seed {seed}", None, "must be ≥ 0")
        if top is not None and top < 1:
            raise SpecError(f"--top {top}", None, "must be at least 1")
        if output is not None:
            check_new_file(output, force)
        m = loader.load_model(model)
        if m.moe is None:
            raise SpecError(model, "moe", "the model is dense; `experts score` needs an MoE model")
        with open_weights(weights) as ew:
            ew.check_model(m)
            kind: NoiseKind = noise_kind
            progress = _progress(err_console) if sys.stderr.isatty() else None
            try:
                scores = score_experts(
                    ew,
                    activation=m.activation,
                    d_model=m.d_model,
                    noise_c=noise_c,
                    noise_kind=kind,
                    noise_inputs=noise_inputs,
                    seed=seed,
                    progress=progress.update if progress else None,
                )
            finally:
                if progress:
                    progress.stop()
        digital = select(scores, fraction)
        if output is not None:
            noise = None if noise_c == 0 else {"kind": noise_kind, "c": noise_c, "inputs": noise_inputs, "seed": seed}
            doc = selection_document(
                scores, model=m.name, weights=str(weights), fraction=fraction, neuron="output", noise=noise
            )
            write_json_atomic(output, doc)
        n = len(next(iter(digital.values()))) if digital else 0
        title = f"{m.name}: {n} of {m.moe.experts} experts per layer digital (φ {fraction:g})" + (
            "" if noise_c == 0 else f", noise {noise_kind} c {noise_c:g}"
        )
        # The table leaves out the per-matrix norms to stay readable; json/csv carry every column.
        noise_cols = {"mvm_rel_err", "ffn_rel_err", "ffn_err_vs_layer"}
        cols = None if fmt != "table" else [c for c in _TABLE_COLUMNS if noise_c > 0 or c not in noise_cols]
        emit(ranking_rows(scores, digital, top), fmt, title=title, columns=cols)
        if output is not None:
            err_console.print(f"wrote {output}: {len(digital)} MoE layers × {n} digital experts", markup=False)


class _progress:
    """A transient progress bar on stderr for long checkpoints."""

    def __init__(self, console):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self._p = Progress("scoring experts", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console, transient=True)
        self._task = None
        self._p.start()

    def update(self, done: int, total: int) -> None:
        if self._task is None:
            self._task = self._p.add_task("score", total=total)
        self._p.update(self._task, completed=done)

    def stop(self) -> None:
        self._p.stop()
