"""Several sequences on the presets the event mode simulates: a seeded out-of-sample survey.

``closed_vs_event`` draws synthetic decoders on one preset's op costs and served to build the
closed form's batching terms (docs/batch-fidelity.md). This survey checks those terms on
designs nobody tuned them on: the shipped model presets (GPT-2 medium, sigma-MoE small,
Llama-2-7B, OLMoE-1B-7B, Mixtral-8×7B, Qwen3-30B-A3B), cut to 1–24 layers, on the three
chips the event mode simulates (``ibm3dsim-readme``, ``nature-3d-aimc-sim``,
``moewithpim-hermes``) with their own DPUs or 2, 4, 8 or 16, on 2–256 tiles stacked 1–3×
the height that holds the model, for 2–16 sequences, prompts of 1–32 tokens and 2–8
generated tokens. ``survey()`` draws them from ``SEED``: a design the closed form cannot fit
is drawn again, so each of the ``N_SURVEY`` designs fits.

The event results are cached in ``data/batch_survey.csv`` (the knobs and the event latency;
empty where the event mode refuses the design as too big to schedule), so the tests
re-simulate only a seeded subset (tests/validation/test_batch_survey.py).

    python -m aimc_dse.validation.batch_survey            # error table from the cache
    python -m aimc_dse.validation.batch_survey --regen    # re-simulate all, rewrite the cache
"""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..cost.evaluate import evaluate_frame
from ..specs.base import SpecError
from ..specs.points import build_points
from .closed_vs_event import cached_main

SEED = 12
N_SURVEY = 301
CACHE = Path(__file__).with_name("data") / "batch_survey.csv"
CHIPS = ("ibm3dsim-readme", "nature-3d-aimc-sim", "moewithpim-hermes")
MODELS = ("gpt2-medium", "sigma-moe-small", "llama-2-7b", "olmoe-1b-7b", "mixtral-8x7b", "qwen3-30b-a3b")
SMALL = ("gpt2-medium", "sigma-moe-small")  # models with small layers: cut to more of them
KNOBS = ("hw", "model", "layers", "dpus", "tiles", "stack", "prompt", "gen", "batch")


def _sets(k: dict[str, Any], **over: Any) -> list[str]:
    s = {"model.layers": k["layers"], "hw.tiles": k["tiles"], "hw.stack_height": k["stack"], **over}
    if k["dpus"]:  # 0: the preset's own
        s["hw.dpus"] = k["dpus"]
    return [f"{a}={b}" for a, b in s.items()]


def frame(designs: list[dict[str, Any]], **over: Any) -> pd.DataFrame:
    """Design-point columns of ``designs`` (``over``: extra knobs for all of them)."""
    return pd.concat([build_points([k["hw"]], [k["model"]],
                                   {"prompt_len": k["prompt"], "gen_len": k["gen"], "batch": k["batch"]},
                                   _sets(k, **over)) for k in designs], ignore_index=True)


def _tier_blocks(k: dict[str, Any]) -> int:
    """The design's tier blocks: on a stack tall enough for any model, so it always fits."""
    tall = dict(k, tiles=64, stack=65536, prompt=1, gen=1, batch=1)
    return int(evaluate_frame(frame([tall]))["tier_blocks"].iloc[0])


def survey(n: int = N_SURVEY, seed: int = SEED) -> list[dict[str, Any]]:
    """The survey's ``n`` designs, drawn from ``seed``; a design that does not fit is drawn again."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    while len(out) < n:
        k: dict[str, Any] = {"hw": rng.choice(CHIPS), "model": rng.choice(MODELS)}
        k["layers"] = rng.choice([2, 4, 8, 24] if k["model"] in SMALL else [1, 2, 4])
        k["dpus"] = rng.choice([2, 4, 8, 16]) if rng.random() < 0.6 else 0
        blocks = _tier_blocks(dict(k, tiles=0, stack=0))
        k["tiles"] = rng.choice([2, 4, 8, 16, 32, 64, 128, 256])
        k["stack"] = max(1, math.ceil(blocks / k["tiles"] * rng.uniform(1.0, 3.0)))
        if k["stack"] > 8192:
            continue
        k.update(prompt=rng.choice([1, 4, 16, 32]), gen=rng.choice([2, 4, 8]), batch=rng.choice([2, 3, 4, 8, 16]))
        if bool(evaluate_frame(frame([k]))["fits"].iloc[0]):
            out.append(k)
    return out


def simulate(designs: list[dict[str, Any]]) -> pd.DataFrame:
    """The knobs and the event latency of each design (NaN where the event mode refuses it)."""
    from ..sim import evaluate_frame_event

    lat = []
    for k in designs:
        try:
            lat.append(float(evaluate_frame_event(frame([k]))["latency_ns"].iloc[0]))
        except SpecError:  # more operations to schedule than the event simulator takes
            lat.append(float("nan"))
    out = pd.DataFrame([{c: k[c] for c in KNOBS} for k in designs])
    out["event_latency_ns"] = lat
    return out


def load_cache(path: Path = CACHE) -> pd.DataFrame:
    return pd.read_csv(path)


def designs_of(cache: pd.DataFrame) -> list[dict[str, Any]]:
    return [{c: (r[c] if c in ("hw", "model") else int(r[c])) for c in KNOBS} for _, r in cache.iterrows()]


def closed_errors(cache: pd.DataFrame) -> pd.DataFrame:
    """The closed form on every cached design the event mode ran: error closed / event − 1."""
    cache = cache[cache["event_latency_ns"].notna()].reset_index(drop=True)
    res = evaluate_frame(frame(designs_of(cache))).reset_index(drop=True)
    out = cache.copy()
    out["closed_latency_ns"] = res["latency_ns"].to_numpy(np.float64)
    out["err"] = out["closed_latency_ns"] / out["event_latency_ns"] - 1
    out["preset_dpus"] = res["hw.dpus"].to_numpy()
    return out


def table(e: pd.DataFrame) -> str:
    """Markdown table of closed / event − 1: all, by chip, by DPU count, by batch."""
    dpus = e["preset_dpus"]
    rows = [("**all**", pd.Series(True, index=e.index))]
    rows += [(f"`{c}`", e["hw"] == c) for c in CHIPS]
    rows += [("1–2 DPUs", dpus <= 2), ("4–5 DPUs", (dpus >= 4) & (dpus <= 5)), ("8–16 DPUs", dpus >= 8),
             ("B 2–4", e["batch"] <= 4), ("B 8–16", e["batch"] >= 8)]
    head = ["| designs | n | median | median \\|err\\| | p90 \\|err\\| | max \\|err\\| | within 10 % |",
            "|---|---|---|---|---|---|---|"]
    for name, m in rows:
        x = e.loc[m, "err"]
        a = x.abs()
        head.append(f"| {name} | {len(x)} | {x.median():+.1%} | {a.median():.1%} | {a.quantile(0.9):.1%} | "
                    f"{a.max():.1%} | {(a <= 0.10).mean():.0%} |")
    return "\n".join(head)


def main(argv: list[str] | None = None) -> int:
    return cached_main(argv, "batch_survey", __doc__, lambda: simulate(survey()), CACHE, lambda cache: (
        f"{int(cache['event_latency_ns'].notna().sum())} of {len(cache)} surveyed designs run by the event mode\n"
        + table(closed_errors(cache))))


if __name__ == "__main__":
    sys.exit(main())
