"""Run one configuration through the public MoEwithPIM simulator and print one JSON line.

This is the oracle driver behind ``aimc_dse/validation/data/stacked_batch*.jsonl``. It is NOT
part of the aimc-dse package: it needs PyTorch and the simulator's ``threedsim`` package, which
live in a virtual environment outside the project (an oracle for validation, never a project
dependency). Nothing in ``aimc_dse`` or ``tests`` imports this file.

What it does, in order (the simulator itself is used unmodified):

1. builds a ``threedsim`` ``AcceleratorConfig``: ``tiles`` tiles of ``tiers`` stacked
   ``rows x cols`` crossbars, ``dpus`` digital units, ``mha`` attention units, MVM
   ``mvm_ns``/``mvm_nj``; the KV-cost switch ``kv``, the GO-cost switch ``go`` and the
   simulator's single-token decode tracing (its ``kv_caching``), which the simulator's own
   ``main.py`` ties to ``go``; ``k``/``experts`` (only used by the GO-cache size); factors 1;
2. builds a ``DecoderOnlyTransformer`` on the meta device: ``layers`` decoder layers of width
   ``d`` with ``heads`` heads, ReLU FFN of width ``d_ff`` -- or, when ``experts > 0``, an MoE
   block on every ``every``-th layer with ``experts`` experts of width ``d_ff`` and top-``k``
   routing -- a ``vocab`` x ``d`` token embedding and learned positions with ``target`` rows;
3. maps it with the simulator's ``Mapper`` (``strategy``, ``split_ffn``, ``stack_embedding``);
4. traces ``start`` prompt tokens (kept as a prefill step when ``prefill``) and the decode
   steps up to ``target`` tokens, copied for ``bsz`` sequences (``fast_trace_decoder``);
5. list-schedules the graph with communication nodes (``schedule_execution``) and reports
   makespan (ns), total energy (nJ, active + passive x makespan) and operation count.

Torch's and Python's RNGs are seeded with ``seed`` before anything is built, so expert draws
(made by the tracer with torch's RNG) are repeatable for a given torch build.

Setup (once, outside the project; paths are examples)::

    git clone <superstarghy/MoEwithPIM> $REF && git -C $REF checkout 33b31df
    python3 -m venv $VENV
    $VENV/bin/pip install torch numpy networkx tqdm matplotlib adjustText
    # a CPU build of torch suffices (the model lives on the meta device); 2.13.0+cpu was used

Usage::

    PYTHONPATH=$REF/src $VENV/bin/python tools/pim_run.py '{"tiles": 8, "tiers": 64, "bsz": 4}'
    echo '{"tiles": 8, "tiers": 64}' | PYTHONPATH=$REF/src $VENV/bin/python tools/pim_run.py -

stdout gets exactly one JSON line; the simulator's own prints and progress bars go to stderr.
Output keys: ``cfg`` (the configuration as given), ``latency_ns``, ``energy_nj``, ``flops``,
``peak_mem_bytes``, ``mvm_nodes`` (tier-MVM nodes of the traced graph), ``graph_nodes`` (its nodes before
the scheduler adds communication nodes),
``energy_breakdown_nj`` / ``busy_breakdown_ns`` (the simulator's per-op-kind sums; busy time
is summed over units, not a share of the makespan), ``wall_s``, ``torch``.

Configuration keys and defaults: see ``DEFAULTS`` below.
"""

from __future__ import annotations

import contextlib
import json
import random
import sys
import time

DEFAULTS = {
    # hardware
    "tiles": 8, "tiers": 64, "rows": 512, "cols": 512, "dpus": 4, "mha": 1,
    "mvm_ns": 100, "mvm_nj": 10,
    # model
    "layers": 4, "d": 512, "heads": 8, "d_ff": 1024, "experts": 0, "k": 4, "every": 1,
    "vocab": 1024,
    # workload
    "start": 8, "target": 16, "bsz": 1, "kv": True, "go": True, "prefill": True, "seed": 0,
    # mapping
    "strategy": "GREEDY_IN_ORDER", "split_ffn": True, "stack_embedding": True,
}


