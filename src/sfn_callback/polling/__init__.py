"""The toolkit for the callback pattern's external poller: the token lifecycle, the poller, sweep mode,
create-job, their DynamoDB and Scheduler adapters.

``domain/`` is pure (the token record and its statuses, the decisions, the poller and create-job events);
``application/`` holds the use cases over their ports (``create_job``, ``sweep``; the poller itself lives with
the lifecycle in ``domain/lifecycle.py``); ``adapters/`` are the boto3 implementations of the ports.
"""
