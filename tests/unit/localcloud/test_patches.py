"""Pure parts of the local cloud's moto patches: function references, compact JSON, health before start."""

from __future__ import annotations

from sfn_callback.localcloud.patches_lambda import FunctionRef, parse_function, same_function, url_conditions
from sfn_callback.localcloud.patches_sqs import compact
from sfn_callback.localcloud.server import LocalCloud

ARN = "arn:aws:lambda:us-east-1:000000000000:function:poc-poller"


def test_function_references_in_every_form_aws_accepts():
    assert parse_function("poc-poller") == FunctionRef("poc-poller")
    assert parse_function("poc-poller:live") == FunctionRef("poc-poller", "live")
    assert parse_function(ARN) == FunctionRef("poc-poller", None, "000000000000", "us-east-1")
    assert parse_function(ARN + ":3") == FunctionRef("poc-poller", "3", "000000000000", "us-east-1")
    assert parse_function("000000000000:function:poc-poller") == FunctionRef("poc-poller", None, "000000000000")
    assert parse_function("") is None and parse_function("a:b:c") is None


def test_a_mapping_matches_its_function_only():
    for how in ("poc-poller", ARN, "000000000000:function:poc-poller"):
        assert same_function(parse_function(how), ARN), how
    for other in ("poc-poller-2", "poc-poller:live", "111122223333:function:poc-poller",
                  "arn:aws:lambda:eu-west-1:000000000000:function:poc-poller"):
        assert not same_function(parse_function(other), ARN), other
    assert same_function(parse_function("poc-poller:live"), ARN + ":live")


def test_compact_json_and_what_is_not_json():
    assert compact('{"a": 1, "b": [1, 2]}') == '{"a":1,"b":[1,2]}'
    assert compact("not json") == "not json" and compact(None) is None


def test_health_says_starting_until_the_patches_are_installed():
    cloud = LocalCloud()
    assert cloud.health()["status"] == "starting"
    cloud.started_at = 1.0
    assert cloud.health()["status"] == "running"


def test_add_permissions_function_url_parameters_become_the_statements_conditions_as_aws_writes_them():
    statement = {"Sid": "AllowPublicInvokeViaUrl", "Action": "lambda:InvokeFunction", "Principal": "*",
                 "InvokedViaFunctionUrl": True}
    assert url_conditions(statement) == {"Sid": "AllowPublicInvokeViaUrl", "Action": "lambda:InvokeFunction",
                                         "Principal": "*",
                                         "Condition": {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}}
    both = url_conditions({"Action": "lambda:InvokeFunctionUrl", "FunctionUrlAuthType": "NONE",
                           "Condition": {"ArnLike": {"AWS:SourceArn": "arn:x"}}})
    assert both["Condition"] == {"ArnLike": {"AWS:SourceArn": "arn:x"},
                                 "StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}
    assert url_conditions({"Action": "lambda:InvokeFunction"}) == {"Action": "lambda:InvokeFunction"}
