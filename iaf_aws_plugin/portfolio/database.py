"""The host's SQLite database, read with plain SQL against its own tables.

investing-algorithm-framework keeps the bot's book in ``databases/<env>-database.sqlite3``:
``portfolios`` (trading symbol, ``total_net_gain``: the realized P&L its trade service books on
every sell), ``positions`` (amount and cost per symbol; the trading symbol's amount is the cash),
``orders`` and ``trades`` (``last_reported_price``: the latest market price the bot saw). These
tables and columns are the same in 8.0, 8.10 and 9.x (9.x only adds columns). Numbers are stored
as exact decimal TEXT (the host's ``SqliteDecimal``); they are read as floats, as the host does.

The file is opened read-only (``mode=ro``, ``immutable``): it is a downloaded copy, never the bot's.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import PluginError

#: How many of the newest trades the view carries.
LAST_TRADES = 20
#: Where a position's price comes from.
MARKET, LAST_TRADE, COST = "market", "last trade", "cost"
_TABLES = ("portfolios", "positions", "orders", "trades")


@dataclass(frozen=True)
class Cash:
    symbol: str
    amount: float
    market: str


@dataclass(frozen=True)
class Holding:
    symbol: str
    market: str
    amount: float
    cost: float
    price: float | None
    price_source: str  # MARKET, LAST_TRADE or COST (no price at all: valued at cost)
    price_time: str | None
    value: float


@dataclass(frozen=True)
class OpenOrder:
    id: int
    external_id: str | None
    side: str
    order_type: str
    symbol: str
    amount: float
    remaining: float | None
    price: float | None
    status: str
    created_at: str | None


@dataclass(frozen=True)
class Trade:
    id: int
    symbol: str
    status: str
    amount: float
    open_price: float | None
    opened_at: str | None
    closed_at: str | None
    net_gain: float
    last_reported_price: float | None


@dataclass(frozen=True)
class PortfolioView:
    """One database: what the bot holds, waits for and has earned.

    ``value`` counts what open orders hold back (the host takes a buy's cash and a sell's asset
    out of the positions when it places the order): a buy at its limit price, a sell at the
    asset's price; otherwise a bot's value would dip while an order waits for its fill."""

    trading_symbol: str
    cash: list[Cash]
    positions: list[Holding]
    open_orders: list[OpenOrder]
    trades: list[Trade]  # the newest LAST_TRADES, newest first
    trade_count: int
    closed_trade_count: int
    realized_pnl: float
    value: float  # cash + every position at its price (see Holding.price_source) + in_orders
    in_orders: float  # what open orders hold back: cash of buys, assets of sells (at their price)
    estimated: list[str] = field(default_factory=list)  # symbols not valued at a market price

    @property
    def cash_total(self) -> float:
        return sum(c.amount for c in self.cash)


class DatabaseError(PluginError):
    """The file is not the host's database (or not readable)."""


def number(value: Any) -> float | None:
    """A stored decimal (TEXT, or REAL/INTEGER written by other tools) as a float."""
    if value is None or value == "":
        return None
    try:
        return float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return None


def _zero(value: Any) -> float:
    found = number(value)
    return 0.0 if found is None else found


def _time(value: Any) -> str | None:
    """SQLAlchemy's SQLite datetime text (``2026-12-06 11:00:00.123456``) as ISO 8601."""
    if value is None or value == "":
        return None
    return str(value).replace(" ", "T", 1)


def read_database(path: str, *, last_trades: int = LAST_TRADES) -> PortfolioView:
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as exc:
        raise DatabaseError(f"Could not open the bot's database {path}: {exc}.",
                            fix="Fix: check that the snapshot holds the host's SQLite database (state-aws-lambda pull).") from None
    try:
        connection.row_factory = sqlite3.Row
        return _read(connection, path, last_trades)
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"Could not read the bot's database {path}: {exc}.",
                            fix="Fix: check that the snapshot holds the host's SQLite database (state-aws-lambda pull).") from None
    finally:
        connection.close()


