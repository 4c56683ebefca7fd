"""Every shipped reference target (reference simulators, paper claims) within its tolerance."""

from __future__ import annotations

import pytest

from aimc_dse.validation import reference

CHECKS = reference.checks()


@pytest.mark.parametrize("check", CHECKS, ids=[f"{c.group}:{c.name}:{c.quantity}" for c in CHECKS])
def test_reproduces_reference(check):
    assert check.passed, f"{check.name} {check.quantity}: model {check.model} vs {check.reference} ({check.error:+.3%})"


def test_every_reference_run_is_checked():
    from aimc_dse.validation import targets

    t = targets()
    names = {c.name for c in CHECKS}
    for group in ("moewithpim", "ibm3dsim_readme"):
        for run in t[group]["runs"]:
            assert run["name"] in names
