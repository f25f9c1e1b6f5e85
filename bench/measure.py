"""Measuring: one run of one configuration under wrk (or the background jobs'
client), and the rounds of a whole run."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import access_log, jobs, wrk
from bench.configuration import BENCH_ROOT, Config
from bench.host import BenchError, Log, run
from bench.stacks import Workspace
from bench.stats import Run, rotated
from bench.target import Target

SETTLE_S = 0.5
# How long the job client may post jobs, in a run of a worker's stack.
JOBS_S = 60
# A configuration that fails this often is left out of the later rounds.
MAX_FAILURES = 2


@dataclass(frozen=True)
class Settings:
    """The run's settings (results.json's "settings"): wrk's load, the rounds, the set."""

    duration_s: int
    warmup_s: int
    connections: int
    threads: int
    timeout_s: int
    rounds: int
    set: str


def measure(
    workspace: Workspace, config: Config, round_index: int, settings: Settings, logs: Path
) -> Run:
    """One run of one configuration, from nothing back to nothing."""
    with workspace.started(config) as (target, cold_start):
        if target is None:
            return Run(config.key, round_index, 0.0, 0.0, 0.0, 0, 0, cold_start, {"load": False})
        if config.jobs:
            return queue_jobs(config, target, cold_start, round_index, logs)
        return load(workspace, config, target, cold_start, round_index, settings, logs)


def queue_jobs(
    config: Config, target: Target, cold_start: float | None, round_index: int, logs: Path
) -> Run:
    """The job client's run (bench/job_client.py) in the front's network namespace: its
    figures in the run's notes ("jobs"), lost and refused jobs as its errors; its output
    (and the stack's logs explaining lost jobs) in logs."""
    command = [sys.executable, "-m", "bench.job_client", target.url, f"--jobs={config.jobs}"]
    command.append(f"--seconds={JOBS_S}")
    # Posting stops after JOBS_S; the last job and those not finished are polled for
    # up to JOB_WAIT_S each time.
    output = run(target.wrap(command), cwd=BENCH_ROOT.parent, timeout=JOBS_S + 60).stdout
    name = f"{config.key}-round{round_index + 1}"
    (logs / f"jobs-{name}.jsonl").write_text(output)
    found = jobs.figures(jobs.parse(output))
    if found.lost or found.refused:
        (logs / f"errors-{name}.txt").write_text(target.error_logs())
    notes = {"load": False, "jobs": asdict(found)}
    return Run(
        config.key, round_index, 0.0, 0.0, 0.0, found.posted, found.lost + found.refused,
        cold_start, notes,
    )  # fmt: skip


def wrk_output(
    target: Target,
    connections: int,
    seconds: int,
    latency: bool,
    settings: Settings,
    statuses: bool = False,
) -> str:
    """wrk's output of `seconds` of load on the target."""
    command = wrk.command(
        target.url, seconds, connections, settings.threads, settings.timeout_s, latency, statuses
    )
    return run(target.wrap(command), timeout=seconds + settings.timeout_s + 60).stdout


@dataclass(frozen=True)
class MeasuredLoad:
    """The measured run: wrk's output, the target's CPU seconds before and after it,
    when it ran, and how long the stack took to settle before it."""

    output: str
    cpu_before: dict[str, float]
    cpu_after: dict[str, float]
    start: datetime
    end: datetime
    settled_s: float


def measured_load(
    target: Target, connections: int, settings: Settings, statuses: bool = False
) -> MeasuredLoad:
    """The measured run, once the stack has settled and after the warm-up."""
    settled_s = target.wait_settled()
    if settings.warmup_s:
        wrk_output(target, connections, settings.warmup_s, False, settings)
        # The requests wrk abandoned when it stopped still wait in uWSGI's listen
        # queue; let them drain, or the measured run's first connections overflow it.
        time.sleep(SETTLE_S)
    cpu_before = target.cpu()
    start = datetime.now(UTC)
    output = wrk_output(target, connections, settings.duration_s, True, settings, statuses)
    end = datetime.now(UTC)
    return MeasuredLoad(output, cpu_before, target.cpu(), start, end, settled_s)


def cpu_notes(
    result: wrk.WrkResult, cpu_before: dict[str, float], cpu_after: dict[str, float]
) -> dict[str, Any]:
    """CPU time per request, which other loads on the machine change far less than the
    rate: the stack's own, and Docker's daemons' (the log path, the probes)."""
    if not result.requests:
        return {}
    return {
        f"cpu_us_{part}": (seconds - cpu_before[part]) * 1e6 / result.requests
        for part, seconds in cpu_after.items()
        if part in cpu_before
    }


def error_detail(result: wrk.WrkResult) -> dict[str, int]:
    return {
        "connect": result.connect_errors,
        "read": result.read_errors,
        "write": result.write_errors,
        "timeout": result.timeouts,
        "non_2xx": result.non_2xx,
    }


