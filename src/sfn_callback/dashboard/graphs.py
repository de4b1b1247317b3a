"""Which metric graphs to draw, and how to ask GetMetricData for them (pure logic, no AWS calls).

Graphs come from, in order:

1. the CloudWatch dashboard of the stack (``poc-callbacks``) when the target has it: each ``metric`` widget of
   its body is one graph, its ``metrics`` rows read as the console reads them (``[namespace, name, dim, value,
   ..., {options}]``, ``"."`` repeating the row above at that position, ``{"expression": ...}`` rows for metric
   math, ``"visible": false`` rows computed but not drawn, the widget's ``stat``, ``period`` and horizontal
   annotations);
   Each alarm in ALARM whose metric the dashboard does not show gets its graph too (first);
2. otherwise one graph per metric alarm (its metric or metric math, with its threshold drawn), then the
   components' own metrics (every namespace not starting with ``AWS/``), then ``AWS/States`` executions and
   ``AWS/SQS`` queue depth and age, one graph per metric name with one line per dimension set.

The statistic of a graph built from ``ListMetrics`` (which does not say how a metric is meant) follows its
name: gauges (``ApproximateNumberOf...``, ``...Waiting``, ``...Age...``, ``Oldest...``, ``Pending``,
``Tokens...``) take ``Maximum``, durations (``...Latency``, ``...Time``, ``...Duration``, ``...Seconds``)
``Average``, the rest are counts and take ``Sum``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

MAX_GRAPHS = 16
MAX_LINES = 8
STATES_METRICS = ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut")
SQS_METRICS = ("ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage")
_GAUGE = re.compile(r"ApproximateNumberOf|Waiting|Age|Oldest|Pending|Depth|InFlight|^Tokens", re.I)
_DURATION = re.compile(r"Latency|Time$|Duration|Seconds$|Millis", re.I)


@dataclass
class Line:
    """One query of a graph: a metric (``namespace``, ``name``, ``dimensions``, ``stat``) or an expression."""

    id: str
    label: str
    namespace: str | None = None
    name: str | None = None
    dimensions: dict[str, str] = field(default_factory=dict)
    stat: str | None = None
    period: int | None = None
    expression: str | None = None
    visible: bool = True

    def query(self, default_period: int) -> dict[str, Any]:
        """The ``MetricDataQueries`` entry of this line."""
        if self.expression is not None:
            doc: dict[str, Any] = {"Id": self.id, "Expression": self.expression, "Label": self.label,
                                   "ReturnData": self.visible}
            if self.period:
                doc["Period"] = self.period
            return doc
        return {"Id": self.id, "Label": self.label, "ReturnData": self.visible, "MetricStat": {
            "Metric": {"Namespace": self.namespace, "MetricName": self.name,
                       "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions.items()]},
            "Period": self.period or default_period, "Stat": self.stat or "Average"}}


@dataclass
class Graph:
    title: str
    lines: list[Line]
    source: str  # "dashboard <name>", "alarm <name>", "metrics"
    period: int | None = None
    thresholds: list[dict[str, Any]] = field(default_factory=list)  # [{"label", "value"}]


def stat_for(metric_name: str) -> str:
    if _GAUGE.search(metric_name):
        return "Maximum"
    if _DURATION.search(metric_name):
        return "Average"
    return "Sum"


def short_value(name: str, value: str) -> str:
    """A dimension value as a line label: the resource name of an ARN."""
    if value.startswith("arn:"):
        return value.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    return value


def metric_label(name: str, dimensions: dict[str, str]) -> str:
    if not dimensions:
        return name
    return name + " " + " ".join(short_value(k, v) for k, v in dimensions.items())


def _rows_of_widget(props: dict[str, Any]) -> list[Line]:
    lines: list[Line] = []
    previous: list[Any] = []
    for index, row in enumerate(props.get("metrics") or []):
        if not isinstance(row, list) or not row:
            continue
        options = row[-1] if isinstance(row[-1], dict) else {}
        parts = row[:-1] if options else row
        ident = str(options.get("id") or f"q{index}")
        label = options.get("label")
        visible = options.get("visible", True) is not False
        period = options.get("period")
        if not parts and "expression" in options:
            lines.append(Line(id=ident, label=str(label or options["expression"]), expression=str(options["expression"]),
                              visible=visible, period=int(period) if period else None))
            continue
        if "..." in parts:  # "...": the rest of the row above
            at = parts.index("...")
            parts = parts[:at] + previous[at:]
        resolved = [previous[i] if p == "." and i < len(previous) else p for i, p in enumerate(parts)]
        previous = resolved
        if len(resolved) < 2 or not all(isinstance(p, str) for p in resolved):
            continue
        namespace, name, rest = resolved[0], resolved[1], resolved[2:]
        dimensions = {rest[i]: rest[i + 1] for i in range(0, len(rest) - 1, 2)}
        lines.append(Line(id=ident, label=str(label or metric_label(name, dimensions)), namespace=namespace,
                          name=name, dimensions=dimensions, stat=str(options.get("stat") or props.get("stat") or
                                                                      "Average"),
                          period=int(period) if period else None, visible=visible))
    return lines


def graphs_from_dashboard(name: str, body: dict[str, Any]) -> list[Graph]:
    """One graph per ``metric`` widget of a CloudWatch dashboard body."""
    graphs: list[Graph] = []
    for widget in body.get("widgets") or []:
        if not isinstance(widget, dict) or widget.get("type") != "metric":
            continue
        props = widget.get("properties") or {}
        lines = _rows_of_widget(props)
        if not lines:
            continue
        horizontal = (props.get("annotations") or {}).get("horizontal") or []
        thresholds = [{"label": str(a.get("label") or ""), "value": float(a["value"])}
                      for a in horizontal if isinstance(a, dict) and isinstance(a.get("value"), (int, float))]
        period = props.get("period")
        graphs.append(Graph(title=str(props.get("title") or lines[0].label), lines=lines,
                            source=f"dashboard {name}", period=int(period) if period else None,
                            thresholds=thresholds))
    return graphs


def graph_of_alarm(alarm: dict[str, Any]) -> Graph | None:
    """The metric (or metric math) an alarm watches, with its threshold."""
    threshold = alarm.get("Threshold")
    thresholds = [{"label": f"{alarm['AlarmName']} threshold", "value": float(threshold)}] \
        if isinstance(threshold, (int, float)) else []
    title = f"alarm {alarm['AlarmName']}"
    if alarm.get("MetricName"):
        dims = {d["Name"]: d["Value"] for d in alarm.get("Dimensions") or []}
        stat = alarm.get("Statistic") or alarm.get("ExtendedStatistic") or "Average"
        return Graph(title=title, source=f"alarm {alarm['AlarmName']}", period=alarm.get("Period"),
                     thresholds=thresholds,
                     lines=[Line(id="m0", label=metric_label(alarm["MetricName"], dims), namespace=alarm.get("Namespace"),
                                 name=alarm["MetricName"], dimensions=dims, stat=stat, period=alarm.get("Period"))])
    lines: list[Line] = []
    for query in alarm.get("Metrics") or []:
        visible = bool(query.get("ReturnData", True))
        if query.get("Expression"):
            lines.append(Line(id=query["Id"], label=query.get("Label") or query["Expression"],
                              expression=query["Expression"], visible=visible, period=query.get("Period")))
        elif query.get("MetricStat"):
            ms = query["MetricStat"]
            metric = ms["Metric"]
            dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions") or []}
            lines.append(Line(id=query["Id"], label=query.get("Label") or metric_label(metric["MetricName"], dims),
                              namespace=metric.get("Namespace"), name=metric["MetricName"], dimensions=dims,
                              stat=ms.get("Stat"), period=ms.get("Period"), visible=visible))
    if not lines:
        return None
    return Graph(title=title, lines=lines, source=f"alarm {alarm['AlarmName']}", thresholds=thresholds,
                 period=next((line.period for line in lines if line.period), None))


def graphs_from_metrics(metrics: list[dict[str, Any]]) -> list[Graph]:
    """Default graphs from ``ListMetrics``: the components' own metrics, then executions, then queues."""
    groups: dict[tuple[str, str], list[dict[str, str]]] = {}
    for metric in metrics:
        dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions") or []}
        groups.setdefault((metric["Namespace"], metric["MetricName"]), []).append(dims)

    def rank(key: tuple[str, str]) -> tuple[int, int, str, str]:
        namespace, name = key
        if not namespace.startswith("AWS/"):
            return (0, 0, namespace, name)
        if namespace == "AWS/States" and name in STATES_METRICS:
            return (1, STATES_METRICS.index(name), namespace, name)
        if namespace == "AWS/SQS" and name in SQS_METRICS:
            return (2, SQS_METRICS.index(name), namespace, name)
        return (9, 0, namespace, name)

    graphs: list[Graph] = []
    for key in sorted(groups, key=rank):
        if rank(key)[0] == 9:
            continue
        namespace, name = key
        dim_sets = sorted(groups[key], key=lambda d: sorted(d.items()))
        stat = stat_for(name)
        lines = [Line(id=f"m{i}", label=metric_label(name, dims), namespace=namespace, name=name, dimensions=dims,
                      stat=stat) for i, dims in enumerate(dim_sets[:MAX_LINES])]
        graphs.append(Graph(title=f"{namespace} {name} ({stat})", lines=lines, source="metrics"))
    return graphs


