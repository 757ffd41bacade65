"""Operating a deployed bot: status, logs, invoke, rollback and destroy.

Each concern has its module; all of them find the bot through :mod:`.target` (the saved
``iaf-aws-lambda.json`` of the project folder, flags override) and talk to AWS only through
:class:`~iaf_aws_plugin.deploy.awsclient.AWSClient`, the deploy's own client; destroy plans with
the deploy's planner (its kinds, backwards). The library never calls ``sys.exit``; expected failures
raise :class:`~iaf_aws_plugin.errors.PluginError`.
"""
