"""Run a list of configurations through tools/pim_run.py, one at a time, appending to a JSONL file.

Input: the JSONL written by ``tools/sample_stacked_configs.py`` (``{"cfg", "category", ...}``
per line). Output: one line per configuration, the driver's JSON plus ``category``, ``est_mvms``
and ``simulator`` (the commit of the simulator checkout); a configuration that fails or exceeds
``--timeout`` gets a line with ``error`` instead of results, so failures stay on record.
Configurations already in the output (same ``cfg``) are skipped, so an interrupted campaign
resumes where it stopped.

Runs are sequential and niced (the reference is single-threaded; one run at a time leaves the
rest of the machine usable). This script does not import torch; it calls the oracle venv's
Python::

    python tools/run_pim_refs.py cfgs.jsonl out.jsonl --ref $REF --python $VENV/bin/python
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

DRIVER = Path(__file__).with_name("pim_run.py")


def _key(cfg: dict) -> str:
    return json.dumps(cfg, sort_keys=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cfgs", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--ref", type=Path, required=True, help="checkout of superstarghy/MoEwithPIM")
    ap.add_argument("--python", required=True, help="python of the oracle venv (has torch)")
    ap.add_argument("--timeout", type=float, default=420.0, help="seconds per run (420)")
    ap.add_argument("--nice", type=int, default=10)
    ap.add_argument("--limit", type=int, default=0, help="stop after this many new runs (0: all)")
    a = ap.parse_args(argv)

    commit = subprocess.run(["git", "-C", str(a.ref), "rev-parse", "--short=7", "HEAD"],
                            capture_output=True, text=True, check=True).stdout.strip()
    done = set()
    if a.out.exists():
        done = {_key(json.loads(line)["cfg"]) for line in a.out.read_text().splitlines() if line.strip()}
    todo = [json.loads(line) for line in a.cfgs.read_text().splitlines() if line.strip()]
    todo = [r for r in todo if _key(r["cfg"]) not in done]
    if a.limit:
        todo = todo[: a.limit]
    env = {"PYTHONPATH": str(a.ref / "src"), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    for i, row in enumerate(todo, 1):
        cmd = ["nice", "-n", str(a.nice), a.python, str(DRIVER), json.dumps(row["cfg"])]
        t0 = time.time()
        meta = {"category": row.get("category"), "est_mvms": row.get("est_mvms"), "simulator": commit}
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout, env=env)
            if p.returncode == 0:
                res = json.loads(p.stdout.strip().splitlines()[-1])
            else:
                tail = p.stderr.strip().splitlines()[-1:] or [""]
                res = {"cfg": row["cfg"], "error": f"exit {p.returncode}: {tail[0][:300]}"}
        except subprocess.TimeoutExpired:
            res = {"cfg": row["cfg"], "error": f"timeout after {a.timeout:.0f} s (skipped)"}
        res.setdefault("wall_s", round(time.time() - t0, 2))
        res.update(meta)
        with a.out.open("a") as f:
            f.write(json.dumps(res) + "\n")
        status = res.get("error") or f"lat {res['latency_ns']:.0f} ns"
        print(f"[{i}/{len(todo)}] {row.get('category')} est {row.get('est_mvms')} "
              f"{res['wall_s']:.1f} s: {status}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
