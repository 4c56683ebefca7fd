"""Draw the configurations of the extra MoEwithPIM reference runs (stacked_batch_extra.jsonl).

The shipped corpus (``aimc_dse/validation/data/stacked_batch.jsonl``) covers stacked 3D chips
with short contexts (prompt 4 or 12, at most 10 generated tokens), d <= 768, mostly cached
decoding and greedy placement. This sampler fills the gaps, one category per gap:

* ``long_ctx``  prompts of 32-128 tokens, 8-32 generated, cached;
* ``big_batch`` 16-32 sequences, cached;
* ``wide``      d_model 768 or 1024;
* ``no_cache``  kv = go = false (every decode step recomputes the whole context);
* ``moe_sep``   MoE models under MOE_SEPARATED placement (experts stacked vertically);
* ``dense``     dense FFN models;
* ``planar``    one tier per tile (no stacking), for contrast;
* ``d1024``     d_model 1024 (a second draw: the cost cap leaves few of them in ``wide``).

Every other field is drawn from the same ranges as the corpus (tiles 4-32, DPUs 2-32, MHA units
1-8, 2-6 layers, 8-32 experts with top-3/4/6, expert or FFN width 512-4096). The number of tiers
is the smallest power of two that holds the model's blocks with a random 5-100 % margin (planar:
tiles = blocks + margin). Top-k is at least 3 because the simulator replaces uniform routing by
a random skewed density for k <= 2.

The cost of one reference run grows with the number of tier-MVM nodes it traces; ``est_mvms``
below reproduces that count exactly (blocks per token x tokens traced, plus one lm_head per step,
times the batch), and configurations above ``--max-mvms`` are redrawn so that every run stays
within a few minutes on one core. Output: one JSON object per line,
``{"cfg": {...}, "category": ..., "est_mvms": ...}``, categories interleaved, cheap runs first.

Pure Python (no torch): ``python tools/sample_stacked_configs.py --seed 20261101 > cfgs.jsonl``.
Same seed and arguments -> same bytes.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys

ROWS = COLS = 512  # tier shape of every run (rows x cols)
VOCAB = 1024
TIER_CHOICES = [8, 16, 32, 64, 128, 256, 512, 1024, 2048]

CATEGORIES = {  # name -> number of configurations drawn
    "long_ctx": 9, "big_batch": 7, "wide": 7, "no_cache": 7, "moe_sep": 7, "dense": 6, "planar": 5,
    # added after the first 48 runs (few d = 1024 survived the cost cap in "wide"); appended
    # last so that the draws of the categories above are unchanged
    "d1024": 4,
}


def blocks(rows_in: int, cols_out: int) -> int:
    """Tiers one (in x out) weight matrix occupies: ceil(in/512) x ceil(out/512)."""
    return math.ceil(rows_in / ROWS) * math.ceil(cols_out / COLS)


def mapped_blocks(c: dict) -> int:
    """All tiers the mapper places: embeddings (token and position), Q/K/V/out, FFN or
    router + every expert, lm_head."""
    d, L = c["d"], c["layers"]
    ffn = blocks(d, c["d_ff"]) + blocks(c["d_ff"], d)
    per_layer = 4 * blocks(d, d) + (blocks(d, c["experts"]) + c["experts"] * ffn if c["experts"] else ffn)
    return blocks(VOCAB, d) + blocks(c["target"], d) + L * per_layer + blocks(d, VOCAB)


def est_mvms(c: dict) -> int:
    """Tier-MVM nodes the simulator traces: per token the token-embedding row chunk, per
    layer Q/K/V/out and the FFN (or router + k experts); one lm_head per step; x batch.
    Position-embedding MVMs are never traced."""
    d = c["d"]
    ffn = blocks(d, c["d_ff"]) + blocks(c["d_ff"], d)
    per_layer = 4 * blocks(d, d) + (blocks(d, c["experts"]) + c["k"] * ffn if c["experts"] else ffn)
    per_token = math.ceil(d / COLS) + c["layers"] * per_layer
    steps = list(range(c["start"] + 1, c["target"]))  # decode steps at these lengths
    if c["go"]:  # the simulator traces one token per decode step exactly when go is set
        tokens = c["start"] + len(steps)
    else:
        tokens = c["start"] + sum(steps)
    return c["bsz"] * (tokens * per_token + (1 + len(steps)) * blocks(d, VOCAB))


def _base(rng: random.Random) -> dict:
    d = rng.choice([256, 512, 768])
    moe = rng.random() < 0.6
    c = {
        "d": d, "heads": d // 64, "layers": rng.choice([2, 3, 4, 6]),
        "experts": rng.choice([8, 12, 16, 32]) if moe else 0,
        "dpus": rng.choice([2, 4, 8, 16, 32]), "mha": rng.choice([1, 2, 4, 8]),
        "bsz": rng.choice([2, 4, 8, 16]), "start": rng.choice([4, 8, 12, 16]),
        "strategy": "GREEDY_IN_ORDER", "kv": True, "go": True, "seed": rng.randrange(100),
    }
    c["gen"] = rng.choice([4, 6, 8, 10])
    return c


def _apply(cat: str, c: dict, rng: random.Random) -> None:
    if cat == "long_ctx":
        c["start"] = rng.choice([32, 48, 64, 96, 128])
        c["gen"] = rng.choice([8, 16, 24, 32])
        c["bsz"] = rng.choice([2, 4, 8])
    elif cat == "big_batch":
        c["bsz"] = rng.choice([16, 24, 32])
        c["start"] = rng.choice([8, 16, 32])
        c["gen"] = rng.choice([4, 8, 16])
    elif cat == "wide":
        c["d"] = rng.choice([768, 1024, 1024])
        c["heads"] = c["d"] // 64
    elif cat == "no_cache":
        c["kv"] = c["go"] = False
        c["start"] = rng.choice([8, 12, 16, 24])
        c["gen"] = rng.choice([2, 3, 4, 6])
        c["bsz"] = rng.choice([2, 4, 8])
    elif cat == "moe_sep":
        c["strategy"] = "MOE_SEPARATED"
        if not c["experts"]:
            c["experts"] = rng.choice([8, 12, 16, 32])
        if rng.random() < 0.25:
            c["kv"] = c["go"] = False
            c["gen"] = rng.choice([2, 3, 4])
    elif cat == "dense":
        c["experts"] = 0
    elif cat == "d1024":
        c["d"], c["heads"] = 1024, 16
    elif cat == "planar":
        c["bsz"] = rng.choice([2, 4, 8, 16])


def _finish(cat: str, c: dict, rng: random.Random) -> dict:
    if c["experts"]:
        c["k"] = rng.choice([k for k in (3, 4, 6) if k <= c["experts"]])
        c["d_ff"] = rng.choice([512, 1024, 1536])
    else:
        c["k"] = 4  # unused by dense models (kept for the corpus's key set)
        c["d_ff"] = rng.choice([1024, 2048, 3072, 4096])
    c["target"] = c["start"] + c.pop("gen")
    need = mapped_blocks(c)
    margin = rng.uniform(1.05, 2.0)
    if cat == "planar":
        c["tiers"] = 1
        c["tiles"] = math.ceil(need * margin)
    else:
        c["tiles"] = rng.choice([4, 6, 8, 12, 16, 24, 32])
        if c["strategy"] == "MOE_SEPARATED":
            # experts are stacked E high on the tiles expert 0 reserved: leave room for that
            need = max(need, c["tiles"] * 2 * c["experts"])
        fits = [z for z in TIER_CHOICES if c["tiles"] * z >= need * margin]
        if not fits:
            return {}
        c["tiers"] = fits[0]
    order = ["tiles", "tiers", "d", "heads", "layers", "experts", "k", "d_ff", "bsz", "dpus", "mha",
             "start", "target", "strategy", "kv", "go", "seed"]
    return {k: c[k] for k in order}


def sample(seed: int, max_mvms: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for cat, n in CATEGORIES.items():
        got = 0
        while got < n:
            c = _base(rng)
            _apply(cat, c, rng)
            c = _finish(cat, c, rng)
            if not c:
                continue
            m = est_mvms(c)
            if m > max_mvms:
                continue
            out.append({"cfg": c, "category": cat, "est_mvms": m})
            got += 1
    # run order: cheapest first within a category, categories interleaved, so that a campaign
    # cut short (the reference is slow on a loaded machine) still covers every gap
    rank = {}
    for cat in CATEGORIES:
        mine = sorted((r for r in out if r["category"] == cat),
                      key=lambda r: (r["est_mvms"], json.dumps(r["cfg"], sort_keys=True)))
        for i, r in enumerate(mine):
            rank[id(r)] = (i, r["est_mvms"])
    out.sort(key=lambda r: rank[id(r)])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=20261101)
    ap.add_argument("--max-mvms", type=int, default=80_000,
                    help="redraw configurations that trace more tier MVMs than this (80000)")
    a = ap.parse_args(argv)
    for row in sample(a.seed, a.max_mvms):
        sys.stdout.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
