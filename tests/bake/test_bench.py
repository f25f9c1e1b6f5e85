"""The bench's own code (bench/, `make bench`): wrk output parsing on captured
output, medians and ratios, goals, the Markdown report and the chart; the
configurations' variants against a fresh bake."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from bench import access_log, jobs, wrk
from bench.apps import app_cost
from bench.chart import write_chart
from bench.configs import configs, select
from bench.configuration import (
    APPS,
    BAKED_ANSWERS,
    BENCH_ROOT,
    COMPOSE_FILE,
    DEFAULT_PLAN,
    DEFAULT_PROCESSES,
    GRANIAN_WORKERS,
    GUNICORN_WORKERS,
    MOUNTED_FILES,
    SECTIONS,
)
from bench.docker import Compose, Resources
from bench.goals import goals
from bench.host import BenchError, process_cpu_s
from bench.images import Images
from bench.measure import describe
from bench.outputs import write_outputs
from bench.projects import Projects
from bench.report import (
    README_END,
    README_START,
    render_markdown,
    render_readme_section,
    replace_readme_section,
)
from bench.results import Results
from bench.run import parse_args
from bench.stacks import Stacks
from bench.stats import Run, percentile, ratio, rotated, summarize
from bench.target import Target, explaining_errors
from bench.variants import SITE, UWSGI_INI, Edit
from conftest import Bake
from helpers import template_file
from hooks.plan import Plan

PAGE_SERVERS = (
    "nginx-uwsgi",
    "gunicorn-sync",
    "gunicorn-gthread",
    "granian-nginx",
    "granian-alone",
)
WRK_OUTPUT = template_file("tests/data/wrk")
# bench/job_client.py's output, from a run of `python -m bench --jobs`.
JOBS_OUTPUT = template_file("tests/data/jobs")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEFAULT_THREADS = DEFAULT_PLAN.threads
ERRORS_GOAL = (
    "Errors (socket errors, non-2xx answers) of the shapes, alternatives, sweeps, native, pages"
)


# -- wrk output ------------------------------------------------------------------


def test_wrk_output_of_a_loaded_stack() -> None:
    result = wrk.parse((WRK_OUTPUT / "nginx-uwsgi.txt").read_text())
    assert result.requests_per_second == 4012.57
    assert result.p50_ms == pytest.approx(11.61)
    assert result.p99_ms == pytest.approx(127.37)
    assert (result.requests, result.seconds) == (20459, pytest.approx(5.10))
    assert result.errors == 0


def test_wrk_output_in_other_units() -> None:
    result = wrk.parse((WRK_OUTPUT / "ceiling-nginx.txt").read_text())
    assert result.requests_per_second == 37606.69
    assert result.p50_ms == pytest.approx(1.18)
    output = (WRK_OUTPUT / "nginx-uwsgi.txt").read_text()
    output = output.replace("50%   11.61ms", "50%  812.00us").replace(
        "99%  127.37ms", "99%    1.02s"
    )
    result = wrk.parse(output)
    assert result.p50_ms == pytest.approx(0.812)
    assert result.p99_ms == pytest.approx(1020)


def test_wrk_non_2xx_answers_are_errors() -> None:
    result = wrk.parse((WRK_OUTPUT / "not-found.txt").read_text())
    assert result.non_2xx == 989
    assert result.socket_errors == 0
    assert result.errors == 989


def test_wrk_socket_errors_are_errors() -> None:
    result = wrk.parse((WRK_OUTPUT / "closed.txt").read_text())
    assert result.read_errors == 12642
    assert result.errors == 12642
    assert result.requests_per_second == 0
    assert result.p99_ms == 0


def test_the_errors_log_keeps_other_errors_among_thousands_of_shed_requests() -> None:
    """An overload's round logs thousands of 503s; a 502 and nginx's error line for it,
    early in the round, are still in what the bench keeps, in the order logged."""
    shed = (
        'nginx-1  | {"uri":"/notes","status":503,"request_time":0.001}',
        'app-1  | {"level": "WARNING", "message": "503 for GET /notes: waited 1.20 s"}',
    )
    lines = [
        "nginx-1  | ... [error] 31#31: *9 connect() to unix:/run/uwsgi/app.sock failed (11)",
        'nginx-1  | {"uri":"/notes","status":502,"request_time":0.000}',
        'nginx-1  | {"uri":"/notes","status":200,"request_time":0.020}',
        *(shed * 3000),
    ]
    logs = subprocess.CompletedProcess([], 0, stdout="\n".join(lines), stderr="")
    kept = explaining_errors(logs, most=50).splitlines()
    assert kept[0] == "... 5950 earlier left out"
    assert kept[1:3] == lines[:2]
    assert kept[3:] == list(shed * 25)


def cpu_of(process: subprocess.Popen[bytes]) -> Target:
    """A target whose stack is one real process of this machine."""
    return Target("http://127.0.0.1:9/", cpu=lambda: {"stack": process_cpu_s(process.pid)})


def test_the_load_waits_until_the_stack_has_settled() -> None:
    # As a worker still loading the app: busy for a second, then idle.
    busy_then_idle = (
        "import time\nend = time.monotonic() + 1\n"
        "while time.monotonic() < end: pass\ntime.sleep(30)"
    )
    with subprocess.Popen(["python3", "-c", busy_then_idle]) as process:
        try:
            assert 0.9 < cpu_of(process).wait_settled() < 3
        finally:
            process.kill()
    with subprocess.Popen(["python3", "-c", "while True: pass"]) as spinning:
        try:
            with pytest.raises(BenchError, match=r"still used \d+% of a CPU 1 s after it answered"):
                cpu_of(spinning).wait_settled(seconds=1)
        finally:
            spinning.kill()


def test_wrk_output_without_latency_is_refused() -> None:
    output = (WRK_OUTPUT / "nginx-uwsgi.txt").read_text()
    without = "\n".join(line for line in output.splitlines() if "%" not in line or "Stdev" in line)
    with pytest.raises(wrk.WrkOutputError, match="50% latency"):
        wrk.parse(without)
    with pytest.raises(wrk.WrkOutputError, match="Requests/sec"):
        wrk.parse("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_wrk_command() -> None:
    assert wrk.command("http://127.0.0.1:8080/", 5, 64, 2, 5) == [
        "wrk",
        "--threads=2",
        "--connections=64",
        "--duration=5s",
        "--timeout=5s",
        "--latency",
        "http://127.0.0.1:8080/",
    ]
    assert "--latency" not in wrk.command("http://x/", 1, 8, 1, 2, latency=False)


# -- the background jobs' client output ------------------------------------------------


def test_jobs_of_an_rq_stack() -> None:
    """RQ's run: posting stopped at the client's 60 s, every job posted finished."""
    found = jobs.figures(jobs.parse((JOBS_OUTPUT / "rq.jsonl").read_text()))
    assert (found.posted, found.finished, found.lost, found.refused) == (68, 68, 0, 0)
    assert found.p50_ms == pytest.approx(767.72, abs=0.01)
    assert found.p95_ms == pytest.approx(1569.68, abs=0.01)
    assert found.max_ms == pytest.approx(2828.03, abs=0.01)
    assert found.post_p50_ms == pytest.approx(33.58, abs=0.01)
    assert found.lost_statuses == {}


def test_jobs_of_a_celery_stack() -> None:
    found = jobs.figures(jobs.parse((JOBS_OUTPUT / "celery.jsonl").read_text()))
    assert (found.posted, found.finished, found.lost, found.refused) == (200, 200, 0, 0)
    assert found.p50_ms == pytest.approx(10.74, abs=0.01)
    assert found.p95_ms == pytest.approx(50.93, abs=0.01)
    assert found.post_p50_ms == pytest.approx(3.80, abs=0.01)


def test_jobs_not_finished_are_lost_and_refused_ones_are_not_posted() -> None:
    lines = (JOBS_OUTPUT / "celery.jsonl").read_text().splitlines()
    lines[3] = lines[3].replace('"status": "finished"', '"status": "queued"')
    lines[3] = re.sub(r'"finished_ms": [0-9.]+', '"finished_ms": null', lines[3])
    lines[7] = re.sub(r'"post_status": 202', '"post_status": 502', lines[7])
    lines[7] = re.sub(r'"finished_ms": [0-9.]+', '"finished_ms": null', lines[7])
    lines[7] = lines[7].replace('"status": "finished"', '"status": "refused"')
    found = jobs.figures(jobs.parse("\n".join(lines)))
    assert (found.posted, found.finished, found.lost, found.refused) == (199, 198, 1, 1)
    assert found.lost_statuses == {"queued": 1}


def test_job_client_output_that_is_not_its_records_is_refused() -> None:
    with pytest.raises(jobs.JobsOutputError, match="no job"):
        jobs.parse("")
    with pytest.raises(jobs.JobsOutputError, match="not a job record"):
        jobs.parse("Traceback (most recent call last):\n")


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(value) for value in range(1, 101)]
    assert percentile(values, 0.95) == 95.0
    assert percentile(values[:68], 0.95) == 65.0  # rank ceil(0.95 * 68) = 65
    assert percentile([3.0], 0.95) == 3.0
    assert percentile([], 0.95) is None


# -- medians, ratios, order --------------------------------------------------------


def run(config: str, rate: float, round_: int = 0, **fields: Any) -> Run:
    values: dict[str, Any] = {"p50_ms": 10.0, "p99_ms": 50.0, "requests": 100, "errors": 0}
    values.update(fields)
    return Run(config=config, round=round_, requests_per_second=rate, **values)


def test_summaries_are_medians_over_the_rounds() -> None:
    runs = [
        run("a", 3000, 0, p99_ms=90.0, cold_start_s=6.0),
        run("a", 1000, 1, p99_ms=10.0, cold_start_s=None),
        run("a", 2000, 2, p99_ms=30.0, errors=2, cold_start_s=4.0),
        run("b", 500, 0),
    ]
    summaries = summarize(runs)
    a = summaries["a"]
    assert (a.runs, a.requests_per_second, a.rps_min, a.rps_max) == (3, 2000, 1000, 3000)
    assert a.p99_ms == 30.0
    assert a.errors == 2
    assert a.cold_start_s == 5.0  # the median of the runs that timed it
    assert a.spread == 1.0
    assert summaries["b"].cold_start_s is None


def test_ratios_and_round_order() -> None:
    assert ratio(3000, 1000) == 3
    assert ratio(None, 1000) is None
    assert ratio(3000, None) is None
    assert ratio(3000, 0) is None
    assert rotated(["a", "b", "c"], 0) == ["a", "b", "c"]
    assert rotated(["a", "b", "c"], 1) == ["b", "c", "a"]
    assert rotated(["a", "b", "c"], 4) == ["b", "c", "a"]


# -- the report ------------------------------------------------------------------


def results_document(**rates: float) -> dict[str, Any]:
    """A results document as the bench writes it, with these median rates."""
    chosen = {config.key: config for config in configs()}
    runs = []
    for key, rate in rates.items():
        for round_ in range(3):
            cold = 4.0 + round_ if chosen[key].cold_start else None
            notes = {"cpu_us_stack": 2e6 / rate, "cpu_us_docker": 50.0}
            runs.append(
                run(
                    key, rate * (0.9 + 0.1 * round_), round_, cold_start_s=cold, notes=notes
                ).to_json()
            )
    return {
        "started": "2026-11-26T12:00:00+00:00",
        "elapsed_s": 700.0,
        "settings": {"duration_s": 5, "warmup_s": 1, "connections": 64, "threads": 2,
                     "timeout_s": 5, "rounds": 3, "set": "full"},
        "machine": {"cpu": "Test CPU", "cpus": 2, "kernel": "6.0", "memory_gb": "4"},
        "versions": {"docker": "20.10", "wrk": "4.1.0"},
        "configs": [
            {"key": key, "label": config.label, "section": config.section, "build": config.build,
             "baseline": config.baseline, "cold_start": config.cold_start, "load": config.load,
             "short": config.chart_label}
            for key, config in chosen.items()
            if key in rates
        ],
        "runs": runs,
        "images": {"default": {"app": 140_000_000, "nginx": 99_000_000},
                   "nginx-http": {"app": 139_000_000, "nginx": 99_000_000},
                   "peers": {"app": 130_000_000}},
        "base_images": {"PYTHON_IMAGE": {"name": "python:3.13-slim", "size": 117_000_000},
                        "NGINX_IMAGE": {"name": "nginx:stable-alpine", "size": 98_900_000}},
        "rebuild_s": {"default": 2.5, "nginx-http": 2.4, "peers": 3.0},
        "failures": [],
    }  # fmt: skip


FULL_RATES = {
    "nginx-uwsgi": 6000.0,
    "gunicorn-sync": 1500.0,
    "granian-nginx": 5000.0,
    "granian-alone": 6500.0,
    "ceiling-nginx": 30000.0,
    "ceiling-raw-wsgi": 8000.0,
    "sweep-2x1": 6200.0,
    "sweep-8x8": 5000.0,
    "io-default": 2900.0,
    "io-4x1": 190.0,
    "io-8x8": 3000.0,
    "no-probes": 6100.0,
    "native": 9000.0,
    "tcp": 5000.0,
}


def test_goals_met_and_missed() -> None:
    found = {goal.name: goal for goal in goals(Results(results_document(**FULL_RATES)))}
    vs_gunicorn = found[
        f"Default shape against gunicorn sync ({GUNICORN_WORKERS} workers) behind the same nginx"
    ]
    assert (vs_gunicorn.measured, vs_gunicorn.met) == ("4.00x", True)
    sweep = found["Default shape against the best processes x threads, CPU-bound"]
    assert sweep.met is True and sweep.measured.startswith("97% of the best (2 processes")
    io = found["Default shape against the best processes x threads, I/O-bound"]
    assert io.met is True and io.measured.startswith("97% of the best (8 processes x 8 threads")
    behind_nginx = found[
        f"Default shape against granian (WSGI, {GRANIAN_WORKERS} workers) behind the same nginx"
    ]
    assert (behind_nginx.measured, behind_nginx.met) == ("1.20x", True)
    alone = found[f"Default shape against granian (WSGI, {GRANIAN_WORKERS} workers) alone"]
    assert (alone.measured, alone.met) == ("0.92x", False)
    assert alone.note.startswith("short by 0.08x; CPU per request: 333 + 50 us against")
    probes = found["Health probes' cost (the default against no probes during the run)"]
    assert (probes.measured, probes.met) == ("2%", True)
    native = found["Default shape in Docker against the same processes natively"]
    assert (native.measured, native.met) == ("67%", True)
    raw = found["Flask under the default shape against the raw-WSGI ceiling"]
    assert (raw.measured, raw.met) == ("75%", True)
    image = found["App image above its base image"]
    assert (image.measured, image.met) == ("23.0 MB", True)
    cold = found["Cold start of the default shape (`up` to healthy)"]
    assert (cold.measured, cold.met) == ("5.0 s", False)
    assert cold.note == "0.0 s over"
    assert found[ERRORS_GOAL].met is True

    slower = goals(Results(results_document(**{**FULL_RATES, "nginx-uwsgi": 3000.0})))
    by_name = {goal.name: goal for goal in slower}
    missed = by_name[
        f"Default shape against gunicorn sync ({GUNICORN_WORKERS} workers) behind the same nginx"
    ]
    assert (missed.met, missed.note) == (False, "short by 1.00x")
    assert by_name["Default shape against the best processes x threads, CPU-bound"].met is False
    probes = "Health probes' cost (the default against no probes during the run)"
    assert by_name[probes].met is False


def test_errors_goal_counts_the_compared_configurations() -> None:
    data = results_document(**FULL_RATES, standalone=2000.0, **{"burst-256": 9000.0})
    for run_ in data["runs"]:
        if run_["config"] in ("standalone", "burst-256"):
            run_["errors"] = 10
    found = {goal.name: goal for goal in goals(Results(data))}
    errors = found[ERRORS_GOAL]
    # burst-256 is a variant run to show errors; standalone is one of the shapes.
    assert (errors.measured, errors.met, errors.note) == ("30", False, "in standalone")


def test_goals_not_measured_in_a_partial_run() -> None:
    found = goals(Results(results_document(**{"nginx-uwsgi": 5000.0})))
    not_measured = [goal.name for goal in found if goal.met is None]
    assert (
        f"Default shape against gunicorn sync ({GUNICORN_WORKERS} workers) behind the same nginx"
        in not_measured
    )
    assert "Default shape in Docker against the same processes natively" in not_measured


def test_markdown_report() -> None:
    markdown = render_markdown(results_document(**FULL_RATES), "chart.png")
    assert markdown.startswith("# flask-uwsgi benchmark\n")
    assert "![requests per second and p99 latency of each configuration](chart.png)" in markdown
    for heading in ("## Goals", "## Shapes, alternatives and ceilings", "## Machine", "## Method"):
        assert heading in markdown
    default_row = next(
        line for line in markdown.splitlines() if line.startswith("| nginx-uwsgi (default)")
    )
    cells = [cell.strip() for cell in default_row.strip("|").split("|")]
    # rate (min-max), x gunicorn, % of the nginx and raw-WSGI ceilings, p50, p99, errors,
    # CPU per request (stack + Docker), app image (+ above base), nginx image, cold start,
    # rebuild
    assert cells[1:] == [
        "6,000 (5,400-6,600)", "4.00x", "20%", "75%", "10.0", "50.0", "0", "333 + 50",
        "140 (+23)", "99 (+0)", "5.0", "2.5",
    ]  # fmt: skip
    assert (
        f"| {DEFAULT_PROCESSES} processes x {DEFAULT_THREADS} threads: auto (default) |" in markdown
    )
    assert "## Default shape: processes x threads, I/O-bound (GET /io: a 20 ms wait)" in markdown
    assert "Test CPU" in markdown


def test_readme_section_between_markers() -> None:
    data = results_document(**FULL_RATES)
    section = render_readme_section(data, "docs/bench/latest.png", "docs/bench/latest.md")
    assert "| Goal |" in section and "make bench" in section and "docs/bench/latest.md" in section
    readme = f"# Title\n\n{README_START}\nOLD-SECTION\n{README_END}\n\nmore\n"
    updated = replace_readme_section(readme, section)
    assert updated is not None
    assert (
        "OLD-SECTION" not in updated
        and section in updated
        and updated.endswith(f"{README_END}\n\nmore\n")
    )
    assert replace_readme_section("# no markers\n", section) is None


def test_chart_is_a_png(tmp_path: Path) -> None:
    path = write_chart(results_document(**FULL_RATES), tmp_path / "chart.png")
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_a_run_of_no_charted_configuration_writes_its_table_alone(tmp_path: Path) -> None:
    data = results_document(**OVERLOAD_RATES)
    written = write_outputs(data, tmp_path, docs=False, log=print)
    assert [path.name for path in written] == ["results.json", "table.md"]
    assert "## Overload: the database page" in (tmp_path / "table.md").read_text()
    written = write_outputs(results_document(**FULL_RATES), tmp_path, docs=False, log=print)
    assert [path.name for path in written] == ["results.json", "chart.png", "table.md"]


def jobs_document() -> dict[str, Any]:
    """A results document of `--jobs`: the default's cold start, each worker's stack with
    its cold start and the figures of its captured jobs, as in every round."""
    data = results_document(**{"nginx-uwsgi": 1415.0})
    chosen = {config.key: config for config in configs()}
    for key, worker in (("jobs-rq", "rq"), ("jobs-celery", "celery")):
        config = chosen[key]
        data["configs"].append(
            {"key": key, "label": config.label, "section": config.section,
             "build": config.build, "baseline": config.baseline, "cold_start": True,
             "load": True, "short": config.chart_label}
        )  # fmt: skip
        found = jobs.figures(jobs.parse((JOBS_OUTPUT / f"{worker}.jsonl").read_text()))
        for round_ in range(3):
            notes = {"load": False, "jobs": dataclasses.asdict(found)}
            cold = 10.0 + round_ if worker == "rq" else 16.0
            data["runs"].append(
                Run(key, round_, 0.0, 0.0, 0.0, found.posted, 0, cold, notes).to_json()
            )
    return data


def test_jobs_table() -> None:
    markdown = render_markdown(jobs_document(), "chart.png")
    assert "## Background jobs: latency through the queue, cold start with a worker" in markdown
    rows = {
        line.split("|")[1].strip(): [cell.strip() for cell in line.strip("|").split("|")[1:]]
        for line in markdown.splitlines()
        if line.startswith(("| rq:", "| celery:", "| (for reference) nginx-uwsgi"))
    }
    # finished / posted, lost, POST ms, 202 to finished p50 and p95, cold start and its
    # ratio to the default's (5.0 s: results_document's median of 4, 5 and 6 s)
    assert rows["rq: the default shape with Redis and an RQ worker"] == [
        "204 / 204", "0", "33.6", "767.7", "1,569.7", "11.0", "2.20x",
    ]  # fmt: skip
    celery = next(row for label, row in rows.items() if label.startswith("celery:"))
    assert celery == ["600 / 600", "0", "3.8", "10.7", "50.9", "16.0", "3.20x"]
    reference = rows["(for reference) nginx-uwsgi (default): nginx, uwsgi_pass, unix socket"]
    assert reference[-2:] == ["5.0", "1.00x"]
    # No goal is stated for these: no line in the goals table.
    assert "job" not in markdown.split("## Goals")[1].split("\n## ")[0].lower()


def test_lost_jobs_show_in_the_table_and_as_errors() -> None:
    data = jobs_document()
    for run_ in data["runs"]:
        if run_["config"] == "jobs-celery" and run_["round"] == 1:
            run_["notes"]["jobs"].update(finished=198, lost=2, lost_statuses={"queued": 2})
            run_["errors"] = 2
    markdown = render_markdown(data, "chart.png")
    row = next(line for line in markdown.splitlines() if line.startswith("| celery:"))
    assert "| 598 / 600 | **2** (queued 2) |" in row
    measured = Run.from_json(next(r for r in data["runs"] if r["config"] == "jobs-celery"))
    assert describe(measured) == (
        "200/200 jobs finished, 0 lost, p50 10.7 ms, p95 50.9 ms, cold start 16.0 s"
    )


# -- the real pages ---------------------------------------------------------------------

PAGE_RATES = {
    "notes-nginx-uwsgi": 600.0,
    "notes-gunicorn-sync": 350.0,
    "notes-gunicorn-gthread": 340.0,
    "notes-granian-nginx": 500.0,
    "notes-granian-alone": 650.0,
    "page-nginx-uwsgi": 450.0,
    "page-gunicorn-sync": 280.0,
    "page-gunicorn-gthread": 270.0,
    "page-granian-nginx": 400.0,
    "page-granian-alone": 430.0,
    "notes-16": 550.0,
    "page-16": 420.0,
    "notes-gunicorn-sync-16": 300.0,
    "notes-granian-nginx-16": 450.0,
    "notes-2x1": 640.0,
    "notes-8x8": 560.0,
    "page-2x1": 420.0,
    "page-4x16-pool-2": 500.0,
}


# gunicorn sync closer to the default on the database page: 1.2x.
CLOSER_GUNICORN = {"notes-gunicorn-sync": 500.0}


def pages_document(**rates: float) -> dict[str, Any]:
    """A results document of the real pages (PAGE_RATES, or these rates instead): each
    container's CPU time per request in every run, and the pages' in-process cost by
    package."""
    data = results_document(**{**PAGE_RATES, **rates})
    for run_ in data["runs"]:
        run_["notes"].update(
            cpu_us_service_nginx=150.0, cpu_us_service_app=2500.0, cpu_us_service_db=500.0
        )
    data["page_cost_us"] = {
        "/notes": {
            "cpu_us": 1300.0,
            "parts": {"Flask and Werkzeug": 300.0, "SQLAlchemy": 700.0,
                      "psycopg (the driver)": 200.0,
                      "the app's own code (its package, service.py)": 100.0},
        },
        "/": {"cpu_us": 1800.0, "parts": {"Jinja": 900.0, "SQLAlchemy": 900.0}},
    }  # fmt: skip
    return data


def table_rows(markdown: str, heading: str) -> dict[str, list[str]]:
    """The rows of the table under a heading: its first cell, and the others."""
    section = markdown.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| ")]
    return {row[0].strip(): [cell.strip() for cell in row[1:]] for row in rows[1:]}


def test_pages_goals() -> None:
    found = {goal.name: goal for goal in goals(Results(pages_document()))}
    every_peer = (
        "the default against every peer (gunicorn sync and gthread, granian behind nginx and alone)"
    )
    notes = found[f"Database page (GET /notes): {every_peer}"]
    assert (notes.measured, notes.met) == (
        f"0.92x against the closest (granian (WSGI), {GRANIAN_WORKERS} workers,"
        " alone (clients straight to it))",
        False,
    )
    assert notes.note.startswith("short by 0.08x; CPU per request: 3,333 + 50 us against 3,077")
    # 600 req/s at 3,383 us a request, 1,200 of them uWSGI's (2,500 in the app container
    # less the page's 1,300 in-process): 930 req/s without them, 1.43x granian's 650.
    assert notes.note.endswith("; if uWSGI's part (1,200 us of 3,383) cost nothing: 1.43x at most")
    page = found[f"Template page (GET /): {every_peer}"]
    assert (page.measured[:5], page.met) == ("1.05x", True)
    vs_gunicorn = (
        f"the default against gunicorn sync ({GUNICORN_WORKERS} workers) behind the same nginx"
    )
    assert found[f"Database page (GET /notes): {vs_gunicorn}"].measured == "1.71x"
    assert found[f"Template page (GET /): {vs_gunicorn}"].met is True
    closer = {goal.name: goal for goal in goals(Results(pages_document(**CLOSER_GUNICORN)))}
    missed = closer[f"Database page (GET /notes): {vs_gunicorn}"]
    assert (missed.measured, missed.met) == ("1.20x", False)
    assert missed.note == (
        "short by 0.30x; if uWSGI's part (1,200 us of 3,383) cost nothing: 1.86x at most"
    )
    # Without the containers' CPU figures, no bound.
    unsplit = goals(Results(results_document(**{**PAGE_RATES, **CLOSER_GUNICORN})))
    assert {goal.name: goal for goal in unsplit}[
        f"Database page (GET /notes): {vs_gunicorn}"
    ].note == "short by 0.30x"
    sweep = found["Default shape against the best processes x threads, database page (GET /notes)"]
    assert (sweep.measured, sweep.met) == (
        "94% of the best (2 processes x 1 thread, a connection per thread, GET /notes)",
        True,
    )
    page_sweep = found["Default shape against the best processes x threads, template page (GET /)"]
    assert (page_sweep.measured, page_sweep.met) == (
        "90% of the best (4 processes x 16 threads, a pool of 2 connections each, GET /)",
        True,
    )
    big_host = "Failed requests on the pages with processes=16 (the bigger host) at 256 connections"
    assert (found[big_host].measured, found[big_host].met) == ("0", True)

    data = pages_document()
    for run_ in data["runs"]:
        if run_["config"] == "page-16" and run_["round"] == 1:
            run_["errors"] = 7
            run_["notes"]["error_detail"] = {"timeout": 2, "non_2xx": 5}
        if run_["config"] == "notes-gunicorn-sync-16":
            run_["errors"] = 40
            run_["notes"]["error_detail"] = {"timeout": 40}
    # The peers' errors at 16 workers are in their rows, not the default's goal.
    failed = {goal.name: goal for goal in goals(Results(data))}[big_host]
    assert (failed.measured, failed.met, failed.note) == ("7", False, "timeout 2, non_2xx 5")
    # Not measured without every peer.
    partial = pages_document()
    partial["runs"] = [r for r in partial["runs"] if r["config"] != "notes-granian-alone"]
    assert {goal.name: goal for goal in goals(Results(partial))}[
        f"Database page (GET /notes): {every_peer}"
    ].met is None


PGBOUNCER_RATES = {
    "notes-nginx-uwsgi": 600.0,
    "notes-16": 400.0,
    f"notes-pgbouncer-{DEFAULT_PROCESSES}": 540.0,
    "notes-pgbouncer-16": 500.0,
}
PGBOUNCER = (
    "Database page through PgBouncer (transaction pooling, 20 server connections) against"
    " PostgreSQL sized for every pooled connection (its req/s against the sized one's)"
)


def test_pgbouncer_goal_and_table() -> None:
    data = results_document(**PGBOUNCER_RATES)
    for run_ in data["runs"]:
        run_["notes"].update(
            cpu_us_service_nginx=150.0, cpu_us_service_app=2500.0, cpu_us_service_db=500.0
        )
        if "pgbouncer" in run_["config"]:
            run_["notes"]["cpu_us_service_pgbouncer"] = 400.0
    goal = {goal.name: goal for goal in goals(Results(data))}[PGBOUNCER]
    assert (goal.measured, goal.met) == (
        "0.90x at the default's processes, 1.25x at processes=16",
        True,
    )
    rows = table_rows(render_markdown(data, "chart.png"), SECTIONS["pgbouncer"])
    row = rows[
        f"nginx-uwsgi through PgBouncer, GET /notes: 16 processes x {DEFAULT_THREADS} threads,"
        " 256 connections"
    ]
    # rate, against the sized PostgreSQL, p50, p99, errors, CPU, per container
    assert row[1] == "1.25x of notes-16"
    assert row[6] == "150 / 2,500 / 500 / 400"
    partial = results_document(**PGBOUNCER_RATES)
    partial["runs"] = [r for r in partial["runs"] if r["config"] != "notes-pgbouncer-16"]
    assert {goal.name: goal for goal in goals(Results(partial))}[PGBOUNCER].met is None


def test_pgbouncer_stands_between_the_app_and_the_database(tmp_path: Path) -> None:
    """The PgBouncer configurations' compose override: PgBouncer labelled as the
    build's services are, logging in as the app's role with the bake's password, and
    the app's DATABASE_URL pointed at it."""
    projects = Projects(tmp_path)
    compose = Compose({}, Resources())
    images = Images(tmp_path, "test", projects, compose)
    stacks = Stacks(tmp_path, "test", projects, images, compose)
    config = next(
        config for config in configs() if config.key == f"notes-pgbouncer-{DEFAULT_PROCESSES}"
    )
    override = json.loads(stacks.config_files(config)[-1].read_text())["services"]
    assert override["pgbouncer"]["labels"] == override["db"]["labels"]
    environment = override["pgbouncer"]["environment"]
    assert (environment["DATABASE_USER"], environment["DATABASE_PASSWORD"]) == (
        "app",
        "${POSTGRES_APP_PASSWORD}",
    )
    assert override["app"]["environment"]["DATABASE_URL"] == (
        "postgresql://app:${POSTGRES_APP_PASSWORD}@pgbouncer:6432/flask_service"
    )
    assert (BENCH_ROOT / "images/pgbouncer/Dockerfile").is_file()


