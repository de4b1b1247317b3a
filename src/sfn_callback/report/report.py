"""The PoC report: Markdown and a self-contained HTML page, generated from the latest saved measurements.

Inputs (all under the state directory, each optional): the cost measurement (``cost measure``), the scale
bench results (``bench scale``, one file per mode) and the scenario outcomes that ``sfn-callback run`` saves
(``runs/latest-<scenario>.json``, one result document per scenario). Every figure comes from those files; a section without data says so.
The monitoring section is read from the target's CloudWatch when the command asks for it
(:mod:`sfn_callback.dashboard.report_section`).
"""

from __future__ import annotations

import base64
import glob
import html
import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sfn_callback import config
from sfn_callback.cost.pricing import PriceTable

SCENARIOS_GLOB = os.path.join("runs", "latest-*.json")
SECTIONS = (
    "Architecture",
    "Scenarios",
    "Reconnect latency",
    "Cost per job",
    "The 87% claim",
    "Scale",
    "Monitoring",
    "Local cloud and AWS",
)

MERMAID = """flowchart LR
    Client["sfn-callback run / aws CLI"] -->|StartExecution| CB["poc-callback-workflow<br/>CreateJobAndWait (.waitForTaskToken)"]
    CB -->|lambda:invoke + task token| CJ["poc-create-job"]
    CJ -->|CREATE_JOB| API["poc-simulated-api<br/>(external job system)"]
    CJ -->|token record| DDB[("poc-task-tokens<br/>GSI status-index (status, nextPollAt)")]
    CJ -->|per-job mode: poll-&lt;jobId&gt;| SCH["EventBridge Scheduler"]
    SCH -->|"rate(interval)"| P["poc-poller"]
    SCH2["sweep schedule (one)"] --> SW["poc-sweep-poller<br/>bounded pool"]
    SW -->|Query due records| DDB
    P & SW -->|claim, callback, finalize| DDB
    P & SW -->|CHECK_STATUS| API
    P & SW -->|SendTaskSuccess / SendTaskFailure| CB
    Client -->|StartExecution| PW["poc-polling-workflow (baseline)<br/>Wait -> poc-polling-job -> Choice"]
    PW -->|CHECK_STATUS| API"""

SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="900" height="300" font-family="sans-serif" font-size="12">
<defs><marker id="a" markerWidth="8" markerHeight="8" refX="8" refY="4" orient="auto"><path d="M0,0 L8,4 L0,8 z"/></marker></defs>
<g fill="#eef4fb" stroke="#4a6fa5">
<rect x="10" y="20" width="180" height="50" rx="6"/><rect x="250" y="20" width="160" height="50" rx="6"/>
<rect x="470" y="20" width="190" height="50" rx="6"/><rect x="250" y="130" width="160" height="50" rx="6"/>
<rect x="470" y="130" width="190" height="50" rx="6"/><rect x="700" y="75" width="180" height="50" rx="6"/>
<rect x="10" y="230" width="180" height="50" rx="6"/><rect x="250" y="230" width="160" height="50" rx="6"/>
</g>
<g text-anchor="middle">
<text x="100" y="42">poc-callback-workflow</text><text x="100" y="58">.waitForTaskToken</text>
<text x="330" y="50">poc-create-job</text>
<text x="565" y="42">poc-task-tokens</text><text x="565" y="58">GSI (status, nextPollAt)</text>
<text x="330" y="150">Scheduler: per-job</text><text x="330" y="166">or one sweep schedule</text>
<text x="565" y="150">poc-poller /</text><text x="565" y="166">poc-sweep-poller</text>
<text x="790" y="97">poc-simulated-api</text><text x="790" y="113">(external job)</text>
<text x="100" y="252">poc-polling-workflow</text><text x="100" y="268">(baseline)</text>
<text x="330" y="252">poc-polling-job</text><text x="330" y="268">Wait/Check/Choice</text>
</g>
<g stroke="#333" marker-end="url(#a)">
<line x1="190" y1="45" x2="250" y2="45"/><line x1="410" y1="45" x2="470" y2="45"/>
<line x1="330" y1="70" x2="330" y2="130"/><line x1="410" y1="155" x2="470" y2="155"/>
<line x1="565" y1="130" x2="565" y2="70"/><line x1="660" y1="150" x2="700" y2="110"/>
<line x1="470" y1="170" x2="190" y2="60"/><line x1="100" y1="230" x2="100" y2="70" stroke-dasharray="4"/>
<line x1="190" y1="255" x2="250" y2="255"/><line x1="410" y1="250" x2="700" y2="115"/>
</g></svg>"""

DIFFERENCES = [
    ("Task tokens", "moto's task tokens are short; AWS's are several hundred bytes. The token record's size, and "
     "with it the DynamoDB write units per poll, is therefore measured low locally (AWS bills each update on the "
     "whole item: 1 unit per started KB)."),
    ("Scheduler", "AWS's rate() minimum is 1 minute; locally rate(N seconds) runs the same code faster. The sweep "
     "schedule is rate(1 minute) on AWS and rate(1 second) locally."),
    ("Lambda durations", "Handler durations are measured on this machine, with the local cloud, moto's "
     "interpreter and every worker sharing its cores; AWS runs each environment on its own share of CPU. "
     "The GB-seconds here are an upper-bound estimate; AWS also bills the INIT phase of new environments."),
    ("Concurrency", "moto runs each waiting execution in threads (about 3 each); AWS has no such per-execution "
     "cost. The local Lambda runtime runs at most --lambda-concurrency invokes per function at once."),
    ("Callbacks", "A finished token answers TaskTimedOut or TaskDoesNotExist on AWS; moto accepted late callbacks "
     "silently, so the local cloud makes it answer as AWS does (and InvalidToken for a token it never issued). "
     "The lifecycle treats all three as finished."),
    ("Metering", "Usage is counted by the local cloud's metering (Lambda, Scheduler, DynamoDB request units from "
     "item sizes, API requests); on AWS the same figures come from CloudWatch and the bill."),
]


@dataclass
class Inputs:
    measurement: dict[str, Any] | None = None
    scale: dict[str, dict[str, Any]] = field(default_factory=dict)
    scenarios: list[dict[str, Any]] | None = None
    sources: list[str] = field(default_factory=list)
    monitoring: dict[str, Any] | None = None
    """What ``sfn_callback.dashboard.report_section.collect_monitoring`` read from the target (None: not asked)."""


def load_inputs(directory: str | None = None) -> Inputs:
    from sfn_callback.bench.scale import load_scale, scale_path
    from sfn_callback.cost.measure import load_measurement, measurement_path

    directory = directory or config.state_dir()
    inputs = Inputs()
    try:
        inputs.measurement = load_measurement(measurement_path(directory))
        inputs.sources.append(measurement_path(directory))
    except ValueError:
        pass
    for mode in ("per-job", "sweep"):
        doc = load_scale(mode, directory)
        if doc is not None:
            inputs.scale[mode] = doc
            inputs.sources.append(scale_path(mode, directory))
    for path in sorted(glob.glob(os.path.join(directory, SCENARIOS_GLOB))):
        try:
            with open(path, encoding="utf-8") as handle:
                doc = json.load(handle)
        except (OSError, ValueError):
            continue
        # `run` saves {"scenario", "passed", "runs": [result, ...]} (one result per --repeat).
        runs = doc.get("runs") if isinstance(doc, dict) else None
        results = [r for r in (runs if isinstance(runs, list) else [doc])
                   if isinstance(r, dict) and "scenario" in r and isinstance(r.get("checks"), list)]
        if results:
            inputs.scenarios = (inputs.scenarios or []) + results
            inputs.sources.append(path)
    return inputs


def _money(x: float) -> str:
    return f"${x:.8f}"


def _latency_plot(values: list[float], path: str) -> str | None:
    if not values:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    try:
        ax.hist([v * 1000 for v in values], bins=40, color="#4a6fa5")
        ax.set_xlabel("reconnect latency (ms): SendTask* accepted -> next state entered")
        ax.set_ylabel("callbacks")
        ax.set_title(f"Reconnect latency, {len(values)} callbacks")
        ax.grid(True, alpha=0.3)
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path


@dataclass
class Section:
    title: str
    markdown: list[str]
    html: list[str]
    images: list[tuple[str, str]] = field(default_factory=list)  # (caption, png path)


_NUMERIC = re.compile(r"[-+$]?[\d.,]+(%|x| ms| s| MB)?|[\d.]+/[\d.]+|-")


def _cell(text: str) -> str:
    """A table cell; figures are right-aligned, words left."""
    numeric = ' class="n"' if _NUMERIC.fullmatch(text) else ""
    return f"<td{numeric}>{html.escape(text)}</td>"


def _table(headers: list[str], rows: list[list[str]]) -> tuple[list[str], list[str]]:
    md = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    h = ["<table><tr>" + "".join(f"<th>{html.escape(x)}</th>" for x in headers) + "</tr>"]
    h += ["<tr>" + "".join(_cell(x) for x in r) + "</tr>" for r in rows]
    h.append("</table>")
    return md, h


def _text(md: list[str], h: list[str], line: str) -> None:
    md.append(line)
    md.append("")
    h.append(f"<p>{html.escape(line)}</p>")


def build_sections(inputs: Inputs, prices: PriceTable, out_dir: str) -> list[Section]:
    from sfn_callback.cost.measure import comparisons
    from sfn_callback.cost.plot import plot_cost_per_job
    from sfn_callback.cost.tables import describe_threshold, format_polls
    from sfn_callback.observe.records import latency_summary

    sections: list[Section] = []
    sections.append(Section("Architecture", ["```mermaid", MERMAID, "```", ""],
                            [SVG, "<details><summary>Mermaid source</summary><pre>" + html.escape(MERMAID)
                             + "</pre></details>"]))

    md: list[str] = []
    h: list[str] = []
    if inputs.scenarios:
        keys = ["scenario", "outcome", "expected", "jobs", "seconds", "checks passed", "failed checks"]
        rows = []
        for item in inputs.scenarios:
            checks = item["checks"]
            failed = [c.get("name", "?") for c in checks if not c.get("passed")]
            passed = bool(checks) and not failed
            rows.append([str(item["scenario"]), "PASSED" if passed else "FAILED", str(item.get("expected", "")),
                         str(len(item.get("jobs") or [])), f"{float(item.get('duration_s') or 0):.1f}",
                         f"{len(checks) - len(failed)}/{len(checks)}", ", ".join(failed) or "-"])
        t_md, t_h = _table(keys, rows)
        md += t_md
        h += t_h
    else:
        _text(md, h, f"No scenario outcomes saved ({SCENARIOS_GLOB} not found in the state directory; "
                     "`sfn-callback run` writes them): no data.")
    sections.append(Section("Scenarios", md, h))

    md, h = [], []
    latencies: list[float] = []
    if inputs.measurement:
        latencies += inputs.measurement.get("reconnect_latencies_seconds", [])
    for doc in inputs.scale.values():
        for row in doc.get("sizes", []):
            latencies += row.get("reconnect_latencies_seconds", [])
    section = Section("Reconnect latency", md, h)
    if latencies:
        s = latency_summary(latencies)
        p50, p99, worst = s["p50"], s["p99"], s["max"]
        assert p50 is not None and p99 is not None and worst is not None  # latencies is not empty
        _text(md, h, f"{s['count']} callbacks (cost measurement and scale benches): p50 {p50 * 1000:.1f} ms, "
                     f"p99 {p99 * 1000:.1f} ms, max {worst * 1000:.1f} ms.")
        path = _latency_plot(latencies, os.path.join(out_dir, "reconnect-latency.png"))
        if path:
            section.images.append(("Reconnect latency distribution", path))
    else:
        _text(md, h, "No reconnect latencies measured yet: no data.")
    sections.append(section)

    cost = Section("Cost per job", [], [])
    claim = Section("The 87% claim", [], [])
    if inputs.measurement:
        found = comparisons(inputs.measurement, prices)
        m = inputs.measurement
        _text(cost.markdown, cost.html,
              f"Measured {m.get('measured_at')} on {m.get('target')}: {m.get('jobs_per_point')} job(s) per design and "
              f"polls value, interval {m.get('interval_seconds')} s. Prices: {prices.region} as of "
              f"{prices.as_of.isoformat()} ({prices.currency}), no free tier.")
        for name, comp in found.items():
            rows = [[format_polls(r.polls), r.source, _money(r.design.cost_per_job.total),
                     _money(r.baseline.cost_per_job.total), f"{r.reduction_percent:.1f}%"] for r in comp.rows]
            t_md, t_h = _table(["polls/job", "counts", f"{name} per job", "polling per job", "reduction"], rows)
            cost.markdown += [f"**{name} vs polling**", ""] + t_md + [""]
            cost.html += [f"<h3>{html.escape(name)} vs polling</h3>"] + t_h
            _text(cost.markdown, cost.html, describe_threshold(comp.break_even, f"{name} no dearer than polling"))
            counts_rows = []
            for p in sorted(comp.design_measurements):
                counts_rows.append([format_polls(p)] + [f"{v:.2f}" for v in comp.design_measurements[p].as_dict().values()])
            t_md, t_h = _table(["polls"] + list(comp.design_measurements[next(iter(comp.design_measurements))].as_dict()),
                               counts_rows)
            cost.markdown += [f"Measured counts per job, {name}:", ""] + t_md + [""]
            cost.html += [f"<p>Measured counts per job, {html.escape(name)}:</p>"] + t_h
            plot = plot_cost_per_job(comp, os.path.join(out_dir, f"cost-{name}-vs-polling.png"))
            cost.images.append((f"Cost per job: {name} vs polling", str(plot)))
            target = comp.target_reduction_percent
            reached = comp.target_reached
            measured_hits = [r for r in comp.rows if r.source == "measured" and r.reduction_percent >= target]
            if reached is None:
                verdict = (f"{name}: REFUTED — the {target:g}% reduction is not reached at any number of polls per job "
                           f"with these measurements and prices.")
            else:
                where = "extrapolated from the fit" if reached.extrapolated else "within the measured range"
                verdict = (f"{name}: holds only from {format_polls(reached.polls)} polls per job ({where}); below that "
                           f"it is refuted. Measured polls values where it holds: "
                           f"{', '.join(format_polls(r.polls) for r in measured_hits) or 'none'}.")
            best = max(comp.rows, key=lambda r: r.reduction_percent)
            _text(claim.markdown, claim.html, verdict + f" Largest measured reduction: {best.reduction_percent:.1f}% at "
                                                        f"{format_polls(best.polls)} polls.")
        for problem in m.get("problems", []):
            _text(cost.markdown, cost.html, f"Check: {problem}")
    else:
        _text(cost.markdown, cost.html, "No cost measurement saved (run `sfn-callback cost measure`): no data.")
        _text(claim.markdown, claim.html, "Without a cost measurement the claim is neither confirmed nor refuted: no data.")
    sections += [cost, claim]

    md, h = [], []
    if inputs.scale:
        rows = []
        for mode, doc in sorted(inputs.scale.items()):
            for r in doc.get("sizes", []):
                lc = r.get("local_cloud", {})
                rows.append([mode, str(r["jobs"]), f"{r['start_seconds']:.1f}", f"{r['finish_seconds']:.1f}",
                             f"{r['jobs_per_second']:.2f}", f"{r['polls_per_second']:.1f}",
                             _ms(r["reconnect"].get("p50")), _ms(r["reconnect"].get("p99")),
                             "-" if lc.get("peak_rss_mb") is None else f"{lc['peak_rss_mb']:.0f}",
                             str(lc.get("peak_threads") or "-"), str(r["lost"]), str(r["duplicate_callbacks"])])
        t_md, t_h = _table(["mode", "jobs", "start all s", "all finished s", "jobs/s", "polls/s", "reconnect p50 ms",
                            "reconnect p99 ms", "peak RSS MB", "peak threads", "lost", "duplicate callbacks"], rows)
        md += t_md + [""]
        h += t_h
        if {"per-job", "sweep"} <= set(inputs.scale):
            per = {r["jobs"]: r for r in inputs.scale["per-job"]["sizes"]}
            for r in inputs.scale["sweep"]["sizes"]:
                if r["jobs"] in per and per[r["jobs"]]["jobs_per_second"] > 0:
                    ratio = r["jobs_per_second"] / per[r["jobs"]]["jobs_per_second"]
                    _text(md, h, f"{r['jobs']} jobs: sweep runs {ratio:.2f}x the jobs/s of per-job mode.")
        for doc in inputs.scale.values():
            for note in doc.get("notes", []):
                _text(md, h, f"Note ({doc['mode']}): {note}")
    else:
        _text(md, h, "No scale bench results saved (run `sfn-callback bench scale`): no data.")
    sections.append(Section("Scale", md, h))

    from sfn_callback.dashboard.report_section import monitoring_parts

    sections.append(Section(*monitoring_parts(inputs.monitoring, out_dir)))

    md, h = [], []
    t_md, t_h = _table(["topic", "difference"], [[a, b] for a, b in DIFFERENCES])
    sections.append(Section("Local cloud and AWS", t_md + [""], t_h))
    return sections


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


CSS = """body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}td.n{text-align:right}
th{background:#eef4fb}h2{border-bottom:2px solid #4a6fa5}
img{max-width:100%}pre{background:#f6f6f6;padding:1em;overflow:auto}.meta{color:#666;font-size:12px}"""


def write_report(out_dir: str, prices: PriceTable, inputs: Inputs | None = None) -> dict[str, str]:
    os.makedirs(out_dir, exist_ok=True)
    inputs = inputs or load_inputs()
    sections = build_sections(inputs, prices, out_dir)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    sources = ", ".join(inputs.sources) or "none"
    md = ["# Callback pattern PoC: findings", "", f"Generated {now} from: {sources}.", ""]
    body = [f"<h1>Callback pattern PoC: findings</h1><p class='meta'>Generated {now} from: {html.escape(sources)}.</p>"]
    for s in sections:
        md += [f"## {s.title}", ""] + s.markdown
        body += [f"<h2>{html.escape(s.title)}</h2>"] + s.html
        for caption, path in s.images:
            md += [f"![{caption}]({os.path.basename(path)})", ""]
            with open(path, "rb") as handle:
                data = base64.b64encode(handle.read()).decode("ascii")
            body.append(f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
                        f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    md_path = os.path.join(out_dir, "report.md")
    html_path = os.path.join(out_dir, "report.html")
    with open(md_path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(md) + "\n")
    with open(html_path, "w", encoding="utf-8") as handle:
        handle.write(f"<!doctype html><html><head><meta charset='utf-8'><title>Callback pattern PoC: findings</title>"
                     f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n")
    return {"markdown": md_path, "html": html_path}
