"""The real pages' tables: each page against the peers, the pages at processes=16, the
database page through PgBouncer, and where the default's time goes on them (its
containers, and the app's own work by package, in-process)."""

from __future__ import annotations

from typing import Any

from bench.markdown import number, rate_cell, table, times
from bench.page_configs import PAGES, default_page_key, page_key
from bench.results import Results
from bench.stats import ratio

# The stack's containers, in the order a request meets them.
SERVICES = (("nginx", "nginx"), ("app", "app"), ("db", "PostgreSQL"))
# The app's own work in-process, by package (bench/apps/app_cost.py), in this order.
PACKAGES = (
    "Flask and Werkzeug",
    "SQLAlchemy",
    "psycopg (the driver)",
    "Jinja",
    "the app's own code (its package, service.py)",
    "other libraries",
    "Python itself (no library called it)",
)


def service_cpu_cell(
    results: Results, key: str, services: tuple[tuple[str, str], ...] = SERVICES
) -> str:
    """CPU microseconds per request in each container: nginx / app / PostgreSQL."""
    values = [results.median_note(key, f"cpu_us_service_{service}") for service, _ in services]
    if all(value is None for value in values):
        return "-"
    return " / ".join(number(value) for value in values)


def page_table(results: Results, page: str) -> str:
    """One page: the default shape and each peer, against the default and gunicorn sync."""
    default = results.rate(default_page_key(page))
    gunicorn = results.rate(page_key(page, "gunicorn-sync"))
    rows = []
    for key in results.in_section(page):
        summary = results.summaries.get(key)
        rate = summary.requests_per_second if summary else None
        rows.append(
            [
                results.label(key),
                rate_cell(summary),
                times(ratio(default, rate)),
                times(ratio(rate, gunicorn)),
                number(summary.p50_ms if summary else None, 1),
                number(summary.p99_ms if summary else None, 1),
                results.errors(key),
                results.cpu_cell(key),
                service_cpu_cell(results, key),
            ]
        )
    return table(
        [
            "Server",
            "req/s median (min-max)",
            "the default against it",
            "x gunicorn sync",
            "p50 ms",
            "p99 ms",
            "errors",
            "CPU us/request (stack + Docker)",
            "of which nginx / app / PostgreSQL",
        ],
        rows,
    )


def against_baseline_cells(results: Results, key: str) -> list[str]:
    """A configuration's label, rate, rate against its baseline, p50, p99 and errors."""
    summary = results.summaries.get(key)
    baseline = results.configs[key].get("baseline", "")
    return [
        results.label(key),
        rate_cell(summary),
        f"{times(ratio(results.rate(key), results.rate(baseline)))} of {baseline}",
        number(summary.p50_ms if summary else None, 1),
        number(summary.p99_ms if summary else None, 1),
        results.errors(key),
    ]


def big_host_table(results: Results) -> str:
    """The pages at processes=16 and 256 connections: the errors, by kind."""
    rows = []
    for key in results.in_section("pages-16"):
        summary = results.summaries.get(key)
        kinds = results.error_kinds(key)
        socket_errors = sum(count for kind, count in kinds.items() if kind != "non_2xx")
        rows.append(
            [
                *against_baseline_cells(results, key),
                number(socket_errors) if summary else "-",
                number(kinds.get("non_2xx", 0)) if summary else "-",
                results.cpu_cell(key),
            ]
        )
    return table(
        [
            "Configuration",
            "req/s median (min-max)",
            "against the default's processes",
            "p50 ms",
            "p99 ms",
            "errors",
            "socket errors",
            "non-2xx",
            "CPU us/request (stack + Docker)",
        ],
        rows,
    )


def pgbouncer_table(results: Results) -> str:
    """The database page through PgBouncer, against the same stack without it."""
    services = (*SERVICES, ("pgbouncer", "PgBouncer"))
    rows = []
    for key in results.in_section("pgbouncer"):
        rows.append(
            [
                *against_baseline_cells(results, key),
                results.cpu_cell(key),
                service_cpu_cell(results, key, services),
            ]
        )
    return table(
        [
            "Configuration",
            "req/s median (min-max)",
            "against PostgreSQL sized for every connection",
            "p50 ms",
            "p99 ms",
            "errors",
            "CPU us/request (stack + Docker)",
            "of which " + " / ".join(name for _, name in services),
        ],
        rows,
    )


