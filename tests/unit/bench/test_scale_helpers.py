"""The scale bench's arithmetic: ratios of the two modes, one file per mode, CPU from /proc."""

from __future__ import annotations

import os

import pytest

from sfn_callback.bench.scale import ScaleConfig, compare, cpu_seconds, load_scale, save_scale


def row(mode, jobs, jps, drain, finish):
    return {"mode": mode, "jobs": jobs, "jobs_per_second": jps, "drain_jobs_per_second": drain,
            "finish_seconds": finish}


def test_compare_gives_sweep_over_per_job_for_sizes_measured_in_both_modes():
    rows = [row("per-job", 100, 2.0, 4.0, 50.0), row("sweep", 100, 5.0, 6.0, 20.0), row("sweep", 300, 3.0, 3.0, 100.0)]
    (c,) = compare(rows)
    assert c == {"jobs": 100, "jobs_per_second_ratio": 2.5, "drain_jobs_per_second_ratio": 1.5,
                 "finish_seconds_ratio": 0.4}


def test_a_run_of_both_modes_saves_one_file_per_mode_and_the_whole_run(tmp_path):
    doc = {"kind": "sfn-callback/scale-bench", "mode": "both",
           "sizes": [row("per-job", 100, 2.0, 4.0, 50.0), row("sweep", 100, 5.0, 6.0, 20.0)],
           "comparison": [], "notes": ["100 jobs (per-job): a", "100 jobs (sweep): b"]}
    save_scale(doc, str(tmp_path))
    per, sweep, both = (load_scale(m, str(tmp_path)) for m in ("per-job", "sweep", "both"))
    assert [r["mode"] for r in per["sizes"]] == ["per-job"] and per["mode"] == "per-job"
    assert sweep["notes"] == ["100 jobs (sweep): b"]
    assert len(both["sizes"]) == 2


def test_modes():
    assert ScaleConfig(mode="both").mode == "both"
    with pytest.raises(ValueError, match="--mode"):
        ScaleConfig(mode="all")


def test_cpu_seconds_of_this_process():
    assert cpu_seconds(os.getpid()) >= 0
    assert cpu_seconds(2 ** 30) is None
