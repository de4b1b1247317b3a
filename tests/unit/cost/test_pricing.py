"""Price tables: the bundled us-east-1 file, user files, and clear errors for bad input."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from sfn_callback.cost.pricing import available_regions, load_price_table, parse_price_table
from sfn_callback.cost.usage import METERS


def test_bundled_us_east_1_matches_the_design_facts() -> None:
    table = load_price_table("us-east-1")
    assert table.region == "us-east-1"
    assert table.currency == "USD"
    assert isinstance(table.as_of, date)
    assert all(s.startswith("https://") for s in table.sources)
    def terms(meter: str) -> tuple[float, float, float]:
        return table.meters[meter].price, table.meters[meter].per, table.meters[meter].free_per_month

    # DESIGN.md, "Facts for the cost model"; DynamoDB on-demand request units have no free allowance.
    assert terms("state_transitions") == (0.025, 1000, 4000)
    assert terms("lambda_invocations") == (0.20, 1e6, 1e6)
    assert terms("lambda_gb_seconds") == (0.0000166667, 1, 400_000)
    assert terms("scheduler_invocations") == (1.00, 1e6, 14e6)
    assert terms("dynamodb_wcu") == (0.625, 1e6, 0)
    assert terms("dynamodb_rcu") == (0.125, 1e6, 0)
    assert terms("sqs_requests") == (0.40, 1e6, 1e6)
    assert table.lambda_billing.granularity_ms == 1
    assert table.lambda_billing.minimum_billed_ms == 1
    assert table.lambda_billing.mb_per_gb == 1024


def test_unit_price_is_price_over_per() -> None:
    table = load_price_table()
    # $0.025 / 1,000 transitions = $0.000025 per transition
    assert table.meters["state_transitions"].unit_price == pytest.approx(0.000025, rel=1e-12)


def test_available_regions_lists_bundled_files() -> None:
    assert "us-east-1" in available_regions()


@pytest.mark.parametrize("region", ["eu-west-9", "../us-east-1", "", "US-EAST-1"])
def test_unknown_region_is_a_clear_error(region: str) -> None:
    with pytest.raises(ValueError, match="no bundled price table for region"):
        load_price_table(region)


def test_user_supplied_file_is_loaded(tmp_path: Path, price_data: dict[str, Any]) -> None:
    price_data["region"] = "eu-central-1"
    price_data["meters"]["state_transitions"]["price"] = 0.03
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(price_data))
    table = load_price_table(path=path)
    assert table.region == "eu-central-1"
    assert table.meters["state_transitions"].unit_price == pytest.approx(0.00003)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read price file"):
        load_price_table(path=tmp_path / "absent.json")


def test_invalid_json_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="malformed price table: invalid JSON"):
        load_price_table(path=path)


def test_non_object_is_malformed() -> None:
    with pytest.raises(ValueError, match="expected a JSON object"):
        parse_price_table([1, 2, 3])


def test_missing_meter_is_named(price_data: dict[str, Any]) -> None:
    del price_data["meters"]["sqs_requests"]
    with pytest.raises(ValueError, match=r"meters.*missing \['sqs_requests'\]"):
        parse_price_table(price_data)


def test_unknown_meter_is_named(price_data: dict[str, Any]) -> None:
    price_data["meters"]["sns_publishes"] = dict(price_data["meters"]["sqs_requests"])
    with pytest.raises(ValueError, match=r"unknown \['sns_publishes'\]"):
        parse_price_table(price_data)


def test_negative_price_is_malformed(price_data: dict[str, Any]) -> None:
    price_data["meters"]["dynamodb_wcu"]["price"] = -0.625
    with pytest.raises(ValueError, match=r"meters\.dynamodb_wcu\.price"):
        parse_price_table(price_data, origin="x.json")


def test_zero_per_is_malformed(price_data: dict[str, Any]) -> None:
    price_data["meters"]["dynamodb_rcu"]["per"] = 0
    with pytest.raises(ValueError, match=r"meters\.dynamodb_rcu\.per"):
        parse_price_table(price_data)


@pytest.mark.parametrize("key", ["as_of", "currency", "sources", "lambda_billing"])
def test_missing_top_level_field_is_malformed(price_data: dict[str, Any], key: str) -> None:
    del price_data[key]
    with pytest.raises(ValueError, match=f"{key}: Field required"):
        parse_price_table(price_data)


def test_bad_date_is_malformed(price_data: dict[str, Any]) -> None:
    price_data["as_of"] = "last week"
    with pytest.raises(ValueError, match="as_of"):
        parse_price_table(price_data)


def test_typo_in_a_key_is_malformed(price_data: dict[str, Any]) -> None:
    price_data["meters"]["sqs_requests"]["free_per_mont"] = 5
    with pytest.raises(ValueError, match="free_per_mont"):
        parse_price_table(price_data)


def test_table_prices_exactly_the_usage_meters(price_data: dict[str, Any]) -> None:
    assert set(parse_price_table(price_data).meters) == set(METERS)


def test_summary_is_json_serialisable(price_data: dict[str, Any]) -> None:
    summary = parse_price_table(price_data).summary()
    assert json.loads(json.dumps(summary)) == {
        "region": "test-region-1",
        "as_of": "2026-01-15",
        "currency": "USD",
        "sources": ["https://example.invalid/prices"],
    }
