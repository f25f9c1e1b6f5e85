"""The Markdown report of a bench run: tables, goals, the machine, the method.

Everything here works on the results document the bench writes
(results.json), so a report can be made again from it without measuring:
`python -m bench --report bench/results/<run>/results.json`.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.configuration import DEFAULT_PLAN, SECTIONS
from bench.stats import Run, Summary, rate_of, ratio, summarize
from bench.sweeps import IO_DEFAULT

MB = 1_000_000  # as `docker image ls` counts

# The goals.
GOAL_VS_GUNICORN = 3.0
GOAL_VS_GRANIAN = 1.0
GOAL_PROBE_COST = 0.05
GOAL_SWEEP_WITHIN = 0.10
GOAL_VS_NATIVE = 0.60
GOAL_VS_RAW_WSGI = 0.65
GOAL_IMAGE_ABOVE_BASE_MB = 60
GOAL_COLD_START_S = 5.0
GOAL_REBUILD_S = 10.0

DEFAULT = "nginx-uwsgi"
GUNICORN = "gunicorn-sync"
GRANIAN_NGINX = "granian-nginx"
GRANIAN_ALONE = "granian-alone"
NO_PROBES = "no-probes"
NGINX_CEILING = "ceiling-nginx"
RAW_CEILING = "ceiling-raw-wsgi"
NATIVE = "native"


@dataclass(frozen=True)
class Goal:
    name: str
    target: str
    measured: str
    met: bool | None  # None: not measured in this run
    note: str = ""


class Results:
    """A results document, with the lookups the report needs."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.runs = [Run.from_json(run) for run in data.get("runs", [])]
        self.summaries: dict[str, Summary] = summarize(self.runs)
        self.configs: dict[str, dict[str, Any]] = {c["key"]: c for c in data.get("configs", [])}

    def rate(self, key: str) -> float | None:
        return rate_of(self.summaries, key)

    def label(self, key: str) -> str:
        return str(self.configs.get(key, {}).get("label", key))

    def in_section(self, section: str) -> list[str]:
        return [key for key, config in self.configs.items() if config["section"] == section]

    def image_size(self, build: str, service: str) -> int | None:
        images = self.data.get("images", {})
        if service == "nginx" and build == "peers":
            build = "nginx-http"
        size = images.get(build, {}).get(service)
        return int(size) if size is not None else None

    def base_size(self, service: str) -> int | None:
        name = "NGINX_IMAGE" if service == "nginx" else "PYTHON_IMAGE"
        size = self.data.get("base_images", {}).get(name, {}).get("size")
        return int(size) if size is not None else None

    def above_base(self, build: str, service: str) -> float | None:
        size, base = self.image_size(build, service), self.base_size(service)
        if size is None or base is None:
            return None
        return (size - base) / MB

    def rebuild(self, build: str) -> float | None:
        value = self.data.get("rebuild_s", {}).get(build)
        return float(value) if value is not None else None

    def error_kinds(self, key: str) -> dict[str, int]:
        """Errors by kind (connect, read, write, timeout, non_2xx) over the rounds."""
        kinds: dict[str, int] = {}
        for run in self.runs:
            if run.config == key:
                for kind, count in run.notes.get("error_detail", {}).items():
                    kinds[kind] = kinds.get(kind, 0) + int(count)
        return kinds

    def cpu_us(self, key: str) -> float | None:
        """Median CPU microseconds per request: the stack's own and Docker's daemons'."""
        values = [
            float(run.notes["cpu_us_stack"]) + float(run.notes.get("cpu_us_docker", 0.0))
            for run in self.runs
            if run.config == key and "cpu_us_stack" in run.notes
        ]
        return statistics.median(values) if values else None

    def cpu_cell(self, key: str) -> str:
        """'stack + docker' CPU microseconds per request (medians)."""
        parts = []
        for part in ("stack", "docker"):
            values = [
                float(run.notes[f"cpu_us_{part}"])
                for run in self.runs
                if run.config == key and f"cpu_us_{part}" in run.notes
            ]
            if values:
                parts.append(f"{statistics.median(values):,.0f}")
        return " + ".join(parts) if parts else "-"

    def errors(self, key: str) -> str:
        return errors_cell(self.summaries.get(key), self.error_kinds(key))

    def median_note(self, key: str, name: str) -> float | None:
        values = sorted(
            float(run.notes[name]) for run in self.runs if run.config == key and name in run.notes
        )
        if not values:
            return None
        middle = len(values) // 2
        return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


