"""``sfn-callback job-api``: a reference external job service over HTTP, the demo's job API for the HTTP job
adapter (``sfn_callback.polling.adapters.http_job``). Needs the ``approval`` extra (FastAPI, uvicorn)."""
