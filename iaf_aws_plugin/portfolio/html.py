"""The report page: one self-contained HTML file (inline CSS and SVG, no script, no external
resource), so it opens offline, from a mail attachment, and never makes a network request.

The host ships no plotting library in every supported major (plotly is a dependency of 8.x, not
of 9.x), so the charts are small inline SVGs: the portfolio value at each snapshot (one point per
snapshot with a database, trades marked) and its drawdown from the running peak.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from typing import Sequence

from .database import COST, LAST_TRADE, PortfolioView
from .snapshots import SnapshotPoint, parse_time

WIDTH, HEIGHT, DRAWDOWN_HEIGHT = 920, 300, 160
LEFT, RIGHT, TOP, BOTTOM = 78, 16, 14, 30


@dataclass(frozen=True)
class ChartPoint:
    snapshot: SnapshotPoint
    at: datetime
    value: float
    drawdown: float  # <= 0: fraction below the running peak
    trades_opened: int  # since the previous point
    trades_closed: int


def chart_points(points: Sequence[SnapshotPoint]) -> list[ChartPoint]:
    """The plotted points: every snapshot that holds a database, oldest first."""
    found: list[ChartPoint] = []
    peak: float | None = None
    before_count = before_closed = 0
    for point in points:
        view = point.view
        if view is None:
            continue
        peak = view.value if peak is None else max(peak, view.value)
        drawdown = view.value / peak - 1 if peak > 0 else 0.0
        found.append(ChartPoint(point, parse_time(point.saved_at), view.value, drawdown,
                                max(view.trade_count - before_count, 0),
                                max(view.closed_trade_count - before_closed, 0)))
        before_count, before_closed = view.trade_count, view.closed_trade_count
    return found


def money(value: float | None, symbol: str = "") -> str:
    if value is None:
        return "—"
    text = f"{value:,.2f}"
    return f"{text} {symbol}".strip()


def amount(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.8f}".rstrip("0").rstrip(".") if value else "0"


def max_drawdown(points: Sequence[ChartPoint]) -> float:
    return min((p.drawdown for p in points), default=0.0)


def utc_time(text: str | None) -> str:
    """An ISO time as ``2026-12-06 11:00:00 UTC`` ("—" for none)."""
    if not text:
        return "—"
    try:
        return parse_time(text).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return text


def _scale(low: float, high: float, size: float, *, invert: bool) -> tuple[float, float]:
    span = high - low or 1.0
    factor = size / span
    return (-factor, low + span) if invert else (factor, low)


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    if high == low:
        return [low]
    step = (high - low) / count
    return [low + i * step for i in range(count + 1)]


def _x_positions(points: Sequence[ChartPoint]) -> list[float]:
    inner = WIDTH - LEFT - RIGHT
    if len(points) == 1:
        return [LEFT + inner / 2]
    start, end = points[0].at.timestamp(), points[-1].at.timestamp()
    if end <= start:
        return [LEFT + inner * i / (len(points) - 1) for i in range(len(points))]
    return [LEFT + inner * (p.at.timestamp() - start) / (end - start) for p in points]


def value_chart(points: Sequence[ChartPoint], symbol: str) -> str:
    if not points:
        return '<p class="empty">No snapshot holds a database yet: nothing to plot.</p>'
    values = [p.value for p in points]
    low, high = min(values), max(values)
    pad = (high - low) * 0.08 or max(abs(high) * 0.01, 1.0)
    low, high = low - pad, high + pad
    inner_h = HEIGHT - TOP - BOTTOM
    xs = _x_positions(points)
    ys = [TOP + inner_h * (high - v) / (high - low) for v in values]
    parts = [f'<svg id="value-chart" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
             f'height="{HEIGHT}" role="img" aria-label="Portfolio value at each snapshot" '
             'xmlns="http://www.w3.org/2000/svg">']
    for tick in _ticks(low, high):
        y = TOP + inner_h * (high - tick) / (high - low)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f'{escape(f"{tick:,.2f}")}</text>')
    parts += _time_axis(points, xs, HEIGHT)
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
    parts.append(f'<polyline class="line" points="{line}"/>')
    for point, x, y in zip(points, xs, ys):
        snap = point.snapshot
        title = (f"{point.at:%Y-%m-%d %H:%M:%S} UTC, snapshot {snap.generation} ({snap.id}): "
                 f"{money(point.value, symbol)}")
        parts.append(f'<circle class="point" data-snapshot="{escape(snap.id)}" data-value="{point.value:.8f}" '
                     f'cx="{x:.1f}" cy="{y:.1f}" r="{3 if len(points) < 200 else 1.6}">'
                     f'<title>{escape(title)}</title></circle>')
        if point.trades_opened or point.trades_closed:
            what = ", ".join(filter(None, [f"{point.trades_opened} trade(s) opened" if point.trades_opened else "",
                                           f"{point.trades_closed} closed" if point.trades_closed else ""]))
            parts.append(f'<path class="trade-mark" data-snapshot="{escape(snap.id)}" '
                         f'd="M{x:.1f},{y - 7:.1f} l-5,-9 h10 z"><title>{escape(title)}: {escape(what)}</title></path>')
    parts.append("</svg>")
    return "".join(parts)


def drawdown_chart(points: Sequence[ChartPoint]) -> str:
    if not points:
        return ""
    low = min(min(p.drawdown for p in points), -0.001)
    inner_h = DRAWDOWN_HEIGHT - TOP - BOTTOM
    xs = _x_positions(points)
    ys = [TOP + inner_h * (p.drawdown / low) for p in points]
    parts = [f'<svg id="drawdown-chart" class="chart" viewBox="0 0 {WIDTH} {DRAWDOWN_HEIGHT}" width="{WIDTH}" '
             f'height="{DRAWDOWN_HEIGHT}" role="img" aria-label="Drawdown from the running peak" '
             'xmlns="http://www.w3.org/2000/svg">']
    for tick in _ticks(low, 0.0, 2):
        y = TOP + inner_h * (tick / low)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick * 100:.2f}%</text>')
    parts += _time_axis(points, xs, DRAWDOWN_HEIGHT)
    area = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
    parts.append(f'<polygon class="area" points="{xs[0]:.1f},{TOP} {area} {xs[-1]:.1f},{TOP}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _time_axis(points: Sequence[ChartPoint], xs: Sequence[float], height: int) -> list[str]:
    span = (points[-1].at - points[0].at).total_seconds()
    pattern = "%H:%M:%S" if span < 3600 else "%m-%d %H:%M" if span < 86400 * 180 else "%Y-%m-%d"
    picks = sorted({0, len(points) - 1, *(round(i * (len(points) - 1) / 4) for i in range(1, 4))})
    out: list[str] = []
    last = -1e9
    for index in picks:
        if xs[index] - last < 90 and index != len(points) - 1:
            continue
        if out and xs[index] - last < 90:
            out.pop()  # the last label wins
        anchor = "start" if index == 0 else "end" if index == len(points) - 1 else "middle"
        out.append(f'<text class="axis" x="{xs[index]:.1f}" y="{height - 8}" text-anchor="{anchor}">'
                   f'{points[index].at:{pattern}}</text>')
        last = xs[index]
    return out


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, id: str, empty: str) -> str:
    if not rows:
        return f'<p class="empty" id="{id}">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table id="{id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def portfolio_tables(view: PortfolioView) -> str:
    symbol = view.trading_symbol
    cash = _table(["Currency", "Market", "Amount"], [[c.symbol, c.market, money(c.amount)] for c in view.cash],
                  id="cash", empty="No cash position.")
    source = {LAST_TRADE: "last trade price", COST: "no price: valued at cost"}
    positions = _table(
        ["Symbol", "Amount", "Cost", "Last known price", "Price from", "Value"],
        [[h.symbol, amount(h.amount), money(h.cost, symbol), money(h.price, symbol),
          source.get(h.price_source, f"market, {utc_time(h.price_time)}"), money(h.value, symbol)]
         for h in view.positions],
        id="positions", empty="No positions.")
    orders = _table(
        ["Order", "Side", "Type", "Symbol", "Amount", "Remaining", "Price", "Created"],
        [[str(o.external_id or o.id), o.side, o.order_type, o.symbol, amount(o.amount), amount(o.remaining),
          money(o.price), utc_time(o.created_at)] for o in view.open_orders],
        id="open-orders", empty="No open orders.")
    trades = _table(
        ["Trade", "Symbol", "Status", "Amount", "Open price", "Opened", "Closed", "Net gain"],
        [[str(t.id), t.symbol, t.status, amount(t.amount), money(t.open_price), utc_time(t.opened_at),
          utc_time(t.closed_at), money(t.net_gain, symbol)] for t in view.trades],
        id="trades", empty="No trades yet.")
    return (f"<h2>Cash</h2>{cash}<h2>Positions</h2>{positions}<h2>Open orders</h2>{orders}"
            f"<h2>Last {len(view.trades)} of {view.trade_count} trades</h2>{trades}")


STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:960px;color:#1d2330;
padding:0 12px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:26px 0 8px}
.meta{color:#5b6475;margin:0 0 16px}.note{background:#fff6dc;border:1px solid #e8d38b;padding:8px 10px;border-radius:4px}
.figures{display:flex;gap:22px;flex-wrap:wrap;margin:12px 0}.figures div{min-width:100px}
.figures b{display:block;font-size:18px}.figures span{color:#5b6475;font-size:12px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:4px 8px;border-bottom:1px solid #e3e6ec;text-align:right}th{background:#f4f6f9;font-weight:600}
th:first-child,td:first-child{text-align:left}.empty{color:#5b6475}
.chart{max-width:100%;height:auto;display:block}.grid{stroke:#e3e6ec}.axis{font-size:11px;fill:#5b6475}
.line{fill:none;stroke:#2563eb;stroke-width:1.6}.point{fill:#2563eb}.trade-mark{fill:#d97706}
.area{fill:#fecaca;stroke:#dc2626;stroke-width:1}
"""


