"""The ``sfn-callback`` command."""

from __future__ import annotations

import importlib
import sys

import typer
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

from sfn_callback.cli.common import EXIT_FAILED, EXIT_REFUSED, CliState, check_region, endpoint_option
from sfn_callback.config import DEFAULT_REGION


class _App(typer.Typer):
    """The command, with AWS configuration and call errors no command caught as one line and an exit code
    (see :mod:`sfn_callback.cli.common`) instead of a traceback."""

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except (ProfileNotFound, NoCredentialsError, PartialCredentialsError, NoRegionError) as exc:
            sys.stderr.write(f"error: AWS configuration: {exc}\n")
            sys.exit(EXIT_REFUSED)
        except (BotoCoreError, ClientError) as exc:
            sys.stderr.write(f"error: {exc}\n")
            sys.exit(EXIT_FAILED)


app = _App(
    name="sfn-callback",
    help="Step Functions callback pattern: embedded local cloud, reference workflows, benchmarks and cost model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(help="Benchmarks that print their figures (and a ratio against a baseline run in the same process).")
app.add_typer(bench_app, name="bench")


def _print_version(value: bool) -> None:
    if value:
        from sfn_callback import __version__

        typer.echo(f"sfn-callback {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
    endpoint: str = typer.Option(
        None,
        "--endpoint",
        envvar="AWS_ENDPOINT_URL",
        help="Local cloud, LocalStack or other endpoint URL; 'aws' for real AWS. Default: the local cloud on 127.0.0.1:4566.",
    ),
    region: str = typer.Option(DEFAULT_REGION, "--region", envvar="AWS_DEFAULT_REGION"),
    profile: str = typer.Option(None, "--profile", envvar="AWS_PROFILE", help="AWS profile (real AWS)."),
) -> None:
    ctx.obj = CliState(endpoint=endpoint_option(endpoint, "--endpoint (or AWS_ENDPOINT_URL)"), region=check_region(region),
                       profile=profile)


# Each component registers its commands in its own module; a module that is not there yet is skipped.
for _module in (
    "sfn_callback.cli.cloud",
    "sfn_callback.cli.demo",
    "sfn_callback.cli.poc",
    "sfn_callback.cli.approval",
    "sfn_callback.cli.export",
    "sfn_callback.cli.cost",
    "sfn_callback.cli.deploy",
    "sfn_callback.cli.report",
    "sfn_callback.cli.faults",
    "sfn_callback.cli.dashboard",
    "sfn_callback.cli.jobapi",
):
    try:
        _mod = importlib.import_module(_module)
    except ModuleNotFoundError as exc:  # pragma: no cover - only while a component is absent
        if exc.name != _module:
            raise
        continue
    _mod.register(app, bench_app)


if __name__ == "__main__":
    app()
