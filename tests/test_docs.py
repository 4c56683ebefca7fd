"""The project's documentation is in the repository: every ``docs/<file>.md §<section>`` the
package, presets, README and tests cite names a file in docs/ and a heading in it, and no
file cites documents outside the repository.

The numbers the pages present as the program's output are recomputed (below the citations):
cost-model.md's worked examples, batch-fidelity.md's error tables (and the share cost-model.md
quotes), event-simulation.md's closed-form example, and the parameter counts of models.md and
presets.md; results/README.md's figures are read back from the committed results/*.csv (they
are those of the last ``make paper``). Figures quoted from papers, datasheets or the reference simulators are not checked
here (validation/targets.yaml and ``aimc-dse validate`` hold those)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [p for pat in ("aimc_dse/**/*.py", "aimc_dse/**/*.yaml", "hw_specs/**/*.yaml", "model_specs/*.yaml",
                         "sweeps/*.yaml", "tests/**/*.py", "README.md", "results/README.md", "docs/*.md")
           for p in ROOT.glob(pat)]
CITE = re.compile(r"docs/([\w-]+\.md)((?:[ ,;]*§[A-Z]?[\d.]*[\dA-Z])*)")
SECTION = re.compile(r"§([A-Z]?[\d.]*[\dA-Z])")


def _headings(doc: Path) -> set[str]:
    out = set()
    for line in doc.read_text().splitlines():
        m = re.match(r"#+\s+([A-Z]?[\d.]*[\dA-Z])[.\s]", line + " ")
        if m:
            out.add(m.group(1).rstrip("."))
    return out


def _citations():
    for path in SOURCES:
        for m in CITE.finditer(path.read_text()):
            for sec in SECTION.findall(m.group(2) or ""):
                yield path.relative_to(ROOT), m.group(1), sec.rstrip(".")
            yield path.relative_to(ROOT), m.group(1), None


CITATIONS = sorted(set(_citations()), key=str)


def test_there_are_citations_to_check():
    assert len(CITATIONS) > 40


@pytest.mark.parametrize("where,doc,section", CITATIONS, ids=[f"{w}:{d}:{s}" for w, d, s in CITATIONS])
def test_cited_document_and_section_exist(where, doc, section):
    path = ROOT / "docs" / doc
    assert path.is_file(), f"{where} cites docs/{doc}, which does not exist"
    if section is not None:
        assert section in _headings(path), f"{where} cites docs/{doc} §{section}: no such heading"


def test_nothing_cites_documents_outside_the_repository():
    bad = re.compile(r"(?<![\w/-])(ARCHITECTURE|COST-MODEL|STYLE|peer-tools)\.md|\.\./shared|\.\./reference/")
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in SOURCES if p.suffix != ".md" or p.parent.name != "docs"
            for i, line in enumerate(p.read_text().splitlines(), 1) if bad.search(line)]
    assert not hits, hits[:10]


def test_docs_index_lists_every_page_and_only_pages_that_exist():
    """docs/README.md, the index the README points to, links each docs/*.md once (it missed
    models.md, event-simulation.md and batch-fidelity.md)."""
    linked = re.findall(r"^\| \[([\w-]+\.md)\]\(\1\) \|", (ROOT / "docs" / "README.md").read_text(), re.M)
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md") if p.name != "README.md")
    assert sorted(linked) == pages


# ---- numbers the docs print as the program's output -------------------------------------------
# Each check reads the number from the page and recomputes it, so a change to the model that moves
# a documented result fails here instead of leaving the page stale.

DOCS = ROOT / "docs"


def _close(shown: str, value: float) -> bool:
    """``shown`` (page text, e.g. "1,005", "0.99" or "+0.4") is ``value`` rounded to the digits shown."""
    s = shown.replace(",", "").replace("−", "-")
    decimals = len(s.split(".")[1]) if "." in s else 0
    return abs(float(s) - value) <= 0.5 * 10 ** -decimals + 1e-12


def test_cost_model_worked_examples_are_the_programs():
    """cost-model.md §10.2 and §10.3: the hand-worked latencies and the output quoted for them."""
    import json
    import shlex

    from typer.testing import CliRunner

    from aimc_dse.cli import app

    text = (DOCS / "cost-model.md").read_text()
    m = re.search(r"\$ (aimc-dse evaluate [^\n]*?)\\\n\s+([^\n]*?--format json)\n\s+\.\.\. \"latency_ns\": ([\d.]+) \.\.\.",
                  text)
    assert m, "§10.2's command and the latency it prints"
    r = CliRunner().invoke(app, shlex.split(m.group(1) + " " + m.group(2))[1:])
    assert r.exit_code == 0, r.output
    printed = json.loads(r.stdout)[0]["latency_ns"]
    assert m.group(3) == repr(printed), (m.group(3), printed)
    hand = re.search(r"\| \*\*T_step\*\* \| [^|]+ \| \*\*([\d,.]+)\*\* \|", text)
    assert hand and _close(hand.group(1), printed), (hand and hand.group(1), printed)

    import aimc_dse

    m = re.search(r"Same presets, `--prompt-len (\d+) --gen-len (\d+) --no-kv-cache --no-go-cache`.*?"
                  r"T = [^\n]*= ([\d,.]+) ns\n\nThe program prints `latency_ns: ([\d.]+)`", text, re.S)
    assert m, "§10.3's workload and results"
    lat = float(aimc_dse.evaluate(hw="moewithpim-hermes", model="moewithpim-layer", prompt_len=int(m.group(1)),
                                  gen_len=int(m.group(2)), kv_cache=False, go_cache=False).iloc[0]["latency_ns"])
    assert _close(m.group(3), lat) and _close(m.group(4), lat), (m.group(3), m.group(4), lat)


def test_batch_fidelity_tables_are_the_tools():
    """batch-fidelity.md's current error table is what ``python -m aimc_dse.validation.closed_vs_event``
    prints, its corpus row what ``aimc-dse validate --group stacked_batch`` measures, and
    cost-model.md quotes the same share within 10 %."""
    from aimc_dse.validation import closed_vs_event as cve
    from aimc_dse.validation import stacked

    text = (DOCS / "batch-fidelity.md").read_text()
    e = cve.closed_errors(cve.load_cache())
    tool = [line for line in cve.table(e).splitlines() if re.match(r"\| (?!designs|---)", line)]
    now = text.split("\nNow:\n", 1)[1].split("\n\n", 2)
    rows = [line for line in now[0].splitlines() if re.match(r"\| (?!designs|---)", line)]
    assert rows == tool, (rows, tool)
    energy = re.match(r"energy: median \|err\| ([\d.]+)%, max ([\d.]+)%", now[1])
    assert energy, now[1][:80]
    a = e["err_energy"].abs()
    assert _close(energy.group(1), 100 * a.median()) and _close(energy.group(2), 100 * a.max())

    share = float((e["err"].abs() <= 0.10).mean())
    cm = (DOCS / "cost-model.md").read_text()
    quoted = re.findall(r"waves it is (\d+) %|within 10 % of the event simulation on (\d+) %", cm)
    assert len(quoted) == 2, quoted
    for q in quoted:
        assert _close("".join(q), 100 * share), (q, share)

    res = stacked.evaluate_runs()
    lat = (res["latency_ns"] / res["ref.latency_ns"] - 1).abs()
    m = re.search(r"^\| now \| (\d+) \| (\d+) \| ([\d.]+) % \| ([\d.]+) % \|$", text, re.M)
    assert m, "the corpus table's current row"
    assert int(m.group(1)) == int((lat <= 0.10).sum()) and int(m.group(2)) == int((lat <= 0.20).sum())
    assert _close(m.group(3), 100 * lat.median()) and _close(m.group(4), 100 * lat.max()), (m.groups(), lat.median())
    m = re.search(r"10 % on at least 90 % of them \((\d+) of (\d+) today", cm)
    assert m and (int(m.group(1)), int(m.group(2))) == (int((lat <= 0.10).sum()), len(lat)), m and m.groups()


def test_event_simulation_closed_form_example_is_the_programs():
    """event-simulation.md's 51 B MoE example: the closed form's half (the event half takes ~20 s)."""
    import aimc_dse

    text = (DOCS / "event-simulation.md").read_text()
    m = re.search(r"the 51 B MoE on `([\w-]+)` at batch (\d+), (\d+) \+ (\d+) tokens: latency\s+([\d.]+) s event vs "
                  r"([\d.]+) s closed form, but time to the last first token ([\d.]+) s vs ([\d.]+) s", text)
    assert m, "the 51 B MoE example"
    r = aimc_dse.evaluate(hw=m.group(1), model="nature-moe-51b", batch=int(m.group(2)), prompt_len=int(m.group(3)),
                          gen_len=int(m.group(4))).iloc[0]
    assert _close(m.group(6), r["latency_ns"] / 1e9) and _close(m.group(8), r["ttft_ns"] / 1e9), (m.groups(), r["latency_ns"])


HF = ROOT / "tests" / "data" / "hf"
# models.md's "Counts against the published figures": the config folder and which active count
# the row quotes (with or without the input embedding, the model family's own convention)
MODELS_MD = {"DeepSeek-V3": ("DeepSeek-V3", "excl"), "Qwen3-30B-A3B": ("Qwen3-30B-A3B", "incl"),
             "gpt-oss-20b": ("gpt-oss-20b", "excl"), "Qwen2.5-7B": ("Qwen2.5-7B", None),
             "Llama-3.1-70B": ("Llama-3.1-70B", None), "DeepSeek-V2-Lite": ("DeepSeek-V2-Lite", "excl"),
             "Phi-3.5-MoE": ("Phi-3.5-MoE-instruct", "incl"), "DBRX": ("dbrx-base", "excl"),
             "Gemma-2-9B": ("gemma-2-9b", None), "Gemma-3-27B (text)": ("gemma-3-27b-it", None),
             "Kimi-K2": ("Kimi-K2-Instruct", "excl")}


def test_models_md_counts_are_the_programs():
    import aimc_dse

    rows = re.findall(r"^\| ([^|]+?) \| [^|]+ \| ([\d.]+) B \| [^|]+ \| (?:([\d.]+) B[^|]*|—) \|$",
                      (DOCS / "models.md").read_text(), re.M)
    assert {r[0] for r in rows} == set(MODELS_MD), rows
    for name, total, active in rows:
        folder, convention = MODELS_MD[name]
        m = aimc_dse.load_model(str(HF / folder))
        assert _close(total, m.parameters / 1e9), (name, total, m.parameters)
        if convention:
            ours = m.active_parameters_excl_embedding if convention == "excl" else m.active_parameters
            assert _close(active, ours / 1e9), (name, active, ours)


def test_presets_md_model_parameters_are_the_programs():
    import aimc_dse

    rows = re.findall(r"^\| `([\w.-]+)` \| [^|]+ \| [^|]+ \| [^|]+ \| ([^|]+) \| [^|]+ \| [^|]+ \|$",
                      (DOCS / "presets.md").read_text(), re.M)
    checked = 0
    for name, cell in rows:
        parts = re.findall(r"[\d,.]+(?: [BM])?", cell.split("(")[0])
        if not parts:
            continue  # "–": not given
        m = aimc_dse.load_model(name)
        for shown, value in zip(parts, (m.parameters, m.active_parameters)):
            num, _, unit = shown.partition(" ")
            scale = {"B": 1e9, "M": 1e6}.get(unit, 1)
            assert _close(num, value / scale), (name, shown, value)
        checked += 1
    assert checked >= 12, rows


def test_presets_md_models_table_names_every_model_preset():
    """presets.md's Models table has a row for every model preset (it missed deepseek-v3,
    qwen3-30b-a3b, gpt-oss-20b and llama-3.1-70b)."""
    from aimc_dse.specs import loader

    text = (DOCS / "presets.md").read_text()
    table = text[text.index("## Models"):text.index("A model can also be read directly")]
    rows = set(re.findall(r"^\| `([\w.-]+)` \|", table, re.M))
    assert rows == set(loader.preset_names("model")), set(loader.preset_names("model")) ^ rows


def _span(lo: float, hi: float, shown_lo: str, shown_hi: str, scale: float = 1.0) -> bool:
    """``shown_lo``–``shown_hi`` is the range [lo, hi] at the digits shown, rounded or widened by
    less than one last digit ("0.8–15 W" for 0.84–14.4 W)."""
    def unit(shown: str) -> float:  # the last significant digit's value ("1,270": 10)
        s = shown.replace(",", "")
        return 10.0 ** -len(s.split(".")[1]) if "." in s else 10.0 ** (len(s) - len(s.rstrip("0")))

    slo, shi = float(shown_lo.replace(",", "")), float(shown_hi.replace(",", ""))
    lo, hi = lo / scale, hi / scale
    return (lo - unit(shown_lo) < slo <= lo + unit(shown_lo) / 2 + 1e-12
            and hi - unit(shown_hi) / 2 - 1e-12 <= shi < hi + unit(shown_hi))


def test_results_readme_multichip_power_is_the_results():
    """results/README.md's power figures for the multi-chip study are the committed CSV's: the
    systems' power ranges, the static share of the AIMC energy at batch 1, the power ratio."""
    import pandas as pd

    text = (ROOT / "results" / "README.md").read_text()
    d = pd.read_csv(ROOT / "results" / "multichip-moe.csv")
    a, g = d[(d.system == "aimc") & d.fits], d[(d.system == "gpu") & d.fits]
    m = re.search(r"AIMC systems draw ([\d.]+)–([\d.]+) W \(component static power is (\d+)–(\d+) % of the\s+"
                  r"8- and 14-chip systems' energy at batch 1, (\d+)–(\d+) % of Qwen3's on one chip\), the GPUs "
                  r"([\d.]+)–([\d.]+) kW", text)
    assert m, "the multi-chip tokens/s/W paragraph"
    assert _span(a.power_w.min(), a.power_w.max(), m[1], m[2])
    b1 = a[a["workload.batch"] == 1]
    share = b1["energy_nj.static"] / b1["energy_nj"]
    multi = b1["hw.chips"] > 1
    assert _span(share[multi].min(), share[multi].max(), m[3], m[4], 0.01)
    assert _span(share[~multi].min(), share[~multi].max(), m[5], m[6], 0.01)
    assert _span(g.power_w.min(), g.power_w.max(), m[7], m[8], 1000)
    r = pd.read_csv(ROOT / "results" / "multichip-moe-ratios.csv").dropna()
    power = r["tokens_per_s_per_w.ratio"] / r["tokens_per_s.ratio"]
    m = re.search(r"a ([\d,]+)–([\d,]+)× power ratio", text)
    assert m and _span(power.min(), power.max(), m[1], m[2]), m


def test_results_readme_calibrated_a100_devices_are_the_results():
    """The batch study's calibrated A100 runs on as many devices as results/README.md says."""
    import pandas as pd

    words = {"one": 1, "two": 2, "three": 3, "four": 4}
    m = re.search(r"the calibrated A100 \((\w+) devices with their all-reduces",
                  (ROOT / "results" / "README.md").read_text())
    assert m, "the buechel-batch row"
    d = pd.read_csv(ROOT / "results" / "buechel-batch.csv")
    assert set(d.loc[d["hw.name"] == "a100-sxm4-80gb", "n_devices"]) == {words[m[1]]}


def test_presets_md_lists_every_supported_model_type():
    from aimc_dse.specs.hf import SUPPORTED_MODEL_TYPES

    text = " ".join((DOCS / "presets.md").read_text().split())
    listed = text.split("SUPPORTED_MODEL_TYPES` lists: ")[1].split(" (docs/models.md)")[0]
    assert [t.strip() for t in listed.split(",")] == list(SUPPORTED_MODEL_TYPES)


# ---- results/README.md's figures are the committed tables' -------------------------------------
# make paper regenerates results/*.csv after a cost-model change; the prose quoting them does not
# follow by itself (07c0bd1 moved the multi-chip ratios by up to 5 % and left the text behind).

RESULTS = ROOT / "results"


def _results(name: str):
    import pandas as pd

    return pd.read_csv(RESULTS / f"{name}.csv")


def test_results_readme_buechel_figures_are_the_results():
    """The dense-vs-MoE, stack and batch rows quote their tables' tokens/s and tokens/s/mm²."""
    text = " ".join((RESULTS / "README.md").read_text().split())

    d = _results("buechel-dense-vs-moe").set_index("model.name")
    m = re.search(r"Dense tokens/s fall with size \(([\d,]+) → ([\d,]+) tokens/s from GPT-2 medium to Llama 2 7B\).*?"
                  r"the MoE stays at ([\d,]+) tokens/s from ([\d.]+) k to ([\d.]+) k tier blocks", text)
    assert m, "the buechel-dense-vs-moe row"
    moe = d.loc["nature-moe-51b"]
    assert _close(m[1], d.loc["gpt2-medium", "tokens_per_s"]) and _close(m[2], d.loc["llama-2-7b", "tokens_per_s"]), m.groups()
    assert moe.tokens_per_s.nunique() == 1 and _close(m[3], moe.tokens_per_s.iloc[0]), m[3]
    assert _close(m[4], moe.tier_blocks.min() / 1e3) and _close(m[5], moe.tier_blocks.max() / 1e3), m.groups()

    s = _results("buechel-stack")
    xl = s[s["model.name"] == "gpt2-xl"].groupby("hw.tiles")[["tokens_per_s", "tokens_per_s_per_mm2"]].first()
    m = re.search(r"\(([\d,]+) → ([\d,]+) tokens/s from (\d+) to (\d+) tiles: one tier at a time per tile\)", text)
    assert m, "the buechel-stack row's GPT-2 XL throughput"
    assert _close(m[1], xl.tokens_per_s[int(m[3])]) and _close(m[2], xl.tokens_per_s[int(m[4])]), m.groups()
    m = re.search(r"for GPT-2 XL (\d+) tiles edge out (\d+) \(([\d.]+) against ([\d.]+)\)", text)
    assert m, "the buechel-stack row's tokens/s/mm²"
    best, other = xl.tokens_per_s_per_mm2[int(m[1])], xl.tokens_per_s_per_mm2[int(m[2])]
    assert xl.tokens_per_s_per_mm2.idxmax() == int(m[1]) and _close(m[3], best) and _close(m[4], other), m.groups()

    b = _results("buechel-batch").pivot_table(index="workload.batch", columns="hw.name", values="tokens_per_s")
    m = re.search(r"the paper's bound overtakes the AIMC chip's tokens/s at batch (\d+) \(tied at (\d+): ([\d,]+) vs "
                  r"([\d,]+)", text)
    assert m, "the buechel-batch row"
    ahead = b[b["a100-paper"] > b["nature-3d-aimc-sim"]].index
    assert ahead.min() == int(m[1]), (m[1], list(ahead))
    assert _close(m[3], b.loc[int(m[2]), "a100-paper"]) and _close(m[4], b.loc[int(m[2]), "nature-3d-aimc-sim"]), m.groups()


MULTICHIP_GPUS = {"8 H200s EP": "h200-sxm (parallelism=ep, devices=8)", "8 H200s TP": "h200-sxm (parallelism=tp, devices=8)",
                  "8 H100s EP": "h100-sxm (parallelism=ep, devices=8)", "one H100": "h100-sxm (parallelism=tp, devices=1)"}
# the multichip-moe-ratios row's quartets (tokens/s, tokens/s/W, tokens/s/mm², GOPS/W/mm²), in the
# order the text gives them: model, prompt, batch, AIMC chips (pipeline), GPU
MULTICHIP_QUARTETS = [("deepseek-v3", 128, 1, 14, "8 H200s EP"), ("deepseek-v3", 128, 1, 14, "8 H200s TP"),
                      ("qwen3-30b-a3b", 128, 1, 8, "8 H100s EP"), ("qwen3-30b-a3b", 128, 1, 8, "one H100"),
                      ("qwen3-30b-a3b", 128, 1, 1, "one H100"),
                      ("deepseek-v3", 128, 256, 14, "8 H200s EP"), ("qwen3-30b-a3b", 128, 256, 8, "8 H100s EP"),
                      ("qwen3-30b-a3b", 128, 256, 8, "one H100"),
                      ("deepseek-v3", 1024, 1, 14, "8 H200s EP"), ("qwen3-30b-a3b", 1024, 1, 8, "8 H100s EP"),
                      ("qwen3-30b-a3b", 1024, 1, 8, "one H100")]


def test_results_readme_multichip_ratios_are_the_results():
    """The ratio row's 44 figures are multichip-moe-ratios.csv's, at the digits shown."""
    text = " ".join((RESULTS / "README.md").read_text().split())
    q = r"([\d.,]+)×(?: tokens/s)?(?:, | / )([\d.,]+)×(?: tokens/s/W)?(?:, | / )([\d.,]+)×(?: tokens/s/mm²)?(?:, | / )" \
        r"([\d.,]+)×(?: GOPS/W/mm²)?"
    m = re.search(rf"Short prompt, batch 1: DeepSeek-V3 on 14 chips \(pipeline\) ÷ 8 H200s EP is {q} \(÷ 8 H200s TP: {q}\); "
                  rf"Qwen3 on 8 chips ÷ 8 H100s EP {q}, but ÷ one H100 {q} \(one chip ÷ one H100: {q}\)\. "
                  rf"At batch 256: {q} and {q} \(÷ one H100: {q}\)\. "
                  rf"With the 1,024-token prompt, batch 1: {q} and {q} \(÷ one H100: {q}\)\.", text)
    assert m, "the multichip-moe-ratios row"
    r = _results("multichip-moe-ratios")
    cols = ["tokens_per_s.ratio", "tokens_per_s_per_w.ratio", "tokens_per_s_per_mm2.ratio", "gops_per_w_per_mm2.ratio"]
    for i, (model, prompt, batch, chips, gpu) in enumerate(MULTICHIP_QUARTETS):
        hit = r[(r["model.name"] == model) & (r["workload.prompt_len"] == prompt) & (r["workload.batch"] == batch)
                & (r.aimc_chips == chips) & (r.placement == "pipeline") & (r.gpu == MULTICHIP_GPUS[gpu])]
        assert len(hit) == 1, (model, prompt, batch, chips, gpu)
        for shown, col in zip(m.groups()[4 * i:4 * i + 4], cols):
            assert _close(shown, float(hit[col].iloc[0])), (model, prompt, batch, chips, gpu, col, shown,
                                                            float(hit[col].iloc[0]))


def test_results_readme_multichip_claims_are_the_results():
    """Where the GPUs overtake, where one chip's KV memory ends, the tokens/s/W range, and how
    much expert parallelism moves tokens/s: the figures the multi-chip bullets quote."""
    text = " ".join((RESULTS / "README.md").read_text().split())
    d, r = _results("multichip-moe"), _results("multichip-moe-ratios")
    ds = r[(r["model.name"] == "deepseek-v3") & (r["workload.prompt_len"] == 128) & (r.placement == "pipeline")]

    m = re.search(r"so they overtake at batch (\d+) \(DeepSeek-V3, short prompt: ([\d.]+)×, ([\d.]+)× at (\d+); "
                  r"8 H200s tensor-parallel (?:already|also) at (\d+), ([\d.]+)×\)", text)
    assert m, "where the GPUs overtake DeepSeek-V3"
    for gpu, at, shown in ((MULTICHIP_GPUS["8 H200s EP"], m[1], m[2]), (MULTICHIP_GPUS["8 H200s TP"], m[5], m[6])):
        ratio = ds[ds.gpu == gpu].set_index("workload.batch")["tokens_per_s.ratio"]
        assert ratio[ratio < 1].index.min() == int(at) and _close(shown, ratio[int(at)]), (gpu, at, shown, ratio.to_dict())
    ratio = ds[ds.gpu == MULTICHIP_GPUS["8 H200s EP"]].set_index("workload.batch")["tokens_per_s.ratio"]
    assert _close(m[3], ratio[int(m[4])]) and ratio[int(m[4])] >= 1, (m[3], m[4])

    m = re.search(r"Qwen3 on one chip runs out of KV memory past batch (\d+) at the long prompt", text)
    one = d[(d["model.name"] == "qwen3-30b-a3b") & (d["hw.chips"] == 1) & (d["workload.prompt_len"] == 1024)]
    assert m and set(one.max_batch) == {int(m[1])}, (m and m[1], set(one.max_batch))

    m = re.search(r"the AIMC leads by ([\d.]+)× \(.*?\) to ([\d,]+)× \(", text)
    w = r["tokens_per_s_per_w.ratio"].dropna()
    assert m and _close(m[1], w.min()) and float(m[2].replace(",", "")) == float(f"{w.max():.3g}"), (m and m.groups(), w.min(), w.max())

    a = d[(d.system == "aimc") & (d["hw.chips"] > 1)].pivot_table(index=["model.name", "workload.prompt_len", "workload.batch"],
                                          columns="hw.parallelism", values="tokens_per_s")
    gain = 100 * (a["expert"] / a["pipeline"] - 1)
    m = re.search(r"for DeepSeek-V3 with the short prompt it is ([\d.]+)–([\d.]+) % faster than the pipeline at every "
                  r"batch .*?; for Qwen3 it is ([\d.]+)–([\d.]+) % slower, and with the long prompt both are within (\d+) %",
                  text)
    assert m, "expert parallelism vs the pipeline"
    dsg, qg = gain["deepseek-v3"][128], -gain["qwen3-30b-a3b"][128]
    assert _span(dsg.min(), dsg.max(), m[1], m[2]) and _span(qg.min(), qg.max(), m[3], m[4]), (m.groups(), dsg, qg)
    assert _close(m[5], gain.xs(1024, level="workload.prompt_len").abs().max()), (m[5], gain.xs(1024, level="workload.prompt_len").abs().max())

    # not in a table: the same design point with more MHA units, from the program
    import aimc_dse

    m = re.search(r"(\d+) MHA units per chip give ([\d.]+)× the tokens/s at batch (\d+)\.", text)
    assert m, "the MHA-unit sentence"
    ds = d[(d["model.name"] == "deepseek-v3") & (d["hw.parallelism"] == "pipeline") & (d["workload.prompt_len"] == 128)
           & (d["workload.batch"] == int(m[3]))]
    more = aimc_dse.evaluate(hw="nature-3d-aimc", model="deepseek-v3", prompt_len=128, gen_len=128, batch=int(m[3]),
                             set=["hw.chips=14", "hw.parallelism=pipeline", f"hw.mha_units={m[1]}"]).iloc[0]
    assert len(ds) == 1 and _close(m[2], more["tokens_per_s"] / ds.tokens_per_s.iloc[0]), (m.groups(), more["tokens_per_s"])
