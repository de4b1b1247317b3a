"""``sfn-callback bench poc``: the PoC under load on a fresh local cloud, with bare moto as the baseline.

Figures (issue targets in brackets): setup = a fresh detached local cloud healthy + the stack deployed
[< 10 s]; reconnect latency = the callback task's TaskSucceeded -> the next state entered, from execution
history timestamps, p50/p99 [p99 < 100 ms]; jobs completed per second (first ExecutionStarted to last
ExecutionSucceeded); lost jobs = executions that did not end SUCCESS with a COMPLETED record [0]; and the
SendTaskSuccess -> SUCCEEDED round trip on this cloud over bare moto's, measured in the same run.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from sfn_callback.config import Target
from sfn_callback.localcloud import process
from sfn_callback.localcloud.bench import CallbackProbe, percentile, start_bare_moto, summary
from sfn_callback.observe.history import event_time, reconnect_latencies
from sfn_callback.poc.scenarios import JobObservation, scenario
from sfn_callback.scenarios import RunOptions

TARGETS = {"setup_s": 10.0, "reconnect_p99_ms": 100.0, "lost_jobs": 0, "concurrent_jobs": 200}


def lost(job: JobObservation) -> bool:
    return not (job.status == "SUCCEEDED" and (job.output or {}).get("status") == "SUCCESS"
                and job.record_status == "COMPLETED")


def throughput(jobs: list[JobObservation]) -> tuple[float, float]:
    """(jobs completed per second, seconds from the first start to the last finish) from the histories."""
    starts = [event_time(e) for j in jobs for e in j.events if e.get("type") == "ExecutionStarted"]
    ends = [event_time(e) for j in jobs for e in j.events if e.get("type") == "ExecutionSucceeded"]
    if not starts or not ends:
        return 0.0, 0.0
    span = (max(ends) - min(starts)).total_seconds()
    return (round(len(ends) / span, 2) if span > 0 else 0.0), round(span, 3)


def run_poc_bench(jobs: int = 200, interval_seconds: int = 1, probes: int = 30,
                  lambda_concurrency: int | None = None, say: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    from sfn_callback.deploy.deployer import Deployer

    env = {"SFN_CALLBACK_LAMBDA_CONCURRENCY": str(lambda_concurrency)} if lambda_concurrency else {}
    port = process.free_port()
    started = time.perf_counter()
    proc, endpoint = process.start_detached("127.0.0.1", port, log_path=os.devnull, env=env, timeout=60)
    up_s = time.perf_counter() - started
    bare_proc = None
    try:
        say(f"local cloud healthy at {endpoint} in {up_s:.2f} s")
        target = Target(endpoint_url=endpoint)
        t0 = time.perf_counter()
        applied = Deployer(target).apply()
        deploy_s = time.perf_counter() - t0
        say(f"deployed {len(applied.applied)} resources in {deploy_s:.2f} s")

        complete = scenario("complete")
        options = RunOptions(jobs=jobs, interval_seconds=interval_seconds,
                             timeout_seconds=120.0 + 20 * interval_seconds + jobs)
        last = [0.0]

        def progress(rows: list[dict[str, Any]]) -> None:
            if time.monotonic() - last[0] >= 5:
                last[0] = time.monotonic()
                done = sum(1 for r in rows if str(r.get("execution status", "")).startswith("SUCCEEDED"))
                say(f"{done}/{len(rows)} executions finished")

        say(f"starting {jobs} executions of the complete scenario (polling every {interval_seconds} s)")
        result, observed = complete.run_observed(target, options, progress)
        latencies_ms = [s * 1000 for j in observed for s in reconnect_latencies(j.events)]
        per_second, span = throughput(observed)
        attempts = [int((j.record or {}).get("attemptCount", 0)) for j in observed]
        say(f"{jobs} jobs done in {span:.1f} s; measuring callback round trips against bare moto")

        bare_proc, bare_endpoint = start_bare_moto()
        ours_probe, bare_probe = CallbackProbe(endpoint), CallbackProbe(bare_endpoint)
        ours_probe.once(), bare_probe.once()
        ours: list[float] = []
        bare: list[float] = []
        for _ in range(probes):
            ours.append(ours_probe.once())
            bare.append(bare_probe.once())
    finally:
        process.stop_process(proc.pid)
        if bare_proc is not None:
            bare_proc.kill()
            bare_proc.wait()
    return {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "jobs": jobs,
        "interval_seconds": interval_seconds,
        "lambda_concurrency": lambda_concurrency or 10,
        "setup_s": round(up_s + deploy_s, 3),
        "up_s": round(up_s, 3),
        "deploy_s": round(deploy_s, 3),
        "reconnect": summary(latencies_ms) if latencies_ms else None,
        "jobs_per_second": per_second,
        "span_s": span,
        "attempts_per_job": {"min": min(attempts, default=0), "max": max(attempts, default=0),
                             "mean": round(sum(attempts) / len(attempts), 2) if attempts else 0},
        "lost_jobs": sum(1 for j in observed if lost(j)),
        "checks_passed": result.passed,
        "checks": [c.__dict__ for c in result.checks],
        "callback_ours": summary(ours),
        "callback_bare_moto": summary(bare),
        "callback_ratio_p50": round(percentile(ours, 50) / percentile(bare, 50), 3),
        "callback_ratio_p99": round(percentile(ours, 99) / percentile(bare, 99), 3),
        "targets": TARGETS,
    }


def render(result: dict[str, Any], console: Console) -> None:
    table = Table(title=f"PoC benchmark: {result['jobs']} concurrent jobs (complete scenario)", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    rec = result["reconnect"] or {}
    table.add_row("setup (up + deploy)", f"{result['setup_s']:.2f} s ({result['up_s']:.2f} + {result['deploy_s']:.2f})",
                  f"< {TARGETS['setup_s']:.0f} s")
    table.add_row("reconnect latency p50", f"{rec.get('p50_ms', float('nan')):.1f} ms", "")
    table.add_row("reconnect latency p99", f"{rec.get('p99_ms', float('nan')):.1f} ms",
                  f"< {TARGETS['reconnect_p99_ms']:.0f} ms")
    table.add_row("jobs completed per second", f"{result['jobs_per_second']:.2f} ({result['span_s']:.1f} s in all)", "")
    table.add_row("lost jobs", str(result["lost_jobs"]), "0")
    table.add_row("callback round trip ours / bare moto",
                  f"p50 x{result['callback_ratio_p50']:.2f} ({result['callback_ours']['p50_ms']:.1f} / "
                  f"{result['callback_bare_moto']['p50_ms']:.1f} ms), p99 x{result['callback_ratio_p99']:.2f}", "")
    table.add_row("scenario checks", "all passed" if result["checks_passed"] else "FAILED", "all passed")
    console.print(table)
    for check in result["checks"]:
        if not check["passed"]:
            console.print(f"  [red]✘[/] {check['name']}: {check['detail']}")
