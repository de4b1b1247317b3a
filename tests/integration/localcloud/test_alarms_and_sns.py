"""Metric alarms evaluated on the local cloud and their SNS notifications, through boto3 and the aws CLI:
a 10-second alarm goes OK -> ALARM -> OK with reason, history and one notification on a queue, a Lambda and an
HTTP endpoint served here; missing-data treatments; M out of N; metric math; SetAlarmState; SNS deliveries."""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError
from monitoring_support import HttpEndpoint, aws, health, last_boundary

from support import wait_for

pytestmark = pytest.mark.cloud

ECHO = '''
import json, os, boto3

def handler(event, context):
    sqs = boto3.client("sqs")
    for record in event["Records"]:
        sqs.send_message(QueueUrl=os.environ["QUEUE_URL"], MessageBody=json.dumps(record))
    return {"records": len(event["Records"])}
'''


def queue_with_arn(sqs, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def drain(sqs, url: str, into: list[dict]) -> list[dict]:
    for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                       MessageAttributeNames=["All"]).get("Messages", []):
        into.append(message)
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return into


def alarm(cw, name: str) -> dict:
    return cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]


def wait_state(cw, name: str, state: str, timeout: float = 25.0) -> dict:
    return wait_for(lambda: (a := alarm(cw, name))["StateValue"] == state and a, timeout=timeout, interval=0.25,
                    what=f"alarm {name} in {state}")


def confirm_http(sns, topic: str, endpoint: HttpEndpoint) -> str:
    """Subscribe the endpoint, then confirm as a web hook does: GET the SubscribeURL it was sent."""
    assert sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url)["SubscriptionArn"] == \
        "pending confirmation"
    headers, body = wait_for(lambda: endpoint.of_type("SubscriptionConfirmation") and
                             endpoint.of_type("SubscriptionConfirmation")[-1], timeout=10,
                             what="a SubscriptionConfirmation")
    assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation" and body["TopicArn"] == topic
    assert body["Token"] and f"Token={body['Token']}" in body["SubscribeURL"]
    with urllib.request.urlopen(body["SubscribeURL"], timeout=10) as response:
        answer = response.read().decode()
    arn = re.search(r"<SubscriptionArn>([^<]+)</SubscriptionArn>", answer).group(1)
    assert arn.startswith(topic + ":")
    return arn