def select_graphs(dashboard: tuple[str, dict[str, Any]] | None, alarms: list[dict[str, Any]],
                  metrics: list[dict[str, Any]], limit: int = MAX_GRAPHS) -> list[Graph]:
    """The graphs to draw (at most ``limit``): with a dashboard, the graphs of the alarms in ALARM whose metrics it
    does not show, then its own; without one, every alarm's graph, then the default ones."""
    if dashboard is not None:
        found = graphs_from_dashboard(*dashboard)
        if found:
            shown = {_key(line) for g in found for line in g.lines if line.name}
            firing = [g for g in (graph_of_alarm(a) for a in alarms if a.get("StateValue") == "ALARM")
                      if g is not None and not ({_key(line) for line in g.lines if line.name} <= shown)]
            return (firing + found)[:limit]
    graphs = [g for g in (graph_of_alarm(a) for a in alarms) if g is not None]
    watched = {_key(line) for g in graphs for line in g.lines if line.name}
    for graph in graphs_from_metrics(metrics):
        graph.lines = [line for line in graph.lines if _key(line) not in watched]  # drawn with its alarm already
        if graph.lines:
            graphs.append(graph)
    return graphs[:limit]


def _key(line: Line) -> tuple[Any, ...]:
    return (line.namespace, line.name, tuple(sorted(line.dimensions.items())))


