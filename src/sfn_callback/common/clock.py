"""The one time helper: now in UTC, ISO 8601 text, and back.

Stored times are ISO 8601 in UTC with ``Z``. The PoC's and the export's records use milliseconds (the seeds'
``new Date().toISOString()`` form); the approval service's items use microseconds (``precision="us"``) because
they are sort keys and items written before must keep sorting as time sorts. :func:`parse_iso` reads every form
(any precision, ``Z`` or an offset, and naive text as UTC), so items written by earlier versions stay readable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

__all__ = ["iso", "parse_iso", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime, precision: Literal["ms", "us"] = "ms") -> str:
    """Fixed-width UTC text: ``2025-01-15T10:30:00.123Z`` (``ms``) or ``2025-01-15T10:30:00.123456Z`` (``us``).
    A naive datetime is refused (``ValueError``): its zone is unknown."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    utc = moment.astimezone(UTC)
    if precision == "us":
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    """An aware UTC datetime from ISO 8601 text of any precision, with ``Z``, an offset, or none (UTC)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
