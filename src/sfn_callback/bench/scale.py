"""Scale bench: N callback jobs waiting at once, per-job schedules or one sweep, on the local cloud.

For each size: time to start all executions, time until all finished, jobs/s and polls/s, reconnect latency
p50/p99 (SendTask* accepted -> next state entered, from execution histories), the local cloud process's
peak RSS and thread count (``/proc/<pid>/status``; the pid comes from ``/health``), lost jobs (executions
that did not succeed, or token records not finished) and duplicate callbacks (more than one accepted
callback or claim in a token record, or more than one TaskSucceeded/TaskFailed in a history).

Throughput is measured two ways: ``jobs_per_second`` is the jobs that succeeded over the time from the first
start to the last completion; ``drain_jobs_per_second`` is the jobs that finished after the last start over
the time from the last start to the last completion (the rate once starting no longer competes). Each size
also records the CPU used by the local cloud process (moto, the Step Functions interpreter, the schedule
runner: one Python process, so about one core at most) and by its Lambda workers, and the load average of
the machine, which other work shares.

``mode="both"`` runs per-job and sweep one after the other at each size in the same local cloud, the first
mode alternating from size to size (the token table and the execution list only grow, so whichever runs
second meets a slightly larger table), and reports the ratio sweep/per-job of each measure.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sfn_callback import config
from sfn_callback.common.aws import client as make_client
from sfn_callback.config import Target
from sfn_callback.deploy.deployer import ensure_deployed
from sfn_callback.localcloud import process
from sfn_callback.observe.history import reconnect_latencies
from sfn_callback.observe.records import execution_history, latency_summary, token_records

SCALE_FILE = "scale-bench.json"
MODES = ("per-job", "sweep")
RUN_MODES = (*MODES, "both")
TERMINAL = {"COMPLETED", "FAILED", "MAX_ATTEMPTS", "TIMEOUT"}
HISTORY_SAMPLE = 300


class ScaleError(RuntimeError):
    pass


@dataclass(frozen=True)
class ScaleConfig:
    sizes: tuple[int, ...] = (100, 300, 1000)
    mode: str = "sweep"
    interval_seconds: int = 2
    polls: int = 3
    start_concurrency: int = 8
    timeout_seconds: float = 900.0

    def __post_init__(self) -> None:
        if self.mode not in RUN_MODES:
            raise ValueError(f"--mode must be one of {list(RUN_MODES)}, got {self.mode!r}")
        if not self.sizes or any(n < 1 for n in self.sizes):
            raise ValueError(f"--jobs takes positive whole numbers, got {list(self.sizes)}")
        if self.interval_seconds < 1 or self.polls < 1:
            raise ValueError("--interval-seconds and --polls must be at least 1")


def proc_status(pid: int) -> dict[str, float]:
    """RSS (MB) and thread count of a Linux process, from ``/proc/<pid>/status``."""
    found: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    found["rss_mb"] = int(line.split()[1]) / 1024
                elif line.startswith("Threads:"):
                    found["threads"] = int(line.split()[1])
    except OSError:
        pass
    return found


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, from ``/proc/<pid>/stat``."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU time of each live child of ``pid`` (the Lambda workers of the local cloud)."""
    found: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if len(fields) > 12 and int(fields[1]) == pid:
            found[int(entry)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


class _Sampler:
    def __init__(self, pid: int | None, every: float = 0.5):
        self.pid, self.every = pid, every
        self.peak_rss = 0.0
        self.peak_threads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.pid:
                status = proc_status(self.pid)
                self.peak_rss = max(self.peak_rss, status.get("rss_mb", 0.0))
                self.peak_threads = max(self.peak_threads, int(status.get("threads", 0)))
            self._stop.wait(self.every)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(2)


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def _count_running(sfn: Any, sm_arn: str, run_id: str) -> int:
    count = 0
    kwargs: dict[str, Any] = {"stateMachineArn": sm_arn, "statusFilter": "RUNNING", "maxResults": 1000}
    while True:
        page = sfn.list_executions(**kwargs)
        count += sum(1 for e in page["executions"] if run_id in e["name"])
        if not page.get("nextToken"):
            return count
        kwargs["nextToken"] = page["nextToken"]


def run_size(target: Target, cfg: ScaleConfig, size: int, pid: int | None,
             progress: Callable[[str], None], mode: str | None = None) -> dict[str, Any]:
    mode = mode or cfg.mode
    sfn, ddb = make_client("stepfunctions", target), make_client("dynamodb", target)
    account = make_client("sts", target).get_caller_identity()["Account"]
    sm_arn = f"arn:aws:states:{target.region}:{account}:stateMachine:{config.CALLBACK_WORKFLOW}"
    run_id = f"s{uuid.uuid4().hex[:8]}"
    timeout = 120 + 6 * cfg.polls * cfg.interval_seconds + size // 2

    def start(i: int) -> str:
        name = f"scale-{run_id}-{i}"
        polling = {"intervalSeconds": cfg.interval_seconds, "maxAttempts": cfg.polls + 20, "timeoutSeconds": timeout,
                   "jobOptions": {"completeAfterChecks": cfg.polls}, "mode": mode}
        body = {"record": {"id": name, "data": {"bench": "scale"}}, "pollingConfig": polling,
                "taskTimeoutSeconds": timeout + 60}
        return sfn.start_execution(stateMachineArn=sm_arn, name=name, input=json.dumps(body))["executionArn"]

    before = proc_status(pid) if pid else {}
    load_before = load_average()
    cpu_before = cpu_seconds(pid) if pid else None
    workers_before = children_cpu_seconds(pid) if pid else {}
    with _Sampler(pid) as sampler:
        t0 = time.time()
        with ThreadPoolExecutor(cfg.start_concurrency) as pool:
            arns = list(pool.map(start, range(size)))
        started = time.time()
        progress(f"{size} jobs ({mode}): started in {started - t0:.1f} s")
        deadline = time.monotonic() + cfg.timeout_seconds
        # While waiting, list only the RUNNING executions (one call, not one per final status: the local
        # cloud runs this bench's listing in the same process as the jobs). Finish times come from each
        # execution's stopDate, so how often this looks does not change the figures.
        while time.monotonic() < deadline:
            running = _count_running(sfn, sm_arn, run_id)
            if running == 0:
                break
            progress(f"{size} jobs ({mode}): {size - running} finished after {time.time() - t0:.0f} s")
            time.sleep(2.0)
        finished: dict[str, dict[str, Any]] = {}
        for status in ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"):
            kwargs: dict[str, Any] = {"stateMachineArn": sm_arn, "statusFilter": status, "maxResults": 1000}
            while True:
                page = sfn.list_executions(**kwargs)
                for e in page["executions"]:
                    if run_id in e["name"]:
                        finished[e["executionArn"]] = e
                if not page.get("nextToken"):
                    break
                kwargs["nextToken"] = page["nextToken"]
        last_stop = max((_epoch(e["stopDate"]) for e in finished.values() if e.get("stopDate")), default=time.time())
        measured_until = time.time()
        cpu_after = cpu_seconds(pid) if pid else None
        workers_after = children_cpu_seconds(pid) if pid else {}
        load_after = load_average()
        # Records end just after their callback; give them a moment before judging.
        records: dict[str, dict[str, Any]] = {}
        for _ in range(40):
            records = token_records(ddb, run_id)
            if sum(1 for r in records.values() if r["status"]["S"] in TERMINAL) >= len(finished):
                break
            time.sleep(0.5)
        rss_peak, threads_peak = sampler.peak_rss, sampler.peak_threads

    sample = arns if len(arns) <= HISTORY_SAMPLE else arns[:: max(1, len(arns) // HISTORY_SAMPLE)]
    latencies: list[float] = []
    history_duplicates = 0
    lost: list[str] = []
    for arn in sample:
        events = execution_history(sfn, arn)
        latencies.extend(reconnect_latencies(events))
        if sum(1 for e in events if e["type"] in ("TaskSucceeded", "TaskFailed")) > 1:
            history_duplicates += 1
    for arn in arns:
        e = finished.get(arn)
        if e is None or e["status"] != "SUCCEEDED":
            lost.append(arn)
            continue
        record = records.get(arn)
        if record is None or record["status"]["S"] != "COMPLETED":
            lost.append(arn)
    record_duplicates = sum(1 for r in records.values()
                            if int(r.get("callbacksAccepted", {}).get("N", "0")) > 1
                            or int(r.get("claimCount", {}).get("N", "0")) > 1)
    polls = sum(int(r.get("attemptCount", {}).get("N", "0")) for r in records.values())
    finish_seconds = max(0.001, last_stop - t0)
    succeeded = sum(1 for e in finished.values() if e["status"] == "SUCCEEDED")
    after_start = sum(1 for e in finished.values() if e.get("stopDate") and _epoch(e["stopDate"]) >= started)
    drain_seconds = max(0.001, last_stop - started)
    wall = max(0.001, measured_until - t0)
    workers_cpu = sum(max(0.0, cpu - workers_before.get(child, 0.0)) for child, cpu in workers_after.items())
    return {
        "jobs": size,
        "mode": mode,
        "start_seconds": round(started - t0, 3),
        "finish_seconds": round(finish_seconds, 3),
        "jobs_per_second": succeeded / finish_seconds,
        "finished_after_last_start": after_start,
        "drain_seconds": round(drain_seconds, 3),
        "drain_jobs_per_second": after_start / drain_seconds,
        "polls": polls,
        "polls_per_second": polls / finish_seconds,
        "polls_per_job": polls / size,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "reconnect": latency_summary(latencies),
        "reconnect_sampled_executions": len(sample),
        "reconnect_latencies_seconds": latencies,
        "local_cloud": {"pid": pid, "rss_mb_before": before.get("rss_mb"), "peak_rss_mb": rss_peak or None,
                        "peak_threads": threads_peak or None, "threads_before": before.get("threads"),
                        "cpu_seconds": None if cpu_before is None or cpu_after is None
                        else round(cpu_after - cpu_before, 2),
                        "cpu_cores": None if cpu_before is None or cpu_after is None
                        else round((cpu_after - cpu_before) / wall, 2),
                        "workers_cpu_cores": round(workers_cpu / wall, 2) if pid else None},
        "lost": len(lost),
        "lost_examples": lost[:5],
        "duplicate_callbacks": record_duplicates + history_duplicates,
    }


def run_scale(target: Target, cfg: ScaleConfig, progress: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    if not target.is_local:
        raise ScaleError("bench scale runs against the local cloud (it reads the local cloud's process)")
    health = process.health(target.endpoint_url or "", timeout=5)
    if health is None:
        raise ScaleError(f"no local cloud answers at {target.endpoint_url}; start one with `sfn-callback up`")
    ensure_deployed(target, progress)
    pid = health.get("pid")
    if pid is not None and not os.path.exists(f"/proc/{pid}"):
        pid = None  # another machine or container: memory is not readable from here
    rows: list[dict[str, Any]] = []
    for index, n in enumerate(cfg.sizes):
        modes: tuple[str, ...] = MODES if cfg.mode == "both" else (cfg.mode,)
        if index % 2:
            modes = tuple(reversed(modes))
        for mode in modes:
            rows.append(run_size(target, cfg, n, pid, progress, mode))
    notes = []
    if pid is None:
        notes.append("the local cloud's process is not readable from here: memory not measured")
    for row in rows:
        threads = row["local_cloud"].get("peak_threads")
        if threads and row["jobs"]:
            notes.append(f"{row['jobs']} jobs ({row['mode']}): peak {threads} threads in the local cloud "
                         f"(~{threads / row['jobs']:.1f} per waiting execution: moto runs each execution in threads)")
    return {
        "kind": "sfn-callback/scale-bench",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "target": target.endpoint_url,
        "mode": cfg.mode,
        "interval_seconds": cfg.interval_seconds,
        "polls_per_job": cfg.polls,
        "lambda": {k: v for k, v in (health.get("lambda") or {}).items() if k != "workers"},
        "sizes": rows,
        "comparison": compare(rows),
        "notes": notes,
    }


def compare(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sweep/per-job ratios of the sizes measured in both modes."""
    by_size: dict[int, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_size.setdefault(row["jobs"], {})[row["mode"]] = row
    out = []
    for size, modes in by_size.items():
        if set(MODES) <= set(modes):
            per, sweep = modes["per-job"], modes["sweep"]
            ratios = {key: sweep[key] / per[key] if per.get(key) else None
                      for key in ("jobs_per_second", "drain_jobs_per_second", "finish_seconds")}
            out.append({"jobs": size, **{f"{key}_ratio": value for key, value in ratios.items()}})
    return out


def split_by_mode(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One document per mode measured (the report reads one file per mode)."""
    modes = [m for m in MODES if any(r["mode"] == m for r in doc["sizes"])]
    return [doc | {"mode": m, "sizes": [r for r in doc["sizes"] if r["mode"] == m],
                   "notes": [n for n in doc.get("notes", []) if f"({m})" in n]} for m in modes]


def scale_path(mode: str, directory: str | None = None) -> str:
    return os.path.join(directory or config.state_dir(), f"scale-bench-{mode}.json")


def save_scale(doc: dict[str, Any], directory: str | None = None) -> str:
    """Save one file per mode measured (what the report reads); a run of both modes also keeps the whole
    document, comparison included, as ``scale-bench-both.json``. Returns the path of the last file written."""
    docs = split_by_mode(doc) + ([doc] if doc["mode"] == "both" else [])
    path = ""
    for one in docs:
        path = scale_path(one["mode"], directory)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(one, handle, indent=1, default=str)
        os.replace(tmp, path)
    return path


def load_scale(mode: str, directory: str | None = None) -> dict[str, Any] | None:
    try:
        with open(scale_path(mode, directory), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None