def test_pages_tables() -> None:
    data = pages_document()
    for run_ in data["runs"]:
        if run_["config"] == "page-16":
            run_["errors"] = 3
            run_["notes"]["error_detail"] = {"read": 1, "non_2xx": 2}
    markdown = render_markdown(data, "chart.png")
    notes = table_rows(markdown, SECTIONS["notes"])
    default = next(row for label, row in notes.items() if label.startswith("nginx-uwsgi (default)"))
    # rate, the default against it, x gunicorn sync, p50, p99, errors, CPU, per container
    assert default == [
        "600 (540-660)", "1.00x", "1.71x", "10.0", "50.0", "0", "3,333 + 50", "150 / 2,500 / 500",
    ]  # fmt: skip
    granian = notes[f"granian (WSGI), {GRANIAN_WORKERS} workers, alone (clients straight to it)"]
    assert granian[:3] == ["650 (585-715)", "0.92x", "1.86x"]
    assert len(table_rows(markdown, SECTIONS["page"])) == 5
    big_host = table_rows(markdown, SECTIONS["pages-16"])
    row = big_host[f"nginx-uwsgi, GET /: processes=16 x {DEFAULT_THREADS} threads, 256 connections"]
    # errors in all, socket errors, non-2xx
    assert row[1] == "0.93x of page-nginx-uwsgi"
    assert row[4:7] == ["**9** (read 3, non_2xx 6)", "3", "6"]
    peer = big_host["gunicorn sync, GET /notes: 16 workers, behind the same nginx, 256 connections"]
    assert peer[1] == "0.86x of notes-gunicorn-sync"
    cost = table_rows(markdown, SECTIONS["pages-cost"])
    assert cost["nginx (its container)"] == ["150", "150"]
    uwsgi = next(row for label, row in cost.items() if label.startswith("uWSGI"))
    assert uwsgi == ["1,200", "700"]
    assert cost["the app in-process: SQLAlchemy"] == ["700", "900"]
    assert cost["the app in-process: Jinja"] == ["-", "900"]
    assert cost["PostgreSQL (its container)"] == ["500", "500"]
    sweep = table_rows(markdown, SECTIONS["sweep-notes"])
    assert sweep["2 processes x 1 thread, a connection per thread"][1] == "100%"
    assert (
        sweep[f"{DEFAULT_PROCESSES} processes x {DEFAULT_THREADS} threads: auto (default)"][1]
        == "94%"
    )
    page_sweep = table_rows(markdown, SECTIONS["sweep-page"])
    assert list(page_sweep) == [
        f"{DEFAULT_PROCESSES} processes x {DEFAULT_THREADS} threads: auto (default)",
        "2 processes x 1 thread, a connection per thread",
        "4 processes x 16 threads, a pool of 2 connections each",
    ]
    assert [row[1] for row in page_sweep.values()] == ["90%", "84%", "100%"]


