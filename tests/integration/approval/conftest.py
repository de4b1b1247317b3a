"""The SQS variant against the local cloud: consumer Lambda and the DynamoDB repository."""

from approval_support import approval_api, approval_stack  # noqa: F401  (fixtures)
