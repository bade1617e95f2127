"""Collects every shell command the project's docs show, so the suite can run each one.

Docs: README.md, CONTRIBUTING.md, docs/*.md, plugins/*/README.md. Commands: every line of a
fenced ``sh``/``bash``/``shell`` block (``\\`` continuations joined, comment lines dropped),
every ``$ `` line of a ``console`` block (the lines under it are the output it shows), and the
``python`` blocks that are programs (they call ``asyncio.run``/``run_sync`` or open a
``RemoteRouter`` on the doc's router), each run as a file. A block the text just before it says
to save (``Save this as `shop_tools.py`:``) is a ``file``: it is saved there, as the reader
would, for the commands after it. Every ``python`` block must compile as a file (top-level
``await`` would not). A fence without a language is reported: it may hide a command nobody
runs, so each block says what it is (``sh`` for commands, ``text`` for output and layouts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[2]
SHELL = frozenset({"sh", "bash", "shell"})
_FENCE = re.compile(r"^(```+|~~~+)\s*([\w+-]*)")
_PROGRAM = re.compile(
    r"""asyncio\.run\(|\.run_sync\(|RemoteRouter\(\s*["'](http://127\.0\.0\.1:|https://router)"""
)
_SAVE = re.compile(r"[Ss]ave (?:it|this) as `([\w.-]+)`:?\s*$")


@dataclass(frozen=True)
class Command:
    """One command as a doc shows it. ``kind``: ``sh``, ``console``, ``python`` (a program to
    run) or ``file`` (saved as ``path``)."""

    doc: str
    line: int
    kind: str
    text: str
    shown: str | None = None
    path: str | None = None

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


@dataclass(frozen=True)
class Block:
    lang: str
    line: int  # the line of the opening fence
    body: list[str]
    before: str = ""  # the last line of text before the fence

    @property
    def save_as(self) -> str | None:
        """The file name the text before the block says to save it as, if it says so."""
        match = _SAVE.search(self.before)
        return match.group(1) if match else None


def doc_paths() -> list[Path]:
    """Every doc whose commands the suite runs, in a stable order."""
    found = [ROOT / "README.md", ROOT / "CONTRIBUTING.md"]
    found += sorted((ROOT / "docs").glob("*.md"))
    found += sorted(ROOT.glob("plugins/*/README.md"))
    return [p for p in found if p.exists()]


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file."""
    found: list[Block] = []
    fence: str | None = None
    lang, start, body, before, text = "", 0, [], "", ""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = _FENCE.match(line)
        if fence is None and match:
            fence, lang, start, body, before = match[1], match[2].lower(), number, [], text
        elif fence is not None and line.strip() == fence:
            found.append(Block(lang, start, body, before))
            fence, text = None, ""
        elif fence is not None:
            body.append(line)
        elif line.strip():
            text = line.strip()
    return found


def python_blocks(path: Path) -> list[Block]:
    """The ``python`` blocks of a Markdown file."""
    return [b for b in blocks(path) if b.lang == "python"]


def unlabeled_fences(path: Path) -> list[int]:
    """Lines of fences that say no language."""
    return [b.line for b in blocks(path) if not b.lang]


def commands(path: Path, root: Path = ROOT) -> list[Command]:
    """The commands of one doc, in the order a reader meets them."""
    doc = str(path.relative_to(root))
    found: list[Command] = []
    for block in blocks(path):
        source = "\n".join(block.body) + "\n"
        if block.save_as:
            found.append(Command(doc, block.line + 1, "file", source, path=block.save_as))
        elif block.lang in SHELL:
            found += _shell_commands(doc, block)
        elif block.lang == "console":
            found += _console_commands(doc, block)
        elif block.lang == "python" and _PROGRAM.search(source):
            found.append(Command(doc, block.line + 1, "python", source))
    return found


def _shell_commands(doc: str, block: Block) -> list[Command]:
    found: list[Command] = []
    pending: list[str] = []
    first = 0
    for offset, raw in enumerate(block.body, block.line + 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if not pending:
            first = offset
        if line.endswith("\\"):
            pending.append(line[:-1].rstrip())
            continue
        found.append(Command(doc, first, "sh", " ".join([*pending, line])))
        pending = []
    if pending:
        found.append(Command(doc, first, "sh", " ".join(pending)))
    return found


def _console_commands(doc: str, block: Block) -> list[Command]:
    found: list[Command] = []
    for offset, line in enumerate(block.body, block.line + 1):
        if line.startswith("$ "):
            found.append(Command(doc, offset, "console", line[2:].strip(), ""))
        elif found:
            last = found[-1]
            shown = f"{last.shown}{line}\n"
            found[-1] = Command(last.doc, last.line, last.kind, last.text, shown)
    return found


def all_commands() -> list[Command]:
    """Every collected command of every doc."""
    return [c for path in doc_paths() for c in commands(path)]
