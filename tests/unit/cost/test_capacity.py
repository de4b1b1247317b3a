"""DynamoDB request units from item sizes, against hand-computed cases."""

from __future__ import annotations

import pytest

from sfn_callback.localcloud.capacity import item_size, query_read_units, read_units, value_size, write_units


def test_item_size_adds_names_and_values():
    # "jobId"(5) + "job-1"(5) + "status"(6) + "POLLING"(7) + "n"(1) + 123 -> 3 digits: (3+1)//2+1 = 3
    item = {"jobId": {"S": "job-1"}, "status": {"S": "POLLING"}, "n": {"N": "123"}}
    assert item_size(item) == 5 + 5 + 6 + 7 + 1 + 3


def test_value_sizes_of_each_type():
    assert value_size({"S": "é"}) == 2  # UTF-8 bytes
    assert value_size({"BOOL": True}) == 1 and value_size({"NULL": True}) == 1
    assert value_size({"B": "AAEC"}) == 3  # base64 of three bytes
    assert value_size({"L": [{"S": "ab"}, {"N": "1"}]}) == 3 + (1 + 2) + (1 + 2)
    assert value_size({"M": {"k": {"S": "v"}}}) == 3 + 1 + 1 + 1
    assert value_size({"SS": ["a", "bc"]}) == 3
    with pytest.raises(ValueError):
        value_size({"X": 1})


def test_write_units_round_up_per_kilobyte_with_a_minimum_of_one():
    assert write_units(0) == 1 and write_units(1024) == 1 and write_units(1025) == 2 and write_units(2500) == 3


def test_read_units_strong_and_eventual():
    assert read_units(100, consistent=True) == 1 and read_units(100, consistent=False) == 0.5
    assert read_units(4097, consistent=True) == 2 and read_units(4097, consistent=False) == 1


def test_query_rounds_the_sum_once():
    assert query_read_units([3000, 3000], consistent=False) == 1.0  # 6000 B -> 2 units, halved
    assert query_read_units([], consistent=False) == 0.5
