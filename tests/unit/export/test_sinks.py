from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from sfn_callback.export.adapters import LocalFolderSink, S3Sink
from sfn_callback.export.application import ExportSinkError
from sfn_callback.export.domain import ExportJob


def job() -> ExportJob:
    return ExportJob.create(job_id="job/../1", export_id="export-1", user_id="u",
                            files=[("http://h/a", "a.csv")], started_at=datetime.now(UTC))


def test_local_folder_sink_writes_under_safe_paths(tmp_path) -> None:
    j = job()
    location = LocalFolderSink(tmp_path).write(j, j.tasks[0], b"abc")
    assert location == str(tmp_path / "export-1" / "job_.._1" / "a.csv")
    assert (tmp_path / "export-1" / "job_.._1" / "a.csv").read_bytes() == b"abc"
    assert not list((tmp_path / "export-1" / "job_.._1").glob(".part-*"))


def test_local_folder_sink_error_is_clear(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    j = job()
    with pytest.raises(ExportSinkError, match="cannot write"):
        LocalFolderSink(blocker).write(j, j.tasks[0], b"abc")


def test_s3_sink_key_and_errors() -> None:
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    j = job()
    with Stubber(client) as stubber:
        stubber.add_response("put_object", {}, {"Bucket": "b", "Key": "exports/export-1/job_.._1/a.csv", "Body": b"abc"})
        assert S3Sink(client, "b", "/exports/").write(j, j.tasks[0], b"abc") == "s3://b/exports/export-1/job_.._1/a.csv"
        stubber.add_client_error("put_object", service_error_code="NoSuchBucket", http_status_code=404)
        with pytest.raises(ExportSinkError, match="cannot write s3://b/export-1/job_.._1/a.csv"):
            S3Sink(client, "b").write(j, j.tasks[0], b"abc")
