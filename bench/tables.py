"""The report's tables after the goals, one per section: the shapes and alternatives,
where the time goes, the sweeps, the variants, native, cold start, background jobs."""

from __future__ import annotations

from bench.configuration import DEFAULT_PLAN
from bench.markdown import number, percent, rate_cell, table, times
from bench.page_configs import DEFAULT_NOTES, DEFAULT_PAGE
from bench.results import (
    DEFAULT,
    GRANIAN_ALONE,
    GUNICORN,
    MB,
    NATIVE,
    NGINX_CEILING,
    NO_PROBES,
    RAW_CEILING,
    Results,
)
from bench.stats import median, ratio
from bench.sweeps import IO_DEFAULT


def image_cell(results: Results, build: str, service: str) -> str:
    size = results.image_size(build, service)
    if size is None:
        return "-"
    above = results.above_base(build, service)
    return f"{size / MB:.0f} (+{above:.0f})" if above is not None else f"{size / MB:.0f}"


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


# Each sweep's default: the configuration its points are set against.
SWEEP_DEFAULTS = {
    "sweep": DEFAULT,
    "sweep-io": IO_DEFAULT,
    "sweep-notes": DEFAULT_NOTES,
    "sweep-page": DEFAULT_PAGE,
}


def sweep_table(results: Results, cpus: int, section: str = "sweep") -> str:
    default_key = SWEEP_DEFAULTS[section]
    keys = [default_key, *(key for key in results.in_section(section) if key != default_key)]
    rates = {key: results.rate(key) for key in keys}
    best = max((rate for rate in rates.values() if rate is not None), default=None)
    rows = []
    for key in keys:
        summary = results.summaries.get(key)
        label = (
            f"{DEFAULT_PLAN.auto_processes(cpus)} processes x {DEFAULT_PLAN.threads}"
            " threads: auto (default)"
            if key == default_key
            else results.label(key).split(", GET /")[0]
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


def gap_table(results: Results) -> str:
    """The default, each change against a part of its gap to granian alone, granian alone."""
    default_rate, granian_rate = results.rate(DEFAULT), results.rate(GRANIAN_ALONE)
    default_cpu = results.cpu_us(DEFAULT)
    rows = []
    for key in [DEFAULT, *results.in_section("gap"), GRANIAN_ALONE]:
        summary = results.summaries.get(key)
        rate, cpu = results.rate(key), results.cpu_us(key)
        saved = default_cpu - cpu if default_cpu is not None and cpu is not None else None
        rows.append(
            [
                results.label(key),
                rate_cell(summary),
                times(ratio(rate, default_rate)),
                times(ratio(rate, granian_rate)),
                number(summary.p99_ms if summary else None, 1),
                results.errors(key),
                results.cpu_cell(key),
                "-" if key == DEFAULT else number(saved),
            ]
        )
    return table(
        [
            "Configuration",
            "req/s median (min-max)",
            "against the default",
            "against granian alone",
            "p99 ms",
            "errors",
            "CPU us/request (stack + Docker)",
            "CPU us/request saved against the default",
        ],
        rows,
    )


# Where the time goes: the CPU time per request of one configuration against another.
COSTS = (
    ("Flask: the app's own work", DEFAULT, RAW_CEILING),
    ("nginx's access log, through Docker's json-file log driver", DEFAULT, "no-access-log"),
    ("... more with it written line by line (unbuffered)", "unbuffered-log", DEFAULT),
    ("uWSGI's request log too, through supervisord", "uwsgi-log", DEFAULT),
    ("health probes, every 10 s once healthy (exec in both containers)", DEFAULT, NO_PROBES),
    ("TCP between the containers instead of the unix socket", "tcp", DEFAULT),
    ("Docker (containers, log driver, health checks) against native", DEFAULT, NATIVE),
    ("GET /notes instead of the hello page: a query of 50 notes, as JSON", DEFAULT_NOTES, DEFAULT),
    ("GET /: the same notes in a Jinja page instead of JSON", DEFAULT_PAGE, DEFAULT_NOTES),
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


def jobs_row(results: Results, key: str, default_cold: float | None) -> list[str]:
    """A worker's stack: its jobs over the rounds (counts summed, latencies the medians
    of the rounds'), its cold start against the default's."""
    runs = results.jobs(key)
    summary = results.summaries.get(key)
    cold = summary.cold_start_s if summary else None
    finished, posted = (sum(found[name] for found in runs) for name in ("finished", "posted"))
    lost = sum(found["lost"] for found in runs)
    # The last status read of the lost jobs, over the rounds.
    statuses: dict[str, int] = {}
    for found in runs:
        for status, count in found["lost_statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    detail = ", ".join(f"{status} {count}" for status, count in sorted(statuses.items()))

    def middle(name: str) -> float | None:
        return median(found[name] for found in runs if found[name] is not None)

    return [
        results.label(key),
        f"{finished:,} / {posted:,}",
        f"**{lost:,}** ({detail})" if lost else "0",
        number(middle("post_p50_ms"), 1),
        number(middle("p50_ms"), 1),
        number(middle("p95_ms"), 1),
        number(cold, 1),
        times(ratio(cold, default_cold)),
    ]


def jobs_table(results: Results) -> str:
    base = results.summaries.get(DEFAULT)
    default_cold = base.cold_start_s if base else None
    rows = [jobs_row(results, key, default_cold) for key in results.in_section("jobs")]
    if default_cold is not None:
        rows.append(
            [f"(for reference) {results.label(DEFAULT)}", "-", "-", "-", "-", "-",
             number(default_cold, 1), "1.00x"]
        )  # fmt: skip
    return table(
        [
            "Stack",
            "jobs finished / posted",
            "lost",
            "POST /jobs ms (p50)",
            "202 to finished ms, p50",
            "p95",
            "cold start s (median)",
            "cold start against the default",
        ],
        rows,
    )
