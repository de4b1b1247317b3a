"""``sfn-callback job-api``: the reference external job service on loopback (see ``sfn_callback.jobapi``)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("job-api")
    def job_api(
        host: str = typer.Option("127.0.0.1", "--host", help="Loopback only."),
        port: int = typer.Option(8080, "--port", help="0: a free port (the first stdout line names it)."),
        keys_file: Path = typer.Option(None, "--keys-file",
                                       help="One bearer key a line, re-read when it changes "
                                            "(else SFN_CALLBACK_JOB_API_KEYS, comma-separated)."),
    ) -> None:
        """Serve the reference job API (POST /jobs, GET /jobs/{id}) for the HTTP job adapter."""
        try:
            from sfn_callback.jobapi.entrypoints import server
        except ModuleNotFoundError as exc:
            typer.echo(f"error: the job API needs the approval extra (pip install 'sfn-callback[approval]'): {exc}",
                       err=True)
            raise typer.Exit(2) from None
        args = ["--host", host, "--port", str(port)] + (["--keys-file", str(keys_file)] if keys_file else [])
        raise typer.Exit(server.main(args))
