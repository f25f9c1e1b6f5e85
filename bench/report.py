"""The Markdown report of a bench run, and its headline in README.md: the goals
(bench/goals.py), a table per section (bench/tables.py), the machine, the method.

Everything here works on the results document the bench writes
(results.json), so a report can be made again from it without measuring:
`python -m bench --report bench/results/<run>/results.json`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bench.configuration import SECTIONS
from bench.goals import goals_table
from bench.markdown import number
from bench.page_configs import DEFAULT_NOTES, SEEDED_NOTES
from bench.page_tables import (
    big_host_table,
    overload_table,
    page_table,
    pages_cost_table,
    pgbouncer_table,
)
from bench.results import DEFAULT, NATIVE, Results
from bench.tables import (
    cold_table,
    cost_table,
    gap_table,
    jobs_table,
    main_table,
    native_table,
    sweep_table,
    variants_table,
)
from bench.target import SETTLED_CPU_SHARE, SETTLED_WINDOW_S


def machine_lines(data: Mapping[str, Any]) -> list[str]:
    machine = data.get("machine", {})
    versions = data.get("versions", {})
    return [
        f"- CPU: {machine.get('cpu', '?')}, {machine.get('cpus', '?')} cores usable, "
        f"{machine.get('memory_gb', '?')} GB memory",
        f"- OS: {machine.get('os', '?')}, kernel {machine.get('kernel', '?')}",
        f"- Docker engine {versions.get('docker', '?')}, Compose {versions.get('compose', '?')}, "
        f"log driver {machine.get('log_driver', '?')}, cgroup {machine.get('cgroup', '?')}",
        f"- wrk {versions.get('wrk', '?')}",
        f"- Base images: {data.get('base_images', {}).get('PYTHON_IMAGE', {}).get('name', '?')}, "
        f"{data.get('base_images', {}).get('NGINX_IMAGE', {}).get('name', '?')}",
        f"- In the images: Python {versions.get('python_image', '?')}, "
        f"uWSGI {versions.get('uwsgi_image', '?')}, nginx {versions.get('nginx_image', '?')}, "
        f"gunicorn {versions.get('gunicorn', '?')}, "
        f"all-in-one nginx {versions.get('nginx_allinone', '?')}",
        f"- Native: Python {versions.get('python_host', '?')}, "
        f"uWSGI {versions.get('uwsgi_host', '?')}, nginx {versions.get('nginx_host', '?')}",
        f"- Background jobs: RQ {versions.get('rq', '?')}, Celery {versions.get('celery', '?')}, "
        f"Redis {versions.get('redis', '?')}",
        f"- The pages: PostgreSQL {versions.get('postgres', '?')}, "
        f"psycopg {versions.get('psycopg', '?')}, SQLAlchemy {versions.get('sqlalchemy', '?')}, "
        f"granian {versions.get('granian', '?')}",
    ]


def machine_line(data: Mapping[str, Any]) -> str:
    """One line for the chart and the README: when, and on what."""
    machine = data.get("machine", {})
    return (
        f"{str(data.get('started', '?'))[:10]}, {machine.get('cpus', '?')} cores "
        f"({machine.get('cpu', '?')}), kernel {machine.get('kernel', '?')}, "
        f"Docker {data.get('versions', {}).get('docker', '?')}"
    )


def method(data: Mapping[str, Any]) -> str:
    settings = data.get("settings", {})
    return " ".join(
        [
            f"wrk ({settings.get('threads')} threads, {settings.get('connections')} connections,",
            f"{settings.get('duration_s')} s per run after a {settings.get('warmup_s')} s warm-up",
            "and a half-second pause, request timeout",
            f"{settings.get('timeout_s')} s) runs in the front container's network namespace",
            "(nsenter, this machine's wrk) against its loopback, so no docker-proxy is in the",
            "way. The native run starts the default project's supervisord.conf, uwsgi.ini and",
            "nginx config (this machine's Python virtualenv and Debian's nginx) in namespaces of",
            "its own: a network namespace, where wrk runs the same way, and tmpfs on /tmp and",
            "/var/log/nginx as the containers have; no health checks, nginx's access log goes to",
            "a file. Every run starts its stack from nothing (a new network namespace: no",
            "TIME_WAIT sockets left by an earlier run) and removes it after; stacks that are not",
            "timed for their cold start are polled until they answer instead of waiting for their",
            "health checks; then every stack waits, before the warm-up, until its own processes",
            f"use under {SETTLED_CPU_SHARE:.0%} of a CPU over {SETTLED_WINDOW_S} s (every worker",
            "has loaded the app: 16 of them on 2 CPUs take seconds).",
            f"{settings.get('rounds')} rounds; each round runs every configuration",
            "once, one further along the list than the round before; figures are medians over",
            "the rounds (min-max beside the rate). Errors are wrk's socket errors and non-2xx",
            "answers (the logs explaining them are in the run's logs/ folder). Cold start:",
            "`docker compose up --detach --wait` with the images built, until every container is",
            "healthy. Rebuild: `docker compose build app` after a line is added to main.py (the",
            "dependency layers cached). Image sizes as `docker image ls` counts them",
            "(MB = 10^6 bytes). 64 connections: as many as the most requests any configuration",
            "serves at once (processes x threads), so the I/O-bound route can fill them all, and",
            "under uWSGI's default listen queue of 100, past which a unix socket refuses",
            "connections (nginx answers 502): the 256-connection runs show that. The I/O-bound",
            "route, GET /io, is the same app with one more route that waits 20 ms",
            "(bench/apps/io_wait.py, FLASK_APP=io_wait): it holds a worker thread, not the CPU.",
            "gunicorn and granian serve the nginx-http project's main.py and package, built FROM",
            "the same base image and probed as often; granian alone is measured like standalone,",
            "from its own container's network namespace.",
            "Background jobs: the default shape baked with each worker (Redis and a worker",
            "service; Celery's beat too) is timed to healthy like the others, then",
            "bench/job_client.py, run where wrk runs, posts the example job (POST /jobs",
            "through nginx) one at a time, for up to 60 s, and asks GET /jobs/<id> (again 5 ms",
            "after each answer) until the job is finished with its own result: its latency is",
            "from the 202 answer to the answer that says so, so a poll's own time is its",
            "resolution (the median and p95 of a round's jobs, then the median of the",
            "rounds'). A job not finished after 10 s is asked for again once every job is",
            "posted, for up to 10 s more; one still not finished is lost.",
            "The pages: the default shape baked with database=postgres serves its own",
            "GET /notes (the newest 50 notes as JSON) and GET / (a Jinja page of the same",
            f"query); once a stack answers, {SEEDED_NOTES} notes are written into its database",
            "(SQL in the db container) before the load. gunicorn and granian serve the nginx-http",
            "bake with PostgreSQL (its driver and pins, its settings.py: the same pool rules,",
            "which outside uWSGI pool two connections per process; the migrations first, as",
            "the image's own start) beside the same database and nginx. processes=16 is baked",
            "as an answer, as on a host of 8 CPUs. Under overload wrk's latencies are every",
            "answer's, the fast 503s among them: the 200s' own p99 is nginx's request_time",
            "(first byte read to last byte sent) of the 200s its access log has from the",
            "measured run's seconds.",
        ]
    )


def section_shown(results: Results, section: str) -> bool:
    """Whether a run has what a section's table needs."""
    if section == "cost":
        return DEFAULT in results.summaries and len(results.summaries) >= 3
    if section in (
        "main",
        "gap",
        "sweep",
        "sweep-io",
        "variant",
        "notes",
        "page",
        "pages-16",
        "overload",
        "pgbouncer",
        "sweep-notes",
        "sweep-page",
    ):
        return bool(results.in_section(section))
    if section == "pages-cost":
        return DEFAULT_NOTES in results.summaries and "page_cost_us" in results.data
    if section == "native":
        return NATIVE in results.summaries
    if section == "jobs":
        return any(results.jobs(key) for key in results.in_section("jobs"))
    if section == "cold":
        return any(summary.cold_start_s is not None for summary in results.summaries.values())
    return True


