"""Shared fixtures: the embedded local cloud, started once per test session as a real subprocess."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.config import Config

# The SQS variant's fixtures, defined here once so that the whole session shares one stack and one approval API
# (imported into each test module instead, every module got its own API and redelivery loop, all running until
# the session ended).
from approval_support import _approval_stack_deployed, approval_api, approval_stack  # noqa: E402,F401  (fixtures)
from sfn_callback.deploy.packaging import zip_files
from sfn_callback.localcloud import process

LOCAL_ROLE_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com",
                                                               "scheduler.amazonaws.com"]},
                   "Action": "sts:AssumeRole"}],
})


@dataclass
class LocalCloudHandle:
    """What tests get: the endpoint, clients pointed at it, and the server's log."""

    endpoint_url: str
    log_path: str
    pid: int
    env: dict[str, str] = field(default_factory=dict)

    def client(self, service: str, **kwargs: Any) -> Any:
        kwargs.setdefault("config", Config(retries={"max_attempts": 2, "mode": "standard"},
                                           read_timeout=120, max_pool_connections=50))
        return boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test").client(
            service, region_name="us-east-1", endpoint_url=self.endpoint_url, **kwargs)

    def log_text(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def health(self) -> dict[str, Any]:
        status = process.health(self.endpoint_url, timeout=5)
        assert status is not None, "local cloud is not answering"
        return status

    def role_arn(self, name: str = "sfn-callback-test-role") -> str:
        iam = self.client("iam")
        try:
            return iam.get_role(RoleName=name)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            return iam.create_role(RoleName=name, AssumeRolePolicyDocument=LOCAL_ROLE_POLICY)["Role"]["Arn"]


# `make test` runs the suite on two pytest-xdist workers (`--dist loadfile --no-loadscope-reorder`: a file's tests
# stay together, on one worker with its own local cloud). The longest files (minutes each; `--durations` lists
# them) go first so that the workers end together instead of one of them starting the Terraform loop last.
LONGEST_FIRST = (
    "tests/integration/deploy/test_terraform_local.py",
    "tests/integration/bench/test_bench_faults.py",
    "tests/integration/deploy/test_infra_iam_calls.py",
    "tests/integration/poc/test_batch_scenario.py",
    "tests/integration/seeds/test_seed001_scripts.py",
    "tests/integration/monitoring/test_monitoring_deployed.py",
    "tests/integration/poc/test_poc_faults.py",
    "tests/integration/cost/test_cost_measure.py",
    "tests/unit/test_static_checks.py",
    "tests/unit/deploy/test_deploy_plan.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = [path for path in LONGEST_FIRST if not (config.rootpath / path).is_file()]
    if missing:
        raise pytest.UsageError(f"tests/conftest.py LONGEST_FIRST names files that do not exist: {missing}")
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable: the rest keep order


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory: pytest.TempPathFactory) -> Any:
    state = tmp_path_factory.mktemp("localcloud-state")
    port = process.free_port()
    log_path = str(state / "localcloud.log")
    env = {"SFN_CALLBACK_STATE_DIR": str(state), "SFN_CALLBACK_LAMBDA_ASYNC_RETRY_DELAY": "0.2",
           "SFN_CALLBACK_SCHEDULER_RETRY_SECONDS": "0.2"}
    os.environ["SFN_CALLBACK_STATE_DIR"] = str(state)
    proc, endpoint = process.start_detached("127.0.0.1", port, log_path=log_path, env=env, timeout=60)
    handle = LocalCloudHandle(endpoint_url=endpoint, log_path=log_path, pid=proc.pid, env=env)
    yield handle
    process.stop_process(proc.pid)


@pytest.fixture(scope="session")
def make_function(local_cloud: LocalCloudHandle) -> Callable[..., str]:
    """Create (or replace) a Python function from source text; returns its ARN."""
    lam = local_cloud.client("lambda")
    role = local_cloud.role_arn()

    def create(name: str, source: str | dict[str, str], handler: str = "app.handler", timeout: int = 10,
               env: dict[str, str] | None = None, memory: int = 128) -> str:
        files = {"app.py": source} if isinstance(source, str) else source
        try:
            lam.delete_function(FunctionName=name)
        except lam.exceptions.ResourceNotFoundException:
            pass
        return lam.create_function(
            FunctionName=name, Runtime="python3.11", Role=role, Handler=handler, Timeout=timeout,
            MemorySize=memory, Code={"ZipFile": zip_files(files)},
            Environment={"Variables": env or {}},
        )["FunctionArn"]

    return create
