"""Price tables owned by the tests, so the hand-computed cases do not move when the bundled prices do."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sfn_callback.cost.pricing import PriceTable, parse_price_table

# The us-east-1 list prices of DESIGN.md, written out here on purpose.
TEST_TABLE: dict[str, Any] = {
    "region": "test-region-1",
    "as_of": "2026-01-15",
    "currency": "USD",
    "sources": ["https://example.invalid/prices"],
    "meters": {
        "state_transitions": {
            "service": "Step Functions", "unit": "transition", "price": 0.025, "per": 1000,
            "free_per_month": 4000, "source": "s",
        },
        "lambda_invocations": {
            "service": "Lambda", "unit": "request", "price": 0.20, "per": 1_000_000,
            "free_per_month": 1_000_000, "source": "s",
        },
        "lambda_gb_seconds": {
            "service": "Lambda", "unit": "GB-s", "price": 0.0000166667, "per": 1,
            "free_per_month": 400_000, "source": "s",
        },
        "scheduler_invocations": {
            "service": "Scheduler", "unit": "invocation", "price": 1.00, "per": 1_000_000,
            "free_per_month": 14_000_000, "source": "s",
        },
        "dynamodb_wcu": {
            "service": "DynamoDB", "unit": "WRU", "price": 0.625, "per": 1_000_000,
            "free_per_month": 0, "source": "s",
        },
        "dynamodb_rcu": {
            "service": "DynamoDB", "unit": "RRU", "price": 0.125, "per": 1_000_000,
            "free_per_month": 0, "source": "s",
        },
        "sqs_requests": {
            "service": "SQS", "unit": "request", "price": 0.40, "per": 1_000_000,
            "free_per_month": 1_000_000, "source": "s",
        },
    },
    "lambda_billing": {"granularity_ms": 1, "minimum_billed_ms": 1, "mb_per_gb": 1024},
}


@pytest.fixture
def price_data() -> dict[str, Any]:
    """A fresh, mutable copy of the test table's JSON."""
    return copy.deepcopy(TEST_TABLE)


@pytest.fixture
def prices(price_data: dict[str, Any]) -> PriceTable:
    return parse_price_table(price_data, origin="test table")