def test_an_alarm_with_10_second_periods_notifies_a_queue_a_lambda_and_an_http_endpoint(local_cloud, make_function):
    cw, sns, sqs = local_cloud.client("cloudwatch"), local_cloud.client("sns"), local_cloud.client("sqs")
    uid = uuid.uuid4().hex[:6]
    topic = sns.create_topic(Name=f"lc-alerts-{uid}")["TopicArn"]
    inbox, inbox_arn = queue_with_arn(sqs, f"lc-alerts-inbox-{uid}")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    echoed, _ = queue_with_arn(sqs, f"lc-alerts-echo-{uid}")
    function = make_function(f"lc-alerts-echo-{uid}", ECHO, env={"QUEUE_URL": echoed})
    lambda_subscription = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function)["SubscriptionArn"]
    web = HttpEndpoint()
    try:
        web_subscription = confirm_http(sns, topic, web)
        name, namespace = f"lc-callback-failures-{uid}", f"LcAlarm/{uid}"
        cw.put_metric_alarm(AlarmName=name, AlarmDescription="callbacks failing", Namespace=namespace,
                            MetricName="CallbackFailures", Dimensions=[{"Name": "Function", "Value": "poller"}],
                            Statistic="Sum", Period=10, EvaluationPeriods=1, DatapointsToAlarm=1, Threshold=0,
                            ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching",
                            AlarmActions=[topic], OKActions=[topic])
        created = alarm(cw, name)
        assert created["StateValue"] == "INSUFFICIENT_DATA"
        assert created["StateReason"] == "Unchecked: Initial alarm creation"
        wait_state(cw, name, "OK", timeout=15)

        metric = {"Namespace": namespace, "MetricData": [
            {"MetricName": "CallbackFailures", "Dimensions": [{"Name": "Function", "Value": "poller"}], "Value": 3}]}
        breach = time.time()
        cw.put_metric_data(**metric)
        fired = wait_state(cw, name, "ALARM", timeout=25)
        assert time.time() - breach <= 2 * 10 + 2  # within two periods (plus the evaluation delay)
        assert re.fullmatch(r"Threshold Crossed: 1 out of the last 1 datapoints \[3\.0 \(\d\d/\d\d/\d\d "
                            r"\d\d:\d\d:\d\d\)\] was greater than the threshold \(0\.0\) \(minimum 1 datapoint for "
                            r"OK -> ALARM transition\)\.", fired["StateReason"]), fired["StateReason"]
        data = json.loads(fired["StateReasonData"])
        assert data["statistic"] == "Sum" and data["period"] == 10 and data["recentDatapoints"] == [3.0]
        assert data["evaluatedDatapoints"][0]["sampleCount"] == 1.0

        metric["MetricData"][0]["Value"] = 0
        cw.put_metric_data(**metric)  # recovery: the next period holds a non-breaching value
        recovered = wait_state(cw, name, "OK", timeout=25)
        assert "was not greater than the threshold (0.0) (minimum 1 datapoint for ALARM -> OK transition)." in \
            recovered["StateReason"]

        history = aws(local_cloud, "cloudwatch", "describe-alarm-history", "--alarm-name", name,
                      "--history-item-type", "StateUpdate")["AlarmHistoryItems"]
        assert [h["HistorySummary"] for h in history] == [
            "Alarm updated from ALARM to OK", "Alarm updated from OK to ALARM", "Alarm updated from INSUFFICIENT_DATA to OK"]
        change = json.loads(history[1]["HistoryData"])
        assert change["oldState"]["stateValue"] == "OK" and change["newState"]["stateValue"] == "ALARM"
        assert change["newState"]["stateReason"] == fired["StateReason"]
        assert change["newState"]["stateReasonData"]["recentDatapoints"] == [3.0]
        actions = cw.describe_alarm_history(AlarmName=name, HistoryItemType="Action")["AlarmHistoryItems"]
        assert len(actions) == 3 and all(a["HistorySummary"] == f"Successfully executed action {topic}"
                                         for a in actions)

        def alarm_messages(notifications: list[dict]) -> list[dict]:
            return [n for n in notifications if n["NewStateValue"] == "ALARM"]

        queued: list[dict] = []
        wait_for(lambda: len(drain(sqs, inbox, queued)) >= 3, timeout=10, what="three notifications in the queue")
        envelopes = [json.loads(m["Body"]) for m in queued]
        notes = [json.loads(e["Message"]) for e in envelopes]
        (fired_note,) = alarm_messages(notes)
        assert fired_note["AlarmName"] == name and fired_note["AlarmDescription"] == "callbacks failing"
        assert fired_note["OldStateValue"] == "OK" and fired_note["NewStateReason"] == fired["StateReason"]
        assert fired_note["Region"] == "US East (N. Virginia)" and fired_note["AlarmArn"] == fired["AlarmArn"]
        assert fired_note["AWSAccountId"] == "000000000000" and fired_note["AlarmActions"] == [topic]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", fired_note["StateChangeTime"])
        assert fired_note["Trigger"] == {
            "MetricName": "CallbackFailures", "Namespace": namespace, "StatisticType": "Statistic",
            "Statistic": "SUM", "Unit": None, "Dimensions": [{"value": "poller", "name": "Function"}], "Period": 10,
            "EvaluationPeriods": 1, "DatapointsToAlarm": 1, "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 0.0, "TreatMissingData": "notBreaching", "EvaluateLowSampleCountPercentile": ""}
        envelope = next(e for e in envelopes if json.loads(e["Message"])["NewStateValue"] == "ALARM")
        assert envelope["Type"] == "Notification" and envelope["TopicArn"] == topic
        assert envelope["Subject"] == f'ALARM: "{name}" in US East (N. Virginia)'
        assert list(envelope) == ["Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp",
                                  "SignatureVersion", "Signature", "SigningCertURL", "UnsubscribeURL"]
        assert [n["NewStateValue"] for n in notes if n["OldStateValue"] == "ALARM"] == ["OK"]

        echoes: list[dict] = []
        wait_for(lambda: len(drain(sqs, echoed, echoes)) >= 3, timeout=15, what="the Lambda's three notifications")
        records = [json.loads(m["Body"]) for m in echoes]
        (fired_record,) = [r for r in records if json.loads(r["Sns"]["Message"])["NewStateValue"] == "ALARM"]
        assert fired_record["EventSource"] == "aws:sns" and fired_record["EventVersion"] == "1.0"
        assert fired_record["EventSubscriptionArn"] == lambda_subscription
        assert fired_record["Sns"]["Subject"] == f'ALARM: "{name}" in US East (N. Virginia)'
        assert fired_record["Sns"]["TopicArn"] == topic and fired_record["Sns"]["Type"] == "Notification"
        assert {"MessageId", "Timestamp", "Signature", "SigningCertUrl", "UnsubscribeUrl",
                "MessageAttributes"} <= set(fired_record["Sns"])

        wait_for(lambda: len(web.of_type("Notification")) >= 3, timeout=10, what="three notifications over HTTP")
        posted = [(h, b) for h, b in web.of_type("Notification")]
        (fired_post,) = [(h, b) for h, b in posted if json.loads(b["Message"])["NewStateValue"] == "ALARM"]
        headers, body = fired_post
        assert headers["x-amz-sns-message-type"] == "Notification"
        assert headers["x-amz-sns-topic-arn"] == topic and headers["x-amz-sns-subscription-arn"] == web_subscription
        assert headers["x-amz-sns-message-id"] == body["MessageId"]
        assert headers["content-type"] == "text/plain; charset=UTF-8"
        assert "x-amz-sns-message-type" in headers["__names__"].split(",")  # sent in lower case, as SNS does
        assert body["UnsubscribeURL"].endswith(urllib.request.quote(web_subscription, safe=""))
        assert [json.loads(b["Message"])["NewStateValue"] for _, b in posted] == ["OK", "ALARM", "OK"]
    finally:
        web.close()
        cw.delete_alarms(AlarmNames=[f"lc-callback-failures-{uid}"])


def test_missing_data_treatments_and_set_alarm_state(local_cloud):
    cw = local_cloud.client("cloudwatch")
    uid = uuid.uuid4().hex[:6]
    namespace = f"LcMissing/{uid}"
    names = {t: f"lc-missing-{t}-{uid}" for t in ("missing", "ignore", "breaching", "notBreaching")}
    for treatment, name in names.items():  # evaluated in this order, in one pass
        cw.put_metric_alarm(AlarmName=name, Namespace=namespace, MetricName="Silent", Statistic="Sum", Period=10,
                            EvaluationPeriods=2, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
                            TreatMissingData=treatment)
    breaching = wait_state(cw, names["breaching"], "ALARM", timeout=15)
    assert breaching["StateReason"] == ("Threshold Crossed: no datapoints were received for 2 periods and 2 missing "
                                        "datapoints were treated as [Breaching].")
    not_breaching = wait_state(cw, names["notBreaching"], "OK", timeout=15)
    assert not_breaching["StateReason"].endswith("2 missing datapoints were treated as [NonBreaching].")
    for treatment in ("missing", "ignore"):  # evaluated too, with no data: unknown, or unchanged; still initial
        assert alarm(cw, names[treatment])["StateValue"] == "INSUFFICIENT_DATA"
        assert alarm(cw, names[treatment])["StateReason"] == "Unchecked: Initial alarm creation"

    # SetAlarmState works as on AWS: the state changes now, and the next evaluation may change it back.
    cw.set_alarm_state(AlarmName=names["ignore"], StateValue="ALARM", StateReason="testing ignore",
                       StateReasonData=json.dumps({"by": "test"}))
    cw.set_alarm_state(AlarmName=names["missing"], StateValue="OK", StateReason="testing recovery")
    assert alarm(cw, names["missing"])["StateReason"] == "testing recovery"
    back = wait_state(cw, names["missing"], "INSUFFICIENT_DATA", timeout=15)
    assert back["StateReason"] == "Insufficient Data: 2 datapoints were unknown."
    time.sleep(0.5)  # the same evaluation pass reaches the next alarm
    kept = alarm(cw, names["ignore"])
    assert kept["StateValue"] == "ALARM" and kept["StateReason"] == "testing ignore"  # ignore: state retained
    assert json.loads(kept["StateReasonData"]) == {"by": "test"}
    updates = cw.describe_alarm_history(AlarmName=names["missing"], HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert [u["HistorySummary"] for u in updates] == ["Alarm updated from OK to INSUFFICIENT_DATA",
                                                      "Alarm updated from INSUFFICIENT_DATA to OK"]
    assert json.loads(updates[1]["HistoryData"])["newState"]["stateReason"] == "testing recovery"
    with pytest.raises(ClientError) as raised:
        cw.set_alarm_state(AlarmName=f"lc-no-such-alarm-{uid}", StateValue="OK", StateReason="x")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFound"
    cw.delete_alarms(AlarmNames=list(names.values()))
    assert cw.describe_alarm_history(AlarmName=names["missing"], HistoryItemType="ConfigurationUpdate")[
        "AlarmHistoryItems"][0]["HistorySummary"] == f'Alarm "{names["missing"]}" deleted'


def test_datapoints_to_alarm_m_out_of_n_and_metric_math(local_cloud):
    cw = local_cloud.client("cloudwatch")
    uid = uuid.uuid4().hex[:6]
    namespace = f"LcMofN/{uid}"
    edge = last_boundary(10)
    # Periods (oldest first) [edge-30, edge-20) breaching, [edge-20, edge-10) not, [edge-10, edge) breaching.
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "Failures", "Value": value, "Timestamp": edge + offset}
        for value, offset in ((4, -25), (0, -15), (6, -5))])
    for m in (2, 3):
        cw.put_metric_alarm(AlarmName=f"lc-m{m}-of-3-{uid}", Namespace=namespace, MetricName="Failures",
                            Statistic="Maximum", Period=10, EvaluationPeriods=3, DatapointsToAlarm=m, Threshold=1,
                            ComparisonOperator="GreaterThanThreshold")
    two = wait_state(cw, f"lc-m2-of-3-{uid}", "ALARM", timeout=10)
    assert re.fullmatch(r"Threshold Crossed: 2 out of the last 3 datapoints \[6\.0 \([^)]+\), 4\.0 \([^)]+\)\] were "
                        r"greater than the threshold \(1\.0\) \(minimum 2 datapoints for OK -> ALARM transition\)\.",
                        two["StateReason"]), two["StateReason"]
    assert json.loads(two["StateReasonData"])["recentDatapoints"] == [4.0, 0.0, 6.0]
    three = wait_state(cw, f"lc-m3-of-3-{uid}", "OK", timeout=10)
    assert re.fullmatch(r"Threshold Crossed: 1 out of the last 3 datapoints \[0\.0 \([^)]+\)\] was not greater than "
                        r"the threshold \(1\.0\) \(minimum 1 datapoint for ALARM -> OK transition\)\.",
                        three["StateReason"]), three["StateReason"]

    # Percentiles: p90 of ten latencies in the newest period; with too few samples, "ignore" holds the state.
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "LatencyMs", "Values": [float(v) for v in range(10, 110, 10)], "Unit": "Milliseconds",
         "Timestamp": edge - 5}])
    for low_samples in ("evaluate", "ignore"):
        cw.put_metric_alarm(AlarmName=f"lc-p90-{low_samples}-{uid}", Namespace=namespace, MetricName="LatencyMs",
                            ExtendedStatistic="p90", Unit="Milliseconds", Period=10, EvaluationPeriods=1,
                            Threshold=80, ComparisonOperator="GreaterThanOrEqualToThreshold",
                            EvaluateLowSampleCountPercentile=low_samples)
    p90 = wait_state(cw, f"lc-p90-evaluate-{uid}", "ALARM", timeout=10)
    assert "[90.0 (" in p90["StateReason"] and json.loads(p90["StateReasonData"])["statistic"] == "p90"
    time.sleep(0.5)
    assert alarm(cw, f"lc-p90-ignore-{uid}")["StateValue"] == "INSUFFICIENT_DATA"  # 10 samples < 10 / (1 - 0.9)

    # A failure rate from two metrics (the shape of a CallbackFailureRate alarm), with FILL for quiet periods.
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "CallbackFailure", "Value": 1, "Timestamp": edge - 5},
        {"MetricName": "CallbackSuccess", "Value": 9, "Timestamp": edge - 5}])

    def stat(metric: str) -> dict:
        return {"Metric": {"Namespace": namespace, "MetricName": metric}, "Period": 10, "Stat": "Sum"}

    cw.put_metric_alarm(AlarmName=f"lc-failure-rate-{uid}", EvaluationPeriods=1, Threshold=5,
                        ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching", Metrics=[
                            {"Id": "failures", "MetricStat": stat("CallbackFailure"), "ReturnData": False},
                            {"Id": "successes", "MetricStat": stat("CallbackSuccess"), "ReturnData": False},
                            {"Id": "rate", "Expression": "100 * FILL(failures, 0) / (FILL(failures, 0) + "
                                                         "FILL(successes, 0))", "Label": "Failure rate",
                             "ReturnData": True}])
    rate = wait_state(cw, f"lc-failure-rate-{uid}", "ALARM", timeout=10)
    assert re.match(r"Threshold Crossed: 1 datapoint \[10\.0 \(", rate["StateReason"]), rate["StateReason"]
    assert "statistic" not in json.loads(rate["StateReasonData"])
    data = cw.get_metric_data(StartTime=edge - 60, EndTime=edge, MetricDataQueries=[
        {"Id": "failures", "MetricStat": stat("CallbackFailure"), "ReturnData": False},
        {"Id": "successes", "MetricStat": stat("CallbackSuccess"), "ReturnData": False},
        {"Id": "rate", "Expression": "100 * failures / (failures + successes)"}])["MetricDataResults"]
    assert [(r["Id"], r["Values"]) for r in data] == [("rate", [10.0])]
    cw.delete_alarms(AlarmNames=[f"lc-m2-of-3-{uid}", f"lc-m3-of-3-{uid}", f"lc-failure-rate-{uid}",
                                 f"lc-p90-evaluate-{uid}", f"lc-p90-ignore-{uid}"])


