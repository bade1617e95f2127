"""docs/events.md's error-code table is the code's table: every code, status, class, retryable."""

from __future__ import annotations

import re
from pathlib import Path

from copass_router import ERROR_CODES, ErrorCode

DOC = Path(__file__).parents[1] / "docs" / "events.md"
ROW = re.compile(r"^\| `(\w+)` \| (\d+) \| (.+?) \| (yes|no) \|", re.M)


def test_every_code_is_documented_as_the_table_says() -> None:
    rows = {m.group(1): m for m in ROW.finditer(DOC.read_text())}
    assert set(rows) == {c.value for c in ErrorCode}
    for code, info in ERROR_CODES.items():
        row = rows[code]
        assert int(row.group(2)) == info.status, code
        assert f"`{info.exception.__name__}`" in row.group(3), code
        assert (row.group(4) == "yes") is info.retryable, code
