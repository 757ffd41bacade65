"""The paper market of an offline run: added to the handler module's ``app`` before it runs.

- an exchange that accepts every order and reports it filled at its price on the next run;
- an account that starts with :data:`CASH` of the market's trading symbol;
- hourly candles for every OHLCV data source the strategies ask for, from the bundled synthetic
  file ``candles-1h.csv`` (a slow decline, then a jump on the last candle: the scaffold's example
  strategy buys on the first run) or ``IAF_OFFLINE_CANDLES=path.csv``, replayed so that the last
  candle is the current hour.

Nothing here reaches an exchange or the internet. Loaded by the offline runner in the handler's
own process (its imports are the project's: the framework and pandas).
"""
from __future__ import annotations

import importlib
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..function_env import OFFLINE_CANDLES_ENV

__all__ = ["CANDLES_ENV", "CASH", "attach", "candles_path", "summary"]

CANDLES_ENV = OFFLINE_CANDLES_ENV
CASH = 1000.0


def candles_path() -> str:
    return os.environ.get(CANDLES_ENV) or str(Path(__file__).with_name("candles-1h.csv"))


def _classes() -> tuple[Any, Any, Any]:
    from investing_algorithm_framework import (DataProvider, DataType, OrderExecutor, OrderStatus, PortfolioProvider,
                                               Position)

    pd = importlib.import_module("pandas")

    class PaperCandles(DataProvider):  # type: ignore[misc]  # the host ships no types
        """Every OHLCV data source gets the same synthetic candles, ending at the current hour."""

        data_type = DataType.OHLCV
        data_provider_identifier = "iaf_offline_paper_candles"

        def __init__(self, symbol: str | None = None, market: str | None = None, time_frame: str = "1h",
                     window_size: int | None = 200, pandas: bool = True) -> None:
            super().__init__(data_provider_identifier=self.data_provider_identifier,
                             data_type=DataType.OHLCV.value, symbol=symbol, market=market, time_frame=time_frame,
                             window_size=window_size, priority=0)
            self.pandas = pandas

        def has_data(self, data_source: Any, start_date: Any = None, end_date: Any = None) -> bool:
            return bool(DataType.OHLCV.equals(data_source.data_type))

        def get_data(self, date: Any = None, start_date: Any = None, end_date: Any = None, save: bool = False) -> Any:
            frame = pd.read_csv(candles_path())
            times = pd.to_datetime(frame["Datetime"], utc=True)
            now = pd.Timestamp(datetime.now(timezone.utc)).floor("h")
            frame["Datetime"] = times + (now - times.iloc[-1])
            frame = frame.set_index("Datetime").tail(self.window_size or len(frame))
            if self.pandas:
                return frame
            return importlib.import_module("polars").from_pandas(frame.reset_index())

        def prepare_backtest_data(self, *args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError("live only")

        def get_backtest_data(self, *args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError("live only")

        def copy(self, data_source: Any) -> Any:
            time_frame = getattr(data_source.time_frame, "value", data_source.time_frame)
            return PaperCandles(data_source.symbol, data_source.market, time_frame, data_source.window_size,
                                bool(data_source.pandas))

        def get_number_of_data_points(self, *args: Any, **kwargs: Any) -> int:
            return len(pd.read_csv(candles_path()))

        def get_missing_data_dates(self, *args: Any, **kwargs: Any) -> list[Any]:
            return []

        def get_data_source_file_path(self) -> str:
            return candles_path()

    class PaperExchange(OrderExecutor):  # type: ignore[misc]
        """Accepts every order; it is open until the next run asks about it."""

        def execute_order(self, portfolio: Any, order: Any, market_credential: Any) -> Any:
            order.external_id = uuid.uuid4().hex[:12]
            order.status = OrderStatus.OPEN.value
            order.remaining = order.get_amount()
            order.filled = 0
            return order

        def cancel_order(self, portfolio: Any, order: Any, market_credential: Any) -> Any:
            order.status = OrderStatus.CANCELED.value
            return order

        def supports_market(self, market: Any) -> bool:
            return True

    class PaperAccount(PortfolioProvider):  # type: ignore[misc]
        """CASH of the trading symbol, in which every order the bot asks about has been filled."""

        def get_order(self, portfolio: Any, order: Any, market_credential: Any) -> Any:
            order.status = OrderStatus.CLOSED.value
            order.filled = order.get_amount()
            order.remaining = 0
            return order

        def get_position(self, portfolio: Any, symbol: Any, market_credential: Any) -> Any:
            if symbol == portfolio.trading_symbol:
                return Position(symbol=symbol, amount=CASH, cost=0, portfolio_id=portfolio.id)
            return None

        def supports_market(self, market: Any) -> bool:
            return True

    return PaperCandles, PaperExchange, PaperAccount


#: The key every market of an offline run gets (the framework wants one; a key from .env never reaches the run).
PAPER_KEY = "offline-paper-market"


def attach(app: Any) -> None:
    """Put the paper exchange, account and candles in front of everything else the app has, and give
    every market a placeholder key (replacing any from .env: the run never sees a real key)."""
    try:
        markets = [str(credential.market) for credential in app.get_market_credentials()]
    except Exception:  # noqa: BLE001 - another host version: its own key checks apply
        markets = []
    for market in markets:
        for suffix in ("API_KEY", "SECRET_KEY"):
            os.environ[f"{market.upper()}_{suffix}"] = PAPER_KEY
    candles, exchange, account = _classes()
    app.add_order_executor(exchange(priority=0))
    app.add_portfolio_provider(account(priority=0))
    app.add_data_provider(candles(), priority=0)


def summary(app: Any) -> dict[str, Any]:
    """The orders and positions the bot has after the run (from its state)."""
    bot = app.context
    return {"orders": [f"{o.get_order_side()} {o.get_amount():.6f} {o.get_symbol()} at {o.get_price():,.0f} "
                       f"({o.get_status()})" for o in bot.get_orders()],
            "positions": {p.get_symbol(): round(p.get_amount(), 6) for p in bot.get_positions()}}