@pytest.mark.parametrize("args,fragment", [
    (["--period", "45"], "Period is not supported"),
    (["--period", "10", "--evaluation-periods", "9000"], "must not exceed 86400"),
    (["--period", "60", "--evaluation-periods", "2", "--datapoints-to-alarm", "3"], "DatapointsToAlarm (3)"),
    (["--period", "60", "--treat-missing-data", "zero"], "TreatMissingData"),
])
def test_put_metric_alarm_is_validated_as_on_aws(local_cloud, args, fragment):
    base = ["cloudwatch", "put-metric-alarm", "--alarm-name", f"lc-invalid-{uuid.uuid4().hex[:6]}", "--namespace",
            "LcInvalid", "--metric-name", "M", "--statistic", "Sum", "--threshold", "1", "--comparison-operator",
            "GreaterThanThreshold"]
    if "--evaluation-periods" not in args:
        args = [*args, "--evaluation-periods", "1"]
    done = aws(local_cloud, *base, *args, check=False)
    assert done.returncode != 0 and "ValidationError" in done.stderr and fragment in done.stderr, done.stderr


def test_sns_delivers_raw_and_enveloped_messages_to_queues(local_cloud):
    sns, sqs = local_cloud.client("sns"), local_cloud.client("sqs")
    uid = uuid.uuid4().hex[:6]
    topic = sns.create_topic(Name=f"lc-sns-{uid}")["TopicArn"]
    raw_url, raw_arn = queue_with_arn(sqs, f"lc-sns-raw-{uid}")
    enveloped_url, enveloped_arn = queue_with_arn(sqs, f"lc-sns-enveloped-{uid}")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=raw_arn, Attributes={"RawMessageDelivery": "true"})
    enveloped = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=enveloped_arn,
                              Attributes={"RawMessageDelivery": "false"})["SubscriptionArn"]
    message_id = sns.publish(TopicArn=topic, Message="job 42 failed", Subject="job update",
                             MessageAttributes={"severity": {"DataType": "String", "StringValue": "high"}})["MessageId"]
    (raw,) = wait_for(lambda: drain(sqs, raw_url, []), timeout=5, what="the raw delivery")
    assert raw["Body"] == "job 42 failed"
    assert raw["MessageAttributes"] == {"severity": {"StringValue": "high", "DataType": "String"}}
    (wrapped,) = wait_for(lambda: drain(sqs, enveloped_url, []), timeout=5, what="the enveloped delivery")
    assert wrapped["Body"].startswith('{\n  "Type" : "Notification",\n  "MessageId" : ')  # as SNS writes it
    envelope = json.loads(wrapped["Body"])
    assert envelope["MessageId"] == message_id and envelope["Message"] == "job 42 failed"
    assert envelope["Subject"] == "job update" and envelope["SignatureVersion"] == "1" and envelope["Signature"]
    assert envelope["MessageAttributes"] == {"severity": {"Type": "String", "Value": "high"}}
    assert envelope["UnsubscribeURL"] == (f"{local_cloud.endpoint_url}/?Action=Unsubscribe&SubscriptionArn="
                                          f"{urllib.request.quote(enveloped, safe='')}")
    with urllib.request.urlopen(envelope["SigningCertURL"], timeout=5) as response:
        assert response.read().startswith(b"-----BEGIN CERTIFICATE-----")


