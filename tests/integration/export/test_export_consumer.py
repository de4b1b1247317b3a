"""poc-export-consumer on the local cloud: a message without a token, and malformed messages in a batch."""

from __future__ import annotations

import json
import uuid

import pytest
from export_support import export_cloud  # noqa: F401  (fixture)

from sfn_callback import config
from sfn_callback.export.scenarios import FileServer, file_content, read_sink_object
from support import wait_for

pytestmark = pytest.mark.cloud


def _message(job_id: str, files: list[dict[str, str]]) -> dict:
    return {"jobId": job_id, "exportId": f"exp-{job_id}", "userId": "u-1", "metadata": {"format": "csv"},
            "files": files}


def test_message_without_token_is_exported_with_no_callback(export_cloud):
    job_id = f"notoken-{uuid.uuid4().hex[:10]}"
    sqs = export_cloud.client("sqs")
    with FileServer() as server:
        files = [{"url": server.add(f"/n/{n}", file_content(job_id, n)), "name": n} for n in ("a.csv", "b.csv")]
        sqs.send_message(QueueUrl=export_cloud.queue_url(), MessageBody=json.dumps(_message(job_id, files)))
        item = wait_for(lambda: (i := export_cloud.item(job_id)) and i["status"]["S"] != "RUNNING" and i,
                        timeout=30, what="job done")
        assert sorted(path for path, status in server.requests if status == 200) == ["/n/a.csv", "/n/b.csv"]
    assert item["status"]["S"] == "COMPLETED" and item["completedTasks"]["N"] == "2"
    assert "taskToken" not in item and "callbackState" not in item  # no callback was claimed or sent
    for name in ("a.csv", "b.csv"):
        assert read_sink_object(export_cloud.client, f"{export_cloud.sink}/exp-{job_id}/{job_id}/{name}") == \
            file_content(job_id, name)
    wait_for(lambda: f'"jobId":"{job_id}"' in export_cloud.cloud.log_text().replace(" ", ""), timeout=5,
             what="consumer log")
    log_lines = [line for line in export_cloud.cloud.log_text().splitlines() if job_id in line]
    assert any("no task token, no callback" in line for line in log_lines)
    assert not any("callback for job" in line for line in log_lines)


def test_malformed_messages_go_to_the_dlq_and_the_rest_of_the_batch_is_processed(export_cloud):
    """A queue of its own (visibility 2 s, DLQ after 2 receives) mapped to the deployed consumer, so the
    redrive takes seconds; the deployed queue has the same redrive shape with longer timings."""
    sqs, lam = export_cloud.client("sqs"), export_cloud.client("lambda")
    name = f"export-it-batch-{uuid.uuid4().hex[:8]}"
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = export_cloud.ctx.queue_arn(f"{name}-dlq")
    queue_url = sqs.create_queue(QueueName=name, Attributes={
        "VisibilityTimeout": "2",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})})["QueueUrl"]
    good = [f"batch-{uuid.uuid4().hex[:10]}" for _ in range(2)]
    bad_schema = json.dumps({"jobId": "bad-1", "exportId": "", "userId": "u", "files": [
        {"url": "ftp://example.com/a", "name": "../a.csv"}], "colour": "blue"})
    bad_json = '{"jobId": "bad-2", "exportId": '
    mapping = None
    try:
        with FileServer() as server:
            entries = []
            for job_id in good:
                files = [{"url": server.add(f"/{job_id}/x.csv", file_content(job_id, "x.csv")), "name": "x.csv"}]
                entries.append({"Id": job_id, "MessageBody": json.dumps(_message(job_id, files))})
            entries.insert(1, {"Id": "bad-schema", "MessageBody": bad_schema})
            entries.append({"Id": "bad-json", "MessageBody": bad_json})
            sent = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)["Successful"]
            ids = {e["Id"]: e["MessageId"] for e in sent}
            # mapped after sending: the first receive takes all four as one batch
            mapping = lam.create_event_source_mapping(
                FunctionName=config.EXPORT_CONSUMER_FUNCTION, EventSourceArn=export_cloud.ctx.queue_arn(name),
                BatchSize=10, FunctionResponseTypes=["ReportBatchItemFailures"])["UUID"]
            for job_id in good:
                item = wait_for(lambda: (i := export_cloud.item(job_id)) and i["status"]["S"] == "COMPLETED" and i,  # noqa: B023
                                timeout=30, what=f"{job_id} done")
                assert item["completedTasks"]["N"] == "1"
                assert read_sink_object(export_cloud.client, f"{export_cloud.sink}/exp-{job_id}/{job_id}/x.csv") == \
                    file_content(job_id, "x.csv")

            dead: dict[str, str] = {}

            def drained() -> bool:
                for m in sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10,
                                             WaitTimeSeconds=1).get("Messages", []):
                    dead[m["MessageId"]] = m["Body"]
                return len(dead) >= 2

            wait_for(drained, timeout=40, interval=0.2, what="both malformed messages in the DLQ")
        # nothing lost, nothing altered; the good ones were deleted after the first batch
        assert dead == {ids["bad-schema"]: bad_schema, ids["bad-json"]: bad_json}
        assert export_cloud.item("bad-1") is None and export_cloud.item("bad-2") is None
        attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
        assert attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0"
        # each good job ran once: one "Processing export job" line per job, no resume
        log = export_cloud.cloud.log_text()
        for job_id in good:
            lines = [line for line in log.splitlines() if job_id in line and "Processing export job" in line]
            assert len(lines) == 1, lines
            assert not [line for line in log.splitlines() if job_id in line and "Resuming" in line]
        rejected = [json.loads(line.split("] ", 1)[1]) for line in log.splitlines()
                    if "Rejected export job message" in line and "] {" in line]
        by_id = {r["messageId"]: r["error"] for r in rejected}
        schema_error = by_id[ids["bad-schema"]]
        for fragment in ("exportId", "files.0.url", "must be an absolute http:// or https:// URL", "files.0.name",
                         "colour", "Extra inputs are not permitted"):
            assert fragment in schema_error, schema_error
        assert "invalid export job message" in by_id[ids["bad-json"]] and "JSON" in by_id[ids["bad-json"]]
    finally:
        if mapping:
            lam.delete_event_source_mapping(UUID=mapping)
        sqs.delete_queue(QueueUrl=queue_url)
        sqs.delete_queue(QueueUrl=dlq_url)


def test_the_deployed_queue_redrives_to_its_dlq_and_outlasts_the_consumer(export_cloud):
    sqs, lam = export_cloud.client("sqs"), export_cloud.client("lambda")
    attrs = sqs.get_queue_attributes(QueueUrl=export_cloud.queue_url(), AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == export_cloud.ctx.queue_arn(config.EXPORT_DLQ)
    assert int(redrive["maxReceiveCount"]) == export_cloud.settings.max_receive_count
    function = lam.get_function_configuration(FunctionName=config.EXPORT_CONSUMER_FUNCTION)
    assert int(attrs["VisibilityTimeout"]) > function["Timeout"]
    mappings = lam.list_event_source_mappings(FunctionName=config.EXPORT_CONSUMER_FUNCTION)["EventSourceMappings"]
    deployed = [m for m in mappings if m["EventSourceArn"] == export_cloud.ctx.queue_arn(config.EXPORT_QUEUE)]
    assert len(deployed) == 1 and deployed[0]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