def test_app_cost_gives_each_package_its_time() -> None:
    """bench/apps/app_cost.py: a function's own time goes to its package; the standard
    library's and builtins' to their callers', in proportion; a template's to Jinja."""
    site = "/opt/venv/lib/python3.13/site-packages"
    orm = (f"{site}/sqlalchemy/orm/loading.py", 1, "instances")
    view = ("/app/flask_service/notes.py", 1, "list_notes")
    template = ("/app/flask_service/templates/index.html", 1, "root")
    isoformat = ("~", 0, "<method 'isoformat' of 'datetime.datetime' objects>")
    helper = ("/usr/lib/python3.13/functools.py", 1, "wrapper")
    stats = {
        orm: (1, 1, 0.004, 0.01, {}),
        view: (1, 1, 0.001, 0.02, {}),
        template: (1, 1, 0.002, 0.01, {}),
        isoformat: (4, 4, 0.004, 0.004,
                    {view: (1, 1, 0.001, 0.001), template: (3, 3, 0.003, 0.003)}),
        helper: (2, 2, 0.002, 0.002, {isoformat: (2, 2, 0.002, 0.002)}),
    }  # fmt: skip
    memo: dict[Any, dict[str, float]] = {}
    assert app_cost.owners(orm, stats, "/app/", memo) == {"SQLAlchemy": 1.0}
    assert app_cost.owners(template, stats, "/app/", memo) == {"Jinja": 1.0}
    shares = app_cost.owners(helper, stats, "/app/", memo)
    assert shares == pytest.approx({app_cost.APP: 0.25, "Jinja": 0.75})
    assert app_cost.group_of(f"{site}/psycopg_binary/x.py", "/app/") == "psycopg (the driver)"
    assert app_cost.group_of(f"{site}/yaml/x.py", "/app/") == app_cost.LIBRARIES


