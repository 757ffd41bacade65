"""Quick start only: the scaffolded bot (``aws_function.py``, unchanged) on an offline paper market.

Added to ``aws_function.app``: an exchange that accepts every order and reports it filled at its
price on the next run, an account that starts with 1,000 EUR, and BTC/EUR hourly candles from
``data/BTC-EUR-1h.csv`` (bundled, synthetic: a slow decline, then a jump on the last candle, so the
example strategy's fast average crosses above its slow one: a buy; ``OHLCV_CSV=path`` replays
another file), replayed so that the last candle is the current hour. Nothing here reaches an
exchange or the internet. The tests run the bot on it too (tests/state/e2e/run_offline.py).

``lambda_handler`` runs the scaffold's handler (state from and to S3, the lease, the schedule
gate) and returns its result with the orders and positions the bot has afterwards.
"""
import os
import uuid
from datetime import datetime, timezone

import pandas as pd
from investing_algorithm_framework import (
    DataProvider,
    DataType,
    OrderExecutor,
    OrderStatus,
    PortfolioProvider,
    Position,
)

import aws_function

CANDLES = os.environ.get("OHLCV_CSV") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                                                      "BTC-EUR-1h.csv")
CASH = 1000.0


class LocalCandles(DataProvider):
    data_type = DataType.OHLCV
    data_provider_identifier = "quickstart_local_candles"

    def __init__(self, symbol="BTC/EUR", market="BITVAVO", time_frame="1h", window_size=200, pandas=True):
        super().__init__(data_provider_identifier=self.data_provider_identifier, data_type=DataType.OHLCV.value,
                         symbol=symbol, market=market, time_frame=time_frame, window_size=window_size,
                         priority=0)
        self.pandas = pandas

    def has_data(self, data_source, start_date=None, end_date=None):
        return (DataType.OHLCV.equals(data_source.data_type) and data_source.symbol == self.symbol
                and data_source.market == self.market)

    def get_data(self, date=None, start_date=None, end_date=None, save=False):
        frame = pd.read_csv(CANDLES)
        times = pd.to_datetime(frame["Datetime"], utc=True)
        now = pd.Timestamp(datetime.now(timezone.utc)).floor("h")
        frame["Datetime"] = times + (now - times.iloc[-1])
        frame = frame.set_index("Datetime").tail(self.window_size or len(frame))
        if self.pandas:
            return frame
        import polars as pl
        return pl.from_pandas(frame.reset_index())

    def prepare_backtest_data(self, *args, **kwargs):
        raise NotImplementedError("live only")

    def get_backtest_data(self, *args, **kwargs):
        raise NotImplementedError("live only")

    def copy(self, data_source):
        time_frame = getattr(data_source.time_frame, "value", data_source.time_frame)
        return LocalCandles(data_source.symbol, data_source.market, time_frame, data_source.window_size,
                            bool(data_source.pandas))

    def get_number_of_data_points(self, *args, **kwargs):
        return len(pd.read_csv(CANDLES))

    def get_missing_data_dates(self, *args, **kwargs):
        return []

    def get_data_source_file_path(self):
        return CANDLES


class PaperExchange(OrderExecutor):
    """Accepts every order; it is open until the next run asks about it."""

    def execute_order(self, portfolio, order, market_credential):
        order.external_id = uuid.uuid4().hex[:12]
        order.status = OrderStatus.OPEN.value
        order.remaining = order.get_amount()
        order.filled = 0
        return order

    def cancel_order(self, portfolio, order, market_credential):
        order.status = OrderStatus.CANCELED.value
        return order

    def supports_market(self, market):
        return True


class PaperAccount(PortfolioProvider):
    """An account with CASH euros in which every order the bot asks about has been filled."""

    def get_order(self, portfolio, order, market_credential):
        order.status = OrderStatus.CLOSED.value
        order.filled = order.get_amount()
        order.remaining = 0
        return order

    def get_position(self, portfolio, symbol, market_credential):
        if symbol == portfolio.trading_symbol:
            return Position(symbol=symbol, amount=CASH, cost=0, portfolio_id=portfolio.id)
        return None

    def supports_market(self, market):
        return True


app = aws_function.app
app.add_order_executor(PaperExchange(priority=0))
app.add_portfolio_provider(PaperAccount(priority=0))
app.add_data_provider(LocalCandles(), priority=0)


def lambda_handler(event, context):
    result = aws_function.lambda_handler(event, context)
    bot = app.context
    result["orders"] = [f"{o.get_order_side()} {o.get_amount():.6f} {o.get_symbol()} at {o.get_price():,.0f} "
                        f"({o.get_status()})" for o in bot.get_orders()]
    result["positions"] = {p.get_symbol(): round(p.get_amount(), 6) for p in bot.get_positions()}
    return result
