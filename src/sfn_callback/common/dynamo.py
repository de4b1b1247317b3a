"""DynamoDB attribute values to and from plain Python, for the low-level boto3 client.

Numbers come back as ``int`` when whole and ``float`` otherwise (boto3 gives ``Decimal``); sets come back as
lists. Every component's repository reads its items through :func:`from_item`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def plain(value: Any) -> Any:
    """``Decimal`` → ``int``/``float``, recursively through maps, lists and sets."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, set, tuple)):
        return [plain(v) for v in value]
    return value


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """A low-level item (``{"name": {"S": "..."}}``) as a plain document."""
    return {k: plain(_deserializer.deserialize(v)) for k, v in item.items()}


def _numbers(value: Any) -> Any:
    """``float`` → ``Decimal`` (boto3's serializer refuses floats), recursively."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_numbers(v) for v in value]
    return value


def to_value(value: Any) -> dict[str, Any]:
    """One attribute value in the low-level form (floats allowed)."""
    return _serializer.serialize(_numbers(value))


def to_item(doc: dict[str, Any]) -> dict[str, Any]:
    """A plain document as a low-level item; ``None`` values are left out."""
    return {k: to_value(v) for k, v in doc.items() if v is not None}
