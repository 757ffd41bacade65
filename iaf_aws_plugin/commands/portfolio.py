"""``portfolio-aws-lambda``: what the deployed bot holds, waits for and has earned (its committed snapshot)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from . import handle_errors
from ._target import echo, make_target, target_options

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..portfolio.snapshots import CurrentView


@click.command(name="portfolio-aws-lambda", epilog="""\b
Examples (in the bot's project folder):
  investing-algorithm-framework portfolio-aws-lambda
  investing-algorithm-framework portfolio-aws-lambda --json""")
@click.option("--json", "as_json", is_flag=True, default=False, help="Print JSON.")
@target_options
@handle_errors
def portfolio_aws_lambda(as_json: bool, function_name: str | None, region: str | None, profile: str | None,
                         project_dir: str | None) -> None:
    """Cash, positions, open orders, the last 20 trades and the realized P&L of the deployed bot.

    Reads the database of the state's committed snapshot in a temporary folder; it takes no lease,
    so it works while the bot runs."""
    import json

    from ..operate.state import state_errors, state_location
    from ..portfolio.snapshots import read_current

    target = make_target(function_name, region, profile, project_dir)
    location = state_location(target)
    with state_errors(target):
        current = read_current(location.bucket, target.s3_client(), prefix=location.prefix)
    if as_json:
        echo(json.dumps(current_as_json(current), indent=2))
        return
    for line in describe(current):
        echo(line)


def current_as_json(current: CurrentView) -> dict[str, Any]:
    import dataclasses

    doc = dataclasses.asdict(current)
    doc["view"]["cash_total"] = current.view.cash_total
    return doc


def describe(current: CurrentView) -> list[str]:
    from ..portfolio.database import COST, LAST_TRADE
    from ..portfolio.html import amount, money

    view, symbol = current.view, current.view.trading_symbol
    lines = [f"Portfolio in {current.url}, snapshot {current.generation} ({current.snapshot}), "
             f"saved {_when(current.saved_at)}"]
    estimated = f" ({', '.join(view.estimated)} not at a market price: see Positions)" if view.estimated else ""
    lines.append(f"Value         {money(view.value, symbol)}{estimated}")
    lines.append(f"Realized P&L  {money(view.realized_pnl, symbol)}")
    for cash in view.cash:
        lines.append(f"Cash          {money(cash.amount, cash.symbol)} ({cash.market})")
    if view.open_orders:
        lines.append(f"In orders     {money(view.in_orders, symbol)} (held back by the open orders)")
    lines.append(f"Positions ({len(view.positions)})")
    for h in view.positions:
        source = {LAST_TRADE: "last trade price", COST: "no price known: valued at cost"}.get(
            h.price_source, f"market price at {_when(h.price_time)}")
        lines.append(f"  {h.symbol:<8} {amount(h.amount):>16}  cost {money(h.cost, symbol)}  "
                     f"last price {money(h.price, symbol)} ({source})  value {money(h.value, symbol)}")
    lines.append(f"Open orders ({len(view.open_orders)})")
    for o in view.open_orders:
        lines.append(f"  {o.external_id or o.id}  {o.side} {o.order_type} {amount(o.amount)} {o.symbol} at "
                     f"{money(o.price)}  remaining {amount(o.remaining)}  created {_when(o.created_at)}")
    lines.append(f"Last {len(view.trades)} of {view.trade_count} trades (newest first)")
    for t in view.trades:
        closed = f"  closed {_when(t.closed_at)}" if t.closed_at else ""
        lines.append(f"  {t.id:>5}  {t.symbol}  {t.status:<6} {amount(t.amount)} at {money(t.open_price)}  "
                     f"opened {_when(t.opened_at)}{closed}  net gain {money(t.net_gain, symbol)}")
    return lines


def _when(text: str | None) -> str:
    from ..portfolio.html import utc_time

    return utc_time(text)