def _read(db: sqlite3.Connection, path: str, last_trades: int) -> PortfolioView:
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = [t for t in _TABLES if t not in tables]
    if missing:
        raise DatabaseError(f"{path} is not an investing-algorithm-framework database (no table "
                            f"{', '.join(missing)}).", fix="Fix: check the snapshot's databases/ folder (state-aws-lambda pull).")
    portfolios = db.execute("SELECT id, trading_symbol, market, total_net_gain FROM portfolios ORDER BY id").fetchall()
    cash: list[Cash] = []
    holdings: list[Holding] = []
    estimated: list[str] = []
    for portfolio in portfolios:
        trading = str(portfolio["trading_symbol"])
        market = str(portfolio["market"])
        for row in db.execute("SELECT symbol, amount, cost FROM positions WHERE portfolio_id = ? ORDER BY id",
                              (portfolio["id"],)):
            symbol = str(row["symbol"])
            amount = _zero(row["amount"])
            if symbol.upper() == trading.upper():
                cash.append(Cash(symbol, amount, market))
                continue
            cost = _zero(row["cost"])
            price, source, when = _price(db, symbol, trading)
            value = amount * price if price is not None else cost
            if source != MARKET and amount:
                estimated.append(symbol)
            holdings.append(Holding(symbol, market, amount, cost, price, source, when, value))
    orders = [OpenOrder(int(r["id"]), None if r["external_id"] is None else str(r["external_id"]),
                        str(r["order_side"]), str(r["order_type"]), f"{r['target_symbol']}/{r['trading_symbol']}",
                        _zero(r["amount"]), number(r["remaining"]), number(r["price"]), str(r["status"]),
                        _time(r["created_at"]))
              for r in db.execute("SELECT id, external_id, order_side, order_type, target_symbol, trading_symbol, "
                                  "amount, remaining, price, status, created_at FROM orders "
                                  "WHERE status = 'OPEN' ORDER BY created_at, id")]
    trades = [Trade(int(r["id"]), f"{r['target_symbol']}/{r['trading_symbol']}", str(r["status"]),
                    _zero(r["amount"]), number(r["open_price"]), _time(r["opened_at"]), _time(r["closed_at"]),
                    _zero(r["net_gain"]), number(r["last_reported_price"]))
              for r in db.execute("SELECT id, target_symbol, trading_symbol, status, amount, open_price, opened_at, "
                                  "closed_at, net_gain, last_reported_price FROM trades "
                                  "ORDER BY opened_at IS NULL, opened_at DESC, id DESC LIMIT ?", (last_trades,))]
    count, closed = db.execute("SELECT COUNT(*), COALESCE(SUM(status = 'CLOSED'), 0) FROM trades").fetchone()
    realized = sum(_zero(p["total_net_gain"]) for p in portfolios)
    trading_symbol = str(portfolios[0]["trading_symbol"]) if portfolios else ""
    in_orders = 0.0
    for order in orders:  # the host moves an open order's cash (buy) or asset (sell) out of the positions
        left = order.amount if order.remaining is None else order.remaining
        price = order.price
        if order.side.upper() == "SELL":
            target, _, quote = order.symbol.partition("/")
            price = _price(db, target, quote)[0] or order.price
        in_orders += left * (price or 0.0)
    value = sum(c.amount for c in cash) + sum(h.value for h in holdings) + in_orders
    return PortfolioView(trading_symbol, cash, holdings, orders, trades, int(count), int(closed), realized, value,
                         in_orders, estimated)


def _price(db: sqlite3.Connection, symbol: str, trading: str) -> tuple[float | None, str, str | None]:
    """The latest market price the database holds for ``symbol`` (its trades' last reported
    price), else the price of its latest filled order, else none (valued at cost)."""
    row = db.execute("SELECT last_reported_price, last_reported_price_datetime FROM trades "
                     "WHERE target_symbol = ? AND trading_symbol = ? AND last_reported_price IS NOT NULL "
                     "ORDER BY last_reported_price_datetime IS NULL, last_reported_price_datetime DESC, id DESC "
                     "LIMIT 1", (symbol, trading)).fetchone()
    if row is not None and number(row[0]) is not None:
        return number(row[0]), MARKET, _time(row[1])
    row = db.execute("SELECT price, COALESCE(updated_at, created_at) FROM orders "
                     "WHERE target_symbol = ? AND trading_symbol = ? AND price IS NOT NULL "
                     "AND (status = 'CLOSED' OR CAST(filled AS REAL) > 0) "
                     "ORDER BY COALESCE(updated_at, created_at) DESC, id DESC LIMIT 1", (symbol, trading)).fetchone()
    if row is not None and number(row[0]) is not None:
        return number(row[0]), LAST_TRADE, _time(row[1])
    return None, COST, None
