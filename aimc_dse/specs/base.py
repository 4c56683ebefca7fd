"""Common base for every spec: strict (unknown fields rejected), frozen, documented fields.

Specs are the project's vocabulary (docs/architecture.md, "specs/"): pydantic v2 models that
describe hardware, models, workloads and sweeps. They never import the cost model.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Spec(BaseModel):
    """Base class: unknown fields are errors, instances are immutable.

    Derived variants are made with ``model_copy(update=...)`` or by re-validating an
    updated dict (``specs.loader.apply_overrides``), never by mutation.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class SpecError(Exception):
    """A bad input: names the file, the field (dotted path) and the problem.

    The CLI prints ``str(err)`` on one line and exits with code 2.
    """

    def __init__(self, source: str, field: str | None, problem: str):
        self.source = source
        self.field = field
        self.problem = problem
        where = f"{source}: {field}" if field else source
        super().__init__(f"{where}: {problem}")
