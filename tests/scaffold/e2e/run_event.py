"""Test runner: one invocation of the scaffolded ``aws_function.lambda_handler`` with the event in
``E2E_EVENT`` (JSON), on the offline paper market of ``run_offline.py`` (copied next to it).
Prints the handler's result and the app's orders as JSON. Not shipped."""
import json
import os
import sys

sys.path.insert(0, os.getcwd())
import run_offline  # noqa: E402  (imports the scaffolded aws_function)


def main():
    app = run_offline.aws_function.app
    result = run_offline.aws_function.lambda_handler(json.loads(os.environ["E2E_EVENT"]), None)
    try:
        orders = sorted(f"{o.get_order_side()} {o.get_symbol()}" for o in app.context.get_orders())
    except Exception:  # the app was never initialized: the run was skipped before it started
        orders = None
    print("E2E-REPORT " + json.dumps({"result": result, "orders": orders}))


if __name__ == "__main__":
    main()