def _config(given: dict) -> dict:
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise SystemExit(f"pim_run.py: unknown configuration keys {unknown}")
    return {**DEFAULTS, **given}


def simulate(c: dict) -> dict:
    """Build, map, trace and schedule one configuration; return the simulator's totals."""
    import torch
    from threedsim.accelerator import Accelerator, AcceleratorConfig
    from threedsim.inference import fast_trace_decoder, schedule_execution
    from threedsim.mapping import Mapper, MapStrategy, Strategy
    from threedsim.models import DecoderOnlyTransformer
    from threedsim.modules import TransformerDecoderLayer
    from threedsim.modules.base import assign_acc, fill_name_fields, make_traceable, make_use_linear

    torch.manual_seed(c["seed"])
    random.seed(c["seed"])

    hw = AcceleratorConfig(
        tiles=c["tiles"], tiers=c["tiers"], tier_shape=(c["rows"], c["cols"]),
        num_digital_units=c["dpus"], num_mha_units=c["mha"],
        mvm_latency=c["mvm_ns"], mvm_energy=c["mvm_nj"],
        # the simulator's main.py traces single-token decode steps exactly when go is set
        kv_caching=c["go"], kv_flag=c["kv"], go_flag=c["go"],
        moe_num_selects=c["k"], moe_num_experts=max(c["experts"], 1),
        mvm_factor=1.0, comm_factor=1.0,
    )
    acc = Accelerator(hw, device="meta")

    moe = {}
    if c["experts"] > 0:
        moe = {"num_experts": c["experts"], "k": c["k"], "d_model": c["d"],
               "dim_feedforward": c["d_ff"], "frequency": c["every"]}
    model = DecoderOnlyTransformer(
        TransformerDecoderLayer, num_layers=c["layers"],
        decoder_layer_kwargs={"d_model": c["d"], "nhead": c["heads"], "dim_feedforward": c["d_ff"]},
        embedding_layer_kwargs={"vocab_size": c["vocab"], "embedding_dim": c["d"],
                                "max_seq_length": c["target"]},
        moe_kwargs=moe, device="meta",
    )
    assign_acc(model, acc)

    strategy = MapStrategy(strategy=getattr(Strategy, c["strategy"]), split_ffn=c["split_ffn"],
                           stack_embedding=c["stack_embedding"])
    Mapper(accelerator=acc, model=model, map_strategy=strategy).map_network()

    fill_name_fields(model)
    make_traceable(model, is_traceable=True)
    make_use_linear(model, use_linear=True)
    traced = fast_trace_decoder(model, start_len=c["start"], target_len=c["target"],
                                bsz=c["bsz"], prefill=c["prefill"])
    # count before scheduling: the scheduler consumes the graph as it runs
    names = [n.name for n in traced.graph.nodes]
    out = schedule_execution(traced.graph, accelerator=model.accelerator,
                             copy_and_cleanup_graph=False, communication=True, plot=False)
    makespan, _mem_trace, peak_mem, energy, flops, e_break, t_break = out[:7]
    return {
        "latency_ns": float(makespan), "energy_nj": float(energy), "flops": float(flops),
        "peak_mem_bytes": float(peak_mem),
        "mvm_nodes": sum("tier_linear" in n for n in names), "graph_nodes": len(names),
        "energy_breakdown_nj": _floats(e_break), "busy_breakdown_ns": _floats(t_break),
        "torch": torch.__version__,
    }


def _floats(tree):
    if isinstance(tree, dict):
        return {k: _floats(v) for k, v in tree.items()}
    return float(tree)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    text = sys.stdin.read() if argv[1] == "-" else argv[1]
    given = json.loads(text)
    c = _config(given)
    t0 = time.time()
    with contextlib.redirect_stdout(sys.stderr):  # the simulator prints progress to stdout
        res = simulate(c)
    res["wall_s"] = round(time.time() - t0, 2)
    print(json.dumps({"cfg": given, **res}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
