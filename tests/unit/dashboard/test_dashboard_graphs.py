"""Which graphs the dashboard draws and the GetMetricData queries it makes for them (pure logic)."""

from __future__ import annotations

from sfn_callback.dashboard import graphs
from sfn_callback.dashboard.report_section import choose_period, monitoring_parts

ARN = "arn:aws:states:us-east-1:000000000000:stateMachine:poc-callback-workflow"


def test_dashboard_body_rows_shorthand_options_and_math():
    body = {"widgets": [
        {"type": "text", "properties": {"markdown": "# hello"}},
        {"type": "metric", "properties": {
            "title": "Callback failure rate", "stat": "Sum", "period": 10,
            "metrics": [
                ["SfnCallback/Poller", "Callbacks", "Outcome", "error", {"id": "m1", "visible": False}],
                [".", ".", ".", "success", {"id": "m2", "visible": False}],
                [{"expression": "100 * m1 / (m1 + m2)", "label": "failure %", "id": "e1"}],
            ],
            "annotations": {"horizontal": [{"label": "CallbackFailureRate", "value": 5}]}}},
        {"type": "metric", "properties": {"metrics": [["AWS/States", "ExecutionsTimedOut", "StateMachineArn", ARN]]}},
        {"type": "alarm", "properties": {"alarms": ["arn:aws:cloudwatch:us-east-1:000000000000:alarm:x"]}},
    ]}
    found = graphs.graphs_from_dashboard("poc-callbacks", body)
    assert [g.title for g in found] == ["Callback failure rate", "ExecutionsTimedOut poc-callback-workflow"]
    rate = found[0]
    assert rate.period == 10 and rate.thresholds == [{"label": "CallbackFailureRate", "value": 5.0}]
    m1, m2, e1 = rate.lines
    assert (m2.namespace, m2.name, m2.dimensions, m2.stat, m2.visible) == (
        "SfnCallback/Poller", "Callbacks", {"Outcome": "success"}, "Sum", False)
    assert e1.expression == "100 * m1 / (m1 + m2)" and e1.visible and e1.label == "failure %"
    assert found[1].lines[0].stat == "Average"  # CloudWatch's default statistic for a widget

    queries, owners = graphs.queries_for(found, default_period=60)
    by_id = {q["Id"]: q for q in queries}
    assert by_id["g0_e1"]["Expression"] == "100 * g0_m1 / (g0_m1 + g0_m2)"
    assert by_id["g0_m1"]["ReturnData"] is False and by_id["g0_m1"]["MetricStat"]["Period"] == 10
    assert by_id["g1_q0"]["MetricStat"]["Period"] == 60
    assert owners["g1_q0"] == (1, "ExecutionsTimedOut poc-callback-workflow")
    assert all(q["Id"][0].islower() for q in queries)  # GetMetricData ids start with a lower-case letter
    overridden, _ = graphs.queries_for(found, default_period=60, override_period=30)
    assert {q["MetricStat"]["Period"] for q in overridden if "MetricStat" in q} == {30}


def test_without_a_dashboard_alarms_first_then_own_metrics_then_aws_ones():
    alarm = {"AlarmName": "poller-errors", "Namespace": "SfnCallback/Poller", "MetricName": "CallbackErrors",
             "Dimensions": [], "Statistic": "Sum", "Period": 10, "Threshold": 0.0}
    math_alarm = {"AlarmName": "CallbackFailureRate", "Threshold": 5.0, "Metrics": [
        {"Id": "e", "Expression": "100*a/b", "ReturnData": True},
        {"Id": "a", "ReturnData": False, "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "Failed"},
                                                        "Period": 300, "Stat": "Sum"}},
        {"Id": "b", "ReturnData": False, "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "All"},
                                                        "Period": 300, "Stat": "Sum"}}]}
    metrics = [
        {"Namespace": "AWS/SQS", "MetricName": "NumberOfMessagesSent", "Dimensions": [{"Name": "QueueName", "Value": "q"}]},
        {"Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible",
         "Dimensions": [{"Name": "QueueName", "Value": "q"}]},
        {"Namespace": "AWS/States", "MetricName": "ExecutionsFailed",
         "Dimensions": [{"Name": "StateMachineArn", "Value": ARN}]},
        {"Namespace": "SfnCallback/Poller", "MetricName": "CallbackErrors", "Dimensions": []},
        {"Namespace": "SfnCallback/Poller", "MetricName": "CallbackLatency", "Dimensions": []},
    ]
    chosen = graphs.select_graphs(None, [alarm, math_alarm], metrics)
    assert [g.title for g in chosen] == [
        "alarm poller-errors", "alarm CallbackFailureRate", "SfnCallback/Poller CallbackLatency (Average)",
        "AWS/States ExecutionsFailed (Sum)", "AWS/SQS ApproximateNumberOfMessagesVisible (Maximum)"]
    # the alarm's own metric is not drawn twice; NumberOfMessagesSent is listed on the page, not graphed
    assert chosen[0].thresholds == [{"label": "poller-errors threshold", "value": 0.0}]
    assert chosen[1].period == 300 and [line.visible for line in chosen[1].lines] == [True, False, False]
    assert chosen[3].lines[0].label == "ExecutionsFailed poc-callback-workflow"
    # a dashboard without metric widgets falls back to the same choice
    assert [g.title for g in graphs.select_graphs(("d", {"widgets": []}), [alarm], [])] == ["alarm poller-errors"]
    # with a dashboard: its graphs, after those of the alarms in ALARM whose metric it does not show
    body = {"widgets": [{"type": "metric", "properties": {"title": "errors", "metrics": [
        ["SfnCallback/Poller", "CallbackErrors"]]}}]}
    firing = dict(math_alarm, StateValue="ALARM")
    shown_firing = dict(alarm, StateValue="ALARM")
    assert [g.title for g in graphs.select_graphs(("d", body), [shown_firing, firing, math_alarm], metrics)] == [
        "alarm CallbackFailureRate", "errors"]


