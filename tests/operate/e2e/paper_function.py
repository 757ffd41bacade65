"""A handler for tests: the scaffolded ``aws_function`` with an offline paper market (see
tests/state/e2e/run_offline.py, copied next to it), run by ``invoke-aws-lambda --local --handler
paper_function.lambda_handler``. Prints the E2E-REPORT line of run_offline."""
import run_offline


def lambda_handler(event, context):
    run_offline.main()
    return {"statusCode": 200, "body": "paper iteration completed", "remaining_ms_positive":
            context.get_remaining_time_in_millis() > 0}
