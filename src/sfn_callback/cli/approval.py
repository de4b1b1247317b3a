"""``approval-api``, ``tasks``, ``approve``, ``reject`` and ``bench approval``.

``tasks`` / ``approve`` / ``reject`` call the approval service over HTTP (``--url`` or ``$APPROVAL_API_URL``,
default http://127.0.0.1:8080) with ``--key`` or ``$APPROVAL_API_KEY``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import typer

from sfn_callback import config
from sfn_callback.cli.common import JsonOption, console_for, emit_json, endpoint_option, err_console, state

DEFAULT_URL = "http://127.0.0.1:8080"
UrlOption = typer.Option(None, "--url", envvar="APPROVAL_API_URL", help=f"The approval service (default {DEFAULT_URL}).")
KeyOption = typer.Option(None, "--key", envvar="APPROVAL_API_KEY", help="Your API key (or $APPROVAL_API_KEY).")


def _client(url: str | None, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=url or DEFAULT_URL, headers=headers, timeout=30)


def _call(method: str, path: str, url: str | None, key: str | None, body: Any = None) -> tuple[int, Any]:
    try:
        with _client(url, key) as http:
            response = http.request(method, path, json=body)
    except httpx.HTTPError as exc:
        err_console.print(f"[red]cannot reach the approval service at {url or DEFAULT_URL}: {exc}[/red]")
        raise typer.Exit(2) from exc
    try:
        doc = response.json()
    except ValueError:
        doc = {"error": {"status": response.status_code, "message": response.text[:500]}}
    return response.status_code, doc


def _finish(status: int, doc: Any, as_json: bool, ok_text: str) -> None:
    if as_json:
        emit_json({"httpStatus": status, **(doc if isinstance(doc, dict) else {"body": doc})})
    elif status in (200, 202):
        console_for(False).print(ok_text)
    else:
        err = (doc or {}).get("error", {}) if isinstance(doc, dict) else {}
        err_console.print(f"[red]HTTP {status}: {err.get('message', doc)}[/red]")
    if status not in (200, 202):
        raise typer.Exit(1)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("approval-api")
    def approval_api(
        ctx: typer.Context,
        port: int = typer.Option(8080, "--port", min=0, max=65535),
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (loopback by default)."),
        endpoint: str = typer.Option(None, "--endpoint", help="Cloud endpoint for DynamoDB/Step Functions "
                                                              "(overrides the global --endpoint; 'aws' for real AWS)."),
        keys_file: str = typer.Option(None, "--keys-file", envvar="APPROVAL_API_KEYS_FILE",
                                      help="File of name=key lines or a JSON object {name: key}."),
        insecure_local: bool = typer.Option(False, "--insecure-local",
                                            help="Allow starting with no keys (every caller is 'insecure-local'); loopback only."),
        redeliver_interval: float = typer.Option(2.0, "--redeliver-interval", min=0.1,
                                                 help="Seconds between redeliveries of unconfirmed callbacks."),
    ) -> None:
        """Run the approval service (FastAPI under uvicorn): REST API, OpenAPI at /openapi.json, page at /."""
        import uvicorn

        from sfn_callback.approval.bootstrap import bootstrap, table_name
        from sfn_callback.approval.entrypoints.auth import KeyConfigError, load_keys
        from sfn_callback.approval.entrypoints.rest_app import create_app
        from sfn_callback.common.net import is_loopback

        target = state(ctx).target
        if endpoint is not None:
            target = config.Target(endpoint_option(endpoint), target.region, target.profile)
        try:
            keys = load_keys(keys_file)
        except KeyConfigError as exc:
            err_console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
        if not len(keys):
            if not insecure_local:
                err_console.print("[red]no API keys configured: set APPROVAL_API_KEYS (name=key,...) or "
                                  "APPROVAL_API_KEYS_FILE / --keys-file; or pass --insecure-local to try it on loopback[/red]")
                raise typer.Exit(2)
            if not is_loopback(host):
                err_console.print("[red]--insecure-local listens on loopback only; choose --host 127.0.0.1[/red]")
                raise typer.Exit(2)
            err_console.print("[yellow]insecure: no keys, every caller is 'insecure-local'[/yellow]")
        elif not is_loopback(host):
            err_console.print(f"[yellow]listening on {host}, not loopback: put TLS in front of it[/yellow]")
        service = bootstrap(target)
        api = create_app(service, keys, insecure_local=insecure_local, redeliver_interval=redeliver_interval,
                         table_name=table_name())
        err_console.print(f"approval service on http://{host}:{port} (cloud: {target.endpoint_url or 'aws'}; "
                          f"keys: {', '.join(keys.names) or 'none'})")
        uvicorn.run(api, host=host, port=port, log_level="info")

    @app.command("tasks")
    def tasks(
        status: str = typer.Option("PENDING", "--status", help="PENDING, APPROVED, REJECTED, TIMED_OUT or CLOSED."),
        limit: int = typer.Option(50, "--limit", min=1, max=100),
        all_pages: bool = typer.Option(False, "--all", help="Follow nextCursor through every page."),
        url: str = UrlOption,
        key: str = KeyOption,
        as_json: bool = JsonOption,
    ) -> None:
        """List tasks in one status (oldest first)."""
        items: list[Any] = []
        cursor = None
        while True:
            query = f"/tasks?status={status.upper()}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            code, doc = _call("GET", query, url, key)
            if code != 200:
                _finish(code, doc, as_json, "")
            items += doc["items"]
            cursor = doc.get("nextCursor")
            if not (all_pages and cursor):
                break
        if as_json:
            emit_json({"items": items, "nextCursor": cursor})
            return
        from rich.table import Table

        table = Table(title=f"{status.upper()} tasks")
        for column in ("order", "age", "time left", "decision", "by", "reason"):
            table.add_column(column)
        for t in items:
            d = t.get("decision") or {}
            table.add_row(t["orderId"], f"{t['ageSeconds']:.0f}s", f"{t['timeLeftSeconds']:.0f}s",
                          d.get("action") or "", d.get("decidedBy") or "", d.get("reason") or "")
        console_for(False).print(table)
        if cursor:
            console_for(False).print(f"more: --all, or the next page's cursor {cursor}")

    @app.command("approve")
    def approve(
        order_id: str = typer.Argument(..., help="The order to approve."),
        output: str = typer.Option(None, "--output", help="JSON passed to the workflow as decision.output."),
        reason: str = typer.Option(None, "--reason", help="Why (kept in the audit trail)."),
        url: str = UrlOption,
        key: str = KeyOption,
        as_json: bool = JsonOption,
    ) -> None:
        """Approve a pending task: the workflow resumes with the output."""
        body: dict[str, Any] = {}
        if output is not None:
            try:
                body["output"] = json.loads(output)
            except ValueError as exc:
                err_console.print(f"[red]--output is not valid JSON: {exc}[/red]")
                raise typer.Exit(2) from exc
        if reason:
            body["reason"] = reason
        code, doc = _call("POST", f"/tasks/{order_id}/approve", url, key, body)
        _finish(code, doc, as_json, f"{order_id}: {doc.get('message', 'approved') if isinstance(doc, dict) else 'approved'}")

    @app.command("reject")
    def reject(
        order_id: str = typer.Argument(..., help="The order to reject."),
        reason: str = typer.Option(..., "--reason", help="Why (sent to the workflow, kept in the audit trail)."),
        url: str = UrlOption,
        key: str = KeyOption,
        as_json: bool = JsonOption,
    ) -> None:
        """Reject a pending task: the workflow goes to its Rejected state."""
        code, doc = _call("POST", f"/tasks/{order_id}/reject", url, key, {"reason": reason})
        _finish(code, doc, as_json, f"{order_id}: {doc.get('message', 'rejected') if isinstance(doc, dict) else 'rejected'}")

    @bench_app.command("approval")
    def bench_approval(
        ctx: typer.Context,
        tasks_count: int = typer.Option(200, "--tasks", min=1, help="How many executions to decide."),
        concurrency: int = typer.Option(8, "--concurrency", min=1, max=64, help="Tasks decided at a time."),
        as_json: bool = JsonOption,
    ) -> None:
        """Decisions/s through the HTTP API, decision → resumed latency, lost and double decisions."""
        from sfn_callback.approval import bench

        target = state(ctx).target
        console = console_for(as_json)
        result = bench.run(target, tasks=tasks_count, concurrency=concurrency,
                           progress=lambda text: err_console.print(f"[dim]{text}[/dim]"))
        if as_json:
            emit_json(result)
        else:
            console.print(bench.render(result))
        if not result["ok"]:
            raise typer.Exit(1)

