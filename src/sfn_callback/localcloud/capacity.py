"""DynamoDB on-demand request units computed from item sizes, by AWS's published rules.

The local cloud (moto) answers ``ReturnConsumedCapacity`` with fixed values, whatever the item size, so
the cost measurement computes the units itself from the real items each request touched:

* item size (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html):
  the sum over attributes of the name's UTF-8 length plus the value's size; strings by UTF-8 length,
  binary by byte length, numbers about 1 byte per two significant digits plus 1, booleans and nulls 1 byte,
  lists and maps 3 bytes plus their elements (plus 1 byte per element), sets the sum of their elements;
* a write request unit covers 1 KB of the item; PutItem and UpdateItem are billed on the larger of the item
  before and after the write, DeleteItem on the deleted item, and a failed conditional write still consumes
  units for the item it examined (at least 1);
* a read request unit covers a strongly consistent read of up to 4 KB; an eventually consistent read (GSI
  queries always are) costs half; a GetItem of a missing item still costs the minimum; Query and Scan add
  up the sizes of every item they evaluated (before any filter) and round the total up once.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096


def _number_size(text: str) -> int:
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        return len(str(text))
    digits = value.normalize().as_tuple().digits if value != 0 else (0,)
    significant = len(digits)
    return (significant + 1) // 2 + 1


def value_size(value: Mapping[str, Any]) -> int:
    """Size in bytes of one attribute value in DynamoDB JSON (``{"S": "..."}``, ``{"M": {...}}``, ...)."""
    if not isinstance(value, Mapping) or len(value) != 1:
        raise ValueError(f"not a DynamoDB attribute value: {value!r}")
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(str(inner).encode("utf-8"))
    if kind == "N":
        return _number_size(inner)
    if kind == "B":
        return len(_binary(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(s).encode("utf-8")) for s in inner)
    if kind == "NS":
        return sum(_number_size(n) for n in inner)
    if kind == "BS":
        return sum(len(_binary(b)) for b in inner)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(str(k).encode("utf-8")) + value_size(v) for k, v in inner.items())
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def _binary(inner: Any) -> bytes:
    if isinstance(inner, (bytes, bytearray)):
        return bytes(inner)
    try:
        return base64.b64decode(str(inner), validate=True)
    except ValueError:
        return str(inner).encode("utf-8")


def item_size(item: Mapping[str, Mapping[str, Any]] | None) -> int:
    """Size in bytes of an item in DynamoDB JSON; 0 for no item."""
    if not item:
        return 0
    return sum(len(str(name).encode("utf-8")) + value_size(value) for name, value in item.items())


def write_units(size_bytes: int) -> float:
    """Write request units of one write touching an item of ``size_bytes`` (at least 1)."""
    return float(max(1, math.ceil(size_bytes / WRITE_UNIT_BYTES)))


def read_units(size_bytes: int, consistent: bool) -> float:
    """Read request units of reading ``size_bytes`` in one request (at least the minimum)."""
    units = max(1, math.ceil(size_bytes / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def query_read_units(sizes: Iterable[int], consistent: bool) -> float:
    """A Query or Scan: the evaluated items' sizes added up, then rounded once."""
    return read_units(sum(sizes), consistent)
