"""The project's documentation is in the repository: every ``docs/<file>.md §<section>`` the
package, presets, README and tests cite names a file in docs/ and a heading in it, and no
file cites documents outside the repository."""

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
