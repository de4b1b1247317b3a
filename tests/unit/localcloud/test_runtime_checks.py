"""Which runtimes the local cloud runs, and the checks at CreateFunction (with moto's own exception type)."""

from __future__ import annotations

import pytest

from sfn_callback.localcloud import lambda_patches, runtimes


@pytest.fixture
def no_node(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no node on it
    runtimes.node_info(refresh=True)
    yield
    monkeypatch.undo()
    runtimes.node_info(refresh=True)


def test_families():
    assert [runtimes.family(r) for r in ("python3.12", "nodejs18.x", "nodejs22.x", "provided.al2023", "java21", None)] == \
        ["python", "node", "node", "provided", None, None]


def test_a_nodejs_function_is_refused_clearly_when_node_is_missing(no_node):
    from moto.awslambda.exceptions import InvalidParameterValueException

    with pytest.raises(InvalidParameterValueException) as refused:
        lambda_patches.check_runtime("nodejs20.x")
    assert "nodejs20.x cannot run on this local cloud" in refused.value.message
    assert "`node` was not found on the local cloud's PATH" in refused.value.message
    assert runtimes.runtimes_health()["nodejs"]["available"] is False
    lambda_patches.check_runtime("python3.11")  # the others are unaffected
    with pytest.raises(runtimes.BootstrapError) as at_invoke:  # a function created before node went away
        runtimes.bootstrap_command("node", "/nowhere")
    assert at_invoke.value.error_type == "Runtime.InvalidEntrypoint"


def test_unsupported_and_missing_runtimes_are_aws_errors():
    from moto.awslambda.exceptions import InvalidParameterValueException

    with pytest.raises(InvalidParameterValueException) as refused:
        lambda_patches.check_runtime("go1.x")
    assert "The runtime parameter of go1.x is not supported" in refused.value.message
    assert ", ".join(runtimes.SUPPORTED_RUNTIMES) in refused.value.message
    with pytest.raises(InvalidParameterValueException):
        lambda_patches.check_runtime(None)
    lambda_patches.check_runtime(None, "Image")  # an image function names no runtime


def test_machine_paths_are_shown_as_lambda_shows_them(tmp_path):
    pairs = runtimes.path_map(str(tmp_path))
    text = f"  File \"{tmp_path}/app.py\", line 3\n  at {runtimes.RUNTIME_DIR}/node/bootstrap.js:10"
    masked = runtimes.mask_paths(text, pairs)
    assert masked == "  File \"/var/task/app.py\", line 3\n  at /var/runtime/node/bootstrap.js:10"
