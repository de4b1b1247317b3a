"""The SQS variant end to end: local cloud, consumer Lambda, approval API over real HTTP."""

from approval_support import approval_api, approval_stack  # noqa: F401  (fixtures)
