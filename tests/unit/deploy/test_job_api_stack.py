"""The HTTP job adapter's configuration in the stack, as both deploy routes see it: the functions' environment
and IAM, the secret the Terraform manifest makes Terraform look up, and the refusals of a broken configuration."""

from __future__ import annotations

import json

import pytest

from sfn_callback.deploy import manifest as mf
from sfn_callback.deploy.spec import StackContext
from sfn_callback.deploy.stack import build_stack
from sfn_callback.poc.job_api import REFERENCE_CONFIG, REFERENCE_SECRET

CONFIG = {
    "submit": {"url": "https://jobs.example.com/v1/jobs"},
    "status": {"url": "https://jobs.example.com/v1/jobs/{jobId}"},
    "statusValues": {"completed": ["DONE"]},
    "auth": {"secret": "ssm:/jobs/api-key"},
}
JOB_FUNCTIONS = ("poc-create-job", "poc-poller", "poc-sweep-poller")


def functions(stack):
    return {r.name: r for r in stack.resources if r.kind == "function"}


def test_a_configured_job_api_reaches_the_three_functions_with_read_access_to_its_secret(monkeypatch, tmp_path):
    path = tmp_path / "job-api.json"
    path.write_text(json.dumps(CONFIG))
    monkeypatch.setenv("SFN_CALLBACK_JOB_API_CONFIG", str(path))
    stack = build_stack(StackContext("123456789012", "eu-west-1", local=False))
    assert not stack.problems and [s.ref for s in stack.secrets] == ["ssm:/jobs/api-key"]
    found = functions(stack)
    for name in JOB_FUNCTIONS:
        assert json.loads(dict(found[name].env)["JOB_API_CONFIG"]) == CONFIG
        (grant,) = [p for p in found[name].permissions if "ssm:GetParameter" in p.actions]
        assert grant.resources == ("arn:aws:ssm:eu-west-1:123456789012:parameter/jobs/api-key",)
    assert "JOB_API_CONFIG" not in dict(found["poc-simulated-api"].env)
    doc = mf.build_manifest(build_stack(mf.terraform_context()))
    assert doc["required_secrets"] == {"ssm:/jobs/api-key": {"service": "ssm", "name": "/jobs/api-key",
                                                             "purpose": "the job API's auth secret "
                                                                        "(SFN_CALLBACK_JOB_API_CONFIG)"}}
    assert "JOB_API_CONFIG" in doc["functions"]["poc-poller"]["environment"]


def test_without_a_configuration_aws_gets_none_and_a_local_target_the_reference_one(monkeypatch):
    monkeypatch.delenv("SFN_CALLBACK_JOB_API_CONFIG", raising=False)
    aws = build_stack(StackContext("123456789012", "us-east-1", local=False))
    assert all("JOB_API_CONFIG" not in dict(f.env) for f in functions(aws).values()) and not aws.secrets
    local = build_stack(StackContext("000000000000", "us-east-1", local=True))
    assert json.loads(dict(functions(local)["poc-poller"].env)["JOB_API_CONFIG"]) == REFERENCE_CONFIG
    (secret,) = local.secrets
    assert secret.ref == f"secretsmanager:{REFERENCE_SECRET}" and secret.optional_locally
    assert mf.build_manifest(build_stack(mf.terraform_context(target="local")))["required_secrets"] == {}


@pytest.mark.parametrize("config, problem", [
    ({**CONFIG, "resultPath": "a..b"}, "resultPath: 'a..b' is not a JMESPath expression"),
    ({**CONFIG, "status": {"url": "https://jobs.example.com/{tenant}/{jobId}"}}, "names {tenant}"),
    ({**CONFIG, "auth": {"secret": "vault:x"}}, "is not secretsmanager:<name> or ssm:<name>"),
])
def test_a_broken_configuration_is_a_stack_problem_that_the_manifest_refuses(monkeypatch, config, problem):
    monkeypatch.setenv("SFN_CALLBACK_JOB_API_CONFIG", json.dumps(config))
    stack = build_stack(mf.terraform_context())
    assert len(stack.problems) == 1 and problem in stack.problems[0]
    with pytest.raises(mf.ManifestError, match="cannot work"):
        mf.build_manifest(stack)
