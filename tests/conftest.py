"""Test-wide settings: property tests draw the same examples on every run (no flaky CI).

Hypothesis derandomised: each property test explores a fixed, seeded set of examples, so a
failure is reproducible and a pass stays a pass. Run ``HYPOTHESIS_PROFILE=explore pytest`` to
search with fresh random examples.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))
