"""Test runner: one invocation of the scaffolded ``aws_function.lambda_handler`` with an offline
paper market. Copied next to the scaffolded project by test_end_to_end.install_offline_runner;
not shipped.

``aws_function.app`` (unchanged scaffold) runs on the quick start's paper market
(quickstart/paper_market.py, copied next to it: orders filled at their price without any
exchange, 1,000 EUR, BTC/EUR hourly candles from its bundled CSV or ``OHLCV_CSV``). Prints the orders, trades and positions of the app as JSON. With
``E2E_OVERWRITE_HEAD`` set, another writer replaces the state pointer during the run; with
``E2E_REMAINING_MS`` set, the handler gets a Lambda context with that much time remaining.
"""
import json
import os
import sys

from investing_algorithm_framework import AppHook

sys.path.insert(0, os.getcwd())
import aws_function  # noqa: E402  (the scaffolded entry point, as Lambda imports it)
import paper_market  # noqa: E402,F401  (attaches the paper exchange, account and candles to the app)


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
    if os.environ.get("E2E_OVERWRITE_HEAD"):
        app.after_initialize(OverwriteHead())
    remaining = os.environ.get("E2E_REMAINING_MS")
    result = aws_function.lambda_handler({}, LambdaContext(int(remaining)) if remaining else None)
    print("E2E-REPORT " + json.dumps(report(result)))


def report(result):
    """The handler's result with the app's orders, their status, trades and positions."""
    context = aws_function.app.context
    return {
        "result": result,
        "orders": sorted(f"{o.external_id} {o.get_order_side()} {o.get_symbol()} {o.get_amount()}"
                         for o in context.get_orders()),
        "order_status": sorted(f"{o.external_id} {o.get_status()}" for o in context.get_orders()),
        "trades": sorted(f"{t.id} {t.symbol} {t.amount}" for t in context.get_trades()),
        "positions": sorted(f"{p.get_symbol()} {p.get_amount()}" for p in context.get_positions()),
    }


if __name__ == "__main__":
    main()
