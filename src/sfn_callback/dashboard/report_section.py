"""The monitoring section of ``sfn-callback report``: the dashboard's metric graphs over the latest scenario
runs (matplotlib, one figure), the alarms' states and their history in that time.

:func:`collect_monitoring` reads the target through the same calls as the dashboard page
(:mod:`sfn_callback.dashboard.collect`); :func:`monitoring_parts` turns what it found into the report's
Markdown, HTML and figure. The time covered is that of the scenario runs saved under the state directory
(``runs/latest-*.json``: each file's ``finishedAt`` minus its runs' durations, a minute of margin either side),
or the last hour when none is saved. A target that cannot be reached, or has no metric data in that time,
gives a section that says so.
"""

from __future__ import annotations

import glob
import html
import json
import os
import time
from datetime import UTC
from typing import Any

from sfn_callback.config import Target
from sfn_callback.dashboard import graphs as graphs_mod
from sfn_callback.dashboard.collect import Collector, explain, fetch_series, iso, to_epoch

TITLE = "Monitoring"
MARGIN_SECONDS = 60
DEFAULT_WINDOW_SECONDS = 3600
MAX_POINTS = 360
PERIODS = (10, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 10800, 21600, 43200, 86400)
MAX_PANELS = 12
HISTORY_LIMIT = 200


def scenario_runs(directory: str) -> list[dict[str, Any]]:
    """``[{"scenario", "start", "end", "target"}]`` of the latest saved run of each scenario."""
    runs: list[dict[str, Any]] = []
    for path in sorted(glob.glob(os.path.join(directory, "runs", "latest-*.json"))):
        try:
            with open(path, encoding="utf-8") as handle:
                doc = json.load(handle)
        except (OSError, ValueError):
            continue
        if not isinstance(doc, dict):
            continue
        end = to_epoch(doc.get("finishedAt"))
        results = doc.get("runs") if isinstance(doc.get("runs"), list) else []
        if end is None or not results:
            continue
        duration = sum(float(r.get("duration_s") or 0) for r in results if isinstance(r, dict))
        runs.append({"scenario": str(doc.get("scenario") or os.path.basename(path)), "start": end - duration,
                     "end": end, "target": doc.get("target")})
    return runs


def choose_period(seconds: float) -> int:
    for period in PERIODS:
        if seconds / period <= MAX_POINTS:
            return period
    return PERIODS[-1]


def collect_monitoring(target: Target, state_directory: str, now: float | None = None) -> dict[str, Any]:
    """What the section shows, read from ``target``; ``{"error": ...}`` when it cannot be read."""
    now = time.time() if now is None else now
    runs = scenario_runs(state_directory)
    if runs:
        start = min(r["start"] for r in runs) - MARGIN_SECONDS
        end = min(now, max(r["end"] for r in runs) + MARGIN_SECONDS)
        covers = "the latest scenario runs"
    else:
        start, end, covers = now - DEFAULT_WINDOW_SECONDS, now, "the last hour (no scenario run saved)"
    start = min(start, end - 60)
    period = choose_period(end - start)
    doc: dict[str, Any] = {"target": target.endpoint_url or "aws", "start": start, "end": end, "period": period,
                           "covers": covers, "runs": runs, "error": None}
    collector = Collector(target, window_seconds=int(end - start), period=period)
    try:
        alarms_section = collector.alarms()
        metrics_section = collector.metrics()
        body = collector.dashboard_body()
        chosen = graphs_mod.select_graphs((collector.dashboard_name, body) if body else None,
                                          alarms_section["raw"], metrics_section["raw"], limit=MAX_PANELS * 2)
        series = fetch_series(collector.client("cloudwatch"), chosen, start, end, period, period)
        history = _history(collector.client("cloudwatch"), start, end)
    except Exception as exc:  # the section says why there is no data; the report is still written
        doc["error"] = explain(exc, target)
        return doc
    doc["alarms"] = alarms_section["rows"]
    doc["metricsTotal"] = metrics_section["total"]
    doc["namespaces"] = metrics_section["namespaces"]
    doc["source"] = f"dashboard {collector.dashboard_name}" if body else "the alarms' metrics and the metrics listed"
    doc["graphs"] = [{"title": g.title, "thresholds": g.thresholds, "series": series.get(i, [])}
                     for i, g in enumerate(chosen)]
    doc["history"] = history
    return doc


def _history(cw: Any, start: float, end: float) -> list[dict[str, Any]]:
    from datetime import datetime

    rows: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"StartDate": datetime.fromtimestamp(start, UTC),
                              "EndDate": datetime.fromtimestamp(end, UTC),
                              "ScanBy": "TimestampAscending", "MaxRecords": 100}
    while len(rows) < HISTORY_LIMIT:
        page = cw.describe_alarm_history(**kwargs)
        for item in page.get("AlarmHistoryItems", []):
            if item.get("HistoryItemType") in ("StateUpdate", "Action"):
                rows.append({"time": iso(to_epoch(item.get("Timestamp"))), "alarm": item.get("AlarmName"),
                             "type": item.get("HistoryItemType"), "summary": item.get("HistorySummary")})
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    return rows[:HISTORY_LIMIT]


