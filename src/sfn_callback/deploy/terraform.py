"""The Terraform module in ``infra/terraform`` against a local cloud: the AWS provider override.

Terraform merges ``*_override.tf`` files into the module, so one file beside it points the ``aws`` provider
at a local endpoint without touching the module: an ``endpoints {}`` entry for every service the stack's
resources live in (and STS, which ``data.aws_caller_identity`` calls), the test keys, the checks that only
real AWS passes turned off, path-style S3 URLs, and a low ``max_retries`` (the provider's maximum number of
attempts per call; its default, 25, retries an API the endpoint lacks for minutes). 5 attempts fail a missing
API within about 15 s of backoff and still ride out a connection dropped under load, which one attempt does
not: on a loaded 2-core machine, one apply or destroy in a few failed with ``use of closed network
connection`` on a single read. ``sfn-callback tf-endpoints`` prints or writes it.
"""

from __future__ import annotations

from urllib.parse import urlparse

from sfn_callback.config import LOCAL_CREDENTIALS
from sfn_callback.deploy.spec import KIND_ORDER

OVERRIDE_FILE = "local_override.tf"
DEFAULT_MAX_RETRIES = 5

# The provider's endpoint name for the service of each resource kind.
SERVICES_BY_KIND = {
    "log-group": "cloudwatchlogs",
    "table": "dynamodb",
    "bucket": "s3",
    "queue": "sqs",
    "role": "iam",
    "function": "lambda",
    "function-url": "lambda",
    "event-source-mapping": "lambda",
    "schedule-group": "scheduler",
    "schedule": "scheduler",
    "state-machine": "sfn",
    "topic": "sns",
    "alarm": "cloudwatch",
    "dashboard": "cloudwatch",
}
ALWAYS = ("sts", "secretsmanager", "ssm")
"""data.aws_caller_identity (the account id the module puts in ARNs); the lookups of the secrets the functions
read (data.aws_secretsmanager_secret, data.aws_ssm_parameter)."""


class OverrideError(ValueError):
    """The override cannot be written for this endpoint."""


def endpoint_services(kinds: tuple[str, ...] = KIND_ORDER) -> list[str]:
    missing = sorted(set(kinds) - set(SERVICES_BY_KIND))
    if missing:
        raise OverrideError(f"no provider endpoint known for resource kind(s) {missing}")
    return sorted({SERVICES_BY_KIND[k] for k in kinds} | set(ALWAYS))


def provider_override(endpoint: str, max_retries: int = DEFAULT_MAX_RETRIES) -> str:
    """The ``provider "aws"`` override block for ``endpoint``, as HCL text (formatted as ``terraform fmt``)."""
    url = urlparse(endpoint or "")
    if url.scheme not in ("http", "https") or not url.netloc:
        raise OverrideError(f"the endpoint must be an http(s) URL, not {endpoint!r}")
    if not 0 <= max_retries <= 25:
        raise OverrideError("max_retries must be 0..25")
    endpoint = endpoint.rstrip("/")
    services = endpoint_services()
    width = max(len(s) for s in services)
    lines = [
        f"# Points the AWS provider of infra/terraform at {endpoint} (written by 'sfn-callback tf-endpoints').",
        "# Terraform merges *_override.tf files into the module; remove this file to target AWS again.",
        'provider "aws" {',
        "  region                      = var.region",
        f'  access_key                  = "{LOCAL_CREDENTIALS["aws_access_key_id"]}"',
        f'  secret_key                  = "{LOCAL_CREDENTIALS["aws_secret_access_key"]}"',
        "  skip_credentials_validation = true",
        "  skip_requesting_account_id  = true",
        "  skip_metadata_api_check     = true",
        "  s3_use_path_style           = true",
        f"  max_retries                 = {max_retries}",
        "",
        "  endpoints {",
        *[f'    {s.ljust(width)} = "{endpoint}"' for s in services],
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"
