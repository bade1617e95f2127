"""docs/api.md sorts every public name by audience, each exactly once, and names nothing else."""

from __future__ import annotations

import re
from pathlib import Path

import copass_router
import copass_router.testing

DOC = (Path(__file__).parents[1] / "docs" / "api.md").read_text()


def _sections() -> dict[str, set[str]]:
    """Per section, the names each bullet (or each ``;`` clause of one) lists before ``: ``."""
    found: dict[str, set[str]] = {}
    for part in re.split(r"^## ", DOC, flags=re.M)[1:]:
        title, _, body = part.partition("\n")
        bullets = re.findall(r"^- (.*?(?:\n  .*?)*)$", body, flags=re.M)
        names: set[str] = set()
        for bullet in bullets:
            for clause in bullet.replace("\n", " ").split("; "):
                head = clause.split(": ", 1)[0]
                names |= set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", head))
        found[title] = names
    return found


def test_every_public_name_is_in_exactly_one_audience() -> None:
    sections = _sections()
    core = {t: names & set(copass_router.__all__) for t, names in sections.items()}
    listed = [n for names in core.values() for n in names]
    assert sorted(listed) == sorted(set(listed)), "a name in two audiences"
    assert set(listed) == set(copass_router.__all__)


def test_the_testing_section_lists_copass_router_testing() -> None:
    (testing,) = [names for title, names in _sections().items() if "testing" in title]
    assert set(copass_router.testing.__all__) <= testing


def test_every_listed_name_exists() -> None:
    public = set(copass_router.__all__) | set(copass_router.testing.__all__)
    for names in _sections().values():
        assert names <= public, names - public
