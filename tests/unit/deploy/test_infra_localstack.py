"""docker-compose.yml (LocalStack, seed 001's route) enables every service the stack deploys to."""

from __future__ import annotations

from pathlib import Path

import yaml

from sfn_callback.cli.common import resolve_endpoint
from sfn_callback.config import Target
from sfn_callback.deploy.manifest import terraform_context
from sfn_callback.deploy.stack import build_stack

COMPOSE = Path(__file__).resolve().parents[3] / "docker-compose.yml"
SERVICE_OF_KIND = {"log-group": "logs", "table": "dynamodb", "bucket": "s3", "queue": "sqs", "role": "iam",
                   "function": "lambda", "function-url": "lambda", "event-source-mapping": "lambda", "schedule-group": "scheduler",
                   "schedule": "scheduler", "state-machine": "stepfunctions",
                   "topic": "sns", "alarm": "cloudwatch", "dashboard": "cloudwatch"}


def _services() -> list[str]:
    doc = yaml.safe_load(COMPOSE.read_text())
    env = doc["services"]["localstack"]["environment"]
    entries = dict(e.split("=", 1) for e in env) if isinstance(env, list) else env
    return entries["SERVICES"].split(",")


def test_compose_parses_and_lists_the_issue_services():
    doc = yaml.safe_load(COMPOSE.read_text())
    assert doc["services"]["localstack"]["image"].startswith("localstack/localstack:")
    assert "4566:4566" in doc["services"]["localstack"]["ports"]
    services = _services()
    assert len(services) == len(set(services))
    assert {"stepfunctions", "lambda", "dynamodb", "sqs", "scheduler", "iam", "logs"} <= set(services)


def test_compose_enables_every_service_the_stack_uses():
    kinds = {r.kind for r in build_stack(terraform_context()).resources}
    assert kinds <= set(SERVICE_OF_KIND), f"map the new kind(s) {kinds - set(SERVICE_OF_KIND)} to a service"
    needed = {SERVICE_OF_KIND[k] for k in kinds} | {"sts"}  # the deployer asks STS for the account id
    assert needed <= set(_services()), f"missing in SERVICES: {needed - set(_services())}"


def test_localstack_endpoint_is_a_local_target():
    assert Target(endpoint_url=resolve_endpoint("http://localhost:4566")).is_local
    assert not Target(endpoint_url=resolve_endpoint("aws")).is_local
