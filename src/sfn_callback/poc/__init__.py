"""The callback-pattern PoC of seeds 000-002: simulated external API, create-job, poller and workflow.

Layout: ``lifecycle`` is the token lifecycle as pure domain code; ``simulated`` is the simulated external job
system; ``adapters/`` talk to DynamoDB, Step Functions, EventBridge Scheduler and Lambda; ``handlers/`` are the
Lambda entry points; ``workflow.asl.json`` is the state machine; ``stack`` declares the deployable resources.
"""
