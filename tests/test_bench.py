"""`make bench` (aimc_dse.sweep.bench) on a small grid: it runs end to end and reports every
figure it promises. It asserts no time — speed lives in the benchmark, not in tests."""

from __future__ import annotations

import re

from aimc_dse.sweep.bench import bench_sweep, main


def test_bench_sweep_has_at_least_the_points_asked_for():
    from aimc_dse.sweep.grid import build_grid

    for points in (1_000, 20_000):
        assert build_grid(bench_sweep(points), "bench").n >= points


def test_the_bench_reports_every_figure_on_a_small_grid(capsys):
    assert main(["--points", "3000", "--jobs", "2", "--repeat", "2", "--scale-points", "0", "--no-event"]) == 0
    out = capsys.readouterr().out
    for label in ("aimc-dse --help", "aimc-dse evaluate (one point)", "import runner + cost model"):
        assert re.search(rf"^start-up: {re.escape(label)}: [\d.]+ s wall, [\d.]+ s CPU$", out, re.M), (label, out)
    split = re.search(r"^start-up: one-point evaluate, CPU: interpreter ([\d.]+) s, imports ([\d.]+) s, "
                      r"evaluation and table ([\d.]+) s$", out, re.M)
    assert split and all(float(x) >= 0 for x in split.groups()), out
    assert len(re.findall(r"^1 core\(s\): [\d,]+ points", out, re.M)) == 2
    assert len(re.findall(r"^2 core\(s\): [\d,]+ points", out, re.M)) == 2
    pairs = re.search(r"speed-up on 2 cores: ([\d.]+)x median of 2 \(each pair: ([\d.]+), ([\d.]+);", out)
    assert pairs, out
    median, a, b = map(float, pairs.groups())
    assert abs(median - (a + b) / 2) <= 0.011  # the median of two is their mean (to the printed digits)
    assert "CSV by default:" in out and "CPU by phase, 1 core" in out and "cost model" in out
    assert "peak memory of the timed runs: sweep process" in out and "AIMC cost model alone" in out