def test_app_cost_profiles_a_request() -> None:
    """A profile of a real request (Jinja rendering a page): shares of 1 in all, Jinja's
    the largest."""
    page = jinja2.Environment().from_string("{% for n in numbers %}<li>{{ n }}</li>{% endfor %}")
    shares = app_cost.cpu_by_package(lambda: page.render(numbers=range(50)) and None, "/app/")
    assert sum(shares.values()) == pytest.approx(1.0)
    assert max(shares, key=lambda name: shares[name]) == "Jinja"


# -- the configurations against the template ---------------------------------------


def test_every_variant_bakes_and_changes_what_it_varies(bake: Bake) -> None:
    """Each configuration's answers bake (the hooks take them) and change every file the
    bench takes from that bake, each one it knows where to put; the bench's own files
    it mounts exist. A template change that leaves such a file as it is fails here
    rather than in the middle of `make bench`."""
    for config in configs():
        for mount in config.mounts:
            assert mount.source.is_file() and mount.service in ("app", "nginx"), config.key
        if not config.answers:
            assert not config.varies, config.key
            continue
        assert config.varies, config.key
        base = bake(**BAKED_ANSWERS[config.build])
        variant = bake(**BAKED_ANSWERS[config.build], **config.answers)
        for relative in config.varies:
            assert relative in MOUNTED_FILES or relative == COMPOSE_FILE, (config.key, relative)
            assert (variant / relative).read_text() != (base / relative).read_text(), (
                config.key,
                relative,
            )