# -- formatting ------------------------------------------------------------------


def number(value: float | None, digits: int = 0, suffix: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{suffix}"


def times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def rate_cell(summary: Summary | None) -> str:
    if summary is None:
        return "-"
    if summary.runs == 1:
        return number(summary.requests_per_second)
    return (
        f"{number(summary.requests_per_second)} "
        f"({number(summary.rps_min)}-{number(summary.rps_max)})"
    )


def errors_cell(summary: Summary | None, kinds: Mapping[str, int] | None = None) -> str:
    """Total errors over the rounds, bold when not 0, with their kinds when known."""
    if summary is None:
        return "-"
    if summary.errors == 0:
        return "0"
    detail = ", ".join(f"{kind} {count:,}" for kind, count in (kinds or {}).items() if count)
    return f"**{summary.errors:,}**" + (f" ({detail})" if detail else "")


def table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str = "") -> str:
    """A Markdown table; align: one letter per column, l or r (default: l, then r)."""
    align = align or "l" + "r" * (len(header) - 1)
    marks = [":---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def image_cell(results: Results, build: str, service: str) -> str:
    size = results.image_size(build, service)
    if size is None:
        return "-"
    above = results.above_base(build, service)
    return f"{size / MB:.0f} (+{above:.0f})" if above is not None else f"{size / MB:.0f}"


# -- goals -----------------------------------------------------------------------


def goals(results: Results) -> list[Goal]:
    """The issue's goals, measured against this run's figures."""
    found: list[Goal] = []
    default = results.rate(DEFAULT)

    def add(name: str, target: str, value: float | None, shown: str, met: bool, note: str) -> None:
        if value is None:
            found.append(Goal(name, target, "not measured", None))
        else:
            found.append(Goal(name, target, shown, met, "" if met else note))

    vs_gunicorn = ratio(default, results.rate(GUNICORN))
    add(
        "Default shape against gunicorn sync (4 workers) behind the same nginx",
        f">= {GOAL_VS_GUNICORN:.0f}x",
        vs_gunicorn,
        times(vs_gunicorn),
        vs_gunicorn is not None and vs_gunicorn >= GOAL_VS_GUNICORN,
        f"short by {GOAL_VS_GUNICORN - (vs_gunicorn or 0):.2f}x",
    )
    for key, where in ((GRANIAN_NGINX, "behind the same nginx"), (GRANIAN_ALONE, "alone")):
        vs_granian = ratio(default, results.rate(key))
        add(
            f"Default shape against granian (WSGI, 4 workers) {where}",
            f">= {GOAL_VS_GRANIAN:.1f}x",
            vs_granian,
            times(vs_granian),
            vs_granian is not None and vs_granian >= GOAL_VS_GRANIAN,
            f"short by {GOAL_VS_GRANIAN - (vs_granian or 0):.2f}x; CPU per request: "
            f"{results.cpu_cell(DEFAULT)} us against granian's {results.cpu_cell(key)} us",
        )
    for section, default_key, kind in (
        ("sweep", DEFAULT, "CPU-bound"),
        ("sweep-io", IO_DEFAULT, "I/O-bound"),
    ):
        sweep = {key: results.rate(key) for key in [default_key, *results.in_section(section)]}
        measured = {key: rate for key, rate in sweep.items() if rate is not None}
        best_key = max(measured, key=lambda key: measured[key]) if len(measured) > 1 else None
        of_best = ratio(measured.get(default_key), measured[best_key]) if best_key else None
        add(
            f"Default shape against the best processes x threads, {kind}",
            f"within {100 * GOAL_SWEEP_WITHIN:.0f}%",
            of_best,
            "the default is the best"
            if best_key == default_key
            else f"{percent(of_best)} of the best ({results.label(best_key) if best_key else '-'})",
            of_best is not None and of_best >= 1 - GOAL_SWEEP_WITHIN,
            f"{100 * (1 - (of_best or 0)):.0f}% below the best",
        )
    without_probes = ratio(default, results.rate(NO_PROBES))
    probe_cost = None if without_probes is None else max(0.0, 1 - without_probes)
    add(
        "Health probes' cost (the default against no probes during the run)",
        f"<= {percent(GOAL_PROBE_COST)} of req/s",
        probe_cost,
        percent(probe_cost),
        probe_cost is not None and probe_cost <= GOAL_PROBE_COST,
        f"{100 * ((probe_cost or 0) - GOAL_PROBE_COST):.0f} points over",
    )
    vs_native = ratio(default, results.rate(NATIVE))
    add(
        "Default shape in Docker against the same processes natively",
        f">= {percent(GOAL_VS_NATIVE)}",
        vs_native,
        percent(vs_native),
        vs_native is not None and vs_native >= GOAL_VS_NATIVE,
        f"short by {100 * (GOAL_VS_NATIVE - (vs_native or 0)):.0f} points",
    )
    raw_rate = results.rate(RAW_CEILING)
    vs_raw = ratio(default, raw_rate)
    flask_us = results.data.get("app_cost_us", {}).get("flask")
    cpus = int(results.data.get("machine", {}).get("cpus", 2))
    bound = ""
    if flask_us and raw_rate:
        # The stack's CPU time per request without Flask, and Flask's own: the share
        # of the raw-WSGI rate Flask could keep if nothing else changed.
        stack_us = cpus * 1e6 / raw_rate
        bound = (
            f"; Flask's own {flask_us:.0f} us per request (in-process) against the "
            f"{stack_us:.0f} us of CPU the stack spends on one without it: "
            f"{percent(stack_us / (stack_us + flask_us))} at best"
        )
    add(
        "Flask under the default shape against the raw-WSGI ceiling",
        f">= {percent(GOAL_VS_RAW_WSGI)}",
        vs_raw,
        percent(vs_raw),
        vs_raw is not None and vs_raw >= GOAL_VS_RAW_WSGI,
        f"short by {100 * (GOAL_VS_RAW_WSGI - (vs_raw or 0)):.0f} points{bound}",
    )
    above = results.above_base("default", "app")
    add(
        "App image above its base image",
        f"<= {GOAL_IMAGE_ABOVE_BASE_MB} MB",
        above,
        number(above, 1, " MB"),
        above is not None and above <= GOAL_IMAGE_ABOVE_BASE_MB,
        f"{(above or 0) - GOAL_IMAGE_ABOVE_BASE_MB:.1f} MB over",
    )
    summary = results.summaries.get(DEFAULT)
    cold = summary.cold_start_s if summary else None
    add(
        "Cold start of the default shape (`up` to healthy)",
        f"< {GOAL_COLD_START_S:.0f} s",
        cold,
        number(cold, 1, " s"),
        cold is not None and cold < GOAL_COLD_START_S,
        f"{(cold or 0) - GOAL_COLD_START_S:.1f} s over",
    )
    rebuild = results.rebuild("default")
    add(
        "Rebuild of the default app image after a change to main.py",
        f"< {GOAL_REBUILD_S:.0f} s",
        rebuild,
        number(rebuild, 1, " s"),
        rebuild is not None and rebuild < GOAL_REBUILD_S,
        f"{(rebuild or 0) - GOAL_REBUILD_S:.1f} s over",
    )
    # The compared configurations; the variants include runs made to show errors.
    compared = [
        run for run in results.runs if results.configs.get(run.config, {}).get("section")
        in ("main", "sweep", "sweep-io", "native")
    ]  # fmt: skip
    errors = sum(run.errors for run in compared)
    failing = sorted({run.config for run in compared if run.errors})
    add(
        "Errors (socket errors, non-2xx answers) of the shapes, alternatives, sweep, native",
        "0",
        float(errors) if compared else None,
        f"{errors:,}",
        errors == 0,
        f"in {', '.join(failing)}",
    )
    return found


def goals_table(results: Results) -> str:
    marks = {True: "met", False: "**missed**", None: "-"}
    return table(
        ["Goal", "Target", "Measured", "", "Note"],
        [
            [goal.name, goal.target, goal.measured, marks[goal.met], goal.note]
            for goal in goals(results)
        ],
        align="lllll",
    )


# -- sections --------------------------------------------------------------------


def main_table(results: Results) -> str:
    gunicorn = results.rate(GUNICORN)
    nginx_ceiling = results.rate(NGINX_CEILING)
    raw_ceiling = results.rate(RAW_CEILING)
    rows = []
    for key in results.in_section("main"):
        summary = results.summaries.get(key)
        config = results.configs[key]
        ceiling = key.startswith("ceiling-")
        build = config["build"]
        rate = summary.requests_per_second if summary else None
        rows.append(
            [
                config["label"],
                rate_cell(summary),
                times(ratio(rate, gunicorn)),
                percent(ratio(rate, nginx_ceiling)),
                percent(ratio(rate, raw_ceiling)),
                number(summary.p50_ms if summary else None, 1),
                number(summary.p99_ms if summary else None, 1),
                results.errors(key),
                results.cpu_cell(key),
                "-" if ceiling else image_cell(results, build, "app"),
                "-" if ceiling else image_cell(results, build, "nginx"),
                number(summary.cold_start_s if summary else None, 1),
                "-" if ceiling else number(results.rebuild(build), 1),
            ]
        )
    return table(
        [
            "Configuration",
            "req/s median (min-max)",
            "x gunicorn sync",
            "% of nginx ceiling",
            "% of raw-WSGI ceiling",
            "p50 ms",
            "p99 ms",
            "errors",
            "CPU us/request (stack + Docker)",
            "app image MB (+ above base)",
            "nginx image MB (+ above base)",
            "cold start s",
            "rebuild s",
        ],
        rows,
    )


def sweep_table(results: Results, cpus: int, section: str = "sweep") -> str:
    default_key = DEFAULT if section == "sweep" else IO_DEFAULT
    keys = [default_key, *(key for key in results.in_section(section) if key != default_key)]
    rates = {key: results.rate(key) for key in keys}
    best = max((rate for rate in rates.values() if rate is not None), default=None)
    rows = []
    for key in keys:
        summary = results.summaries.get(key)
        label = (
            f"{2 * cpus} processes x {DEFAULT_PLAN.threads} threads: auto (default)"
            if key == default_key
            else results.label(key).removesuffix(", GET /io")
        )
        rows.append(
            [
                label,
                rate_cell(summary),
                percent(ratio(rates[key], best)),
                number(summary.p50_ms if summary else None, 1),
                number(summary.p99_ms if summary else None, 1),
                results.errors(key),
                results.cpu_cell(key),
            ]
        )
    return table(
        [
            "processes x threads",
            "req/s median (min-max)",
            "% of best",
            "p50 ms",
            "p99 ms",
            "errors",
            "CPU us/request (stack + Docker)",
        ],
        rows,
    )


def variants_table(results: Results) -> str:
    rows = []
    references = [key for key in (DEFAULT, "nginx-http", "standalone") if key in results.summaries]
    for key in [*results.in_section("variant"), *references]:
        summary = results.summaries.get(key)
        reference = key in references
        baseline = key if reference else results.configs[key].get("baseline") or DEFAULT
        rate = summary.requests_per_second if summary else None
        cpu, base_cpu = results.cpu_us(key), results.cpu_us(baseline)
        rows.append(
            [
                f"(for reference) {results.label(key)}" if reference else results.label(key),
                rate_cell(summary),
                f"{times(ratio(rate, results.rate(baseline)))} of {baseline}",
                number(summary.p50_ms if summary else None, 1),
                number(summary.p99_ms if summary else None, 1),
                results.errors(key),
                results.cpu_cell(key),
                times(ratio(cpu, base_cpu)),
                f"{number(results.median_note(key, 'time_wait_front'))} / "
                f"{number(results.median_note(key, 'time_wait_app'))}",
            ]
        )
    return table(
        [
            "Variant",
            "req/s median (min-max)",
            "req/s against its baseline",
            "p50 ms",
            "p99 ms",
            "errors",
            "CPU us/request (stack + Docker)",
            "CPU against its baseline",
            "TIME_WAIT after the run (front / app)",
        ],
        rows,
    )


# Where the time goes: the CPU time per request of one configuration against another.
COSTS = (
    ("Flask: the app's own work", DEFAULT, RAW_CEILING),
    ("nginx's access log, through Docker's json-file log driver", DEFAULT, "no-access-log"),
    ("... more with it written line by line (unbuffered)", "unbuffered-log", DEFAULT),
    ("uWSGI's request log too, through supervisord", "uwsgi-log", DEFAULT),
    # Recycling shows in runs long enough for workers to reach max-requests:
    # --only nginx-uwsgi,max-requests-5000 --duration 20
    ("worker recycling every 5000 requests (lazy-apps)", "max-requests-5000", DEFAULT),
    ("health probes, every 10 s once healthy (exec in both containers)", DEFAULT, NO_PROBES),
    ("TCP between the containers instead of the unix socket", "tcp", DEFAULT),
    ("Docker (containers, log driver, health checks) against native", DEFAULT, NATIVE),
)


def cpu_us(results: Results, key: str, cpus: int) -> float | None:
    """CPU microseconds per request: measured (the stack's and Docker's daemons') when
    the run has it, else the cores' time divided among the requests."""
    measured = results.cpu_us(key)
    if measured is not None:
        return measured
    rate = results.rate(key)
    return cpus * 1e6 / rate if rate else None


def cost_table(results: Results, cpus: int) -> str:
    rows = []
    for name, more, less in COSTS:
        a, b = cpu_us(results, more, cpus), cpu_us(results, less, cpus)
        if a is None or b is None:
            continue
        rows.append([name, f"{more} - {less}", number(a, 0), number(b, 0), number(a - b, 0)])
    costs = results.data.get("app_cost_us", {})
    note = ""
    if costs:
        note = (
            f"\n\nIn-process, without a server (bench/apps/app_cost.py in the app image), "
            f"Flask's GET / costs {costs.get('flask', 0):.0f} us and the raw WSGI callable's "
            f"{costs.get('raw', 0):.1f} us."
        )
    return (
        table(
            ["Cost", "configurations", "CPU us per request", "without", "difference"],
            rows,
            align="llrrr",
        )
        + note
    )


def native_table(results: Results) -> str:
    rows = []
    for key in (DEFAULT, "no-access-log", NATIVE):
        summary = results.summaries.get(key)
        if summary is None:
            continue
        rows.append(
            [
                results.label(key),
                rate_cell(summary),
                percent(ratio(summary.requests_per_second, results.rate(NATIVE))),
                number(summary.p50_ms, 1),
                number(summary.p99_ms, 1),
                results.errors(key),
            ]
        )
    return table(["", "req/s median (min-max)", "% of native", "p50 ms", "p99 ms", "errors"], rows)


def cold_table(results: Results) -> str:
    rows = []
    base = results.summaries.get(DEFAULT)
    keys = [key for key in results.in_section("main") if key in results.summaries]
    for key in [*keys, *results.in_section("cold")]:
        summary = results.summaries.get(key)
        if summary is None or summary.cold_start_s is None:
            continue
        rows.append(
            [
                results.label(key),
                number(summary.cold_start_s, 1),
                str(sum(1 for run in results.runs if run.config == key and run.cold_start_s)),
                times(ratio(summary.cold_start_s, base.cold_start_s if base else None)),
            ]
        )
    return table(["", "cold start s (median)", "runs", "against the default"], rows)


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
            f"health checks. {settings.get('rounds')} rounds; each round runs every configuration",
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
        ]
    )


