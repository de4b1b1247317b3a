"""The SQS variant (seed 003) and the approval service.

``poc-approval-workflow`` sends each order's task token to ``poc-approval-requests``; the consumer Lambda
stores it in ``poc-approvals`` as a PENDING task; approvers decide through the HTTP API, its web page or the
CLI, and the service sends the callback through the callback core. Layout:

* ``domain/model.py``: the task, its statuses and the decision rules, no AWS in it;
* ``application/service.py``: the use cases (record a request, decide, redeliver a pending callback, list);
* ``adapters/``: the DynamoDB repository, the Step Functions port (callbacks through ``sfn_callback.callbacks``,
  execution reads);
* ``entrypoints/``: ``poc_approval_consumer`` (the Lambda handler) and its message model ``messages``;
  ``rest_app`` (the FastAPI app) with its ``guards``, API keys (``auth``) and ``server``; ``web/``: the page;
* ``bootstrap``: the composition root; ``stack`` + ``workflow.asl.json``: the deployed resources.
"""
