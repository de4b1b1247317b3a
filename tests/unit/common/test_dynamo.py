"""DynamoDB items to plain documents and back (pure)."""

from __future__ import annotations

from sfn_callback.common.dynamo import from_item, to_item


def test_round_trip_gives_plain_numbers_and_lists():
    doc = {"jobId": "j-1", "attempts": 3, "ratio": 0.25, "meta": {"n": 2, "tags": ["a", "b"]}, "gone": None}
    item = to_item(doc)
    assert "gone" not in item and item["attempts"] == {"N": "3"}
    back = from_item({**item, "ids": {"SS": ["x"]}})
    assert back == {"jobId": "j-1", "attempts": 3, "ratio": 0.25, "meta": {"n": 2, "tags": ["a", "b"]}, "ids": ["x"]}
    assert type(back["attempts"]) is int and type(back["ratio"]) is float and type(back["meta"]["n"]) is int
