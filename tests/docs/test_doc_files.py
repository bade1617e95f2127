"""Code a doc shows as a file is that file: a block after ``<!-- file: PATH -->`` must equal it.

The example provider in docs/adding-a-provider.md is installed and run through the conformance
kit by the suite; this keeps the page showing exactly that tested code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
MARKED = re.compile(r"<!-- file: (\S+) -->\n```[a-z]*\n(.*?)\n```", re.S)
DOCS = sorted(p for p in (ROOT / "docs").glob("*.md") if "<!-- file:" in p.read_text())


def test_some_doc_shows_files() -> None:
    assert any(p.name == "adding-a-provider.md" for p in DOCS)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_each_file_a_doc_shows_is_the_file(doc: Path) -> None:
    text = doc.read_text()
    shown = MARKED.findall(text)
    assert len(shown) == text.count("<!-- file:"), f"{doc.name}: a file marker without a block"
    for path, body in shown:
        real = (ROOT / path).read_text().rstrip("\n")
        assert body == real, f"{doc.name} shows {path} differently from the file: update the doc"


def test_the_example_backend_is_at_most_61_lines() -> None:
    backend = ROOT / "examples/copass-router-acme/src/copass_router_acme/backend.py"
    assert len(backend.read_text().splitlines()) <= 61
