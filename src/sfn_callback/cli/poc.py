"""``run``, ``poll``, ``monitor`` and ``bench poc``: the callback PoC from the command line.

* ``run`` deploys when the plan has changes, runs registered scenarios with live progress, prints a validation
  summary whose every line is a :class:`~sfn_callback.scenarios.Check`, saves the result under the state
  directory (``runs/latest-<scenario>.json``) and exits 0 only if every check passed.
* ``poll JOB_ID`` invokes ``poc-poller`` once (seed ``poll-manually.sh``).
* ``monitor`` shows token records (masked tokens), jobs, executions and functions (seed ``monitor.sh``).
* ``bench poc`` measures setup, reconnect latency, throughput and lost jobs on a fresh local cloud.
"""

from __future__ import annotations

import json
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import typer
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from sfn_callback import config
from sfn_callback.cli.common import MAX_JOBS, JsonOption, console_for, emit_json, refuse, state
from sfn_callback.common.tokens import mask_token
from sfn_callback.config import Target

MAX_LIVE_ROWS = 15


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("poll")(poll)
    app.command("monitor")(monitor)
    bench_app.command("poc")(bench_poc)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _unreachable(target: Target, exc: Exception) -> typer.Exit:
    where = target.endpoint_url or "AWS"
    hint = " (start the local cloud with `sfn-callback up --detach`)" if target.is_local else ""
    configuration = (ProfileNotFound, NoCredentialsError, PartialCredentialsError, NoRegionError)
    return _fail(f"cannot reach {where}{hint}: {exc}", 2 if isinstance(exc, configuration) else 1)


# ------------------------------------------------------------------------------------------------- run
def ensure_deployed(target: Target, console: Console) -> dict[str, Any]:
    """Apply the stack only when its plan has changes; what was done, for the JSON document."""
    from sfn_callback.deploy.deployer import ConfigurationRefused, Deployer

    deployer = Deployer(target)
    try:
        plan = deployer.plan()
    except ConfigurationRefused as exc:
        raise _fail(f"deploy refused, {exc}", 2) from None
    if not plan.has_changes:
        console.print(f"stack up to date ({len(plan.changes)} resources)")
        return {"applied": 0, "seconds": 0.0}
    result = deployer.apply(plan)
    console.print(f"deployed {len(result.applied)} changes in {result.seconds:.1f} s")
    return {"applied": len(result.applied), "seconds": round(result.seconds, 3)}


def progress_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    columns = list(rows[0]) if rows else ["execution"]
    for column in columns:
        table.add_column(column)
    for row in rows[:MAX_LIVE_ROWS]:
        table.add_row(*(str(row.get(c, "")) for c in columns))
    if len(rows) > MAX_LIVE_ROWS:
        counts: dict[str, int] = {}
        for row in rows:
            key = str(row.get("execution status", row.get("status", "?")))
            counts[key] = counts.get(key, 0) + 1
        table.caption = f"{len(rows) - MAX_LIVE_ROWS} more; " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    return table


def print_summary(result: Any, console: Console, label: str | None = None) -> None:
    head = label or result.scenario
    verdict = "[bold green]PASSED[/]" if result.passed else "[bold red]FAILED[/]"
    console.print(f"{verdict} {head}: {len(result.jobs)} job(s) in {result.duration_s:.1f} s; expected {result.expected}")
    for check in result.checks:
        mark = "[green]✔[/]" if check.passed else "[red]✘[/]"
        console.print(f"  {mark} {check.name}: ", Text(check.detail), sep="")


def save_result(name: str, document: dict[str, Any]) -> str:
    folder = os.path.join(config.state_dir(), "runs")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"latest-{name}.json")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2, sort_keys=True, default=str)
    os.replace(tmp, path)
    return path


def default_timeout(jobs: int, interval_seconds: int) -> float:
    return 60.0 + 20.0 * interval_seconds + 0.5 * jobs


def run_scenario(target: Target, name: str, options: Any, console: Console, live: bool) -> Any:
    """One run of a registered scenario, with a live table when ``live``."""
    from sfn_callback import scenarios

    scenario = scenarios.get(name)
    if not live:
        return scenario.run(target, options, lambda rows: None)
    with Live(progress_table(name, []), console=console, refresh_per_second=4, transient=False) as view:
        result = scenario.run(target, options, lambda rows: view.update(progress_table(name, rows)))
    console.print()
    return result


