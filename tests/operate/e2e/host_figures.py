"""Test runner: ``E2E_RUNS`` runs of the scaffolded bot on the quick start's paper market (through
``run_offline.py``, copied next to it), as warm invocations of one Lambda container: each run saves
a snapshot. From run ``E2E_RISE_FROM`` on, the market's candles are 15 % higher, so the example
strategy's take profit (10 %) sells what it bought: a realized gain.

After each run it prints what the host's own API reports for the database that run saved (cash,
positions, open orders, trades, the realized P&L): one line ``HOST-FIGURES {json}``. Not shipped."""
import json
import os
import tempfile

import pandas as pd
import paper_market
import run_offline


def figures():
    context = run_offline.aws_function.app.context
    portfolio = context.get_portfolio()
    trading = portfolio.get_trading_symbol()
    positions = {p.get_symbol(): {"amount": p.get_amount(), "cost": p.get_cost()}
                 for p in context.get_positions() if p.get_symbol() != trading}
    return {
        "trading_symbol": trading,
        "cash": context.get_unallocated(),
        "positions": positions,
        "open_orders": sorted([str(o.external_id), o.get_order_side(), o.get_amount(), o.get_remaining(),
                               o.get_price(), o.get_target_symbol()] for o in context.get_open_orders()),
        "trades": sorted([t.id, t.target_symbol, t.amount, t.net_gain, t.open_price, t.last_reported_price,
                          getattr(t.status, "value", t.status)] for t in context.get_trades()),
        "realized": portfolio.get_total_net_gain(),
    }


def risen_candles():
    frame = pd.read_csv(paper_market.CANDLES)
    for column in ("Open", "High", "Low", "Close"):
        frame[column] = frame[column] * 1.15
    path = os.path.join(tempfile.mkdtemp(prefix="candles-"), "risen.csv")
    frame.to_csv(path, index=False)
    return path


def main():
    runs = int(os.environ.get("E2E_RUNS", "5"))
    rise_from = int(os.environ.get("E2E_RISE_FROM", "0") or 0)
    for run in range(1, runs + 1):
        if rise_from and run == rise_from:
            paper_market.CANDLES = risen_candles()
        result = run_offline.aws_function.lambda_handler({}, None)
        print("HOST-FIGURES " + json.dumps(dict(figures(), run=run, status=result["statusCode"])), flush=True)


if __name__ == "__main__":
    main()