def test_every_postgres_stack_fits_its_database_and_its_listen_queue(tmp_path: Path) -> None:
    """Each configuration of the PostgreSQL build, with the files the bench starts it
    with: its workers' pools (its processes, DATABASE_POOL_SIZE as its app gets it) fit
    the max_connections of the db service it runs, or ops/migrate.py stops the start;
    its uWSGI's listen queue fits its compose file's somaxconn, or uWSGI refuses to
    start. A bake whose files the bench mixes with the build's fails here rather than
    in the middle of `make bench`."""
    projects = Projects(tmp_path)
    checked = 0
    for config in configs():
        if config.build != "postgres" or "pgbouncer" in config.override:
            continue
        files = projects.variant_files(config)
        build = projects.project(config.build)
        compose = yaml.safe_load(files.get(COMPOSE_FILE, build / COMPOSE_FILE).read_text())
        ini = files.get(UWSGI_INI, build / UWSGI_INI).read_text()
        plan = Plan.defaults(**BAKED_ANSWERS[config.build], **config.answers)
        environment = config.override.get("app", {}).get("environment", {})
        pool = int(environment.get("DATABASE_POOL_SIZE", plan.database_pool_size))
        needed = (plan.processes or DEFAULT_PROCESSES) * min(plan.threads, pool) + 1 + 2
        [max_connections] = re.findall(r"max_connections=(\d+)", str(compose["services"]["db"]))
        assert needed <= int(max_connections) - 3, (config.key, needed, max_connections)
        listen = re.search(r"^listen = (\d+)$", ini, re.MULTILINE)
        assert listen, config.key
        somaxconn = compose["services"]["app"]["sysctls"]["net.core.somaxconn"]
        assert int(listen[1]) <= somaxconn, (config.key, listen[1], somaxconn)
        checked += 1
    assert checked >= 20


