"""``bench faults``: the fault run (see :mod:`sfn_callback.bench.faults`)."""

from __future__ import annotations

import typer

from sfn_callback.cli.common import JsonOption, console_for, emit_json, refuse, state


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    bench_app.command("faults")(bench_faults)


def bench_faults(
    ctx: typer.Context,
    jobs: int = typer.Option(100, "--jobs", min=1, max=1000,
                             help="Jobs in all: an equal share per fault, the rest the control group."),
    faults: str = typer.Option(None, "--faults", help="Comma-separated faults to inject (default: all): "
                               "scheduler-duplicates, concurrent-polls, poller-killed, create-job-killed, "
                               "throttled-callbacks, failing-callbacks, task-timeout-race, approval-deadline-race, "
                               "approval-duplicate-delivery, export-duplicate-delivery."),
    interval_seconds: int = typer.Option(2, "--interval-seconds", min=1, help="Polling interval of the PoC jobs."),
    timeout: float = typer.Option(300.0, "--timeout", min=1, help="Seconds to wait for every job to settle."),
    as_json: bool = JsonOption,
) -> None:
    """Inject faults on a share of N jobs (duplicate Scheduler deliveries, concurrent polls, SIGKILLed workers,
    throttled and failing callbacks, callbacks racing timeouts, duplicate SQS deliveries) and count, per fault,
    what was injected, lost jobs, duplicate callbacks, wrong outcomes and recovery p50/p99, with a control group.
    Starts its own local cloud unless --endpoint is given. Exit 0 only if nothing was lost, duplicated or wrong
    and every fault was injected."""
    from sfn_callback.bench.faults import FAULTS, FaultBenchConfig, FaultBenchError, render, run_fault_bench

    chosen = tuple(dict.fromkeys(f.strip() for f in faults.split(",") if f.strip())) if faults else FAULTS
    try:
        cfg = FaultBenchConfig(jobs=jobs, faults=chosen, interval_seconds=interval_seconds,
                               settle_timeout_seconds=timeout)
    except ValueError as exc:
        refuse(f"--faults: {exc}" if "fault" in str(exc) else str(exc))
    console = console_for(as_json)
    # An explicit --endpoint (or AWS_ENDPOINT_URL) means that local cloud; otherwise a fresh one of its own.
    target = state(ctx).target if _explicit_endpoint(ctx) else None
    try:
        result = run_fault_bench(cfg, target, say=lambda m: console.log(m))
    except FaultBenchError as exc:
        refuse(str(exc), code=1)
    if as_json:
        emit_json(result)
    else:
        render(result, console)
    if not result["passed"]:
        raise typer.Exit(1)


def _explicit_endpoint(ctx: typer.Context) -> bool:
    """Was a local cloud named (``--endpoint`` or ``AWS_ENDPOINT_URL``), rather than the default?"""
    source = ctx.find_root().get_parameter_source("endpoint")
    return getattr(source, "name", None) in ("COMMANDLINE", "ENVIRONMENT")  # (Typer's own copy of click's enum)
