"""Sweeps: grids of design points (``grid``), their parallel evaluation (``runner``), the papers' studies (``paper``).

``aimc_dse.sweep`` is also the Python API's sweep function: calling this package,
``aimc_dse.sweep("sweeps/default.yaml")``, runs :func:`aimc_dse.sweep.frame.sweep_frame` (also ``aimc_dse.api.sweep``) and returns a
DataFrame. (A package and a function cannot share the name ``aimc_dse.sweep`` otherwise:
importing ``aimc_dse.sweep.grid`` would replace the function by the package.)
"""

import sys as _sys
import types as _types


class _CallableModule(_types.ModuleType):
    def __call__(self, path_or_dict, output=None, *, jobs=1, max_points=None, chunk_size=None, force=True, quiet=True):
        """Run a sweep (file or dict) and return its results as a DataFrame: ``aimc_dse.api.sweep``
        (``output`` keeps the file, ``force`` — on, as a notebook re-runs a cell — overwrites it)."""
        from .frame import sweep_frame

        return sweep_frame(path_or_dict, output, jobs=jobs, max_points=max_points, chunk_size=chunk_size, force=force,
                           quiet=quiet)


_sys.modules[__name__].__class__ = _CallableModule
