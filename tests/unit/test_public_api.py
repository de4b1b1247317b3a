"""The public API: every name in ``sfn_callback.__all__`` resolves, the import stays light, the job-state port
reads a user's states and the simulated API's documents alike, and ``py.typed`` ships."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import sfn_callback
from sfn_callback import Completed, Failed, InProgress
from sfn_callback.polling.domain.jobs import job_state
from sfn_callback.polling.domain.lifecycle import decide_from_job, job_status_of, new_record

T0 = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_every_public_name_resolves():
    for name in sfn_callback.__all__:
        assert getattr(sfn_callback, name) is not None, name
    with pytest.raises(AttributeError):
        sfn_callback.NotAName  # noqa: B018


def test_import_sfn_callback_and_its_public_names_pull_no_heavy_dependency():
    code = ("import sys, sfn_callback; [getattr(sfn_callback, n) for n in sfn_callback.__all__]; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'moto', 'fastapi', 'matplotlib', 'typer', "
            "'rich', 'playwright', 'uvicorn'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_py_typed_ships_with_the_package():
    assert (Path(sfn_callback.__file__).parent / "py.typed").is_file()


def test_job_states_and_status_documents_decide_alike():
    record = new_record(job_id="j-1", task_token="t" * 40, execution_id="e", now=T0, interval_seconds=1,
                        timeout_seconds=60, max_attempts=5)
    now = T0 + timedelta(seconds=3)
    done = decide_from_job(record, 2, Completed({"url": "s3://x"}), now)
    assert done.output["result"] == {"url": "s3://x"} and done.output["attempts"] == 2
    assert decide_from_job(record, 2, {"status": "COMPLETED", "jobId": "j-1"}, now).output["result"] == {
        "status": "COMPLETED", "jobId": "j-1"}
    failed = decide_from_job(record, 2, Failed("RenderFailed", "disk full"), now)
    assert (failed.error, failed.cause) == ("RenderFailed", "disk full")
    legacy = decide_from_job(record, 2, {"status": "FAILED"}, now)
    assert (legacy.error, legacy.cause) == ("JobFailed", "External job failed")
    assert decide_from_job(record, 2, InProgress(), now) is None
    assert decide_from_job(record, 2, {"status": "IN_PROGRESS"}, now) is None
    assert job_state({"status": "weird"}) == InProgress() and job_status_of(InProgress()) == "IN_PROGRESS"


def test_the_http_job_adapter_is_built_from_the_package_root_and_submits_and_checks_a_job():
    from fastapi import FastAPI  # noqa: F401 - the reference service below needs the approval extra

    from sfn_callback import (
        HttpJobApi,
        HttpJobApiConfig,
        InvalidJobApiConfig,
        SecretReader,
        SubmitFailed,
        SubmitTransient,
        create_job_handler,
        poller_handler,
        sweep_handler,
    )
    from sfn_callback.approval.entrypoints.server import ServerThread
    from sfn_callback.jobapi.adapters.keys import FileOrEnvKeys
    from sfn_callback.jobapi.application.service import JobService
    from sfn_callback.jobapi.entrypoints.app import create_app

    key = "key-public-0123456789abcdef"

    class Secrets:
        def get_secret_value(self, SecretId):  # noqa: N803 - boto3's name
            return {"SecretString": key}

    with pytest.raises(InvalidJobApiConfig, match="statusPath: 'state\\[' is not a JMESPath expression"):
        HttpJobApiConfig.checked({"submit": {"url": "http://127.0.0.1:9/jobs"}, "statusPath": "state[",
                                  "status": {"url": "http://127.0.0.1:9/jobs/{jobId}"},
                                  "statusValues": {"completed": ["succeeded"]}})
    assert issubclass(SubmitFailed, Exception) and issubclass(SubmitTransient, Exception)
    with ServerThread(create_app(JobService(FileOrEnvKeys(keys=[key])))) as server:
        doc = {"submit": {"url": f"{server.url}/jobs", "body": "data"},
               "status": {"url": f"{server.url}/jobs/{{jobId}}"}, "statusPath": "state", "resultPath": "result",
               "statusValues": {"completed": ["succeeded"], "failed": ["failed"]},
               "auth": {"secret": "secretsmanager:jobs-key"}}
        config = HttpJobApiConfig.checked(doc)
        assert HttpJobApiConfig.checked(config.to_document()) == config
        api = HttpJobApi(config, SecretReader(lambda service: Secrets()))
        job = api.create_job({"recordId": "r-1", "data": {"completeAfterChecks": 1, "result": {"rows": 3}},
                              "idempotencyKey": "k-public-1"})
        assert api.check_status(job["jobId"]) == Completed({"rows": 3})
    for factory in (create_job_handler, poller_handler, sweep_handler):
        assert callable(factory(jobs=api))
        with pytest.raises(TypeError, match="one of the two"):
            factory()
