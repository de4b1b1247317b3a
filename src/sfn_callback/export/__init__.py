"""The export service of seed 004, in hexagonal style, with Step Functions callbacks (task tokens).

``domain``       the job entity, task outcomes, completion rule and callback payloads (no AWS code)
``application``  ports (repository, Step Functions, file source, sink, metrics) and use cases
``adapters``     DynamoDB, Step Functions, HTTP, local folder / S3, Powertools EMF metrics
``entrypoints``  the SQS consumer Lambda ``poc-export-consumer`` and its message schema
``bootstrap``    the composition root; ``workflow`` loads ``workflow.asl.json`` (``poc-export-workflow``)
"""
