"""Benchmark of the event-driven simulator (``--fidelity event``): wall time on one core.

Two measurements, printed (a benchmark, not a test: nothing here asserts a time):

* the 60 runs of the stacked-batch reference corpus (total and slowest run, plus the
  agreement with the reference, which should be exact to float precision);
* ``nature-moe-51b`` on ``nature-3d-aimc-sim``, batch 16, 128-token prompt, 128 generated
  tokens (prefill + 127 decode steps, KV cache): about 1.8·10⁷ scheduled operations.

The first call compiles the numba scheduler (cached afterwards); a warm-up run on a small
point keeps that out of the timings.

    python -m aimc_dse.sim.bench [--skip-51b]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from ..cost.columns import spec_columns
from ..specs import loader
from .core import simulate_point
from .corpus import agreement, load_corpus


def point_51b(batch: int = 16, prompt: int = 128, gen: int = 128) -> dict:
    data, src = loader.resolve("hw", "nature-3d-aimc-sim")
    hw = loader.validate_hardware(data, src)
    model = loader.load_model("nature-moe-51b")
    w = loader.load_workload(dict(prompt_len=prompt, gen_len=gen, batch=batch), "bench")
    return spec_columns(hw, model, w)


def bench(skip_51b: bool = False, out=sys.stdout) -> dict:
    """Run the benchmark; print and return the timings (seconds)."""
    simulate_point(point_51b(batch=1, prompt=2, gen=2))  # warm-up: loads/compiles the scheduler
    res: dict = {}
    t0 = time.perf_counter()
    errs = agreement(load_corpus(), out=None)
    res["corpus_s"] = time.perf_counter() - t0
    res["corpus_max_run_s"] = max(e["seconds"] for e in errs)
    lat = [abs(e["latency_ns"]) for e in errs]
    en = [abs(e["energy_nj"]) for e in errs]
    print(f"event sim, stacked-batch corpus ({len(errs)} runs): {res['corpus_s']:.1f} s total, "
          f"slowest run {res['corpus_max_run_s']:.2f} s; |latency err| median {statistics.median(lat):.1e} "
          f"max {max(lat):.1e}, |energy err| max {max(en):.1e}", file=out)
    if not skip_51b:
        t0 = time.perf_counter()
        r = simulate_point(point_51b())
        res["moe51b_s"] = time.perf_counter() - t0
        print(f"event sim, nature-moe-51b on nature-3d-aimc-sim, B 16, prompt 128, gen 128: {res['moe51b_s']:.1f} s "
              f"({r['sim.nodes']:.3g} graph nodes; latency {r['latency_ns'] / 1e6:.1f} ms, "
              f"{r['tokens_per_s']:.0f} tokens/s)", file=out)
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-51b", action="store_true", help="corpus only")
    a = ap.parse_args(argv)
    bench(skip_51b=a.skip_51b)


if __name__ == "__main__":
    main()
