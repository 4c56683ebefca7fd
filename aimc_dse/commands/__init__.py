"""CLI command modules. Each module defines ``register(app)``; list it here to add it.

Keeping each command in its own module lets capabilities land independently while
``cli.py`` stays thin.
"""

from __future__ import annotations

import importlib

_NAMES = [
    "presets",
    "schedule",
    "evaluate",
    "validate",
    "experts",
    "sweep",
    "pareto",
    "plot",
    "columns",
]

COMMAND_MODULES = [importlib.import_module(f"{__name__}.{n}") for n in _NAMES]
