"""Every command the README shows runs (``make docs-check``): the README cannot drift from the CLI.

Python blocks (```python) are executed too. Commands are taken from ```-fenced blocks and 4-space-indented lines that start with
``aimc-dse``; a trailing ``\\`` joins the next line, ``# …`` comments are dropped and
``[optional]`` parts of a synopsis are left out. They run in README order in one scratch
folder (so ``trace synth -o trace.npy`` feeds ``schedule --trace trace.npy``), through the
CLI in-process, and must exit 0. The README's sweep-file example is written to
``moe-vs-gpu.yaml`` and swept first, so its ``pareto`` and ``plot`` commands read real results.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aimc_dse.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

# Commands that cannot run here, each with its reason. Matched against the start of the command.
SKIP = {
    # needs a real checkpoint (.safetensors of OLMoE, GBs) that the repository does not ship
    "aimc-dse experts score model.safetensors": "needs model weights",
    # a synopsis with placeholders (SWEEP.yaml, JOBS, ADDRESS) rather than a command
    "aimc-dse sweep SWEEP.yaml": "synopsis",
    # `make run`-sized validation of every reference: tested in tests/validation/, ~1 min here
    "aimc-dse validate": "run by tests/validation",
}


def readme_commands() -> list[tuple[int, str]]:
    """(line number, command) for every aimc-dse command shown in the README, in order."""
    lines = README.read_text().splitlines()
    out: list[tuple[int, str]] = []
    fenced = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            fenced = not fenced
            i += 1
            continue
        text = line.strip() if fenced else (line[4:] if line.startswith("    ") else None)
        if text is not None and text.startswith("aimc-dse "):
            start = i + 1
            cmd = text
            while cmd.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                cmd = cmd.rstrip()[:-1] + " " + lines[i].strip()
            out.append((start, cmd))
        i += 1
    return out


def runnable(cmd: str) -> str | None:
    """The command as run: comments and [optional] parts dropped; None for abbreviations (…)."""
    cmd = re.sub(r"\s+#.*$", "", cmd)
    cmd = re.sub(r"\s*\[[^\]]*\]", "", cmd).strip()
    if "..." in cmd or "…" in cmd:
        return None  # "aimc-dse evaluate ... --batch 64": the previous command with a change
    return cmd


COMMANDS = readme_commands()


def test_readme_has_commands():
    assert len(COMMANDS) >= 20


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    d = tmp_path_factory.mktemp("readme")
    (d / "sweeps").symlink_to(ROOT / "sweeps")
    (d / "results").mkdir()
    text = README.read_text()
    m = re.search(r"```yaml\n(name: moe-vs-gpu.*?)```", text, re.S)
    assert m, "the README's sweep example"
    (d / "moe-vs-gpu.yaml").write_text(m.group(1))
    old = os.getcwd()
    os.chdir(d)
    try:
        r = CliRunner().invoke(app, ["sweep", "moe-vs-gpu.yaml", "-j", "1", "-q"])
        assert r.exit_code == 0, r.output
        yield d
    finally:
        os.chdir(old)


@pytest.mark.parametrize("line,cmd", COMMANDS, ids=[f"L{n}" for n, _ in COMMANDS])
def test_readme_command_runs(scratch, line, cmd):
    for prefix, why in SKIP.items():
        if cmd.startswith(prefix) and (prefix != "aimc-dse validate" or cmd.strip() == prefix):
            pytest.skip(why)
    run = runnable(cmd)
    if run is None:
        pytest.skip("abbreviated (…) variant of the command before it")
    args = shlex.split(run)[1:]
    r = CliRunner().invoke(app, args, env={"COLUMNS": "100"})
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert r.exit_code == 0, f"README line {line}: {run}\n{r.output}"


# ---- numbers the README prints ----------------------------------------------------------------


def _close(shown: str, value: float) -> bool:
    """``shown`` (README text, e.g. "1,005" or "0.99") is ``value`` rounded to the digits shown."""
    s = shown.replace(",", "")
    decimals = len(s.split(".")[1]) if "." in s else 0
    return abs(float(s) - value) <= 0.5 * 10 ** -decimals + 1e-12


def test_readme_first_evaluate_table_matches_the_model():
    import aimc_dse

    text = README.read_text()
    r = aimc_dse.evaluate(hw="nature-3d-aimc", model="nature-moe-51b").iloc[0]
    for col, scale in (("latency_ns", 1e6), ("ttft_ns", 1e6), ("tpot_ns", 1e6), ("tokens_per_s", 1), ("area_mm2", 1),
                       ("tokens_per_s_per_w", 1)):
        m = re.search(rf"^\| `{col}` \| ([\d.,]+)( ms)? \|", text, re.M)
        assert m, col
        assert _close(m.group(1), float(r[col]) / scale), (col, m.group(1), float(r[col]) / scale)


def _ratio_row(aimc: str, gpu: str, flags: str) -> list[float]:
    """AIMC ÷ GPU for one row of the README's A100 tables: 64-token prompt, 8 generated, batch 1,
    KV cache on unless the flags say otherwise; ``--set`` applies to the AIMC chip only."""
    import aimc_dse

    args, wl, sets = shlex.split(flags), dict(prompt_len=64, gen_len=8, batch=1, kv_cache=True), []
    while args:
        flag = args.pop(0)
        if flag in ("--kv-cache", "--no-kv-cache"):
            wl["kv_cache"] = flag == "--kv-cache"
        elif flag == "--set":
            sets.append(args.pop(0))  # "PATH=VALUE", typed as the CLI types it
        else:
            wl[flag[2:].replace("-", "_")] = int(args.pop(0))
    a = aimc_dse.evaluate(hw=aimc, model="nature-moe-51b", set=sets, **wl).iloc[0]
    g = aimc_dse.evaluate(hw=gpu, model="nature-moe-51b", **wl).iloc[0]
    return [float(a[m] / g[m]) for m in ("tokens_per_s", "tokens_per_s_per_w", "tokens_per_s_per_mm2")]


def test_readme_a100_ratio_tables_match_the_model():
    text = README.read_text()
    rows = re.findall(r"^\| `([\w-]+)` \| `([\w-]+)` \| `([^`]*)` \| \**([\d.,]+)×\** \| \**([\d.,]+)×\** \| "
                      r"\**([\d.,]+)×\** \|", text, re.M)
    assert len(rows) == 13
    for aimc, gpu, flags, *shown in rows:
        for s, v in zip(shown, _ratio_row(aimc, gpu, flags)):
            assert _close(s, v), (aimc, gpu, flags, s, v)
    # the paper's comparison reproduced: within ±30 % of 6×, 1,000× and 20× (issue 12)
    paper = _ratio_row("nature-3d-aimc-paper", "a100-paper", "--no-kv-cache")
    for v, want in zip(paper, (6.0, 1000.0, 20.0)):
        assert 0.7 * want <= v <= 1.3 * want


def test_readme_python_blocks_run(scratch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})


def _readme_command(*needles: str) -> str:
    """The one README command holding every needle, as written (with its ``[optional]`` part)."""
    hits = [cmd for _, cmd in COMMANDS if all(n in cmd for n in needles)]
    assert len(hits) == 1, (needles, hits)
    return re.sub(r"\s+#.*$", "", hits[0])


def _cli_csv(args: list[str]) -> dict[str, str]:
    """The one row ``aimc-dse ARGS -f csv`` prints."""
    import csv
    import io

    r = CliRunner().invoke(app, [*args, "-f", "csv"])
    assert r.exit_code == 0, (args, r.output)
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 1, r.stdout
    return rows[0]


def test_readme_heterogeneous_table_matches_the_model():
    """Every row of the heterogeneous analog–digital table is the README's command at its φ, the
    bracketed flags added for the "dense modules digital" rows."""
    cmd = _readme_command("--model olmoe-1b-7b", "workload.digital.fraction=")
    optional = re.search(r"\[([^\]]*)\]", cmd)
    assert optional, cmd
    base = shlex.split(re.sub(r"\s*\[[^\]]*\]", "", cmd))[1:]
    dense = shlex.split(optional.group(1))
    rows = re.findall(r"^\| dense modules (analog|digital) \| ([\d.]+) % \| ([\d.]+) % \| ([\d,]+) \| ([\d.,]+) \| "
                      r"([\d.,]+) \| ([\d,]+) \|$", README.read_text(), re.M)
    assert {(p, float(f)) for p, f, *_ in rows} == {(p, f) for p in ("analog", "digital")
                                                     for f in (0, 12.5, 25, 50, 100)}, rows
    for placement, phi, params, tps, tpw, area, tiles in rows:
        args = [a if not a.startswith("workload.digital.fraction=") else f"workload.digital.fraction={float(phi) / 100}"
                for a in base] + (dense if placement == "digital" else [])
        r = _cli_csv(args)
        for shown, col, scale in ((params, "digital_param_fraction", 100), (tps, "tokens_per_s", 1),
                                  (tpw, "tokens_per_s_per_w", 1), (area, "area_mm2", 1), (tiles, "tiles_needed", 1)):
            assert _close(shown, float(r[col]) * scale), (placement, phi, col, shown, float(r[col]) * scale)


def test_readme_grouping_table_matches_the_sweep():
    """The grouping excerpt is rows of the sweep the README names (``aimc-dse sweep sweeps/grouping.yaml``)."""
    import aimc_dse

    text = README.read_text()
    m = re.search(r"`aimc-dse sweep (sweeps/grouping\.yaml)`\)\. An excerpt:", text)
    assert m, "the grouping sweep the README names"
    df = aimc_dse.sweep(ROOT / m.group(1))
    rows = re.findall(r"^\| ([124]) \| (uniform|sorted|balanced) \| (single|compact|optimized) \| ([\d.,]+) \| "
                      r"([\d.,]+) \| ([\d.,]+) \| ([\d.,]+) \| ([\d.,]+) \| ([\d.,]+) \|$", text, re.M)
    assert len(rows) == 8
    cols = ("latency_ns", "energy_nj", "area_mm2.moe", "gops_per_w_per_mm2.moe", "grouping.f_m", "grouping.f_c")
    for g, grouping, schedule, *shown in rows:
        hit = df[(df["hw.sharing.group_size"] == int(g)) & (df["workload.grouping.grouping"] == grouping)
                 & (df["workload.grouping.schedule"] == schedule)]
        assert len(hit) == 1, (g, grouping, schedule)
        for s, col in zip(shown, cols):
            assert _close(s, float(hit[col].iloc[0])), (g, grouping, schedule, col, s, float(hit[col].iloc[0]))


def test_readme_presets_paragraph_names_every_preset():
    """"Presets, `show`, …" names every hardware and model preset `aimc-dse presets` lists (it
    missed deepseek-v3, qwen3-30b-a3b, gpt-oss-20b and llama-3.1-70b)."""
    text = README.read_text()
    para = text[text.index("## Presets, `show`"):text.index("Digital engines for the heterogeneous MoE")]
    named = set(re.findall(r"`([\w.|-]+)`", para))
    named |= {f"gpt2-{s}" for n in named if n.startswith("gpt2-") for s in n[5:].split("|")}
    import json

    r = CliRunner().invoke(app, ["presets", "-f", "json"])
    assert r.exit_code == 0, r.output
    # the AIMC hardware and the models by name; the GPUs are "and the GPUs"
    want = {p["name"] for p in json.loads(r.stdout) if p["kind"] == "model" or p["type"] == "aimc"}
    assert len(want) > 20 and not want - named, want - named


def test_readme_sweep_synopsis_names_every_option():
    """The `aimc-dse sweep SWEEP.yaml [...]` synopsis lists every option `sweep --help` has (it
    missed --dry-run, --fidelity and --format)."""
    import typer.main

    (synopsis,) = re.findall(r"^```\n(aimc-dse sweep SWEEP\.yaml.*?)```", README.read_text(), re.S | re.M)
    group = typer.main.get_command(app)
    group.load("sweep")  # the root group imports a command's module when it runs
    params = group.commands["sweep"].params
    assert len(params) > 10
    for param in params:
        names = [o for o in param.opts + param.secondary_opts if o.startswith("-")]
        if names and "--help" not in names:
            assert any(re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", synopsis) for o in names), (names, synopsis)


def test_readme_first_evaluate_table_pairs_and_the_simulator_chip_match_the_model():
    """The two-value rows of the first evaluate table (energy and power, flops and GOPS/W/mm²,
    max_batch and KV bytes), its fit row's counts, and the `nature-3d-aimc-sim` line below it."""
    import aimc_dse

    text = README.read_text()
    r = aimc_dse.evaluate(hw="nature-3d-aimc", model="nature-moe-51b").iloc[0]
    pairs = {"energy_nj`, `power_w": (r["energy_nj"] / 1e6, r["power_w"]),
             "flops`, `gops_per_w_per_mm2": (r["flops"] / 1e9, r["gops_per_w_per_mm2"]),
             "max_batch`, `kv_cache_bytes": (r["max_batch"], r["kv_cache_bytes"] / 1e6)}
    for cols, values in pairs.items():
        m = re.search(rf"^\| `{cols}` \| ([\d.,]+?)(?: \w+)?, ([\d.,]+)(?: \w+)? \|", text, re.M)
        assert m, cols
        for shown, v in zip(m.groups(), values):
            assert _close(shown, float(v)), (cols, shown, float(v))
    m = re.search(r"^\| `tokens_per_s_per_mm2` \| ([\d.]+) \|", text, re.M)
    assert m and _close(m.group(1), float(r["tokens_per_s_per_mm2"]))
    m = re.search(r"^\| `fits` \| yes \| the ([\d,]+) tier blocks .*`tiles_needed` = ([\d,]+)", text, re.M)
    assert m and _close(m.group(1), float(r["tier_blocks"])) and _close(m.group(2), float(r["tiles_needed"]))
    s = aimc_dse.evaluate(hw="nature-3d-aimc-sim", model="nature-moe-51b").iloc[0]
    m = re.search(r"`nature-3d-aimc-sim` \(([\d,]+) tokens/s, ([\d.]+) W, ([\d,]+) mm² on this workload\)", text)
    assert m, "the nature-3d-aimc-sim line"
    for shown, col in zip(m.groups(), ("tokens_per_s", "power_w", "area_mm2")):
        assert _close(shown, float(s[col])), (col, shown, float(s[col]))
