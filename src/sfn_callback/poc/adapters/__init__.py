"""Adapters from the PoC's ports to AWS: DynamoDB, Step Functions, EventBridge Scheduler, Lambda."""
