"""ExportSinks: a local folder, or S3. Files land at ``<root>/<exportId>/<jobId>/<name>``."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sfn_callback.export.application.ports import ExportSinkError
from sfn_callback.export.domain import ExportJob, ExportTask

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_component(value: str) -> str:
    """One path component made safe: no separators, no ``..``, never empty."""
    cleaned = _UNSAFE.sub("_", value).strip(".") or "_"
    return cleaned


def relative_key(job: ExportJob, task: ExportTask) -> str:
    return "/".join(safe_component(p) for p in (job.export_id, job.job_id, task.name))


class LocalFolderSink:
    """Writes each file atomically (temporary file, then rename) under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def write(self, job: ExportJob, task: ExportTask, data: bytes) -> str:
        target = self.root / relative_key(job, task)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise ExportSinkError(f"cannot write {target}: {exc.strerror or exc}") from exc
        return str(target)


class S3Sink:
    """Writes each file to ``s3://bucket/prefix/<exportId>/<jobId>/<name>`` with a boto3 ``s3`` client."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def write(self, job: ExportJob, task: ExportTask, data: bytes) -> str:
        key = "/".join(p for p in (self.prefix, relative_key(job, task)) if p)
        try:
            self._client.put_object(Bucket=self.bucket, Key=key, Body=data)
        except (ClientError, BotoCoreError) as exc:
            raise ExportSinkError(f"cannot write s3://{self.bucket}/{key}: {exc}") from exc
        return f"s3://{self.bucket}/{key}"
