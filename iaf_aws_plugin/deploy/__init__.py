"""deploy-aws-lambda's library: settings, desired and live state, planner, executor, AWS client.

Modules are imported on use (the package itself imports nothing), keeping the CLI fast.
"""
