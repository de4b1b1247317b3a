"""``sfn-callback demo``: the callback PoC on a fresh embedded local cloud, start to finish, then stop.

A detached local cloud on a free port, the stack deployed, ``run --scenario complete`` with live progress,
then fail, max-attempts, timeout and sfn-timeout side by side with their validation summaries, then the
cloud stops. Exits non-zero if any scenario failed.
"""

from __future__ import annotations

import os
import time

import typer

from sfn_callback.cli.common import out_console

OTHER_SCENARIOS = ("fail", "max-attempts", "timeout", "sfn-timeout")


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(jobs: int = typer.Option(2, "--jobs", min=1, help="Executions per scenario.")) -> None:
    """Up, deploy, run the complete scenario live and the four error scenarios in summary, down."""
    from sfn_callback.cli.poc import default_timeout, ensure_deployed, run_many
    from sfn_callback.config import Target, state_dir
    from sfn_callback.localcloud import process
    from sfn_callback.scenarios import RunOptions

    console = out_console
    started = time.perf_counter()
    port = process.free_port()
    log_path = os.path.join(state_dir(), f"demo-localcloud-{port}.log")
    proc, endpoint = process.start_detached("127.0.0.1", port, log_path=log_path, timeout=60)
    console.print(f"[bold]local cloud[/] healthy at {endpoint} in {time.perf_counter() - started:.1f} s "
                  f"(log {log_path})")
    documents = []
    try:
        target = Target(endpoint_url=endpoint)
        ensure_deployed(target, console)
        options = RunOptions(jobs=jobs, interval_seconds=1, timeout_seconds=default_timeout(jobs, 1))
        console.rule("complete: the job completes, SendTaskSuccess resumes the workflow")
        documents += run_many(target, ["complete"], options, 1, console, live=True)
        console.rule(f"{', '.join(OTHER_SCENARIOS)} (concurrently)")
        documents += run_many(target, list(OTHER_SCENARIOS), options, 1, console, live=False, concurrent=True)
    finally:
        process.stop_process(proc.pid)
        console.print("local cloud stopped")
    failed = [d["scenario"] for d in documents if not d["passed"]]
    elapsed = time.perf_counter() - started
    if failed:
        console.print(f"[bold red]demo failed[/]: {', '.join(failed)} ({elapsed:.0f} s)")
        raise typer.Exit(1)
    console.print(f"[bold green]demo passed[/]: 5 scenarios, every check from the data ({elapsed:.0f} s); "
                  "results in runs/latest-<scenario>.json under the state directory")
