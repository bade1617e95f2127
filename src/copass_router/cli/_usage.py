"""``copass-router usage``: the usage ledger as a readable table or JSON lines."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from copass_router.accounting._usage import UsageRow

COLUMNS = ("day", "tenant", "end_user_id", "provider", "model", "calls", "tokens", "cost_usd")


def add_usage_parser(sub: Any) -> None:
    """Add ``usage`` to the CLI's sub-commands."""
    usage = sub.add_parser("usage", help="tokens and cost per tenant, end user, model and day")
    usage.add_argument("--tenant", help="only this tenant")
    usage.add_argument("--end-user", help="only this end user")
    usage.add_argument("--since", type=_day, help="from this day on (YYYY-MM-DD)")
    usage.add_argument("--until", type=_day, help="up to this day, included (YYYY-MM-DD)")
    usage.add_argument("--json", action="store_true", help="one JSON object per row")


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _cell(row: UsageRow, column: str) -> str:
    if column == "tokens":
        return str(row.tokens)
    if column == "cost_usd":
        cost = f"{row.cost_usd:.6f}"
        return cost + (f" (+{row.unpriced_calls} unpriced)" if row.unpriced_calls else "")
    return str(getattr(row, column))


def render_table(rows: Sequence[UsageRow]) -> str:
    """The rows as an aligned text table with a total line (cost to six decimals)."""
    if not rows:
        return "no usage recorded\n"
    cells = [list(COLUMNS)] + [[_cell(r, c) for c in COLUMNS] for r in rows]
    total_cost = sum((r.cost_usd for r in rows), start=Decimal(0))
    cells.append(
        ["total", "", "", "", "", str(sum(r.calls for r in rows)),
         str(sum(r.tokens for r in rows)), f"{total_cost:.6f}"]
    )  # fmt: skip
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(line.rstrip() for line in lines) + "\n"


async def usage_command(args: argparse.Namespace, out: TextIO, router: Any) -> int:
    """Print the ledger rows ``args`` select."""
    try:
        rows = await router.usage(
            tenant=args.tenant, end_user_id=args.end_user, since=args.since, until=args.until
        )
    finally:
        await router.aclose()
    if args.json:
        for row in rows:
            out.write(json.dumps(row.as_dict()) + "\n")
    else:
        out.write(render_table(rows))
    return 0