def _plot(graphs: list[dict[str, Any]], runs: list[dict[str, Any]], start: float, end: float, path: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    from datetime import datetime

    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    columns = 2 if len(graphs) > 1 else 1
    rows = (len(graphs) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(6 * columns, 2.8 * rows), dpi=100, squeeze=False)

    def when(epoch: float) -> datetime:
        return datetime.fromtimestamp(epoch, UTC)

    try:
        for index, graph in enumerate(graphs):
            ax = axes[index // columns][index % columns]
            for run in runs:
                ax.axvspan(when(max(run["start"], start)), when(min(run["end"], end)), color="#4a6fa5", alpha=0.08)
            for line in graph["series"][:graphs_mod.MAX_LINES]:
                if line["points"]:
                    ax.plot([when(p[0]) for p in line["points"]], [p[1] for p in line["points"]], marker=".",
                            linewidth=1.2, label=line["label"][:60])
            for threshold in graph["thresholds"]:
                ax.axhline(threshold["value"], color="#b00020", linestyle="--", linewidth=1,
                           label=(threshold["label"] or "threshold")[:60])
            values = [p[1] for line in graph["series"] for p in line["points"]] + \
                [t["value"] for t in graph["thresholds"]]
            if values and min(values) >= 0:
                ax.set_ylim(bottom=0, top=max(max(values) * 1.1, 1))
            ax.set_title(graph["title"][:80], fontsize=9)
            ax.set_xlim(when(start), when(end))
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
            ax.tick_params(labelsize=7)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=6, loc="upper left")
        for index in range(len(graphs), rows * columns):
            axes[index // columns][index % columns].axis("off")
        fig.suptitle("Metrics (UTC); shaded: scenario runs", fontsize=10)
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path


def monitoring_parts(data: dict[str, Any] | None, out_dir: str) -> tuple[str, list[str], list[str],
                                                                          list[tuple[str, str]]]:
    """``(title, markdown lines, html lines, [(caption, png path)])`` of the section."""
    md: list[str] = []
    h: list[str] = []
    images: list[tuple[str, str]] = []

    def text(line: str) -> None:
        md.extend([line, ""])
        h.append(f"<p>{html.escape(line)}</p>")

    def table(headers: list[str], rows: list[list[str]]) -> None:
        md.append("| " + " | ".join(headers) + " |")
        md.append("|" + "---|" * len(headers))
        md.extend("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in r) + " |" for r in rows)
        md.append("")
        h.append("<table><tr>" + "".join(f"<th>{html.escape(x)}</th>" for x in headers) + "</tr>"
                 + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
                 + "</table>")

    if data is None:
        text("Monitoring data not collected (`report --no-monitoring`): no data.")
        return TITLE, md, h, images
    if data.get("error"):
        text(f"No monitoring data: {data['error']}.")
        return TITLE, md, h, images
    span = f"{iso(data['start'])} to {iso(data['end'])}"
    runs = data.get("runs") or []
    text(f"From {data['target']}, {span} ({data['covers']}; {len(runs)} scenario(s): "
         f"{', '.join(r['scenario'] for r in runs) or 'none'}), {data['period']}-second periods; graphs from "
         f"{data.get('source')}. {data.get('metricsTotal', 0)} metrics on the target"
         + (" (" + ", ".join(f"{k}: {v}" for k, v in sorted(data.get("namespaces", {}).items())) + ")"
            if data.get("namespaces") else "") + ".")
    with_data = [g for g in data.get("graphs", []) if any(line["points"] for line in g["series"])][:MAX_PANELS]
    if with_data:
        path = _plot(with_data, runs, data["start"], data["end"], os.path.join(out_dir, "monitoring-metrics.png"))
        images.append((f"Metrics over {data['covers']}", path))
        table(["graph", "lines", "data points", "maximum", "last"],
              [[g["title"], str(len(g["series"])), str(sum(len(s["points"]) for s in g["series"])),
                _number(max((p[1] for s in g["series"] for p in s["points"]), default=None)),
                _number(_last(g["series"]))] for g in with_data])
    else:
        text(f"No metric data on the target between {span}: no graph.")
    alarms = data.get("alarms") or []
    if alarms:
        md.extend(["**Alarms now**", ""])
        h.append("<h3>Alarms now</h3>")
        table(["alarm", "state", "since", "watches", "reason"],
              [[a["name"], str(a["state"]), str(a["updated"] or ""), a["watches"], str(a["reason"] or "")]
               for a in alarms])
    else:
        text("No alarm on the target.")
    history = data.get("history") or []
    if history:
        md.extend([f"**Alarm history, {span}**", ""])
        h.append(f"<h3>Alarm history, {html.escape(span)}</h3>")
        table(["time", "alarm", "type", "summary"],
              [[str(r["time"]), str(r["alarm"]), str(r["type"]), str(r["summary"])] for r in history])
    else:
        text(f"No alarm changed state or sent a notification between {span}.")
    return TITLE, md, h, images


def _last(series: list[dict[str, Any]]) -> float | None:
    points = [s["points"][-1] for s in series if s["points"]]
    return max(points, key=lambda p: p[0])[1] if points else None


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"