def queries_for(graphs: list[Graph], default_period: int, override_period: int | None = None) -> \
        tuple[list[dict[str, Any]], dict[str, tuple[int, str]]]:
    """One GetMetricData query list for all graphs (ids made unique per graph: ``g<graph>_<id>``, expressions
    rewritten to match), and where each returned id belongs: ``{query id: (graph index, line label)}``."""
    queries: list[dict[str, Any]] = []
    owners: dict[str, tuple[int, str]] = {}
    for gi, graph in enumerate(graphs):
        period = override_period or graph.period or default_period
        renames = {line.id: f"g{gi}_{_safe_id(line.id)}" for line in graph.lines}
        for line in graph.lines:
            query = line.query(override_period or line.period or period)
            query["Id"] = renames[line.id]
            if "Expression" in query:
                query["Expression"] = _rename_ids(query["Expression"], renames)
            if "MetricStat" in query and override_period:
                query["MetricStat"]["Period"] = override_period
            queries.append(query)
            owners[query["Id"]] = (gi, line.label)
    return queries, owners


def _safe_id(ident: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", ident)
    return cleaned if cleaned and cleaned[0].isalpha() else "q" + cleaned


def _rename_ids(expression: str, renames: dict[str, str]) -> str:
    if not renames:
        return expression
    names = "|".join(re.escape(k) for k in sorted(renames, key=len, reverse=True))
    pattern = re.compile(r"(?<![A-Za-z0-9_\"'])(" + names + r")(?![A-Za-z0-9_])")
    return pattern.sub(lambda m: renames[m.group(1)], expression)
