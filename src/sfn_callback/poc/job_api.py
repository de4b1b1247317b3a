"""Which HTTP job API configuration the PoC's functions get (``JOB_API_CONFIG``), from the deployer's
environment.

* ``SFN_CALLBACK_JOB_API_CONFIG``: the configuration as JSON text, or the path of a JSON file; on any target;
* otherwise, on a local target, :data:`REFERENCE_CONFIG`: the reference job service (``sfn-callback job-api``)
  for the jobs whose input asks for it (``perJobOnly``), with its key in the Secrets Manager secret
  ``poc-job-api-key`` (which the HTTP scenarios create) and any loopback port allowed;
* otherwise none: every job uses the simulated API.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sfn_callback.deploy.spec import Permission, Stack, StackContext, secret_arn
from sfn_callback.polling.domain.job_api_config import InvalidJobApiConfig, parse_config

CONFIG_ENV = "SFN_CALLBACK_JOB_API_CONFIG"
REFERENCE_SECRET = "poc-job-api-key"
REFERENCE_CONFIG: dict[str, Any] = {
    "perJobOnly": True,
    "submit": {"method": "POST", "url": "http://127.0.0.1:8080/jobs", "body": "data.job"},
    "status": {"url": "http://127.0.0.1:8080/jobs/{jobId}"},
    "cancel": {"method": "DELETE", "url": "http://127.0.0.1:8080/jobs/{jobId}"},
    "jobIdPath": "id",
    "statusPath": "state",
    "resultPath": "result",
    "errorPath": "error",
    "statusValues": {"inProgress": ["queued", "running"], "completed": ["succeeded"],
                     "failed": ["failed", "cancelled"]},
    "timeoutSeconds": 2,
    "auth": {"secret": f"secretsmanager:{REFERENCE_SECRET}", "header": "Authorization", "prefix": "Bearer ",
             "cacheSeconds": 300},
    "allowedOrigins": ["http://127.0.0.1"],
}


def load(ctx: StackContext) -> tuple[dict[str, Any] | None, bool, list[str]]:
    """(the configuration, whether it is the built-in reference one, problems found)."""
    raw = os.environ.get(CONFIG_ENV, "").strip()
    if not raw:
        return (REFERENCE_CONFIG, True, []) if ctx.local else (None, False, [])
    text = raw
    if not raw.startswith("{"):
        try:
            text = Path(raw).read_text()
        except OSError as exc:
            return None, False, [f"{CONFIG_ENV}: cannot read {raw}: {exc.strerror}"]
    try:
        doc = json.loads(text)
    except ValueError as exc:
        return None, False, [f"{CONFIG_ENV}: not JSON ({exc})"]
    try:
        parse_config(doc, CONFIG_ENV)
    except InvalidJobApiConfig as exc:
        return None, False, [str(exc)]
    return doc, False, []


def contribute_config(stack: Stack, ctx: StackContext) -> tuple[tuple[tuple[str, str], ...], tuple[Permission, ...]]:
    """The environment and permissions a function that talks to the job API needs; records the stack's
    problems and the secret it requires (once per stack)."""
    doc, reference, problems = load(ctx)
    if problems:
        stack.problems.extend(p for p in problems if p not in stack.problems)
        return (), ()
    if doc is None:
        return (), ()
    permissions: tuple[Permission, ...] = ()
    auth = doc.get("auth")
    if auth:
        ref = auth["secret"]
        if all(secret.ref != ref for secret in stack.secrets):
            stack.require_secret(ref, f"the job API's auth secret ({CONFIG_ENV})" if not reference
                                 else "the reference job API's key", optional_locally=reference)
        action = "secretsmanager:GetSecretValue" if ref.startswith("secretsmanager:") else "ssm:GetParameter"
        permissions = (Permission((action,), (secret_arn(ctx, ref),)),)
    return (("JOB_API_CONFIG", json.dumps(doc, sort_keys=True, separators=(",", ":"))),), permissions
