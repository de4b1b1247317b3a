"""The SQS variant (seed 003) and the approval service.

``poc-approval-workflow`` sends each order's task token to ``poc-approval-requests``; the consumer Lambda
stores it in ``poc-approvals`` as a PENDING task; approvers decide through the HTTP API (``api.py``), its web
page or the CLI, and the service sends the callback. Layout:

* ``domain.py``: the task, its statuses and the decision rules, no AWS in it;
* ``messages.py``: the SQS message model (pydantic);
* ``adapters/``: DynamoDB repository, Step Functions callback sender;
* ``service.py``: the use cases (record a request, decide, redeliver a pending callback, list);
* ``entrypoints/consumer.py``: the Lambda handler; ``api.py``: the FastAPI app; ``web/``: the page;
* ``stack.py`` + ``workflow.asl.json``: the deployed resources.
"""
