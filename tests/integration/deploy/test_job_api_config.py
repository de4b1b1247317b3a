"""``deploy --plan`` and ``deploy`` refuse an HTTP job API configuration that cannot work, before planning or
changing anything: a bad JMESPath expression, a URL template naming a field the submit answer does not map, a
secret that does not exist on the target (or an SSM parameter that is not a SecureString)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from sfn_callback.config import Target
from sfn_callback.deploy.deployer import Deployer

pytestmark = pytest.mark.cloud

GOOD = {
    "submit": {"url": "https://jobs.example.com/v1/jobs", "body": "data"},
    "status": {"url": "https://jobs.example.com/v1/jobs/{jobId}"},
    "jobIdPath": "job.id", "statusPath": "job.state",
    "statusValues": {"completed": ["DONE"], "failed": ["ERROR"]},
}


def deploy(cloud, config, *args):
    env = {**os.environ, "SFN_CALLBACK_JOB_API_CONFIG": json.dumps(config), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "sfn_callback.cli.main", "--endpoint", cloud.endpoint_url,
                           "deploy", *args], capture_output=True, text=True, timeout=180, env=env)


def accepted(cloud, config, monkeypatch):
    """The same configuration is accepted: nothing to refuse (checked in process; a plan reads every resource)."""
    monkeypatch.setenv("SFN_CALLBACK_JOB_API_CONFIG", json.dumps(config))
    deployer = Deployer(Target(endpoint_url=cloud.endpoint_url))
    assert deployer.refusals() == []
    return deployer


def refused(done, *texts):
    assert done.returncode == 2, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    assert "\nerror: " in "\n" + done.stderr and "Traceback" not in done.stderr, done.stderr
    for text in texts:
        assert text in done.stderr, done.stderr
    assert "applied" not in done.stdout and "create " not in done.stdout


def test_a_bad_jmespath_expression_is_refused(local_cloud):
    refused(deploy(local_cloud, {**GOOD, "statusPath": "job.state["}, "--plan"),
            "plan refused", "statusPath: 'job.state[' is not a JMESPath expression")


def test_a_url_template_naming_an_unmapped_field_is_refused(local_cloud, monkeypatch):
    config = {**GOOD, "status": {"url": "https://jobs.example.com/v1/runs/{runId}/jobs/{jobId}"}}
    refused(deploy(local_cloud, config, "--plan"), "names {runId}, which the submit answer does not map")
    # mapping the field from the submit answer makes the same template valid
    accepted(local_cloud, {**config, "fields": {"runId": "job.run"}}, monkeypatch)


def test_a_secret_missing_on_the_target_is_refused_by_plan_and_deploy(local_cloud, monkeypatch):
    name = f"job-api-key-{uuid.uuid4().hex[:8]}"
    config = {**GOOD, "auth": {"secret": f"secretsmanager:{name}"}}
    refused(deploy(local_cloud, config, "--plan"), f"secretsmanager:{name} does not exist in Secrets Manager")
    refused(deploy(local_cloud, config), "deploy refused", f"secretsmanager:{name} does not exist")
    local_cloud.client("secretsmanager").create_secret(Name=name, SecretString="not-shown-anywhere")
    deployer = accepted(local_cloud, config, monkeypatch)
    (function,) = [r for r in deployer.stack.resources if r.name == "poc-poller"]
    assert json.loads(dict(function.env)["JOB_API_CONFIG"])["auth"] == {"secret": f"secretsmanager:{name}"}
    (role,) = [r for r in deployer.stack.resources if r.name == "poc-poller-role"]
    assert any("secretsmanager:GetSecretValue" in p.actions and p.resources[0].endswith(f":secret:{name}-*")
               for p in role.permissions)


def test_an_ssm_parameter_must_exist_and_be_a_secure_string(local_cloud, monkeypatch):
    name = f"/sfn-callback/job-api-key-{uuid.uuid4().hex[:8]}"
    config = {**GOOD, "auth": {"secret": f"ssm:{name}"}}
    refused(deploy(local_cloud, config, "--plan"), f"ssm:{name} does not exist in SSM Parameter Store")
    ssm = local_cloud.client("ssm")
    ssm.put_parameter(Name=name, Value="plain", Type="String")
    refused(deploy(local_cloud, config, "--plan"), "of type String, not SecureString")
    ssm.put_parameter(Name=name, Value="secret", Type="SecureString", Overwrite=True)
    accepted(local_cloud, config, monkeypatch)


def test_package_refuses_a_broken_configuration_too(tmp_path):
    env = {**os.environ, "SFN_CALLBACK_JOB_API_CONFIG": json.dumps({**GOOD, "jobIdPath": "job..id"})}
    done = subprocess.run([sys.executable, "-m", "sfn_callback.cli.main", "package", "--out", str(tmp_path),
                           "--without-dependencies"], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode != 0 and "jobIdPath: 'job..id' is not a JMESPath expression" in done.stderr, done.stderr
    assert not (tmp_path / "stack.json").exists()
