"""The shape issue 10 gave the code: small functions in the cost model, no import cycle; and
the pinned dependency versions `make` installs agree with pyproject.toml."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "aimc_dse"


def test_no_function_in_the_cost_model_is_longer_than_80_lines():
    long = []
    for path in (PKG / "cost").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 80:
                long.append(f"{path.relative_to(PKG)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert not long, long


def _imports(path: Path, module: str) -> set[str]:
    """aimc_dse modules a module imports, at any depth of its code (lazy imports included)."""
    out = set()
    pkg = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.rsplit(".", node.level - 1)[0] if node.level > 1 else pkg
                target = f"{base}.{node.module}" if node.module else base
                names = [f"{target}.{a.name}" for a in node.names] + [target]
            else:
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            out |= {n for n in names if n.startswith("aimc_dse")}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("aimc_dse")}
    return out


def test_no_import_cycle_between_packages():
    modules = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        modules[name] = path
    # package level: aimc_dse.<pkg> -> aimc_dse.<other pkg>
    top = lambda m: ".".join(m.split(".")[:2])  # noqa: E731
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        for target in _imports(path, name):
            if top(target) != top(name) and top(target) in {top(m) for m in modules}:
                edges.setdefault(top(name), set()).add(top(target))
    seen, stack = set(), []

    def visit(n: str) -> None:
        assert n not in stack, f"import cycle: {' -> '.join(stack[stack.index(n):] + [n])}"
        if n in seen:
            return
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            visit(m)
        stack.pop()
        seen.add(n)

    for n in sorted(edges):
        visit(n)


def _constraints() -> dict[str, str]:
    from packaging.utils import canonicalize_name

    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version and " " not in line, f"constraints.txt: {line!r} is not a name==version pin"
            pins[canonicalize_name(name)] = version
    return pins


def test_constraints_pin_every_dependency_within_its_range():
    """`make` installs constraints.txt's versions: each dependency pyproject.toml declares
    (with the extras make installs) is pinned there, to a version its range allows."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in ("test", "plot", "lint"):
        declared += project["optional-dependencies"][extra]
    pins = _constraints()
    for text in declared:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in pins, f"constraints.txt pins no version of {req.name} (pyproject.toml: {text!r})"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt: {req.name}=={pins[name]} is outside pyproject.toml's {text!r}")
        for extra in req.extras:  # dask[distributed]: the extra's package is pinned too
            assert canonicalize_name(extra) in pins, f"constraints.txt pins no version of {extra}"
    assert "aimc-dse" not in pins  # the project itself is installed editable, never pinned


def test_every_shipped_study_csv_ships_with_its_constants_sidecar():
    """results/*.csv from `make paper` hold only what varies; their fixed knobs are in the
    sidecar, so a checkout without it reads 13 columns where the study has 150."""
    import pandas as pd

    results = Path(__file__).resolve().parent.parent / "results"
    studies = [p for p in sorted(results.glob("*.csv")) if not p.name.endswith((".constants.csv", "-ratios.csv"))]
    assert studies
    for p in studies:
        cols = set(pd.read_csv(p, nrows=0).columns)
        if {"hw.name", "fits"} <= cols and "hw.kind" not in cols:
            assert (results / (p.stem + ".constants.csv")).is_file(), f"{p.name} has no sidecar"
