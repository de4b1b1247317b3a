"""Billable usage of one job, the unit every price in the cost model applies to.

Each field is a *meter*: a quantity AWS bills for. The field names are also the meter names of the price
table (``prices/<region>.json``), so pricing a job is a sum over fields of ``count x unit price``.
Counts are floats because a per-job figure is usually an average over several measured jobs or a value
read off a fitted line.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class UsageCounts:
    """Billable usage of one job (or of a month, once scaled), one attribute per meter.

    - ``state_transitions``: Step Functions Standard state transitions (see ``history.count_state_transitions``).
    - ``lambda_invocations``: Lambda requests, from any trigger (workflow, schedule, queue).
    - ``lambda_gb_seconds``: billed Lambda compute, already rounded as Lambda rounds it
      (see ``model.billed_gb_seconds``).
    - ``scheduler_invocations``: EventBridge Scheduler target invocations.
    - ``dynamodb_wcu`` / ``dynamodb_rcu``: on-demand write / read request units as reported by
      ``ReturnConsumedCapacity`` (a write is billed on the whole item size, not on the changed attribute).
    - ``sqs_requests``: SQS API requests (send, receive, delete, ...), each 64 KB chunk counting as one.
    """

    state_transitions: float = 0.0
    lambda_invocations: float = 0.0
    lambda_gb_seconds: float = 0.0
    scheduler_invocations: float = 0.0
    dynamodb_wcu: float = 0.0
    dynamodb_rcu: float = 0.0
    sqs_requests: float = 0.0

    def __post_init__(self) -> None:
        for name, value in self.as_dict().items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"usage count {name!r} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"usage count {name!r} must be a finite number >= 0, got {value!r}")
            object.__setattr__(self, name, float(value))

    def as_dict(self) -> dict[str, float]:
        """The counts as a plain ``{meter: count}`` dict (JSON-serialisable)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, float]) -> UsageCounts:
        """Build counts from ``{meter: count}``; missing meters are 0, unknown meters are an error."""
        unknown = set(data) - set(METERS)
        if unknown:
            raise ValueError(f"unknown usage meter(s) {sorted(unknown)}; known meters: {list(METERS)}")
        return cls(**dict(data))

    def __add__(self, other: UsageCounts) -> UsageCounts:
        if not isinstance(other, UsageCounts):
            return NotImplemented
        return UsageCounts(**{m: getattr(self, m) + getattr(other, m) for m in METERS})

    def scaled(self, factor: float) -> UsageCounts:
        """Every count multiplied by ``factor`` (for example jobs per month)."""
        if not math.isfinite(factor) or factor < 0:
            raise ValueError(f"scale factor must be a finite number >= 0, got {factor!r}")
        return UsageCounts(**{m: getattr(self, m) * factor for m in METERS})

    @classmethod
    def mean(cls, jobs: Iterable[UsageCounts]) -> UsageCounts:
        """Per-job average of several measured jobs (the figure the cost model prices)."""
        items = list(jobs)
        if not items:
            raise ValueError("cannot average the usage of zero jobs")
        total = sum(items[1:], items[0])
        return total.scaled(1.0 / len(items))


METERS: tuple[str, ...] = tuple(f.name for f in fields(UsageCounts))
"""Meter names, in a stable order; a price table must price exactly these."""
