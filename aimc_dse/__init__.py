"""aimc-dse: design-space exploration of LLM inference on 3D analog in-memory-computing hardware.

The Python API (``aimc_dse.api``, documented in README.md § Python API)::

    import aimc_dse
    df = aimc_dse.evaluate(hw="nature-3d-aimc", model="nature-moe-51b", batch=4)
    res = aimc_dse.sweep("sweeps/default.yaml")
    df = aimc_dse.read_results("results/default.csv")

Names are loaded on first use (module ``__getattr__``), so ``import aimc_dse`` stays light
and the CLI starts fast; the cost model loads when ``evaluate`` first runs, pandas when
``evaluate`` builds its DataFrame (``as_frame=False`` gives the rows as dicts without it).
"""

__version__ = "0.1.0"

_API = {
    "evaluate": "api",
    "load_hw": "api",
    "load_model": "api",
    "load_workload": "api",
    "PositionsWarning": "api",
    "SpecError": "specs.base",
    "read_results": "report.writer",
}

__all__ = ["__version__", "sweep", *_API]


def __getattr__(name: str):
    if name == "sweep":  # the subpackage, callable as the API's sweep (see aimc_dse/sweep/__init__.py)
        import importlib

        return importlib.import_module(f"{__name__}.sweep")
    mod = _API.get(name)
    if mod is None:
        raise AttributeError(f"module 'aimc_dse' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_API) | {"sweep"})
