"""Test runner: one invocation of the scaffolded ``aws_function.lambda_handler`` with an offline
paper market. Copied next to the scaffolded project by test_end_to_end.py; not shipped.

Adds to ``aws_function.app`` (unchanged scaffold): a portfolio provider and an order executor
that fill every order at the limit price without any exchange, and BTC/EUR hourly candles from
the local CSV ``OHLCV_CSV``. Prints the orders, trades and positions of the app as JSON. With
``E2E_OVERWRITE_HEAD`` set, another writer replaces the state pointer during the run; with
``E2E_REMAINING_MS`` set, the handler gets a Lambda context with that much time remaining.
"""
import json
import os
import sys
import uuid

import pandas as pd
from investing_algorithm_framework import (
    AppHook,
    DataProvider,
    DataType,
    OrderExecutor,
    OrderStatus,
    PortfolioProvider,
    Position,
)

sys.path.insert(0, os.getcwd())
import aws_function  # noqa: E402  (the scaffolded entry point, as Lambda imports it)

CASH = 1000.0


class LocalCandles(DataProvider):
    """OHLCV candles from a local CSV file (Datetime, Open, High, Low, Close, Volume), served live."""

    data_type = DataType.OHLCV
    data_provider_identifier = "local_csv_candles"

    def __init__(self, path, symbol, market, time_frame, window_size=None, pandas=True):
        super().__init__(data_provider_identifier=self.data_provider_identifier, data_type=DataType.OHLCV.value,
                         symbol=symbol, market=market, time_frame=time_frame, window_size=window_size,
                         priority=0)
        self.path = path
        self.pandas = pandas

    def has_data(self, data_source, start_date=None, end_date=None):
        return (DataType.OHLCV.equals(data_source.data_type) and data_source.symbol == self.symbol
                and data_source.market == self.market)

    def get_data(self, date=None, start_date=None, end_date=None, save=False):
        frame = pd.read_csv(self.path)
        frame["Datetime"] = pd.to_datetime(frame["Datetime"], utc=True)
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
        return LocalCandles(self.path, data_source.symbol, data_source.market, time_frame,
                            data_source.window_size, bool(data_source.pandas))

    def get_number_of_data_points(self, *args, **kwargs):
        return len(pd.read_csv(self.path))

    def get_missing_data_dates(self, *args, **kwargs):
        return []

    def get_data_source_file_path(self):
        return self.path


class PaperExecutor(OrderExecutor):
    """Accepts every order on the (fake) exchange."""

    def execute_order(self, portfolio, order, market_credential):
        order.external_id = uuid.uuid4().hex
        order.status = OrderStatus.OPEN.value
        order.remaining = order.get_amount()
        order.filled = 0
        return order

    def cancel_order(self, portfolio, order, market_credential):
        order.status = OrderStatus.CANCELED.value
        return order

    def supports_market(self, market):
        return True


class PaperPortfolio(PortfolioProvider):
    """A fresh account with CASH euros; every order the exchange is asked about is filled."""

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


class OverwriteHead(AppHook):
    """Another writer replaces the state pointer while this run trades: its save must be refused."""

    def on_run(self, context):
        import boto3

        bucket = os.environ["AWS_S3_STATE_BUCKET_NAME"]
        s3 = boto3.client("s3")
        body = s3.get_object(Bucket=bucket, Key=".iaf-state/HEAD.json")["Body"].read()
        s3.put_object(Bucket=bucket, Key=".iaf-state/HEAD.json", Body=body + b" ")


class LambdaContext:
    """The part of Lambda's context object the handler uses."""

    def __init__(self, remaining_ms):
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self):
        return self.remaining_ms


def main():
    app = aws_function.app
    app.add_order_executor(PaperExecutor(priority=0))
    app.add_portfolio_provider(PaperPortfolio(priority=0))
    app.add_data_provider(LocalCandles(os.environ["OHLCV_CSV"], "BTC/EUR", "BITVAVO", "1h", 200), priority=0)
    if os.environ.get("E2E_OVERWRITE_HEAD"):
        app.after_initialize(OverwriteHead())
    remaining = os.environ.get("E2E_REMAINING_MS")
    result = aws_function.lambda_handler({}, LambdaContext(int(remaining)) if remaining else None)
    context = app.context
    report = {
        "result": result,
        "orders": sorted(f"{o.external_id} {o.get_order_side()} {o.get_symbol()} {o.get_amount()}"
                         for o in context.get_orders()),
        "order_status": sorted(f"{o.external_id} {o.get_status()}" for o in context.get_orders()),
        "trades": sorted(f"{t.id} {t.symbol} {t.amount}" for t in context.get_trades()),
        "positions": sorted(f"{p.get_symbol()} {p.get_amount()}" for p in context.get_positions()),
    }
    print("E2E-REPORT " + json.dumps(report))


if __name__ == "__main__":
    main()
