"""``dashboard``: the monitoring page on loopback (see :mod:`sfn_callback.dashboard`)."""

from __future__ import annotations

import typer

from sfn_callback.cli.common import err_console, refuse, state
from sfn_callback.common.net import is_loopback as _is_loopback

VALID_PERIODS = (1, 5, 10, 20, 30)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    app.command("dashboard")(dashboard)


def dashboard(
    ctx: typer.Context,
    port: int = typer.Option(8070, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0: a free one)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Loopback address to listen on (nothing else is allowed)."),
    refresh: float = typer.Option(5.0, "--refresh", min=0.5, max=3600, help="Seconds between the page's refreshes."),
    window: int = typer.Option(None, "--window", min=60, max=86400 * 15,
                               help="Seconds of metrics drawn (default 900 locally, 10800 on AWS)."),
    period: int = typer.Option(None, "--period", min=1,
                               help="Seconds per data point of every graph (default: the dashboard's or alarm's "
                                    "period, else 10 locally and 60 on AWS)."),
    dashboard_name: str = typer.Option("poc-callbacks", "--dashboard", help="CloudWatch dashboard whose graphs to draw."),
) -> None:
    """Serve the monitoring page: waiting workflows (masked tokens), executions by status, metric graphs, alarms,
    notifications; it refreshes itself by polling a JSON endpoint."""
    if not _is_loopback(host):
        refuse(f"--host {host!r} is not a loopback address: the dashboard listens on loopback only (127.0.0.1)")
    if period is not None and period not in VALID_PERIODS and period % 60:
        refuse(f"--period {period} is not a CloudWatch period (1, 5, 10, 20, 30 or a multiple of 60)")
    import uvicorn

    from sfn_callback.dashboard.app import create_app
    from sfn_callback.dashboard.collect import Collector

    target = state(ctx).target
    collector = Collector(target, window_seconds=window, period=period, dashboard_name=dashboard_name)
    app = create_app(collector, refresh_seconds=refresh)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)

    original = server.startup

    async def startup(*args, **kwargs):
        await original(*args, **kwargs)
        if server.started:
            bound = server.servers[0].sockets[0].getsockname()[1]
            err_console.print(f"dashboard on http://{host}:{bound}/ for {target.endpoint_url or 'AWS'} "
                              f"(refresh every {refresh:g} s); Ctrl-C stops it", highlight=False)

    server.startup = startup  # type: ignore[method-assign]  # uvicorn has no hook for the bound port: wrap startup
    try:
        server.run()
    except KeyboardInterrupt:  # pragma: no cover - interactive
        pass
    except SystemExit:  # uvicorn exits when it cannot bind
        pass
    if not server.started:
        refuse(f"cannot listen on {host}:{port} (in use?)", 1)


