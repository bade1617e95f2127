"""Usage and cost as the console draws them: stacked bars per day, one series per key.

The page is an SVG drawn on the server from the ledger's rows: no script, and each bar carries
its exact figure (``data-value`` and a tooltip), so what is drawn is what the ledger holds.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal

import attrs

from copass_router.accounting._usage import UsageRow

GROUPS = ("provider", "model", "tenant", "end_user_id")
METRICS = ("cost_usd", "tokens")
PALETTE = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip
WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 760, 260, 70, 40, 10


@attrs.frozen
class Bar:
    """One series' part of one day's bar (SVG geometry and its figure)."""

    day: str
    series: str
    value: str
    x: float
    y: float
    width: float
    height: float
    color: str


@attrs.frozen
class Total:
    """One series' totals over the period."""

    key: str
    color: str
    calls: int
    input_tokens: int
    output_tokens: int
    cache_tokens: int
    tokens: int
    cost_usd: Decimal
    unpriced_calls: int


@attrs.frozen
class Chart:
    """What the usage page draws: bars, axis labels, legend and totals."""

    metric: str
    group: str
    bars: tuple[Bar, ...]
    days: tuple[tuple[str, float], ...]  # (label, x of its centre)
    ticks: tuple[tuple[str, float], ...]  # (label, y)
    totals: tuple[Total, ...]
    width: int = WIDTH
    height: int = HEIGHT


def _key(row: UsageRow, group: str) -> str:
    return str(getattr(row, group))


def _value(row: UsageRow, metric: str) -> Decimal:
    return row.cost_usd if metric == "cost_usd" else Decimal(row.tokens)


def _format(value: Decimal, metric: str) -> str:
    """The exact figure (a bar is the ledger's number, never a rounded one)."""
    return f"{value.normalize():f}" if metric == "cost_usd" else str(int(value))


def _tick(value: Decimal, metric: str) -> str:
    if metric != "cost_usd":
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".") or "0"


def _days(since: dt.date, until: dt.date) -> list[dt.date]:
    count = (until - since).days + 1
    return [since + dt.timedelta(days=i) for i in range(max(count, 1))]


def usage_chart(
    rows: Sequence[UsageRow], group: str, metric: str, since: dt.date, until: dt.date
) -> Chart:
    """Bars per day from ``since`` to ``until``, stacked by ``group``, measuring ``metric``."""
    per_day: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    totals: dict[str, list[int | Decimal]] = {}
    for row in rows:
        key = _key(row, group)
        per_day[row.day.isoformat()][key] += _value(row, metric)
        t = totals.setdefault(key, [0, 0, 0, 0, 0, Decimal(0), 0])
        t[0] += row.calls
        t[1] += row.input_tokens
        t[2] += row.output_tokens
        t[3] += row.cache_read_tokens + row.cache_write_tokens
        t[4] += row.tokens
        t[5] += row.cost_usd
        t[6] += row.unpriced_calls
    keys = sorted(totals)
    colors = {key: PALETTE[i % len(PALETTE)] for i, key in enumerate(keys)}
    days = _days(since, until)
    top = max((sum(v.values(), Decimal(0)) for v in per_day.values()), default=Decimal(0))
    top = top or Decimal(1)
    plot_w, plot_h = WIDTH - PAD_LEFT - 10, HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = plot_w / len(days)
    bar_w = max(slot * 0.7, 1.0)
    bars: list[Bar] = []
    labels: list[tuple[str, float]] = []
    every = max(len(days) // 10, 1)
    for i, day in enumerate(days):
        label = day.isoformat()
        x = PAD_LEFT + i * slot + (slot - bar_w) / 2
        if i % every == 0:
            labels.append((label[5:], x + bar_w / 2))
        base = float(HEIGHT - PAD_BOTTOM)
        for key in keys:
            value = per_day.get(label, {}).get(key)
            if not value:
                continue
            h = float(value / top) * plot_h
            base -= h
            bars.append(Bar(label, key, _format(value, metric), x, base, bar_w, h, colors[key]))
    ticks = tuple(
        (_tick(top * Decimal(f), metric), HEIGHT - PAD_BOTTOM - f * plot_h) for f in (0, 0.5, 1)
    )
    return Chart(
        metric=metric,
        group=group,
        bars=tuple(bars),
        days=tuple(labels),
        ticks=ticks,
        totals=tuple(
            Total(key, colors[key], *totals[key])  # type: ignore[arg-type]
            for key in keys
        ),
    )
