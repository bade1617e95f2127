"""Every shell command in the docs runs, as a reader would run it (docs that cannot drift).

The commands are collected from the docs each run (doc_commands.py), so a command added to a doc
is covered without anyone adding a test; the rules (skips, substitutions, stand-ins) are in
doc_session.py. The docs run side by side, each in its own temporary directory and store.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .doc_commands import (
    ROOT,
    all_commands,
    commands,
    doc_paths,
    python_blocks,
    unlabeled_fences,
)
from .doc_session import SKIP, DocSession, StandIns, skip_reason

DOCS = [str(p.relative_to(ROOT)) for p in doc_paths()]
WITH_COMMANDS = [doc for doc in DOCS if commands(ROOT / doc)]


@pytest.fixture(scope="module")
def doc_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[str]]]:
    """Each doc's problems, from running all the docs at once (one module-wide run)."""
    shared = tmp_path_factory.mktemp("stand-ins")
    stand_ins = StandIns(shared)

    def run(doc: str) -> list[str]:
        tmp = tmp_path_factory.mktemp(re.sub(r"\W", "-", doc))
        return DocSession(commands(ROOT / doc), tmp, stand_ins).run()

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            yield dict(zip(WITH_COMMANDS, pool.map(run, WITH_COMMANDS), strict=True))
    finally:
        problems = stand_ins.close()
    assert not problems, problems


@pytest.mark.parametrize("doc", WITH_COMMANDS)
def test_every_command_in_the_doc_runs(doc: str, doc_runs: dict[str, list[str]]) -> None:
    problems = doc_runs[doc]
    assert not problems, (
        f"{problems[0]}\n\nFix the doc (or the code it describes). A command that cannot run "
        "offline gets an entry with its reason in SKIP (tests/docs/doc_session.py)."
    )


@pytest.mark.parametrize("doc", DOCS)
def test_every_code_block_says_what_it_is(doc: str) -> None:
    lines = unlabeled_fences(ROOT / doc)
    assert not lines, (
        f"{doc}: code blocks without a language at lines {lines}: label commands a reader runs "
        "`sh` (the suite runs them) and output or layouts `text`"
    )


def test_the_docs_have_commands_to_run() -> None:
    found = all_commands()
    kinds = {c.kind for c in found}
    assert len(found) >= 20 and kinds == {"sh", "console", "python", "file"}, kinds
    assert any("copass-router serve" in c.text for c in found)


@pytest.mark.parametrize("doc", [d for d in DOCS if python_blocks(ROOT / d)])
def test_every_python_block_compiles_as_a_file(doc: str) -> None:
    for block in python_blocks(ROOT / doc):
        try:
            compile("\n".join(block.body), f"{doc}:{block.line}", "exec")
        except SyntaxError as exc:
            pytest.fail(
                f"{doc}:{block.line}: this block raises SyntaxError when saved to a file and run "
                f"({exc.msg}): put top-level async for/with/await inside an async def run by "
                "asyncio.run()"
            )


def test_each_skip_is_needed_and_says_why() -> None:
    texts = [c.text for c in all_commands()]
    for pattern, reason in SKIP:
        assert any(re.search(pattern, t) for t in texts), f"stale SKIP entry {pattern!r}"
        assert len(reason) > 20, pattern


def test_skips_are_few_and_serve_is_never_skipped() -> None:
    found = all_commands()
    skipped = [c for c in found if skip_reason(c.text)]
    assert len(skipped) <= len(found) // 3
    assert not [c for c in skipped if re.search(r"copass-router (serve|emulate|run)", c.text)]


def test_a_new_command_is_collected_without_registering_it(tmp_path: Path) -> None:
    doc = tmp_path / "new.md"
    doc.write_text(
        "# New\n\n```sh\ncopass-router run \\\n  'hi'   # a comment\n# a comment line\n```\n\n"
        "```console\n$ copass-router providers --json\n{...}\n```\n\n```\nno language\n```\n"
    )
    found = commands(doc, root=tmp_path)
    assert [(c.kind, c.text, c.line) for c in found] == [
        ("sh", "copass-router run 'hi'   # a comment", 4),
        ("console", "copass-router providers --json", 10),
    ]
    assert found[1].shown == "{...}\n"
    assert unlabeled_fences(doc) == [14]


def test_programs_run_files_are_saved_and_fragments_are_only_compiled(tmp_path: Path) -> None:
    doc = tmp_path / "new.md"
    doc.write_text(
        "Save this as `tools_x.py`:\n\n```python\nX = 1\n```\n\n"
        "```python\nimport asyncio\nasyncio.run(main())\n```\n\n"
        "```python\ndef fragment(): ...\n```\n"
    )
    found = commands(doc, root=tmp_path)
    assert [(c.kind, c.path, c.line) for c in found] == [
        ("file", "tools_x.py", 4),
        ("python", None, 8),
    ]
    assert len(python_blocks(doc)) == 3