def test_the_nginx_ceiling_logs_as_the_default_site_does(bake: Bake) -> None:
    """The ceiling (bench/apps/nginx_return_200.conf.template) stands in for the default
    site: its access log is the site's, batches and all."""
    site = (bake(**BAKED_ANSWERS["default"]) / SITE).read_text().splitlines()
    [access_log_line] = [line for line in site if line.lstrip().startswith("access_log ")]
    ceiling = (APPS / "nginx_return_200.conf.template").read_text().splitlines()
    assert access_log_line in ceiling


def test_every_edit_applies_to_its_builds_bake(bake: Bake) -> None:
    """Each edit (bench/variants.py) finds its text exactly once in the file its build's
    bake writes (with the configuration's answers on top, as the bench edits it), a file
    the bench knows where to mount: a template change that moves that text fails here
    rather than in the middle of `make bench`."""
    edited = [config for config in configs() if config.edits]
    assert len(edited) >= 10
    for config in edited:
        project = bake(**BAKED_ANSWERS[config.build], **config.answers)
        for edit in config.edits:
            assert edit.file in MOUNTED_FILES, (config.key, edit.file)
            text = (project / edit.file).read_text()
            assert edit.apply(text) != text, config.key


def test_each_baked_builds_services_are_its_compose_files(bake: Bake, tmp_path: Path) -> None:
    """The services the bench labels, names images for and builds are those of the
    build's compose.yaml (Redis, the worker and Celery's beat included)."""
    images = Images(tmp_path, "test", Projects(tmp_path), Compose({}, Resources()))
    for build, answers in BAKED_ANSWERS.items():
        compose = yaml.safe_load((bake(**answers) / "compose.yaml").read_text())
        # A profile's services (Prometheus, monitoring) start only when asked for.
        started = [
            name for name, service in compose["services"].items() if "profiles" not in service
        ]
        assert sorted(images.services(build)) == sorted(started), build


