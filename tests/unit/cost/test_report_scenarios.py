"""The report's scenario section reads what `sfn-callback run` saves (runs/latest-<scenario>.json)."""

from __future__ import annotations

from sfn_callback.cli.poc import save_result
from sfn_callback.cost.pricing import load_price_table
from sfn_callback.report.report import build_sections, load_inputs
from sfn_callback.scenarios import Check, ScenarioResult


def test_scenario_outcomes_come_from_the_saved_run_results(tmp_path, monkeypatch):
    monkeypatch.setenv("SFN_CALLBACK_STATE_DIR", str(tmp_path))
    ok = ScenarioResult("complete", "SUCCEEDED via SuccessState", [Check("callback sent once", True)],
                        jobs=[{"job": 1}], duration_s=3.25)
    bad = ScenarioResult("timeout", "TimeoutState with PollingTimeout",
                         [Check("schedule gone", True), Check("expected error", False, "got States.Timeout")])
    # The documents exactly as `sfn-callback run` saves them.
    for result in (ok, bad):
        save_result(result.scenario, {"scenario": result.scenario, "passed": result.passed, "target": "local",
                                      "runs": [result.to_dict() | {"run": 1, "repeat": 1}]})
    (tmp_path / "runs" / "latest-broken.json").write_text("{not json")

    inputs = load_inputs(str(tmp_path))
    assert [s["scenario"] for s in inputs.scenarios] == ["complete", "timeout"]
    section = next(s for s in build_sections(inputs, load_price_table(), str(tmp_path)) if s.title == "Scenarios")
    text = "\n".join(section.markdown)
    assert "| complete | PASSED | SUCCEEDED via SuccessState | 1 | 3.2 | 1/1 | - |" in text
    assert "| timeout | FAILED | TimeoutState with PollingTimeout | 0 | 0.0 | 1/2 | expected error |" in text


def test_no_saved_runs_says_so(tmp_path):
    inputs = load_inputs(str(tmp_path))
    section = next(s for s in build_sections(inputs, load_price_table(), str(tmp_path)) if s.title == "Scenarios")
    assert "no data" in "\n".join(section.markdown)
