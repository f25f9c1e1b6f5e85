"""`make bench`: measure every configuration, round by round; write the report.

    .venv/bin/python -m bench                 # the full run (make bench)
    .venv/bin/python -m bench --quick         # a few configurations, 1 s each, 1 round
    .venv/bin/python -m bench --jobs          # the worker stacks' jobs and cold start
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
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from bench.builds import all_builds, build_images
from bench.configs import configs, select
from bench.configuration import Config
from bench.docker import Resources, remove_leftovers
from bench.environment import app_cost, machine, page_cost, versions
from bench.host import BenchError, check_host
from bench.measure import JOBS_S, SETTLE_S, Settings, measure_rounds
from bench.outputs import report_run, rerender
from bench.page_configs import DEFAULT_NOTES
from bench.projects import REPO_ROOT, base_images
from bench.stacks import Workspace

RESULTS_ROOT = REPO_ROOT / "bench" / "results"
WORK_ROOT = REPO_ROOT / "build" / "bench"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="the test's run: few configs, 1 s, 1 round"
    )
    parser.add_argument(
        "--jobs",
        action="store_true",
        help="the worker stacks alone: their jobs and cold start, the default's cold start\n"
        "(its load 1 s)",
    )
    parser.add_argument("--set", default="full", choices=["full", "extra", "all", "quick", "jobs"])
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
    if args.jobs:
        args.set, args.duration, args.warmup = "jobs", 1, 0
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


def estimate_s(chosen: list[Config], settings: Settings, builds: int) -> float:
    """About how long a run takes: each configuration's start, load and removal
    (a timed cold start waits for the health checks), and the builds."""

    def one_run(config: Config) -> float:
        start = 7.5 if config.cold_start else 3.5
        if config.seed_notes:
            # A database to start, migrate and fill first.
            start += 8
        if not config.load:
            return 5.0
        if config.jobs:
            # A slow queue's run stops posting after JOBS_S.
            return start + min(0.2 * config.jobs, JOBS_S)
        return settings.duration_s + settings.warmup_s + SETTLE_S + start

    return sum(map(one_run, chosen)) * settings.rounds + 10 * builds + 15


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
    measure_page_cost(workspace, chosen, data, progress)
    measure_rounds(workspace, chosen, settings, data, logs, progress)


def measure_page_cost(
    workspace: Workspace, chosen: list[Config], data: dict[str, Any], progress: Progress
) -> None:
    """The pages' own cost per request, in-process, when the run has the default shape
    on the database page; a failure is the run's note, not its end."""
    default = [config for config in chosen if config.key == DEFAULT_NOTES]
    if not default:
        return
    try:
        data["page_cost_us"] = page_cost(workspace, default[0])
    except (BenchError, ValueError, KeyError) as error:
        data["failures"].append(f"the pages' in-process cost: {error}")
        progress(f"the pages' in-process cost FAILED: {str(error)[:2000]}")
        return
    progress(
        "the pages' own cost per request, in-process: "
        + ", ".join(
            f"{path} {found['cpu_us']:.0f} us" for path, found in data["page_cost_us"].items()
        )
    )


def clean_up(resources: Resources, work: Path, logs: Path, progress: Progress) -> None:
    """Remove what the run created (Ctrl-C waits for it), keeping the native run's logs."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    progress("removing the bench's containers, networks, volumes and images")
    resources.cleanup(progress)
    if (work / "native" / "logs").is_dir():
        shutil.copytree(work / "native" / "logs", logs / "native", dirs_exist_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    signal.signal(signal.SIGINT, previous)


def results_folder(results_dir: Path, started_at: datetime.datetime) -> Path:
    """The run's folder (<results dir>/<date>/), with its logs/ folder."""
    folder = results_dir / started_at.strftime("%Y-%m-%dT%H-%M-%S")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "logs").mkdir()
    return folder


def measured_run(
    chosen: list[Config], settings: Settings, data: dict[str, Any], folder: Path, progress: Progress
) -> bool:
    """Check the host, build and measure into data, then remove what the run created
    however it ended; whether it was interrupted (Ctrl-C or SIGTERM)."""
    run_id = data["run_id"]
    # Baked projects, build contexts, variant files: outside /tmp, which the native
    # run replaces with a tmpfs of its own.
    work = WORK_ROOT / run_id
    resources = Resources(run_id=run_id)
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
            build_and_measure(workspace, chosen, settings, data, folder / "logs", progress)
        except KeyboardInterrupt:
            interrupted = True
            progress("interrupted; cleaning up")
        except BenchError as error:
            data["failures"].append(str(error))
            progress(f"FAILED: {error}")
        finally:
            clean_up(resources, work, folder / "logs", progress)
    return interrupted


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
    folder = results_folder(args.results_dir, started_at)
    progress = Progress(folder / "bench.log")
    run_id = f"{started_at.strftime('%Y%m%d%H%M%S')}-{os.getpid()}"
    data = new_results(run_id, started_at, settings, chosen)
    interrupted = measured_run(chosen, settings, data, folder, progress)
    data["elapsed_s"] = time.monotonic() - progress.started
    data["finished"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    if interrupted:
        (folder / "results.json").write_text(json.dumps(data, indent=2) + "\n")
        print(f"interrupted: partial results in {folder / 'results.json'}")
        return 130
    return report_run(data, folder, docs, progress)