def section_tables(results: Results, cpus: int) -> dict[str, Callable[[], str]]:
    """Each section's table, in report order, made only when the section is shown."""
    return {
        "main": lambda: main_table(results),
        "cost": lambda: cost_table(results, cpus),
        "gap": lambda: gap_table(results),
        "notes": lambda: page_table(results, "notes"),
        "page": lambda: page_table(results, "page"),
        "pages-cost": lambda: pages_cost_table(results),
        "pages-16": lambda: big_host_table(results),
        "overload": lambda: overload_table(results),
        "pgbouncer": lambda: pgbouncer_table(results),
        "sweep": lambda: sweep_table(results, cpus),
        "sweep-io": lambda: sweep_table(results, cpus, "sweep-io"),
        "sweep-notes": lambda: sweep_table(results, cpus, "sweep-notes"),
        "sweep-page": lambda: sweep_table(results, cpus, "sweep-page"),
        "variant": lambda: variants_table(results),
        "native": lambda: native_table(results),
        "cold": lambda: cold_table(results),
        "jobs": lambda: jobs_table(results),
    }


def heading(data: Mapping[str, Any], chart: str) -> list[str]:
    """The title, when and how the run was made, the chart."""
    return [
        "# flask-uwsgi benchmark",
        "",
        f"Measured {machine_line(data)}; `make bench` "
        f"(set `{data.get('settings', {}).get('set', '?')}`, "
        f"{number(data.get('elapsed_s', 0) / 60, 1)} minutes).",
        "",
        f"![requests per second and p99 latency of each configuration]({chart})",
    ]


def failed_lines(data: Mapping[str, Any]) -> list[str]:
    """What could not be measured, when anything could not."""
    failures = data.get("failures", [])
    if not failures:
        return []
    return ["", "## Failed", ""] + [f"- {failure}" for failure in failures]


def render_markdown(data: Mapping[str, Any], chart: str) -> str:
    """The whole report of a run, chart linked as `chart` (a relative path)."""
    results = Results(data)
    cpus = int(data.get("machine", {}).get("cpus", 2))
    parts = [*heading(data, chart), "", "## Goals", "", goals_table(results)]
    for section, render in section_tables(results, cpus).items():
        if section_shown(results, section):
            parts += ["", f"## {SECTIONS[section]}", "", render()]
    parts += failed_lines(data)
    parts += ["", "## Machine", "", *machine_lines(data), "", "## Method", "", method(data), ""]
    return "\n".join(parts)


def render_readme_section(data: Mapping[str, Any], chart: str, full_report: str) -> str:
    """What README.md shows: the headline (the goals, met or missed) and where the rest is."""
    results = Results(data)
    return "\n".join(
        [
            f"Measured {machine_line(data)} by `make bench` "
            f"({number(data.get('elapsed_s', 0) / 60, 1)} minutes). The chart ({chart}), every "
            f"configuration, the sweep of processes x threads and the machine: "
            f"[{full_report}]({full_report}).",
            "",
            goals_table(results),
        ]
    )


README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"


def replace_readme_section(readme: str, section: str) -> str | None:
    """README.md with the text between the bench markers replaced; None without markers."""
    start, end = readme.find(README_START), readme.find(README_END)
    if start < 0 or end < start:
        return None
    return readme[: start + len(README_START)] + "\n" + section + "\n" + readme[end:]