def run_many(target: Target, names: list[str], options: Any, repeat: int, console: Console, live: bool = True,
             concurrent: bool = False) -> list[dict[str, Any]]:
    """Run each scenario ``repeat`` times; print summaries, save ``latest-<name>.json``; the run documents."""
    documents: list[dict[str, Any]] = []

    def one(name: str, index: int, show_live: bool) -> dict[str, Any]:
        result = run_scenario(target, name, options, console, show_live)
        label = f"{name} (run {index + 1}/{repeat})" if repeat > 1 else name
        print_summary(result, console, label)
        doc = result.to_dict() | {"run": index + 1, "repeat": repeat}
        return doc

    per_name: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    if concurrent and len(names) > 1:
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            for index in range(repeat):
                for doc in pool.map(lambda n, i=index: one(n, i, False), names):
                    per_name[doc["scenario"]].append(doc)
    else:
        for name in names:
            for index in range(repeat):
                per_name[name].append(one(name, index, live))
    for name, docs in per_name.items():
        saved = save_result(name, {
            "scenario": name, "target": target.endpoint_url or "aws", "passed": all(d["passed"] for d in docs),
            "finishedAt": datetime.now(UTC).isoformat(), "runs": docs,
        })
        for doc in docs:
            doc["savedTo"] = saved
        documents.extend(docs)
    return documents


def run(
    ctx: typer.Context,
    names: list[str] = typer.Argument(None, metavar="SCENARIO", show_default=False,
                                      help="Scenario names (the same as --scenario)."),
    scenario: list[str] = typer.Option(None, "--scenario", help="Scenario name (repeatable). Default: all."),
    jobs: int = typer.Option(1, "--jobs", min=1, help=f"Executions per scenario run (at most {MAX_JOBS} "
                                                       "without --allow-many)."),
    allow_many: bool = typer.Option(False, "--allow-many", help=f"Allow --jobs over {MAX_JOBS}."),
    interval_seconds: int = typer.Option(1, "--interval-seconds", min=1, help="Polling interval of each job."),
    repeat: int = typer.Option(1, "--repeat", min=1, help="Run each scenario K times in a row."),
    timeout: float = typer.Option(None, "--timeout", help="Seconds to wait per run, more than 0 (default from "
                                                          "jobs and interval: 60 + 20 x interval + jobs / 2)."),
    no_deploy: bool = typer.Option(False, "--no-deploy", help="Do not plan or apply the stack first."),
    as_json: bool = JsonOption,
) -> None:
    """Run scenarios end to end with live progress; exit 0 only if every check passed (1: a check failed;
    2: invalid options, nothing was started)."""
    from sfn_callback import scenarios
    from sfn_callback.scenarios import RunOptions

    if jobs > MAX_JOBS and not allow_many:
        refuse(f"--jobs {jobs} would start {jobs} executions per scenario; at most {MAX_JOBS} without --allow-many")
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        refuse(f"--timeout {timeout:g} must be a number of seconds above 0 (leave it out for the default)")
    console = console_for(as_json)
    target = state(ctx).target
    known = scenarios.all_scenarios()
    asked = [*(names or []), *(scenario or [])]
    names = list(dict.fromkeys(asked)) if asked else list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise _fail(f"unknown scenario {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}", 2)
    options = RunOptions(jobs=jobs, interval_seconds=interval_seconds,
                         timeout_seconds=default_timeout(jobs, interval_seconds) if timeout is None else timeout)
    try:
        deployed = {"applied": 0, "skipped": True} if no_deploy else ensure_deployed(target, console)
        documents = run_many(target, names, options, repeat, console)
    except (EndpointConnectionError, BotoCoreError) as exc:
        raise _unreachable(target, exc) from exc
    passed = bool(documents) and all(d["passed"] for d in documents)
    failed = sorted({d["scenario"] for d in documents if not d["passed"]})
    console.print(f"[bold]{'all checks passed' if passed else 'checks failed: ' + ', '.join(failed)}[/]"
                  f" ({len(documents)} run(s))")
    if as_json:
        emit_json({"passed": passed, "target": target.endpoint_url or "aws", "deploy": deployed, "runs": documents})
    if not passed:
        raise typer.Exit(1)


