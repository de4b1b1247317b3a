// The dashboard page: polls /api/dashboard and redraws every section in place (no reload); graphs are SVG.
"use strict";
(function () {
  const REFRESH_MS = parseInt(document.body.dataset.refreshMs, 10) || 5000;
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
  const SVG_NS = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  const state = { refreshes: 0, failures: 0 };
  window.dashboardState = state;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    const negative = seconds < 0;
    seconds = Math.abs(Math.round(seconds));
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    const text = h ? `${h}h ${m}m` : m ? `${m}m ${s}s` : `${s}s`;
    return negative ? "-" + text : text;
  }

  function time(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleTimeString();
  }

  function number(v) {
    if (v === null || v === undefined) return "";
    if (Math.abs(v) >= 1000) return v.toFixed(0);
    return Number.isInteger(v) ? String(v) : v.toPrecision(3);
  }

  function fill(tbody, rows, render, empty, columns) {
    tbody.replaceChildren();
    if (!rows.length) {
      const tr = el("tr", { class: "empty" });
      tr.appendChild(el("td", { colspan: String(columns) }, empty));
      tbody.appendChild(tr);
      return;
    }
    for (const row of rows) tbody.appendChild(render(row));
  }

  function row(cells) {
    const tr = el("tr");
    for (const c of cells) {
      const td = el("td", c.cls ? { class: c.cls } : {});
      if (c.node) td.appendChild(c.node); else td.textContent = c.text === undefined || c.text === null ? "" : String(c.text);
      tr.appendChild(td);
    }
    return tr;
  }

  function note(id, section, extra) {
    const target = $(id);
    target.replaceChildren();
    target.className = section && section.error ? "error" : "muted";
    target.textContent = section && section.error ? section.error : (extra || "");
  }

  function stateBadge(value) {
    return el("span", { class: "state state-" + (value || "none") }, value || "");
  }

  // -------------------------------------------------------------------------------------------- sections
  function renderWaiting(section) {
    const rows = section.rows || [];
    $("waiting-count").textContent = section.error ? "" : `(${section.total || 0})`;
    note("waiting-note", section, (section.notes || []).join("; ") + (section.truncated ? " (first 500 shown)" : ""));
    fill($("waiting").tBodies[0], rows, (r) => {
      let next = "";
      let cls = "n";
      if (r.kind === "approval") next = "a person decides";
      else if (r.nextPollInSeconds !== null && r.nextPollInSeconds !== undefined) {
        next = r.nextPollInSeconds >= 0 ? "in " + duration(r.nextPollInSeconds) : "overdue " + duration(-r.nextPollInSeconds);
        if (r.nextPollInSeconds < 0) cls = "n overdue";
      }
      const tr = row([
        { text: r.workflow }, { text: r.execution, cls: "mono" }, { text: r.jobId, cls: "mono" },
        { text: r.token, cls: "token" }, { text: r.status },
        { text: duration(r.waitingSeconds), cls: "n" }, { text: next, cls },
        { text: r.attempts === null || r.attempts === undefined ? "" : `${r.attempts}/${r.maxAttempts}`, cls: "n" },
        { text: r.executionStatus || "" },
      ]);
      tr.dataset.jobId = r.jobId || "";
      tr.dataset.kind = r.kind;
      return tr;
    }, section.error ? "" : "no workflow is waiting on a task token", 9);
  }

  function renderExecutions(section) {
    note("executions-note", section, "");
    const table = $("executions");
    const statuses = section.statuses || [];
    const head = el("tr");
    head.appendChild(el("th", {}, "state machine"));
    for (const s of statuses) head.appendChild(el("th", {}, s));
    head.appendChild(el("th", {}, "total"));
    table.tHead.replaceChildren(head);
    fill(table.tBodies[0], section.machines || [], (m) => {
      const cells = [{ text: m.name }];
      for (const s of statuses) cells.push({ text: m.counts[s] || 0, cls: "n count-" + s });
      cells.push({ text: m.total + (m.truncated ? "+" : ""), cls: "n total" });
      const tr = row(cells);
      tr.dataset.machine = m.name;
      return tr;
    }, section.error ? "" : "no state machine", statuses.length + 2);
  }

  function renderAlarms(section) {
    const c = section.counts || {};
    $("alarm-counts").textContent = section.error ? "" :
      `(${c.ALARM || 0} in ALARM, ${c.INSUFFICIENT_DATA || 0} insufficient data, ${c.OK || 0} OK)`;
    note("alarms-note", section, "");
    fill($("alarms").tBodies[0], section.rows || [], (a) => {
      const tr = row([
        { text: a.name }, { node: stateBadge(a.state) }, { text: time(a.updated) },
        { text: a.watches + (a.threshold !== null && a.threshold !== undefined ? ` (${a.comparison} ${a.threshold}, ${a.evaluationPeriods} x ${a.period} s)` : "") },
        { text: a.reason, cls: "reason" }, { text: (a.actions || []).join(", ") },
      ]);
      tr.dataset.alarm = a.name;
      tr.dataset.state = a.state || "";
      return tr;
    }, section.error ? "" : "no alarm on the target", 6);
  }

  function renderHistory(section) {
    note("history-note", section, "");
    fill($("history").tBodies[0], section.rows || [], (h) => row([
      { text: time(h.time) }, { text: h.alarm }, { text: h.type }, { text: h.summary, cls: "reason" },
    ]), section.error ? "" : "no alarm history yet", 4);
  }

  function renderNotifications(section) {
    const queues = (section.queues || []).map((q) => `${q.queue} (topic ${q.topic}${q.read ? ", read without deleting" : ""}${q.note ? ": " + q.note : ""})`);
    const topics = section.topics || [];
    note("notifications-note", section,
      topics.length ? `alarm topics: ${topics.join(", ")}` + (queues.length ? `; queues: ${queues.join("; ")}` : "; no queue subscribed")
        : "no alarm notifies a topic");
    fill($("notifications").tBodies[0], section.rows || [], (n) => {
      const tr = row([
        { text: time(n.time) }, { text: n.alarm || n.subject || "" }, { node: stateBadge(n.state) },
        { text: n.via }, { text: n.reason, cls: "reason" },
      ]);
      tr.dataset.alarm = n.alarm || "";
      return tr;
    }, section.error ? "" : "no notification seen yet", 5);
  }

  function renderGraphs(section, doc) {
    $("graphs-source").textContent = section.error ? "" : `(from ${section.source}; ${duration(doc.window.seconds)} window)`;
    const graphs = section.graphs || [];
    note("graphs-note", section, graphs.length ? "" : "no metrics on the target yet");
    const holder = $("graphs");
    holder.replaceChildren();
    for (const g of graphs) holder.appendChild(graph(g, section.start, section.end));
  }

  function graph(g, start, end) {
    const W = 460, H = 170, L = 46, R = 8, T = 8, B = 22;
    const box = el("div", { class: "graph" });
    box.dataset.title = g.title;
    const points = g.series.reduce((n, s) => n + s.points.length, 0);
    const lastValues = g.series.filter((s) => s.points.length).map((s) => number(s.points[s.points.length - 1][1]));
    box.appendChild(el("h3", {}, g.title + (lastValues.length ? "  (last: " + lastValues.join(", ") + ")" : "")));
    let max = 0, min = 0;
    for (const s of g.series) for (const p of s.points) { max = Math.max(max, p[1]); min = Math.min(min, p[1]); }
    for (const t of g.thresholds || []) { max = Math.max(max, t.value); min = Math.min(min, t.value); }
    if (max === min) max = min + 1;
    const x = (t) => L + (W - L - R) * (t - start) / Math.max(1, end - start);
    const y = (v) => T + (H - T - B) * (1 - (v - min) / (max - min));
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": g.title, "data-points": String(points) });
    chart.appendChild(svg("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "#fafafa", stroke: "#ccc" }));
    for (const v of [min, (min + max) / 2, max]) {
      chart.appendChild(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e5e5e5" }));
      chart.appendChild(svg("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end", "font-size": "10" }, number(v)));
    }
    for (const t of [start, (start + end) / 2, end]) {
      chart.appendChild(svg("text", { x: x(t), y: H - 6, "text-anchor": "middle", "font-size": "10" },
        new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })));
    }
    for (const t of g.thresholds || []) {
      chart.appendChild(svg("line", { x1: L, x2: W - R, y1: y(t.value), y2: y(t.value), stroke: "#b00020",
        "stroke-dasharray": "4 3", class: "threshold" }));
    }
    g.series.forEach((s, i) => {
      const color = COLORS[i % COLORS.length];
      if (!s.points.length) return;
      const d = s.points.map((p, j) => (j ? "L" : "M") + x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1)).join(" ");
      chart.appendChild(svg("path", { d, fill: "none", stroke: color, "stroke-width": "1.6", class: "series" }));
      for (const p of s.points.length < 40 ? s.points : []) {
        chart.appendChild(svg("circle", { cx: x(p[0]).toFixed(1), cy: y(p[1]).toFixed(1), r: "2", fill: color }));
      }
    });
    if (!points) {
      chart.appendChild(svg("text", { x: (L + W) / 2, y: H / 2, "text-anchor": "middle", fill: "#888", "font-size": "12" },
        "no data in this window"));
    }
    box.appendChild(chart);
    const legend = el("div", { class: "legend" });
    g.series.forEach((s, i) => {
      const item = el("span", {}, s.label + (s.messages && s.messages.length ? " (" + s.messages.join("; ") + ")" : ""));
      item.style.setProperty("--c", COLORS[i % COLORS.length]);
      legend.appendChild(item);
    });
    for (const t of g.thresholds || []) {
      const item = el("span", {}, `${t.label || "threshold"}: ${number(t.value)}`);
      item.style.setProperty("--c", "#b00020");
      legend.appendChild(item);
    }
    box.appendChild(legend);
    return box;
  }

  function renderMetricsList(section) {
    $("metrics-count").textContent = section.error ? "" : `(${section.total || 0})`;
    fill($("metrics-list").querySelector("tbody"), section.list || [], (m) => row([
      { text: m.namespace }, { text: m.name },
      { text: Object.entries(m.dimensions || {}).map(([k, v]) => `${k}=${v}`).join(", "), cls: "mono" },
    ]), section.error ? "" : "no metric", 3);
  }

  function render(doc) {
    $("target").textContent = "target: " + doc.target + " (" + doc.region + ")";
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
    const banner = $("banner");
    if (doc.error) { banner.hidden = false; banner.textContent = doc.error; } else { banner.hidden = true; }
    const empty = { error: doc.error };
    renderWaiting(doc.waiting || empty);
    renderExecutions(doc.executions || empty);
    renderAlarms(doc.alarms || empty);
    renderGraphs(doc.graphs || empty, doc);
    renderMetricsList(doc.metrics || empty);
    renderNotifications(doc.notifications || empty);
    renderHistory(doc.history || empty);
  }

  async function refresh() {
    try {
      const response = await fetch("/api/dashboard", { cache: "no-store", headers: { "Accept": "application/json" } });
      let doc = null;
      try { doc = await response.json(); } catch (e) { doc = null; }
      if (!response.ok || !doc || doc.error && !doc.target) {
        throw new Error(doc && doc.error ? doc.error.message || doc.error : `the dashboard server answered ${response.status}`);
      }
      render(doc);
      state.refreshes += 1;
      document.body.dataset.refreshes = String(state.refreshes);
    } catch (e) {
      state.failures += 1;
      const banner = $("banner");
      banner.hidden = false;
      banner.textContent = "cannot read the dashboard's data: " + e.message;
    } finally {
      setTimeout(refresh, REFRESH_MS);
    }
  }

  refresh();
})();