# Under overload, the answers a client may get: served, or shed (503, Retry-After).
OVERLOAD_ANSWERS = (200, 503)


def overload_errors(results: Results, key: str) -> int:
    """Requests of an overload run that ended in neither a 200 nor a 503: socket errors
    (connect, read, write, timeout) and any other status."""
    socket_errors = sum(
        count for kind, count in results.error_kinds(key).items() if kind != "non_2xx"
    )
    other = sum(
        count for status, count in results.statuses(key).items() if status not in OVERLOAD_ANSWERS
    )
    return socket_errors + other


def overload_table(results: Results) -> str:
    """The database page under overload: the answers by status, what was neither, and
    the 200s' own p99 from nginx's access log (wrk's mixes the fast 503s in)."""
    rows = []
    for key in results.in_section("overload"):
        summary = results.summaries.get(key)
        statuses = results.statuses(key)
        others = {s: count for s, count in statuses.items() if s not in OVERLOAD_ANSWERS}
        rows.append(
            [
                results.label(key),
                rate_cell(summary),
                number(summary.p50_ms if summary else None, 1),
                number(summary.p99_ms if summary else None, 1),
                number(results.median_note(key, "p99_ms_200"), 1),
                number(statuses.get(200, 0)) if summary else "-",
                number(statuses.get(503, 0)) if summary else "-",
                ", ".join(f"{status}: {count:,}" for status, count in sorted(others.items()))
                or "0",
                number(overload_errors(results, key)) if summary else "-",
                results.cpu_cell(key),
            ]
        )
    return table(
        [
            "Configuration",
            "req/s median (min-max)",
            "p50 ms (every answer)",
            "p99 ms (every answer)",
            "p99 ms (the 200s, nginx's request_time)",
            "200",
            "503",
            "other statuses",
            "neither 200 nor 503 (socket errors included)",
            "CPU us/request (stack + Docker)",
        ],
        rows,
    )


def in_process_cost(results: Results, page: str) -> dict[str, Any]:
    """The page's own work in-process (bench/apps/app_cost.py): its CPU time per
    request, `cpu_us`, and that time by package, `parts`; empty if not measured."""
    return dict(results.data.get("page_cost_us", {}).get(PAGES[page][0], {}))


def uwsgi_part_us(results: Results, page: str) -> float | None:
    """The default's app container's CPU time per request on a page less the app's own
    work in-process: uWSGI's part (its threads, the GIL, the request and the answer)."""
    app = results.median_note(default_page_key(page), "cpu_us_service_app")
    in_process = in_process_cost(results, page)
    return app - in_process["cpu_us"] if app is not None and in_process else None


def cost_rows(results: Results, page: str) -> dict[str, float | None]:
    """Where the default's CPU time per request goes on a page: its containers, the
    app's own work in-process by package, and the app container's rest (uWSGI)."""
    key = default_page_key(page)
    parts = in_process_cost(results, page).get("parts", {})
    return {
        "nginx (its container)": results.median_note(key, "cpu_us_service_nginx"),
        "uWSGI: the app container less the app's own work in-process (its threads, the GIL, "
        "the request and the answer through the socket)": uwsgi_part_us(results, page),
        **{f"the app in-process: {name}": parts.get(name) for name in PACKAGES},
        "PostgreSQL (its container)": results.median_note(key, "cpu_us_service_db"),
        "Docker's daemons (log driver, health checks)": results.median_note(key, "cpu_us_docker"),
        "all of it (the stack and Docker)": results.cpu_us(key),
    }


def pages_cost_table(results: Results) -> str:
    """The default's CPU time per request on each page, part by part."""
    by_page = {page: cost_rows(results, page) for page in PAGES}
    names = list(next(iter(by_page.values())))
    rows = [[name, *(number(by_page[page][name]) for page in PAGES)] for name in names]
    note = (
        "\n\nThe containers' CPU time is measured under the load, per request (the cgroups'"
        " CPU time over wrk's requests); the app's own work in-process is measured apart in"
        " the default's app container before the load (bench/apps/app_cost.py --pages: one"
        " request at a time, the process's CPU clock; cProfile divides it among the"
        " packages, time in the standard library and builtins going to the package that"
        " called them; its own cost per call weighs most on packages of many small calls)."
    )
    header = ["Part", *(f"{PAGES[page][1]}: CPU us per request" for page in PAGES)]
    return table(header, rows, align="l" + "r" * len(PAGES)) + note