# ------------------------------------------------------------------------------------------------ poll
def invoke_poller(target: Target, job_id: str) -> dict[str, Any]:
    """One poll of ``job_id`` through ``poc-poller``; a Lambda error raises ``RuntimeError`` with its type."""
    from sfn_callback.common.aws import client

    resp = client("lambda", target).invoke(FunctionName=config.POLLER_FUNCTION,
                                           Payload=json.dumps({"jobId": job_id}).encode())
    body = json.loads(resp["Payload"].read() or b"null")
    if resp.get("FunctionError"):
        error = body if isinstance(body, dict) else {}
        raise RuntimeError(f"{error.get('errorType', 'Error')}: {error.get('errorMessage', body)}")
    return body


def poll(ctx: typer.Context, job_id: str = typer.Argument(..., help="The jobId to poll (see `monitor`)."),
         as_json: bool = JsonOption) -> None:
    """Poll one job now, as its schedule would (seed poll-manually.sh)."""
    console = console_for(as_json)
    target = state(ctx).target
    try:
        result = invoke_poller(target, job_id)
    except RuntimeError as exc:
        raise _fail(f"poll of {job_id!r} failed: {exc}") from exc
    except ClientError as exc:
        raise _fail(f"cannot invoke {config.POLLER_FUNCTION}: {exc} (deploy with `sfn-callback deploy`)") from exc
    except (EndpointConnectionError, BotoCoreError) as exc:
        raise _unreachable(target, exc) from exc
    if as_json:
        emit_json(result)
        return
    console.print(f"Polling job: {job_id}")
    console.print_json(json.dumps(result))
    if result.get("reconnected"):
        console.print("[green]the workflow was reconnected[/]")


# --------------------------------------------------------------------------------------------- monitor
def _scan(ddb: Any, table: str) -> list[dict[str, Any]] | None:
    from sfn_callback.common.dynamo import from_item as _from_ddb

    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    try:
        while True:
            page = ddb.scan(**kwargs)
            items.extend(_from_ddb(i) for i in page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise


def snapshot(target: Target, limit: int) -> dict[str, Any]:
    """The four views of seed monitor.sh; newest first, ``limit`` rows each; tokens masked."""
    from sfn_callback.common.aws import client
    from sfn_callback.poc.scenarios import workflow_arn

    ddb, sfn, lam = client("dynamodb", target), client("stepfunctions", target), client("lambda", target)
    tokens = _scan(ddb, config.TOKENS_TABLE)
    jobs = _scan(ddb, config.JOBS_TABLE)
    doc: dict[str, Any] = {"tokens": None, "jobs": None, "executions": None, "functions": []}
    if tokens is not None:
        tokens = [i for i in tokens if "status" in i]  # token records only: the sweep's lease item has no status
        tokens.sort(key=lambda i: i.get("createdAt", ""), reverse=True)
        doc["tokens"] = [{
            "jobId": i.get("jobId"), "status": i.get("status"), "attempts": i.get("attemptCount"),
            "maxAttempts": i.get("maxAttempts"), "token": mask_token(i.get("taskToken")),
            "failedChecks": i.get("failedChecks", 0), "transientChecks": i.get("transientChecks", 0),
            "callbackResult": i.get("callbackResult"), "expiresAt": i.get("expiresAt"),
            "execution": str(i.get("executionId", "")).rsplit(":", 1)[-1],
        } for i in tokens[:limit]]
        doc["tokensTotal"] = len(tokens)
    if jobs is not None:
        jobs.sort(key=lambda i: i.get("createdAt", ""), reverse=True)
        doc["jobs"] = [{"jobId": i.get("jobId"), "status": i.get("status"), "polls": i.get("pollCount"),
                        "completesAt": i.get("completionPolls"), "planned": i.get("plannedOutcome")}
                       for i in jobs[:limit]]
        doc["jobsTotal"] = len(jobs)
    try:
        executions: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"stateMachineArn": workflow_arn(target), "maxResults": 1000}
        while True:
            page = sfn.list_executions(**kwargs)
            executions.extend(page["executions"])
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        executions.sort(key=lambda e: e["startDate"], reverse=True)
        doc["executions"] = [{"name": e["name"], "status": e["status"], "startDate": e["startDate"].isoformat(),
                              "stopDate": e["stopDate"].isoformat() if e.get("stopDate") else None}
                             for e in executions[:limit]]
        doc["executionsTotal"] = len(executions)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("StateMachineDoesNotExist", "ResourceNotFoundException"):
            raise
    for page in lam.get_paginator("list_functions").paginate():
        doc["functions"].extend({"name": f["FunctionName"], "runtime": f.get("Runtime"), "handler": f.get("Handler"),
                                 "lastModified": f.get("LastModified")}
                                for f in page["Functions"] if f["FunctionName"].startswith("poc-"))
    doc["functions"].sort(key=lambda f: f["name"])
    return doc


