"""Task tokens never appear whole in a log line."""

from __future__ import annotations


def mask_token(token: str | None) -> str:
    """Mask a task token as seed 004 shows: ``AAAAKgAA...********...AAAA``.

    Short or empty values are masked entirely so that nothing guessable leaks.
    """
    if not token:
        return "<none>"
    if len(token) <= 16:
        return "********"
    return f"{token[:8]}...********...{token[-4:]}"
