"""The export service of seed 004, in hexagonal style, with Step Functions callbacks (task tokens).

``domain``       the job entity, task outcomes, completion rule and callback payloads (no AWS code)
``application``  ports (repository, Step Functions, file source, sink, metrics) and use cases
``adapters``     DynamoDB, HTTP, local folder / S3, Powertools EMF metrics (callbacks: ``sfn_callback.callbacks``)
``entrypoints``  the SQS consumer Lambda ``poc_export_consumer`` (``poc-export-consumer``) and its message schema
``bootstrap``    the composition root; ``workflow`` loads ``workflow.asl.json`` (``poc-export-workflow``)
"""
