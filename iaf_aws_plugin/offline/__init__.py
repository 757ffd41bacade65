"""A local run without any deploy (``invoke-aws-lambda --local --offline``): the scaffolded handler
on a paper market (:mod:`.paper_market`), its state in a local folder
(:mod:`iaf_aws_plugin.state.local_store`). Nothing here reaches AWS, an exchange or the internet."""
