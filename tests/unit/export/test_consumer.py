"""The SQS consumer: message validation, partial batch failures, configuration."""

from __future__ import annotations

import json

import pytest

from sfn_callback.export.bootstrap import bootstrap, parse_sink
from sfn_callback.export.entrypoints import poc_export_consumer as consumer
from sfn_callback.export.entrypoints.messages import InvalidExportMessage, parse_message
from sfn_callback.export.settings import ExportSettings, SettingsError

from .fakes import TOKEN, FakeFileSource, FakeMetrics, FakeRepository, FakeSink, FakeStepFunctions

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

SEED_MESSAGE = {
    "jobId": "550e8400-e29b-41d4-a716-446655440000",
    "exportId": "export-12345",
    "userId": "user-67890",
    "metadata": {"requestedBy": "admin", "format": "csv"},
    "taskToken": TOKEN,
}


def sqs_event(*bodies: str) -> dict:
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "receiptHandle": f"r{i}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:poc-export-jobs",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


@pytest.fixture
def wired():
    repo, sfn = FakeRepository(), FakeStepFunctions()
    source = FakeFileSource({"http://files/a.csv": b"a"})
    service = bootstrap(
        ExportSettings(heartbeat_interval_seconds=0.05),
        repository=repo, step_functions=sfn, source=source, sink=FakeSink(), metrics=FakeMetrics(),
    )
    consumer.set_service(service)
    yield repo, sfn
    consumer.set_service(None)


def test_seed_message_is_valid_and_has_no_files() -> None:
    message = parse_message(json.dumps(SEED_MESSAGE))
    assert message.task_token == TOKEN and message.files == [] and message.options.stall_seconds == 0
    command = message.to_command()
    assert command.job_id == SEED_MESSAGE["jobId"] and command.metadata["format"] == "csv"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("not json", "<body>: Invalid JSON"),
        (json.dumps({**SEED_MESSAGE, "jobID": "typo"}), "jobID: Extra inputs are not permitted"),
        (json.dumps({k: v for k, v in SEED_MESSAGE.items() if k != "userId"}), "userId: Field required"),
        (json.dumps({**SEED_MESSAGE, "taskToken": ""}), "taskToken: String should have at least 1 character"),
        (json.dumps({**SEED_MESSAGE, "files": [{"url": "ftp://x/y", "name": "y"}]}), "files.0.url: Value error, must be an absolute http"),
        (json.dumps({**SEED_MESSAGE, "files": [{"url": "http://x/y", "name": "../y"}]}), "files.0.name: Value error, must be a plain file name"),
        (json.dumps({**SEED_MESSAGE, "files": [{"url": "http://x/1", "name": "y"}, {"url": "http://x/2", "name": "y"}]}), "repeated: y"),
        (json.dumps({**SEED_MESSAGE, "options": {"stallSeconds": -1}}), "options.stallSeconds: Input should be greater than or equal to 0"),
        (json.dumps({**SEED_MESSAGE, "options": {"stallOnTask": 1}}), "stallOnTask=1 but the job has 0 file(s)"),
    ],
)
def test_malformed_messages_are_rejected_with_a_clear_error(body, problem) -> None:
    with pytest.raises(InvalidExportMessage, match="invalid export job message") as caught:
        parse_message(body)
    assert problem in str(caught.value)


def test_one_bad_message_fails_only_its_record(wired) -> None:
    repo, sfn = wired
    good = {**SEED_MESSAGE, "files": [{"url": "http://files/a.csv", "name": "a.csv"}]}
    no_token = {**SEED_MESSAGE, "jobId": "no-token"}
    no_token.pop("taskToken")
    response = consumer.handler(sqs_event(json.dumps(good), '{"jobId": 1}', json.dumps(no_token)), None)

    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert repo.get(SEED_MESSAGE["jobId"]).status.value == "COMPLETED"
    assert repo.get("no-token").status.value == "COMPLETED"
    assert [kind for kind, _ in sfn.calls if kind != "heartbeat"] == ["success"]  # only the job with a token


def test_infrastructure_error_fails_the_record_for_redelivery(wired) -> None:
    repo, sfn = wired
    consumer.handler(sqs_event(json.dumps(SEED_MESSAGE)), None)
    other_token = {**SEED_MESSAGE, "taskToken": TOKEN + "-2"}
    fresh = {**SEED_MESSAGE, "jobId": "fresh"}
    response = consumer.handler(sqs_event(json.dumps(other_token), json.dumps(fresh)), None)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert repo.get(SEED_MESSAGE["jobId"]).task_token == TOKEN  # the first job is untouched


def test_a_batch_where_every_record_fails_is_returned_whole(wired) -> None:
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    with pytest.raises(BatchProcessingError):
        consumer.handler(sqs_event("{}", "[]"), None)


def test_settings_from_env_and_sink_spec(tmp_path) -> None:
    settings = ExportSettings.from_env({
        "EXPORT_JOBS_TABLE": "t", "EXPORT_SINK": "s3://bucket/pre/fix", "EXPORT_HEARTBEAT_INTERVAL_SECONDS": "2.5",
        "EXPORT_STALL_AFTER_SECONDS": "6", "EXPORT_MAX_FILE_BYTES": "1000",
    })
    assert (settings.table_name, settings.sink, settings.heartbeat_interval_seconds) == ("t", "s3://bucket/pre/fix", 2.5)
    assert settings.stall_after_seconds == 6 and settings.max_file_bytes == 1000
    assert ExportSettings.from_env({}).table_name == "poc-export-job-state"
    with pytest.raises(SettingsError, match="EXPORT_HEARTBEAT_INTERVAL_SECONDS='soon' is not a valid float"):
        ExportSettings.from_env({"EXPORT_HEARTBEAT_INTERVAL_SECONDS": "soon"})
    with pytest.raises(SettingsError, match="must be at least 1"):
        ExportSettings.from_env({"EXPORT_MAX_FILE_BYTES": "0"})

    sink = parse_sink("s3://bucket/pre/fix", s3_client=lambda: object())
    assert (sink.bucket, sink.prefix) == ("bucket", "pre/fix")
    assert str(parse_sink(f"local:{tmp_path}").root) == str(tmp_path)
    with pytest.raises(SettingsError):
        parse_sink("relative/folder")