def load_notes(
    workspace: Workspace,
    config: Config,
    target: Target,
    result: wrk.WrkResult,
    measured: MeasuredLoad,
) -> dict[str, Any]:
    """What a run records beside wrk's figures: CPU time, TIME_WAIT sockets left,
    workers, the errors by kind, the seconds the stack took to settle."""
    notes = cpu_notes(result, measured.cpu_before, measured.cpu_after)
    notes["settled_s"] = round(measured.settled_s, 1)
    if target.netns_pid is not None:  # not the native run: this machine's count is anyone's
        notes["time_wait_front"] = target.time_wait(target.netns_pid)
    if target.app_pid is not None and target.app_pid != target.netns_pid:
        notes["time_wait_app"] = target.time_wait(target.app_pid)
    if config.count_processes and target.container:
        # The master and its workers share the command line.
        notes["workers"] = workspace.compose.processes(target.container, config.count_processes) - 1
    if result.errors:
        notes["error_detail"] = error_detail(result)
    if result.statuses:
        notes["statuses"] = {str(status): count for status, count in result.statuses.items()}
    return notes


def load(
    workspace: Workspace,
    config: Config,
    target: Target,
    cold_start: float | None,
    round_index: int,
    settings: Settings,
    logs: Path,
) -> Run:
    """The configuration, started, under wrk's load: its figures and notes, its wrk
    output (and the stack's logs explaining errors) in logs."""
    connections = config.connections or settings.connections
    measured = measured_load(target, connections, settings, config.count_statuses)
    name = f"{config.key}-round{round_index + 1}"
    (logs / f"wrk-{name}.txt").write_text(measured.output)
    result = wrk.parse(measured.output)
    if result.errors:
        (logs / f"errors-{name}.txt").write_text(target.error_logs())
    notes = load_notes(workspace, config, target, result, measured)
    if config.count_statuses:
        # wrk's latencies mix the 503s in: the 200s' own, as nginx logged them.
        time.sleep(access_log.FLUSH_WAIT_S)
        log = target.front_log()
        notes.update(access_log.answered_notes(log, config.path, measured.start, measured.end))
    return Run(
        config=config.key,
        round=round_index,
        requests_per_second=result.requests_per_second,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        requests=result.requests,
        errors=result.errors,
        cold_start_s=cold_start,
        notes=notes,
    )


def describe(run_: Run) -> str:
    parts = []
    if run_.notes.get("load", True):
        parts.append(
            f"{run_.requests_per_second:,.0f} req/s, p50 {run_.p50_ms:.1f} ms, "
            f"p99 {run_.p99_ms:.1f} ms, {run_.errors} errors"
        )
    if "jobs" in run_.notes:
        found = run_.notes["jobs"]
        parts.append(
            f"{found['finished']}/{found['posted']} jobs finished, {found['lost']} lost, "
            f"p50 {found['p50_ms'] or 0:.1f} ms, p95 {found['p95_ms'] or 0:.1f} ms"
        )
    if run_.cold_start_s is not None:
        parts.append(f"cold start {run_.cold_start_s:.1f} s")
    if "settled_s" in run_.notes:
        parts.append(f"settled in {run_.notes['settled_s']:.1f} s")
    if "time_wait_front" in run_.notes:
        parts.append(
            f"TIME_WAIT {run_.notes['time_wait_front']}"
            + (f"/{run_.notes['time_wait_app']}" if "time_wait_app" in run_.notes else "")
        )
    if "workers" in run_.notes:
        parts.append(f"{run_.notes['workers']} workers")
    if "cpu_us_stack" in run_.notes:
        parts.append(
            f"CPU/request {run_.notes['cpu_us_stack']:.0f} us"
            + (
                f" + Docker {run_.notes['cpu_us_docker']:.0f} us"
                if "cpu_us_docker" in run_.notes
                else ""
            )
        )
    return ", ".join(parts)


def measure_rounds(
    workspace: Workspace,
    chosen: list[Config],
    settings: Settings,
    data: dict[str, Any],
    logs: Path,
    progress: Log,
) -> None:
    """Every configuration once a round, in an order rotated each round; one that fails
    MAX_FAILURES times is left out of the later rounds."""
    failures: dict[str, int] = {}
    by_key = {config.key: config for config in chosen}
    for round_index in range(settings.rounds):
        order = [
            key for key in rotated(list(by_key), round_index) if failures.get(key, 0) < MAX_FAILURES
        ]
        for position, key in enumerate(order, 1):
            prefix = f"round {round_index + 1}/{settings.rounds} ({position}/{len(order)}) {key}"
            try:
                measured = measure(workspace, by_key[key], round_index, settings, logs)
            except (BenchError, wrk.WrkOutputError, jobs.JobsOutputError) as error:
                failures[key] = failures.get(key, 0) + 1
                data["failures"].append(f"{key} (round {round_index + 1}): {error}")
                progress(f"{prefix}: FAILED: {str(error)[:2000]}")
                continue
            data["runs"].append(measured.to_json())
            progress(f"{prefix}: {describe(measured)}")
