"""Your code: the job API's two ports and the two Lambdas built from them.

The "job API" here is a DynamoDB table (``own-jobs``), so that the example runs anywhere: a job is submitted
with how many status checks it takes and whether it fails. Replace ``submit`` and ``check`` with calls to your
own service; nothing else changes.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import boto3

from sfn_callback import Completed, Failed, InProgress, JobState, create_job_handler, poller_handler

JOBS_TABLE = os.environ.get("OWN_JOBS_TABLE", "own-jobs")
_ddb = boto3.client("dynamodb")


def submit(payload: dict[str, Any]) -> str:
    """Create the job; return its id. ``payload`` is ``{"recordId", "data", ...}`` from the workflow."""
    data = payload.get("data") or {}
    job_id = f"own-{uuid.uuid4().hex[:12]}"
    _ddb.put_item(TableName=JOBS_TABLE, Item={
        "jobId": {"S": job_id}, "checksLeft": {"N": str(int(data.get("checks", 2)))},
        "fail": {"BOOL": bool(data.get("fail", False))}, "recordId": {"S": str(payload.get("recordId"))}})
    return job_id


def check(job_id: str) -> JobState:
    """The job's state: one more status check done."""
    item = _ddb.update_item(TableName=JOBS_TABLE, Key={"jobId": {"S": job_id}},
                            UpdateExpression="ADD checksLeft :minus", ExpressionAttributeValues={":minus": {"N": "-1"}},
                            ReturnValues="ALL_NEW")["Attributes"]
    if int(item["checksLeft"]["N"]) > 0:
        return InProgress()
    if item["fail"]["BOOL"]:
        return Failed("RenderFailed", f"job {job_id} failed on the render farm")
    return Completed({"jobId": job_id, "recordId": item["recordId"]["S"], "url": f"s3://renders/{job_id}.png"})


create_job = create_job_handler(submit)
poll = poller_handler(check)