def render(points: Sequence[SnapshotPoint], current: SnapshotPoint, *, url: str, generated_at: datetime) -> str:
    """The whole page for ``points`` (every snapshot, oldest first); the tables show ``current``."""
    plotted = chart_points(points)
    view = current.view
    symbol = view.trading_symbol if view else ""
    without = sum(1 for p in points if p.view is None and p.error is None)
    unreadable = [p for p in points if p.error is not None]
    figures = ""
    notes = []
    if view is not None:
        first = plotted[0].value if plotted else view.value
        change = view.value - first
        figures = (
            '<div class="figures">'
            f'<div><b id="value">{escape(money(view.value, symbol))}</b><span>value now</span></div>'
            f'<div><b id="cash-total">{escape(money(view.cash_total, symbol))}</b><span>cash</span></div>'
            f'<div><b id="in-orders">{escape(money(view.in_orders, symbol))}</b><span>in open orders</span></div>'
            f'<div><b id="realized">{escape(money(view.realized_pnl, symbol))}</b><span>realized P&amp;L</span></div>'
            f'<div><b>{escape(money(change, symbol))}</b><span>change since the first snapshot</span></div>'
            f'<div><b id="max-drawdown">{max_drawdown(plotted) * 100:.2f}%</b><span>max drawdown</span></div>'
            '</div>')
        estimated = sorted({s for p in plotted for s in (p.snapshot.view.estimated if p.snapshot.view else [])})
        if estimated:
            notes.append(f"The database holds no market price for {', '.join(estimated)} in some snapshots: "
                         "there the position is valued at its last trade price (or at cost when it has none).")
    if without:
        notes.append(f"{without} snapshot(s) hold no database and are not plotted.")
    if unreadable:
        notes.append(f"{len(unreadable)} snapshot(s) have a database that could not be read and are not plotted "
                     f"(snapshot {unreadable[0].generation}: {unreadable[0].error})")
    note_html = "".join(f'<p class="note">{escape(n)}</p>' for n in notes)
    tables = portfolio_tables(view) if view is not None else (
        f'<p class="empty">The current snapshot: {escape(current.error or "it holds no database.")}</p>')
    title = f"Trading bot report: {url}"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>How the bot is doing</h1>"
        f'<p class="meta">{escape(url)} · current snapshot {current.generation} ({escape(current.id)}), saved '
        f'<span id="snapshot-time">{escape(utc_time(current.saved_at))}</span> · {len(points)} snapshots · '
        f"generated {generated_at:%Y-%m-%d %H:%M} UTC</p>"
        f"{figures}{note_html}"
        f"<h2>Portfolio value ({escape(symbol)}), one point per snapshot; ▼ marks a snapshot with new trades</h2>"
        f"{value_chart(plotted, symbol)}"
        f"<h2>Drawdown from the running peak</h2>{drawdown_chart(plotted)}"
        f"{tables}</body></html>\n")