def test_http_subscriptions_confirm_and_retry_as_sns_does(local_cloud):
    sns = local_cloud.client("sns")
    uid = uuid.uuid4().hex[:6]
    topic = sns.create_topic(Name=f"lc-http-{uid}")["TopicArn"]
    answers: dict[str, list[int]] = {"flaky": [500, 503], "rejecting": [400]}

    def status(headers: dict, body: dict) -> int:
        if body.get("Type") != "Notification":
            return 200
        queue = answers[body["Message"]]
        return queue.pop(0) if queue else 200

    web = HttpEndpoint(status)
    try:
        with pytest.raises(ClientError) as raised:
            sns.subscribe(TopicArn=topic, Protocol="https", Endpoint="https://hooks.example.com/alerts")
        assert raised.value.response["Error"]["Code"] == "InvalidParameter"
        assert "loopback" in raised.value.response["Error"]["Message"]
        arn = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=web.url,
                            ReturnSubscriptionArn=True)["SubscriptionArn"]
        assert [s["SubscriptionArn"] for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]] == [
            "PendingConfirmation"]
        assert sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["PendingConfirmation"] == "true"
        _, confirmation = wait_for(lambda: web.of_type("SubscriptionConfirmation") and
                                   web.of_type("SubscriptionConfirmation")[0], timeout=10, what="the confirmation")
        sns.publish(TopicArn=topic, Message="before confirmation")  # not delivered to a pending subscription
        with pytest.raises(ClientError) as raised:
            sns.confirm_subscription(TopicArn=topic, Token="not-the-token")
        assert raised.value.response["Error"]["Code"] == "InvalidParameter"
        assert sns.confirm_subscription(TopicArn=topic, Token=confirmation["Token"])["SubscriptionArn"] == arn
        assert sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["PendingConfirmation"] == "false"

        before = health(local_cloud)["sns"]
        sns.publish(TopicArn=topic, Message="flaky")  # 500, 503, then 200: delivered on the third attempt
        sns.publish(TopicArn=topic, Message="rejecting")  # 400: a client error, not retried
        wait_for(lambda: health(local_cloud)["sns"]["delivered"]["http"] == before["delivered"]["http"] + 1 and
                 health(local_cloud)["sns"]["failed"]["http"] == before["failed"]["http"] + 1, timeout=20,
                 what="one HTTP delivery and one failure")
        after = health(local_cloud)["sns"]
        assert after["http_attempts"] - before["http_attempts"] == 4
        assert after["http_retries"] - before["http_retries"] == 2
        messages = [b["Message"] for _, b in web.of_type("Notification")]
        assert "before confirmation" not in messages
        assert messages.count("flaky") == 3 and messages.count("rejecting") == 1

        sns.unsubscribe(SubscriptionArn=arn)
        _, goodbye = wait_for(lambda: web.of_type("UnsubscribeConfirmation") and
                              web.of_type("UnsubscribeConfirmation")[0], timeout=10, what="the unsubscribe message")
        assert goodbye["TopicArn"] == topic and arn in goodbye["Message"]
    finally:
        web.close()
