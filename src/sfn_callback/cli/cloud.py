"""``up``, ``down`` and ``bench cloud``: the embedded local cloud."""

from __future__ import annotations

import typer

from sfn_callback.cli.common import JsonOption, console_for, emit_json
from sfn_callback.config import DEFAULT_LOCAL_PORT


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("down")(down)
    bench_app.command("cloud")(bench_cloud)


def up(
    port: int = typer.Option(DEFAULT_LOCAL_PORT, "--port", help="Port on loopback."),
    host: str = typer.Option("127.0.0.1", "--host", help="Loopback address to listen on."),
    detach: bool = typer.Option(False, "--detach", help="Run in the background; stop with `sfn-callback down`."),
    lambda_concurrency: int = typer.Option(None, "--lambda-concurrency",
                                           help="Parallel invokes per function (default 10)."),
    strict_iam: bool = typer.Option(False, "--strict-iam",
                                    help="Refuse functions, state machines and schedules whose role does not exist, "
                                         "as AWS does (default: accept them with a warning, as LocalStack does)."),
) -> None:
    """Start the local cloud (moto + Lambda runtime + Scheduler + SQS pollers) until Ctrl-C or SIGTERM."""
    from sfn_callback.localcloud import process

    if host not in ("127.0.0.1", "localhost", "::1"):
        raise typer.BadParameter("the local cloud listens on loopback only", param_hint="--host")
    if detach:
        env = {"SFN_CALLBACK_LAMBDA_CONCURRENCY": str(lambda_concurrency)} if lambda_concurrency else {}
        if strict_iam:
            env["SFN_CALLBACK_STRICT_IAM"] = "1"
        try:
            proc, endpoint = process.start_detached(host, port, env=env or None, owned=False)
        except (RuntimeError, TimeoutError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        typer.echo(process.connection_help(endpoint).replace(" Ctrl-C stops it.", " `sfn-callback down` stops it."))
        typer.echo(f"  pid {proc.pid}, log {process.pid_file(port).replace('.pid', '.log')}")
        return
    raise typer.Exit(process.serve_forever(host, port, lambda_concurrency=lambda_concurrency,
                                           strict_iam=True if strict_iam else None))


def down(port: int = typer.Option(DEFAULT_LOCAL_PORT, "--port")) -> None:
    """Stop a local cloud started with `up --detach`."""
    from sfn_callback.localcloud import process

    if process.stop_detached(port):
        typer.echo(f"local cloud on port {port} stopped")
    else:
        typer.echo(f"no detached local cloud on port {port} (no PID file {process.pid_file(port)})", err=True)
        raise typer.Exit(1)


def bench_cloud(
    invokes: int = typer.Option(200, "--invokes", help="Warm invokes to time."),
    callbacks: int = typer.Option(100, "--callbacks", help="SendTaskSuccess round trips to time."),
    as_json: bool = JsonOption,
) -> None:
    """Time to healthy, invoke latency (cold/warm) and callback latency against bare moto."""
    from sfn_callback.localcloud.bench import render, run_cloud_bench

    console = console_for(as_json)
    result = run_cloud_bench(invokes=invokes, callbacks=callbacks, progress=console)
    if as_json:
        emit_json(result)
    else:
        render(result, console)
