"""Production monitoring of the stack: the names (``names``), the shared metrics helper (``emit``), the scheduled
token metrics (``token_metrics``) and the alarms, dashboard and topic the stack deploys (``stack``)."""