def render_markdown(data: Mapping[str, Any], chart: str) -> str:
    """The whole report of a run, chart linked as `chart` (a relative path)."""
    results = Results(data)
    cpus = int(data.get("machine", {}).get("cpus", 2))
    parts = [
        "# flask-uwsgi benchmark",
        "",
        f"Measured {machine_line(data)}; `make bench` "
        f"(set `{data.get('settings', {}).get('set', '?')}`, "
        f"{number(data.get('elapsed_s', 0) / 60, 1)} minutes).",
        "",
        f"![requests per second and p99 latency of each configuration]({chart})",
        "",
        "## Goals",
        "",
        goals_table(results),
    ]
    sections = [
        ("main", lambda: main_table(results)),
        ("cost", lambda: cost_table(results, cpus)),
        ("sweep", lambda: sweep_table(results, cpus)),
        ("sweep-io", lambda: sweep_table(results, cpus, "sweep-io")),
        ("variant", lambda: variants_table(results)),
        ("native", lambda: native_table(results)),
        ("cold", lambda: cold_table(results)),
    ]
    for section, render in sections:
        if section == "cost" and (DEFAULT not in results.summaries or len(results.summaries) < 3):
            continue
        if section in ("sweep", "sweep-io") and not results.in_section(section):
            continue
        if section == "variant" and not results.in_section("variant"):
            continue
        if section == "native" and NATIVE not in results.summaries:
            continue
        if section == "cold" and not any(
            summary.cold_start_s is not None for summary in results.summaries.values()
        ):
            continue
        parts += ["", f"## {SECTIONS[section]}", "", render()]
    failures = data.get("failures", [])
    if failures:
        parts += ["", "## Failed", ""] + [f"- {failure}" for failure in failures]
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
