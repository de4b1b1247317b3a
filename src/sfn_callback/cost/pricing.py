"""Dated price tables: one JSON file per region (bundled in ``prices/``), or a file supplied by the user.

Prices change, so the cost model never holds one: every figure it produces follows from a table that
says when it was checked (``as_of``), where the prices come from (``sources``) and in which currency.
The bundled tables live next to this module as ``prices/<region>.json``.

A table prices exactly the meters of :class:`~sfn_callback.cost.usage.UsageCounts`; each meter gives a
price for ``per`` units and the monthly free allowance. ``lambda_billing`` says how Lambda rounds
durations (1 ms granularity since December 2020).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sfn_callback.config import DEFAULT_REGION
from sfn_callback.cost.usage import METERS

_REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


class Meter(BaseModel):
    """The price of one billed quantity: ``price`` per ``per`` units, ``free_per_month`` units free."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: str = Field(min_length=1)
    unit: str = Field(min_length=1)
    price: float = Field(ge=0, allow_inf_nan=False)
    per: float = Field(gt=0, allow_inf_nan=False)
    free_per_month: float = Field(ge=0, allow_inf_nan=False)
    source: str = Field(min_length=1)

    @property
    def unit_price(self) -> float:
        """Price of a single unit."""
        return self.price / self.per


class LambdaBilling(BaseModel):
    """How Lambda turns a measured duration into billed GB-seconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    granularity_ms: float = Field(gt=0, allow_inf_nan=False)
    """Durations are rounded up to a multiple of this."""
    minimum_billed_ms: float = Field(ge=0, allow_inf_nan=False)
    """No invocation is billed for less than this."""
    mb_per_gb: float = Field(gt=0, allow_inf_nan=False)
    """Configured memory (MB) divided by this gives GB (Lambda uses 1,024)."""


class PriceTable(BaseModel):
    """A region's dated prices for every meter of the cost model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    region: str = Field(min_length=1)
    as_of: date
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    note: str = ""
    sources: tuple[str, ...] = Field(min_length=1)
    meters: dict[str, Meter]
    lambda_billing: LambdaBilling

    @field_validator("meters")
    @classmethod
    def _exactly_the_model_meters(cls, meters: dict[str, Meter]) -> dict[str, Meter]:
        missing = [m for m in METERS if m not in meters]
        unknown = sorted(set(meters) - set(METERS))
        if missing or unknown:
            raise ValueError(f"meters must be exactly {list(METERS)}; missing {missing}, unknown {unknown}")
        return meters

    def summary(self) -> dict[str, Any]:
        """Region, date, currency and sources: what every result must quote (JSON-serialisable)."""
        return {
            "region": self.region,
            "as_of": self.as_of.isoformat(),
            "currency": self.currency,
            "sources": list(self.sources),
        }


def _bundled_dir() -> Path:
    return Path(str(resources.files("sfn_callback.cost").joinpath("prices")))


def available_regions() -> list[str]:
    """Regions that have a bundled price table."""
    return sorted(p.stem for p in _bundled_dir().glob("*.json"))


def parse_price_table(data: Any, origin: str = "price table") -> PriceTable:
    """Validate already-decoded JSON as a price table; ``origin`` names it in error messages."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{origin}: malformed price table: expected a JSON object, got {type(data).__name__}")
    try:
        return PriceTable.model_validate(dict(data))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise ValueError(f"{origin}: malformed price table: {problems}") from None


def load_price_table(region: str = DEFAULT_REGION, path: str | Path | None = None) -> PriceTable:
    """Load the bundled table of ``region``, or the file at ``path`` when one is given.

    Raises ValueError for an unknown region, an unreadable file, invalid JSON or a malformed table.
    """
    if path is None:
        if not _REGION_PATTERN.match(region) or region not in available_regions():
            raise ValueError(
                f"no bundled price table for region {region!r}; bundled: {available_regions()}; "
                "pass a price file of your own for other regions"
            )
        file = _bundled_dir() / f"{region}.json"
    else:
        file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read price file {str(file)!r}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{file}: malformed price table: invalid JSON: {exc}") from None
    return parse_price_table(data, origin=str(file))
