"""``deploy``/``destroy`` against real AWS refuse without --yes when no terminal can confirm, before any AWS
call; a failure to reach AWS is one clear line, not a stack trace."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ENV_NO_AWS = {
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE00",
    "AWS_SECRET_ACCESS_KEY": "not-a-real-key",
    # Any AWS call goes through this proxy and fails at once (nothing listens on port 9). Real AWS ignores
    # configured endpoint URLs such as AWS_ENDPOINT_URL_STS, so they cannot stand in for AWS here.
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "AWS_MAX_ATTEMPTS": "1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def run_cli(*args: str, stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k.lower() != "no_proxy"}
    env.update(ENV_NO_AWS)
    return subprocess.run([sys.executable, "-m", "sfn_callback.cli.main", *args], stdin=stdin,
                          capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("command", [["deploy"], ["destroy"]])
def test_refuses_real_aws_without_yes_and_without_a_terminal(command):
    proc = run_cli("--endpoint", "aws", *command)
    assert proc.returncode == 2
    assert "refusing" in proc.stderr and "--yes" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "cannot reach AWS" not in proc.stderr  # refused before any call


def test_with_yes_an_unreachable_aws_fails_clearly():
    proc = run_cli("--endpoint", "aws", "deploy", "--yes")
    assert proc.returncode == 2
    assert "cannot reach AWS to identify the account" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_plan_on_unreachable_aws_fails_clearly():
    proc = run_cli("--endpoint", "aws", "deploy", "--plan", "--json")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_the_confirmation_names_account_region_and_endpoints(monkeypatch, capsys):
    """What ``deploy``/``destroy`` print before touching AWS: the account (STS, replaced here), the region and
    AWS's endpoints, also when AWS_ENDPOINT_URL points elsewhere."""
    from sfn_callback.cli import deploy
    from sfn_callback.config import Target

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    monkeypatch.setattr(deploy, "caller_account", lambda target: ("123456789012", "arn:aws:iam::123456789012:user/ci"))
    deploy.confirm_real_aws(Target(None, "eu-west-1", None), "deploy", yes=True)
    line = capsys.readouterr().err.strip()
    assert line == ("deploy on AWS account 123456789012 (arn:aws:iam::123456789012:user/ci), region eu-west-1, "
                    "endpoints https://<service>.eu-west-1.amazonaws.com (AWS; AWS_ENDPOINT_URL and configured "
                    "endpoint URLs ignored)"), line
