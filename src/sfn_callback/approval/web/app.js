// Approvals page: lists pending tasks, approves/rejects with a reason, refreshes by polling (no reload).
"use strict";
(function () {
  const POLL_MS = 2000;
  const state = { key: sessionStorage.getItem("approvalKey") || "", offsetMs: 0, timer: null, clock: null, tasks: [] };
  const $ = (id) => document.getElementById(id);

  function headers(json) {
    const h = { "Authorization": "Bearer " + state.key, "Accept": "application/json" };
    if (json) h["Content-Type"] = "application/json";
    return h;
  }

  async function api(method, path, body) {
    const response = await fetch(path, {
      method, headers: headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
    let doc = null;
    try { doc = await response.json(); } catch (e) { doc = null; }
    return { status: response.status, doc };
  }

  function fmtDuration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    if (h) return h + "h " + m + "m";
    if (m) return m + "m " + s + "s";
    return s + "s";
  }

  function say(text, ok) {
    const li = document.createElement("li");
    li.className = ok ? "ok" : "fail";
    li.textContent = new Date().toLocaleTimeString() + "  " + text;
    const list = $("messages");
    list.insertBefore(li, list.firstChild);
    while (list.children.length > 20) list.removeChild(list.lastChild);
  }

  function showLogin(message) {
    if (state.timer) clearInterval(state.timer);
    state.timer = null;
    $("login-panel").hidden = false;
    $("main").hidden = true;
    $("logout").hidden = true;
    $("who").textContent = "";
    $("login-error").textContent = message || "";
  }

  function showMain() {
    $("login-panel").hidden = true;
    $("main").hidden = false;
    $("logout").hidden = false;
  }

  function serverNow() { return Date.now() + state.offsetMs; }

  function tickClocks() {
    const now = serverNow();
    for (const row of document.querySelectorAll("#tasks tbody tr")) {
      const start = Date.parse(row.dataset.startTime), expires = Date.parse(row.dataset.expiresAt);
      row.querySelector("td.age").textContent = fmtDuration((now - start) / 1000);
      const left = (expires - now) / 1000;
      const cell = row.querySelector("td.left");
      cell.textContent = left > 0 ? fmtDuration(left) : "expired";
      cell.classList.toggle("urgent", left < 30);
    }
  }

  function render(tasks) {
    const body = document.querySelector("#tasks tbody");
    const existing = new Map();
    for (const row of body.querySelectorAll("tr")) existing.set(row.dataset.orderId, row);
    const wanted = new Set(tasks.map((t) => t.orderId));
    for (const [id, row] of existing) if (!wanted.has(id)) row.remove();
    for (const task of tasks) {
      let row = existing.get(task.orderId);
      if (!row) row = buildRow(task);
      body.appendChild(row);  // keeps server order (oldest first)
    }
    $("empty").hidden = tasks.length !== 0;
    tickClocks();
  }

  function buildRow(task) {
    const row = document.createElement("tr");
    row.dataset.orderId = task.orderId;
    row.dataset.startTime = task.startTime;
    row.dataset.expiresAt = task.expiresAt;
    const cell = (cls, text) => {
      const td = document.createElement("td");
      td.className = cls;
      td.textContent = text;
      row.appendChild(td);
      return td;
    };
    cell("order", task.orderId);
    cell("details", Object.keys(task.details || {}).length ? JSON.stringify(task.details) : "");
    cell("age", "");
    cell("left", "");
    const reasonCell = cell("reason-cell", "");
    const reason = document.createElement("input");
    reason.className = "reason";
    reason.placeholder = "reason (required to reject)";
    reason.maxLength = 1000;
    reason.setAttribute("aria-label", "Reason for " + task.orderId);
    reasonCell.appendChild(reason);
    const actions = cell("actions", "");
    for (const [cls, label] of [["approve", "Approve"], ["reject", "Reject"]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = cls;
      button.textContent = label;
      button.addEventListener("click", () => decide(task.orderId, cls, reason.value, row));
      actions.appendChild(button);
    }
    return row;
  }

  async function decide(orderId, action, reason, row) {
    reason = reason.trim();
    if (action === "reject" && !reason) { say("Reject " + orderId + ": a reason is required", false); return; }
    for (const b of row.querySelectorAll("button")) b.disabled = true;
    const body = action === "approve" ? (reason ? { reason } : {}) : { reason };
    try {
      const { status, doc } = await api("POST", "/tasks/" + encodeURIComponent(orderId) + "/" + action, body);
      if (status === 401 || status === 403) { showLogin("Your key was refused; sign in again."); return; }
      if (status === 200 || status === 202) {
        say(orderId + ": " + (doc && doc.message ? doc.message : action + "d"), true);
        row.remove();
      } else {
        say(orderId + ": " + (doc && doc.error ? doc.error.message : "HTTP " + status), false);
        if (status === 409 || status === 410 || status === 404) row.remove();
      }
    } catch (e) {
      say(orderId + ": the service did not answer (" + e + ")", false);
    } finally {
      for (const b of row.querySelectorAll("button")) b.disabled = false;
    }
  }

  async function refresh() {
    try {
      const all = [];
      let cursor = null;
      for (let page = 0; page < 5; page++) {
        const qs = "?status=PENDING&limit=100" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
        const { status, doc } = await api("GET", "/tasks" + qs);
        if (status === 401 || status === 403) { showLogin(status === 401 ? "A key is required." : "This key is not allowed."); return false; }
        if (status !== 200) { $("refreshed").textContent = "Refresh failed (HTTP " + status + ")"; return true; }
        state.offsetMs = Date.parse(doc.serverTime) - Date.now();
        all.push(...doc.items);
        cursor = doc.nextCursor;
        if (!cursor) break;
      }
      render(all);
      $("refreshed").textContent = "Updated " + new Date().toLocaleTimeString() + ".";
      return true;
    } catch (e) {
      $("refreshed").textContent = "The service did not answer; retrying.";
      return true;
    }
  }

  async function start() {
    showMain();
    if (!(await refresh())) return;
    $("who").textContent = "signed in";
    if (state.timer) clearInterval(state.timer);
    state.timer = setInterval(refresh, POLL_MS);
    if (!state.clock) state.clock = setInterval(tickClocks, 1000);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login").addEventListener("submit", (event) => {
      event.preventDefault();
      state.key = $("key").value.trim();
      sessionStorage.setItem("approvalKey", state.key);
      $("key").value = "";
      start();
    });
    $("logout").addEventListener("click", () => {
      sessionStorage.removeItem("approvalKey");
      state.key = "";
      showLogin("");
    });
    if (state.key) start(); else showLogin("");
  });
})();
