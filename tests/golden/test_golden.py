"""The model reproduces its frozen outputs on ~300 diverse design points (tests/golden/points.py).

Exact for strings, booleans and integers; floats within 1e-12 relative (the order of float
operations may change when code moves). An intended change of the model regenerates
golden.json (``python -m tests.golden.points``) in a commit that says why.
"""

from __future__ import annotations

import json
import math

import pytest

from .points import GOLDEN, evaluate

GOLD = json.loads(GOLDEN.read_text())


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, bool) or isinstance(b, bool):
            return a == b
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-300)
    return a == b


@pytest.mark.parametrize("point", GOLD, ids=[f"{p['id']}-{p['hw']}-{p['model']}" for p in GOLD])
def test_golden_point(point):
    got = evaluate(point)
    want = point["results"]
    assert sorted(got) == sorted(want), f"columns differ: +{sorted(set(got) - set(want))} -{sorted(set(want) - set(got))}"
    bad = {k: (got[k], want[k]) for k in want if not _same(got[k], want[k])}
    assert not bad, f"{len(bad)} columns changed, e.g. {dict(list(bad.items())[:4])}"
