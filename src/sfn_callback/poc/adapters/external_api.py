"""Client of the simulated external job API (``poc-simulated-api``), invoked through Lambda."""

from __future__ import annotations

import json
from typing import Any

from sfn_callback.polling.application.create_job import ExternalApiError
from sfn_callback.polling.domain.lifecycle import ExternalJobNotFound


class LambdaJobApi:
    def __init__(self, client: Any, function_name: str):
        self._lambda = client
        self._function = function_name

    def _invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        resp = self._lambda.invoke(FunctionName=self._function, Payload=json.dumps(event).encode())
        raw = resp["Payload"].read()
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            raise ExternalApiError(f"{self._function} returned a payload that is not JSON: {raw[:200]!r}") from None
        if resp.get("FunctionError"):
            error_type = doc.get("errorType") if isinstance(doc, dict) else None
            message = doc.get("errorMessage") if isinstance(doc, dict) else doc
            if error_type == "JobNotFound" and event.get("action") == "CHECK_STATUS":
                raise ExternalJobNotFound(str(event.get("jobId")))
            raise ExternalApiError(f"{self._function} failed ({resp['FunctionError']}): {error_type}: {message}")
        if not isinstance(doc, dict):
            raise ExternalApiError(f"{self._function} returned {doc!r}, expected a JSON object")
        if "error" in doc and "status" not in doc:  # the seed API's error shape
            raise ExternalApiError(f"{self._function} answered an error: {doc['error']}")
        return doc

    def create_job(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._invoke({"action": "CREATE_JOB", "payload": payload})

    def check_status(self, job_id: str) -> dict[str, Any]:
        return self._invoke({"action": "CHECK_STATUS", "jobId": job_id})

    def cancel_job(self, job_id: str) -> None:
        """Cancel the job (create-job's undo); a job the API does not know is already gone."""
        try:
            self._invoke({"action": "CANCEL_JOB", "jobId": job_id})
        except ExternalApiError as exc:
            if "JobNotFound" not in str(exc):
                raise
