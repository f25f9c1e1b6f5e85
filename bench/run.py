"""`make bench`: measure every configuration, round by round; write the report.

    .venv/bin/python -m bench                 # the full run (make bench)
    .venv/bin/python -m bench --quick         # a few configurations, 1 s each, 1 round
    .venv/bin/python -m bench --only nginx-uwsgi,unbuffered-log --rounds 5
    .venv/bin/python -m bench --list          # the configurations and their sets
    .venv/bin/python -m bench --report bench/results/<run>/results.json   # re-render

Results go to bench/results/<date>/ (results.json, table.md, chart.png, the wrk
output of every run, a log); a full run also writes docs/bench/latest.md and
latest.png, and the README section between its bench markers when it has them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from bench import wrk
from bench.chart import write_chart
from bench.configs import configs, select
from bench.configuration import BENCH_ROOT, Config
from bench.docker import Resources, remove_leftovers
from bench.host import BenchError, check_host, run
from bench.images import SECRET_KEY
from bench.projects import REPO_ROOT, base_images
from bench.report import render_markdown, render_readme_section, replace_readme_section
from bench.results import Results
from bench.stacks import Workspace
from bench.stats import Run, rotated
from bench.target import Target

RESULTS_ROOT = REPO_ROOT / "bench" / "results"
DOCS = REPO_ROOT / "docs" / "bench"
WORK_ROOT = REPO_ROOT / "build" / "bench"
README = REPO_ROOT / "README.md"
SETTLE_S = 0.5
# A configuration that fails this often is left out of the later rounds.
MAX_FAILURES = 2


@dataclass(frozen=True)
class Settings:
    duration_s: int
    warmup_s: int
    connections: int
    threads: int
    timeout_s: int
    rounds: int
    set: str


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="the test's run: few configs, 1 s, 1 round"
    )
    parser.add_argument("--set", default="full", choices=["full", "extra", "all", "quick"])
    parser.add_argument("--only", default="", help="comma-separated configuration keys")
    parser.add_argument("--skip", default="", help="comma-separated configuration keys")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds of each measured run")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of load before each run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk's threads")
    parser.add_argument("--timeout", type=int, default=5, help="wrk's request timeout, s")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_ROOT)
    parser.add_argument("--no-docs", action="store_true", help="leave docs/ and README.md alone")
    parser.add_argument("--report", type=Path, help="re-render a results.json, measure nothing")
    parser.add_argument("--list", action="store_true", help="list the configurations")
    parser.add_argument(
        "--cleanup",
        action="store_true",
        help="remove what killed runs left (containers, networks, volumes, images)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.set, args.rounds, args.duration, args.warmup = "quick", 1, 1, 0
    return args


class Progress:
    """Lines on the terminal, with the time since the start, copied to a log file."""

    def __init__(self, log: Path) -> None:
        self.started = time.monotonic()
        self.log = log

    def __call__(self, message: str) -> None:
        elapsed = int(time.monotonic() - self.started)
        line = f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {message}"
        print(line, flush=True)
        with self.log.open("a") as log:
            log.write(line + "\n")


def builds_for(config: Config) -> list[str]:
    """The images a configuration runs (the peers run behind nginx-http's nginx)."""
    if config.build == "native":
        return []
    if config.build == "peers":
        return ["nginx-http", "peers"]
    return [config.build]


def all_builds(chosen: list[Config]) -> list[str]:
    return sorted({build for config in chosen for build in builds_for(config)})


def estimate_s(chosen: list[Config], settings: Settings, builds: int) -> float:
    """About how long a run takes: each configuration's start, load and removal
    (a timed cold start waits for the health checks), and the builds."""
    per_round = sum(
        (settings.duration_s + settings.warmup_s + SETTLE_S + (7.5 if config.cold_start else 3.5))
        if config.load
        else 5.0
        for config in chosen
    )
    return per_round * settings.rounds + 10 * builds + 15


def measure(
    workspace: Workspace, config: Config, round_index: int, settings: Settings, logs: Path
) -> Run:
    """One run of one configuration, from nothing back to nothing."""
    with workspace.started(config) as (target, cold_start):
        if target is None:
            return Run(config.key, round_index, 0.0, 0.0, 0.0, 0, 0, cold_start, {"load": False})
        return load(workspace, config, target, cold_start, round_index, settings, logs)


def load(
    workspace: Workspace,
    config: Config,
    target: Target,
    cold_start: float | None,
    round_index: int,
    settings: Settings,
    logs: Path,
) -> Run:
    connections = config.connections or settings.connections

    def wrk_run(seconds: int, latency: bool) -> str:
        command = wrk.command(
            target.url, seconds, connections, settings.threads, settings.timeout_s, latency
        )
        return run(target.wrap(command), timeout=seconds + settings.timeout_s + 60).stdout

    if settings.warmup_s:
        wrk_run(settings.warmup_s, latency=False)
        # The requests wrk abandoned when it stopped still wait in uWSGI's listen
        # queue; let them drain, or the measured run's first connections overflow it.
        time.sleep(SETTLE_S)
    cpu_before = target.cpu()
    output = wrk_run(settings.duration_s, latency=True)
    cpu_after = target.cpu()
    name = f"{config.key}-round{round_index + 1}"
    (logs / f"wrk-{name}.txt").write_text(output)
    result = wrk.parse(output)
    if result.errors:
        (logs / f"errors-{name}.txt").write_text(target.error_logs())
    notes: dict[str, Any] = {}
    if result.requests:
        # CPU time per request, which other loads on the machine change far less than
        # the rate: the stack's own, and Docker's daemons' (the log path, the probes).
        for part, seconds in cpu_after.items():
            if part in cpu_before:
                notes[f"cpu_us_{part}"] = (seconds - cpu_before[part]) * 1e6 / result.requests
    if target.netns_pid is not None:  # not the native run: this machine's count is anyone's
        notes["time_wait_front"] = target.time_wait(target.netns_pid)
    if target.app_pid is not None and target.app_pid != target.netns_pid:
        notes["time_wait_app"] = target.time_wait(target.app_pid)
    if config.count_processes and target.container:
        # The master and its workers share the command line.
        notes["workers"] = workspace.compose.processes(target.container, config.count_processes) - 1
    if result.errors:
        notes["error_detail"] = {
            "connect": result.connect_errors,
            "read": result.read_errors,
            "write": result.write_errors,
            "timeout": result.timeouts,
            "non_2xx": result.non_2xx,
        }
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
    if run_.cold_start_s is not None:
        parts.append(f"cold start {run_.cold_start_s:.1f} s")
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


def first_line(command: list[str], pattern: str = "") -> str:
    """The first line of a command's output (stdout or stderr) matching pattern."""
    result = run(command, check=False, timeout=120)
    for line in (result.stdout + result.stderr).splitlines():
        if re.search(pattern, line):
            found = re.search(pattern, line)
            return found.group(1) if found and found.groups() else line.strip()
    return "?"


def machine() -> dict[str, Any]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        memory = f"{kb / 1024 / 1024:.0f}"
    os_name = "?"
    with contextlib.suppress(OSError):
        found = re.search(r'^PRETTY_NAME="?([^"\n]*)', Path("/etc/os-release").read_text(), re.M)
        os_name = found.group(1) if found else "?"
    info = run(
        ["docker", "info", "--format", "{{.LoggingDriver}} {{.CgroupVersion}} {{.CgroupDriver}}"],
        check=False,
    ).stdout.split()
    return {
        "cpu": cpu,
        "cpus": len(os.sched_getaffinity(0)),
        "memory_gb": memory,
        "os": os_name,
        "kernel": platform.release(),
        "log_driver": info[0] if info else "?",
        "cgroup": f"v{info[1]} ({info[2]})" if len(info) > 2 else "?",
    }


def versions(workspace: Workspace, builds: list[str]) -> dict[str, str]:
    venv_bin = Path(sys.executable).parent
    found = {
        "docker": first_line(["docker", "version", "--format", "{{.Server.Version}}"]),
        "compose": first_line(["docker", "compose", "version", "--short"]),
        "wrk": first_line(["wrk", "-v"], r"^wrk (\S+)"),
        "python_host": platform.python_version(),
        "uwsgi_host": first_line([str(venv_bin / "uwsgi"), "--version"]),
        "nginx_host": first_line(["nginx", "-v"], r"nginx/(\S+)"),
    }

    def in_image(build: str, service: str, command: list[str], pattern: str = "") -> str:
        image = workspace.images.image(build, service)
        docker = ["docker", "run", "--rm", "--network", "none", "--entrypoint", command[0], image]
        return first_line([*docker, *command[1:]], pattern)

    if "default" in builds:
        found["python_image"] = in_image(
            "default", "app", ["python3", "--version"], r"Python (\S+)"
        )
        found["uwsgi_image"] = in_image("default", "app", ["uwsgi", "--version"])
        found["nginx_image"] = in_image("default", "nginx", ["nginx", "-v"], r"nginx/(\S+)")
    if "peers" in builds:
        found["gunicorn"] = in_image("peers", "app", ["gunicorn", "--version"], r"version (\S+)\)")
        found["granian"] = in_image("peers", "app", ["granian", "--version"], r"(\d\S*)")
    if "allinone" in builds:
        found["nginx_allinone"] = in_image("allinone", "app", ["nginx", "-v"], r"nginx/(\S+)")
    return found


def app_cost(workspace: Workspace) -> dict[str, float]:
    """Flask's and the raw WSGI app's own cost per request (bench/apps/app_cost.py), in
    the default app image, on an otherwise idle moment of the run."""
    command = ["docker", "run", "--rm", "--network", "none", "--env", f"SECRET_KEY={SECRET_KEY}"]
    command += ["--volume", f"{BENCH_ROOT / 'apps'}:/bench:ro", "--entrypoint", "python3"]
    command += [workspace.images.image("default", "app"), "/bench/app_cost.py", "/app/main.py"]
    output = run([*command, "/bench/raw_wsgi.py"], timeout=300).stdout
    return {name: float(value) for name, value in json.loads(output).items()}


@contextlib.contextmanager
def interrupts_as_keyboard_interrupt() -> Iterator[None]:
    """SIGTERM ends the run like Ctrl-C does: through the clean-up."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def write_outputs(
    data: dict[str, Any], folder: Path, docs: bool, log: Callable[[str], None]
) -> list[Path]:
    """results.json, table.md and chart.png in folder; with docs, the tracked copies."""
    written = []
    results_json = folder / "results.json"
    results_json.write_text(json.dumps(data, indent=2) + "\n")
    written.append(results_json)
    has_load = any(run_.notes.get("load", True) for run_ in Results(data).runs)
    if has_load:
        written.append(write_chart(data, folder / "chart.png"))
    table = folder / "table.md"
    table.write_text(render_markdown(data, "chart.png"))
    written.append(table)
    if docs and has_load:
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / "chart.png", DOCS / "latest.png")
        (DOCS / "latest.md").write_text(render_markdown(data, "latest.png"))
        written += [DOCS / "latest.md", DOCS / "latest.png"]
        section = render_readme_section(data, "docs/bench/latest.png", "docs/bench/latest.md")
        updated = replace_readme_section(README.read_text(), section)
        if updated is not None:
            README.write_text(updated)
            written.append(README)
        else:
            log("README.md has no <!-- bench:start --> / <!-- bench:end --> markers: left as is")
    return written


def rerender(path: Path) -> int:
    data = json.loads(path.read_text())
    folder = path.parent
    for written in write_outputs(data, folder, docs=False, log=print):
        print(written)
    return 0


def other_mode(args: argparse.Namespace) -> int | None:
    """--list, --report and --cleanup, which measure nothing: their exit code."""
    if args.list:
        for config in configs():
            print(f"{config.key:22} {','.join(sorted(config.sets)):12} {config.label}")
        return 0
    if args.report:
        return rerender(args.report)
    if args.cleanup:
        remove_leftovers(print)
        return 0
    return None


def keys(argument: str) -> list[str]:
    return [key for key in argument.split(",") if key]


def settings_from(args: argparse.Namespace) -> Settings:
    only = keys(args.only)
    return Settings(
        args.duration,
        args.warmup,
        args.connections,
        args.threads,
        args.timeout,
        args.rounds,
        "only " + ",".join(only) if only else args.set,
    )


def new_results(
    run_id: str, started_at: datetime.datetime, settings: Settings, chosen: list[Config]
) -> dict[str, Any]:
    """The results document before anything is measured."""
    return {
        "version": 1,
        "run_id": run_id,
        "started": started_at.isoformat(timespec="seconds"),
        "settings": settings.__dict__,
        "configs": [
            {
                "key": config.key,
                "label": config.label,
                "section": config.section,
                "build": config.build,
                "baseline": config.baseline,
                "cold_start": config.cold_start,
                "load": config.load,
                "short": config.chart_label,
            }
            for config in chosen
        ],
        "runs": [],
        "failures": [],
    }


def build_images(
    workspace: Workspace, builds: list[str], data: dict[str, Any], progress: Progress
) -> None:
    """Build each image, time its rebuild after a code change, record their sizes."""
    data["base_images"] = {
        name: {"name": image, "size": workspace.compose.image_size(image)}
        for name, image in workspace.compose.base.items()
    }
    data["build_s"], data["rebuild_s"], data["images"] = {}, {}, {}
    for build in builds:
        progress(f"building {build}")
        data["build_s"][build] = workspace.images.build(build)
    for build in builds:
        seconds = workspace.images.rebuild_after_code_change(build)
        data["rebuild_s"][build] = seconds
        progress(f"rebuild of {build} after a change to main.py: {seconds:.1f} s")
        data["images"][build] = {
            service: workspace.compose.image_size(workspace.images.image(build, service))
            for service in workspace.images.built_services(build)
        }


def measure_rounds(
    workspace: Workspace,
    chosen: list[Config],
    settings: Settings,
    data: dict[str, Any],
    logs: Path,
    progress: Progress,
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
            except (BenchError, wrk.WrkOutputError) as error:
                failures[key] = failures.get(key, 0) + 1
                data["failures"].append(f"{key} (round {round_index + 1}): {error}")
                progress(f"{prefix}: FAILED: {str(error)[:2000]}")
                continue
            data["runs"].append(measured.to_json())
            progress(f"{prefix}: {describe(measured)}")


def build_and_measure(
    workspace: Workspace,
    chosen: list[Config],
    settings: Settings,
    data: dict[str, Any],
    logs: Path,
    progress: Progress,
) -> None:
    """The run itself: build, describe what runs, measure."""
    builds = all_builds(chosen)
    data["machine"] = machine()
    build_images(workspace, builds, data, progress)
    if any(config.build == "native" for config in chosen):
        workspace.projects.project("default")
    data["versions"] = versions(workspace, builds)
    if "default" in builds:
        data["app_cost_us"] = app_cost(workspace)
        progress(
            "the app's own cost per request, in-process: "
            + ", ".join(f"{k} {v:.1f} us" for k, v in data["app_cost_us"].items())
        )
    measure_rounds(workspace, chosen, settings, data, logs, progress)


def clean_up(resources: Resources, work: Path, logs: Path, progress: Progress) -> None:
    """Remove what the run created (Ctrl-C waits for it), keeping the native run's logs."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    progress("removing the bench's containers, networks, volumes and images")
    resources.cleanup(progress)
    if (work / "native" / "logs").is_dir():
        shutil.copytree(work / "native" / "logs", logs / "native", dirs_exist_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    signal.signal(signal.SIGINT, previous)


def report(data: dict[str, Any], folder: Path, docs: bool, progress: Progress) -> int:
    """Write the report of a finished run; the exit code: 1 when a configuration could
    not be measured (requests that failed are a finding, not a failure)."""
    written = write_outputs(data, folder, docs, progress) if data["runs"] else []
    progress(f"done in {data['elapsed_s'] / 60:.1f} minutes")
    for path in written:
        print(path)
    errors = {run_["config"] for run_ in data["runs"] if run_["errors"]}
    if errors:
        print(f"bench: requests failed in {', '.join(sorted(errors))}", file=sys.stderr)
    if data["failures"] or not data["runs"]:
        print(
            f"bench: {len(data['failures'])} configuration(s) could not be measured: "
            f"see {folder / 'bench.log'}",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    code = other_mode(args)
    if code is not None:
        return code
    chosen = select(configs(), args.set, keys(args.only), keys(args.skip))
    if not chosen:
        raise SystemExit("no configuration selected")
    settings = settings_from(args)
    docs = not args.no_docs and not args.only and args.set == "full"
    started_at = datetime.datetime.now().astimezone()
    folder = args.results_dir / started_at.strftime("%Y-%m-%dT%H-%M-%S")
    folder.mkdir(parents=True, exist_ok=True)
    logs = folder / "logs"
    logs.mkdir()
    progress = Progress(folder / "bench.log")
    run_id = f"{started_at.strftime('%Y%m%d%H%M%S')}-{os.getpid()}"
    # Baked projects, build contexts, variant files: outside /tmp, which the native
    # run replaces with a tmpfs of its own.
    work = WORK_ROOT / run_id
    resources = Resources(run_id=run_id)
    data = new_results(run_id, started_at, settings, chosen)
    interrupted = False
    with interrupts_as_keyboard_interrupt():
        try:
            progress(f"results: {folder}")
            check_host()
            progress(
                f"{len(chosen)} configurations x {settings.rounds} rounds, {settings.duration_s} s "
                f"each after {settings.warmup_s} s warm-up, {settings.connections} connections; "
                f"about {estimate_s(chosen, settings, len(all_builds(chosen))) / 60:.0f} minutes"
            )
            progress("base images (machine/base-images.sh)")
            workspace = Workspace(work, run_id, base_images(), resources)
            build_and_measure(workspace, chosen, settings, data, logs, progress)
        except KeyboardInterrupt:
            interrupted = True
            progress("interrupted; cleaning up")
        except BenchError as error:
            data["failures"].append(str(error))
            progress(f"FAILED: {error}")
        finally:
            clean_up(resources, work, logs, progress)
    data["elapsed_s"] = time.monotonic() - progress.started
    data["finished"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    if interrupted:
        (folder / "results.json").write_text(json.dumps(data, indent=2) + "\n")
        print(f"interrupted: partial results in {folder / 'results.json'}")
        return 130
    return report(data, folder, docs, progress)
