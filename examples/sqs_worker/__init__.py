"""An SQS worker that heartbeats while it works and calls back with the callback core."""
