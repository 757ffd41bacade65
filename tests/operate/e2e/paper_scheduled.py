"""A handler for tests: the scaffolded ``aws_function.lambda_handler`` itself, given the event
(e.g. the schedule's, with its scheduled time), on the offline paper market of run_offline.py
(copied next to it). Prints the E2E-REPORT line of run_offline after a run that traded."""
import json

import run_offline
from run_offline import aws_function


def lambda_handler(event, context):
    result = aws_function.lambda_handler(event, context)
    if result.get("body") == "Trading iteration completed.":
        print("E2E-REPORT " + json.dumps(run_offline.report(result)))
    return result