def _table(title: str, rows: list[dict[str, Any]] | None, total: int | None, missing: str) -> Any:
    if rows is None:
        return Text(f"{title}: {missing}")
    table = Table(title=f"{title} ({len(rows)} of {total})" if total is not None and total > len(rows) else title,
                  title_justify="left")
    columns = list(rows[0]) if rows else ["(none)"]
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    return table


def render_snapshot(doc: dict[str, Any]) -> Group:
    return Group(
        _table("Task tokens (poc-task-tokens)", doc["tokens"], doc.get("tokensTotal"), "table not found"),
        _table("Jobs (poc-jobs)", doc["jobs"], doc.get("jobsTotal"), "table not found"),
        _table("Executions (poc-callback-workflow)", doc["executions"], doc.get("executionsTotal"),
               "no state machine found"),
        _table("Functions (poc-*)", doc["functions"], None, "none"),
    )


def monitor(
    ctx: typer.Context,
    watch: bool = typer.Option(False, "--watch", help="Refresh every --every seconds until Ctrl-C."),
    every: float = typer.Option(2.0, "--every", min=0.2),
    limit: int = typer.Option(20, "--limit", min=1, help="Rows per table, newest first."),
    as_json: bool = JsonOption,
) -> None:
    """Token records (masked tokens), jobs, executions and functions, as tables (seed monitor.sh)."""
    target = state(ctx).target
    if watch and as_json:
        raise _fail("--watch and --json do not go together (--json prints one document)", 2)
    try:
        if as_json:
            emit_json(snapshot(target, limit))
            return
        console = console_for(False)
        if not watch:
            console.print(render_snapshot(snapshot(target, limit)))
            return
        with Live(render_snapshot(snapshot(target, limit)), console=console, refresh_per_second=2) as view:
            try:
                while True:
                    time.sleep(every)
                    view.update(render_snapshot(snapshot(target, limit)))
            except KeyboardInterrupt:
                pass
    except (EndpointConnectionError, BotoCoreError) as exc:
        raise _unreachable(target, exc) from exc


# ----------------------------------------------------------------------------------------------- bench
def bench_poc(
    jobs: int = typer.Option(200, "--jobs", min=1, help="Concurrent executions of the complete scenario."),
    interval_seconds: int = typer.Option(1, "--interval-seconds", min=1),
    probes: int = typer.Option(30, "--probes", min=1, help="Callback round trips on each cloud for the ratio."),
    lambda_concurrency: int = typer.Option(None, "--lambda-concurrency",
                                           help="Parallel invokes per function in the fresh local cloud."),
    as_json: bool = JsonOption,
) -> None:
    """Setup time, reconnect latency p50/p99, jobs/s, lost jobs and the callback ratio to bare moto."""
    from sfn_callback.poc.bench import render, run_poc_bench

    console = console_for(as_json)
    result = run_poc_bench(jobs=jobs, interval_seconds=interval_seconds, probes=probes,
                           lambda_concurrency=lambda_concurrency, say=lambda m: console.log(m))
    if as_json:
        emit_json(result)
    else:
        render(result, console)
    if result["lost_jobs"] or not result["checks_passed"]:
        raise typer.Exit(1)