def test_an_edit_whose_text_is_gone_is_refused() -> None:
    with pytest.raises(ValueError, match="occurs 0 times, expected once"):
        Edit("ops/uwsgi.ini", "thunder-lock = true\n", "").apply("master = true\n")


def test_configuration_sets() -> None:
    every = configs()
    keys = [config.key for config in every]
    assert len(keys) == len(set(keys))
    # Each names a compose project: lowercase letters, digits, hyphens and underscores.
    assert [key for key in keys if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", key)] == []
    quick = [config.key for config in select(every, "quick", [], [])]
    assert quick == [
        "nginx-uwsgi",
        "ceiling-nginx",
        "native",
        "page-nginx-uwsgi",
        f"overload-notes-{DEFAULT_PROCESSES}",
    ]
    # --jobs: the worker stacks, and the default whose cold start they are set against.
    assert [config.key for config in select(every, "jobs", [], [])] == [
        "nginx-uwsgi", "jobs-rq", "jobs-celery",
    ]  # fmt: skip
    args = parse_args(["--jobs"])
    assert (args.set, args.duration, args.warmup, args.rounds) == ("jobs", 1, 0, 3)
    full = {config.key for config in select(every, "full", [], [])}
    required = {
        *("nginx-uwsgi", "nginx-http", "standalone", "gunicorn-sync", "gunicorn-gthread"),
        *("allinone", "ceiling-nginx", "ceiling-raw-wsgi", "native", "tcp", "uwsgi-log"),
        *("granian-nginx", "granian-alone", "io-default", "no-probes"),
        *("jobs-rq", "jobs-celery"),
        *(f"{page}-{server}" for page in ("notes", "page") for server in PAGE_SERVERS),
        *("notes-16", "page-16", "notes-2x1", "notes-8x8", "page-2x1", "page-4x16-pool-2"),
        *("notes-gunicorn-sync-16", "notes-granian-nginx-16"),
        *(f"notes-pgbouncer-{DEFAULT_PROCESSES}", "notes-pgbouncer-16"),
    }
    assert required <= full
    assert [c.key for c in select(every, "full", ["tcp", "native"], ["native"])] == ["tcp"]
    with pytest.raises(SystemExit, match="unknown configuration"):
        select(every, "full", ["nope"], [])


# -- a short real run ------------------------------------------------------------------


GAP_RATES = {
    "nginx-uwsgi": 3000.0,
    "granian-alone": 6000.0,
    "gap-no-nginx": 4500.0,
    "gap-1-thread": 3300.0,
    "gap-bare-app": 3150.0,
}
HELLO_GAP = (
    "Hello page: the gap to granian alone, and the change tried against each part of it"
    " (its req/s against the default's)"
)


def test_hello_gap_goal_and_table() -> None:
    data = results_document(**GAP_RATES)
    gap = {goal.name: goal for goal in goals(Results(data))}[HELLO_GAP]
    assert (gap.measured, gap.met) == (
        "0.50x against granian alone; without nginx's hop 1.50x, uWSGI's threads 1.10x,"
        " the app wrapper in main.py 1.05x",
        True,
    )
    rows = table_rows(render_markdown(data, "chart.png"), SECTIONS["gap"])
    # rate, against the default, against granian alone, p99, errors, CPU, CPU saved
    no_nginx = next(row for label, row in rows.items() if label.startswith("without nginx's hop"))
    assert no_nginx[1:3] == ["1.50x", "0.75x"]
    assert no_nginx[6] == "222"  # 2e6 / 3000 - 2e6 / 4500 us
    assert len(rows) == len(GAP_RATES)
    partial = results_document(**GAP_RATES)
    partial["runs"] = [r for r in partial["runs"] if r["config"] != "gap-bare-app"]
    assert {goal.name: goal for goal in goals(Results(partial))}[HELLO_GAP].met is None


OVERLOAD_RATES = {f"overload-notes-{DEFAULT_PROCESSES}": 500.0, "overload-notes-16": 400.0}
OVERLOAD = (
    "Overload (the database page at 4x the requests the stack serves at once, at the"
    " default's processes and at processes=16): answers neither a 200 nor a 503"
)


def test_overload_counts_what_is_neither_a_200_nor_a_503() -> None:
    data = results_document(**OVERLOAD_RATES)
    for run_ in data["runs"]:
        run_["notes"]["statuses"] = {"200": 2000, "503": 300}
        run_["notes"]["p99_ms_200"] = 1100.0 + 100 * run_["round"]
    assert {goal.name: goal for goal in goals(Results(data))}[OVERLOAD].measured == "0"
    for run_ in data["runs"]:
        if run_["config"] == "overload-notes-16" and run_["round"] == 2:
            run_["notes"]["statuses"]["502"] = 4
            run_["notes"]["error_detail"] = {"timeout": 3, "non_2xx": 304}
    failed = {goal.name: goal for goal in goals(Results(data))}[OVERLOAD]
    assert (failed.measured, failed.met, failed.note) == ("7", False, "in overload-notes-16")
    rows = table_rows(render_markdown(data, "chart.png"), SECTIONS["overload"])
    row = next(row for label, row in rows.items() if "16 processes" in label)
    # rate, p50, p99, the 200s' p99, 200, 503, other statuses, neither, CPU
    assert row[3:8] == ["1,200.0", "6,000", "900", "502: 4", "7"]


# nginx's JSON access log as `docker compose logs --no-log-prefix nginx` prints it.
ACCESS_LOG = "\n".join(
    [
        "/docker-entrypoint.sh: Configuration complete; ready for start up",
        '{"time":"2026-12-04T12:00:00+00:00","method":"GET","uri":"/notes","status":200,'
        '"request_time":9.000}',
        '{"time":"2026-12-04T12:00:01+00:00","method":"GET","uri":"/notes","status":200,'
        '"request_time":0.250}',
        '{"time":"2026-12-04T12:00:02+00:00","method":"GET","uri":"/notes","status":503,'
        '"request_time":0.001}',
        '{"time":"2026-12-04T12:00:03+00:00","method":"GET","uri":"/","status":200,'
        '"request_time":7.000}',
        '{"time":"2026-12-04T12:00:04+00:00","method":"GET","uri":"/notes","status":200,'
        '"request_time":1.500}',
        '{"time":"2026-12-04T12:00:05+00:00","method":"GET","uri":"/notes","status":200,"req',
        '{"time":"2026-12-04T12:00:07+00:00","method":"GET","uri":"/notes","status":200,'
        '"request_time":8.000}',
    ]
)


def test_the_200s_p99_is_of_the_200s_nginx_logged_during_the_run() -> None:
    """Only the 200s to the page, from the measured run's seconds (whole, as nginx's
    time has them), count; other lines are skipped."""
    start = datetime(2026, 12, 4, 12, 0, 1, 600_000, tzinfo=UTC)
    end = datetime(2026, 12, 4, 12, 0, 5, 400_000, tzinfo=UTC)
    assert access_log.request_times(ACCESS_LOG, "/notes", 200, start, end) == [0.25, 1.5]
    assert access_log.request_times(ACCESS_LOG, "/notes", 503, start, end) == [0.001]
    assert access_log.answered_notes(ACCESS_LOG, "/notes", start, end) == {
        "logged_200": 2,
        "p99_ms_200": 1500.0,
    }
    assert access_log.answered_notes("", "/notes", start, end) == {"logged_200": 0}
