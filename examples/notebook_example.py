"""aimc-dse from Python: evaluate, compare, sweep — what a notebook cell would do.

Run it from the checkout: ``python examples/notebook_example.py`` (tests/test_cli_ux.py runs it).
Everything here is the public API of ``aimc_dse`` (README § Python API).
"""

import warnings

import aimc_dse

# 1. One design point: the Nature paper's 3D chip running its 51 B MoE (defaults: 32-token
#    prompt, 8 generated tokens, batch 1, KV cache). One row, every knob and result column.
one = aimc_dse.evaluate(hw="nature-3d-aimc", model="nature-moe-51b")
print(one[["hardware", "model", "tokens_per_s", "tokens_per_s_per_w", "area_mm2"]].to_string(index=False))

# 2. AIMC against GPUs, several models at once, batch 16; AIMC rows get vs.<gpu>.<metric> ratios.
cmp = aimc_dse.evaluate(
    hw=["nature-3d-aimc", "a100-paper", "a100-sxm4-80gb"],
    model=["mixtral-8x7b", "nature-moe-51b"],
    batch=16,
)
print(cmp[["hardware", "model", "tokens_per_s", "tokens_per_s_per_w"]].to_string(index=False))
print(cmp.filter(like="vs.a100-sxm4-80gb.").dropna().round(2).to_string(index=False))

# 3. Any spec field by dotted path, as the CLI's --set; specs can be loaded and inspected.
hw = aimc_dse.load_hw("nature-3d-aimc", set={"hw.tiles": 400})
print(hw.name, hw.tiles, "tiles,", round(hw.chip_area_mm2(), 1), "mm²")
small = aimc_dse.evaluate(hw="nature-3d-aimc", model="nature-moe-51b", set={"hw.tiles": 100})
print("100 tiles: fits =", bool(small["fits"].iloc[0]))  # a design that does not fit is a result

# 4. Bad input raises SpecError with the CLI's one-line message.
try:
    aimc_dse.evaluate(hw="nature-3d-aimc", model="nature-moe-51b", set={"hw.tiles": 0})
except aimc_dse.SpecError as e:
    print("refused:", e)

# 5. A workload past the model's positions is computed, with a warning.
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    aimc_dse.evaluate(hw="nature-3d-aimc", model="nature-moe-51b", prompt_len=2000)
print("warned:", caught[0].message if caught else None)

# 6. A sweep from a dict (or a YAML file path): a DataFrame with one row per design point.
res = aimc_dse.sweep(
    {
        "name": "notebook",
        "systems": ["nature-3d-aimc", "a100-sxm4-80gb"],
        "model": "mixtral-8x7b",
        "axes": {"workload.batch": {"pow2": [1, 64]}},
    }
)
best = res.loc[res.groupby("hw.name")["tokens_per_s_per_w"].idxmax(), ["hw.name", "workload.batch", "tokens_per_s_per_w"]]
print(best.to_string(index=False))
