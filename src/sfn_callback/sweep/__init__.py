"""Sweep polling: one schedule fires one poller that checks every job due, instead of one schedule per job.

``service`` is the sweep as domain code over the token lifecycle's ports (the same ``TokenPoller``, so
one callback per token and no lost callback hold as in per-job mode); ``adapters`` finds due records
through the ``status-index`` GSI; ``handler`` is the Lambda entry point; ``stack`` declares the function
and its schedule.
"""

SWEEP_MODE_SCHEDULE_NAME = "sweep-mode"
"""What a sweep-mode token record stores as its ``scheduleName``: it has no schedule of its own, and the
sweep finds its records by this value."""