def test_statistic_and_period_choice():
    assert graphs.stat_for("ApproximateAgeOfOldestMessage") == "Maximum"
    assert graphs.stat_for("TokensWaiting") == "Maximum"
    assert graphs.stat_for("CallbackLatency") == "Average"
    assert graphs.stat_for("ExecutionTime") == "Average"
    assert graphs.stat_for("CallbacksSucceeded") == "Sum"
    assert choose_period(600) == 10 and choose_period(3600) == 10 and choose_period(3601) == 20
    assert choose_period(86400) == 300


def test_report_section_without_monitoring_data_says_so(tmp_path):
    title, md, html, images = monitoring_parts(None, str(tmp_path))
    assert title == "Monitoring" and "not collected" in md[0] and not images
    title, md, html, images = monitoring_parts({"error": "cannot reach http://127.0.0.1:1: nothing answers there"},
                                               str(tmp_path))
    assert md[0].startswith("No monitoring data: cannot reach http://127.0.0.1:1") and not images


def test_notifications_read_from_a_queue_envelope_or_raw():
    import json

    from sfn_callback.dashboard.collect import _notification

    alarm = {"AlarmName": "PollerErrors", "NewStateValue": "ALARM", "NewStateReason": "Threshold Crossed: 1 datapoint",
             "StateChangeTime": "2027-01-15T08:00:10.000+0000"}
    envelope = {"Type": "Notification", "MessageId": "sns-1", "Subject": 'ALARM: "PollerErrors" in US East (N. Virginia)',
                "Message": json.dumps(alarm), "Timestamp": "2027-01-15T08:00:11.000Z"}
    row = _notification({"MessageId": "sqs-1", "Body": json.dumps(envelope), "Attributes": {"SentTimestamp": "0"}}, "q")
    assert row == {"key": "sns:sns-1", "time": "2027-01-15T08:00:10Z", "alarm": "PollerErrors", "state": "ALARM",
                   "subject": envelope["Subject"], "reason": "Threshold Crossed: 1 datapoint", "via": "queue q"}
    raw = _notification({"MessageId": "sqs-2", "Body": json.dumps(alarm), "Attributes": {}}, "q")
    assert raw["key"] == "sqs:sqs-2" and raw["alarm"] == "PollerErrors" and raw["subject"] is None
    text = _notification({"MessageId": "sqs-3", "Body": "hello", "Attributes": {"SentTimestamp": "1800000000000"}}, "q")
    assert text["alarm"] is None and text["reason"] == "hello" and text["time"] == "2027-01-15T08:00:00Z"


def test_errors_explained_for_the_page():
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    from sfn_callback.config import Target
    from sfn_callback.dashboard.collect import explain, unreachable

    local = Target("http://127.0.0.1:1")
    down = EndpointConnectionError(endpoint_url="http://127.0.0.1:1/")
    assert explain(down, local).startswith("cannot reach http://127.0.0.1:1: nothing answers there (start the local "
                                           "cloud with `sfn-callback up --detach`")
    assert unreachable(down) and unreachable(NoCredentialsError())
    assert explain(NoCredentialsError(), Target(None)).startswith("AWS configuration:")
    not_aws = ClientError({"Error": {"Code": "404", "Message": "Not Found"},
                           "ResponseMetadata": {"HTTPStatusCode": 404}}, "DescribeAlarms")
    assert "did not answer as AWS does (HTTP 404" in explain(not_aws, local) and not unreachable(not_aws)
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no cloudwatch:DescribeAlarms"}}, "DescribeAlarms")
    assert explain(denied, local) == "AccessDenied: no cloudwatch:DescribeAlarms"
