"""The issue's goals, each measured against a run's figures: met, missed, or not
measured in that run."""

from __future__ import annotations

from dataclasses import dataclass

from bench.configuration import GRANIAN_WORKERS, GUNICORN_WORKERS
from bench.gap_configs import GAP_PARTS
from bench.markdown import number, percent, table, times
from bench.page_configs import (
    BIG_HOST_PROCESSES,
    DEFAULT_NOTES,
    DEFAULT_PAGE,
    PAGES,
    big_host_key,
    default_page_key,
    page_key,
    pgbouncer_key,
)
from bench.page_tables import overload_errors, uwsgi_part_us
from bench.results import (
    DEFAULT,
    GRANIAN_ALONE,
    GRANIAN_NGINX,
    GUNICORN,
    NATIVE,
    NO_PROBES,
    RAW_CEILING,
    Results,
)
from bench.stats import ratio
from bench.sweeps import IO_DEFAULT, default_point
from hooks.plan import Plan

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
GOAL_PAGE_VS_PEERS = 1.0
GOAL_PAGE_VS_GUNICORN = 1.5
# The pages' peers, each against the default on the same page.
PAGE_PEERS = ("gunicorn-sync", "gunicorn-gthread", "granian-nginx", "granian-alone")
PAGE_NAMES = {"notes": "Database page (GET /notes)", "page": "Template page (GET /)"}


@dataclass(frozen=True)
class Goal:
    name: str
    target: str
    measured: str
    met: bool | None  # None: not measured in this run
    note: str = ""


def measured_goal(
    name: str, target: str, value: float | None, shown: str, met: bool, note: str
) -> Goal:
    """A goal as measured (`shown`, the note when missed), or not measured (value None)."""
    if value is None:
        return Goal(name, target, "not measured", None)
    return Goal(name, target, shown, met, "" if met else note)


def ratio_goal(name: str, target: float, value: float | None, note: str = "") -> Goal:
    """A ratio that should be at least `target`; when missed, by how much (and `note`)."""
    short = f"short by {target - (value or 0):.2f}x"
    return measured_goal(
        name,
        f">= {target:.1f}x",
        value,
        times(value),
        value is not None and value >= target,
        f"{short}; {note}" if note else short,
    )


def vs_gunicorn_goal(results: Results) -> Goal:
    return ratio_goal(
        f"Default shape against gunicorn sync ({GUNICORN_WORKERS} workers) behind the same nginx",
        GOAL_VS_GUNICORN,
        ratio(results.rate(DEFAULT), results.rate(GUNICORN)),
    )


def vs_granian_goal(results: Results, key: str, where: str) -> Goal:
    return ratio_goal(
        f"Default shape against granian (WSGI, {GRANIAN_WORKERS} workers) {where}",
        GOAL_VS_GRANIAN,
        ratio(results.rate(DEFAULT), results.rate(key)),
        f"CPU per request: {results.cpu_cell(DEFAULT)} us against granian's"
        f" {results.cpu_cell(key)} us",
    )


def sweep_goal(results: Results, section: str, default_key: str, kind: str) -> Goal:
    """The default's processes x threads against the best of a sweep."""
    sweep = {key: results.rate(key) for key in [default_key, *results.in_section(section)]}
    measured = {key: rate for key, rate in sweep.items() if rate is not None}
    best_key = max(measured, key=lambda key: measured[key]) if len(measured) > 1 else None
    of_best = ratio(measured.get(default_key), measured[best_key]) if best_key else None
    return measured_goal(
        f"Default shape against the best processes x threads, {kind}",
        f"within {100 * GOAL_SWEEP_WITHIN:.0f}%",
        of_best,
        "the default is the best"
        if best_key == default_key
        else f"{percent(of_best)} of the best ({results.label(best_key) if best_key else '-'})",
        of_best is not None and of_best >= 1 - GOAL_SWEEP_WITHIN,
        f"{100 * (1 - (of_best or 0)):.0f}% below the best",
    )


def probe_cost_goal(results: Results) -> Goal:
    without_probes = ratio(results.rate(DEFAULT), results.rate(NO_PROBES))
    probe_cost = None if without_probes is None else max(0.0, 1 - without_probes)
    return measured_goal(
        "Health probes' cost (the default against no probes during the run)",
        f"<= {percent(GOAL_PROBE_COST)} of req/s",
        probe_cost,
        percent(probe_cost),
        probe_cost is not None and probe_cost <= GOAL_PROBE_COST,
        f"{100 * ((probe_cost or 0) - GOAL_PROBE_COST):.0f} points over",
    )


def vs_native_goal(results: Results) -> Goal:
    vs_native = ratio(results.rate(DEFAULT), results.rate(NATIVE))
    return measured_goal(
        "Default shape in Docker against the same processes natively",
        f">= {percent(GOAL_VS_NATIVE)}",
        vs_native,
        percent(vs_native),
        vs_native is not None and vs_native >= GOAL_VS_NATIVE,
        f"short by {100 * (GOAL_VS_NATIVE - (vs_native or 0)):.0f} points",
    )


def flask_bound(results: Results, raw_rate: float | None) -> str:
    """The share of the raw-WSGI rate Flask could keep if nothing else changed: the
    stack's CPU time per request without Flask against Flask's own; "" unmeasured."""
    flask_us = results.data.get("app_cost_us", {}).get("flask")
    cpus = int(results.data.get("machine", {}).get("cpus", 2))
    if not (flask_us and raw_rate):
        return ""
    stack_us = cpus * 1e6 / raw_rate
    return (
        f"; Flask's own {flask_us:.0f} us per request (in-process) against the "
        f"{stack_us:.0f} us of CPU the stack spends on one without it: "
        f"{percent(stack_us / (stack_us + flask_us))} at best"
    )


def vs_raw_wsgi_goal(results: Results) -> Goal:
    raw_rate = results.rate(RAW_CEILING)
    vs_raw = ratio(results.rate(DEFAULT), raw_rate)
    return measured_goal(
        "Flask under the default shape against the raw-WSGI ceiling",
        f">= {percent(GOAL_VS_RAW_WSGI)}",
        vs_raw,
        percent(vs_raw),
        vs_raw is not None and vs_raw >= GOAL_VS_RAW_WSGI,
        f"short by {100 * (GOAL_VS_RAW_WSGI - (vs_raw or 0)):.0f} points"
        f"{flask_bound(results, raw_rate)}",
    )


def image_goal(results: Results) -> Goal:
    above = results.above_base("default", "app")
    return measured_goal(
        "App image above its base image",
        f"<= {GOAL_IMAGE_ABOVE_BASE_MB} MB",
        above,
        number(above, 1, " MB"),
        above is not None and above <= GOAL_IMAGE_ABOVE_BASE_MB,
        f"{(above or 0) - GOAL_IMAGE_ABOVE_BASE_MB:.1f} MB over",
    )


def cold_start_goal(results: Results) -> Goal:
    summary = results.summaries.get(DEFAULT)
    cold = summary.cold_start_s if summary else None
    return measured_goal(
        "Cold start of the default shape (`up` to healthy)",
        f"< {GOAL_COLD_START_S:.0f} s",
        cold,
        number(cold, 1, " s"),
        cold is not None and cold < GOAL_COLD_START_S,
        f"{(cold or 0) - GOAL_COLD_START_S:.1f} s over",
    )


def rebuild_goal(results: Results) -> Goal:
    rebuild = results.rebuild("default")
    return measured_goal(
        "Rebuild of the default app image after a change to main.py",
        f"< {GOAL_REBUILD_S:.0f} s",
        rebuild,
        number(rebuild, 1, " s"),
        rebuild is not None and rebuild < GOAL_REBUILD_S,
        f"{(rebuild or 0) - GOAL_REBUILD_S:.1f} s over",
    )


def errors_goal(results: Results) -> Goal:
    """No errors in the compared configurations; the variants include runs made to
    show errors."""
    compared = [
        run for run in results.runs if results.configs.get(run.config, {}).get("section")
        in ("main", "gap", "sweep", "sweep-io", "native", "notes", "page", "sweep-notes",
            "sweep-page")
    ]  # fmt: skip
    errors = sum(run.errors for run in compared)
    failing = sorted({run.config for run in compared if run.errors})
    return measured_goal(
        "Errors (socket errors, non-2xx answers) of the shapes, alternatives, sweeps, native, "
        "pages",
        "0",
        float(errors) if compared else None,
        f"{errors:,}",
        errors == 0,
        f"in {', '.join(failing)}",
    )


def page_vs_peers_goal(results: Results, page: str) -> Goal:
    """The default against the peer that comes closest to it on a page."""
    default_key = default_page_key(page)
    ratios = {
        peer: ratio(results.rate(default_key), results.rate(page_key(page, peer)))
        for peer in PAGE_PEERS
    }
    measured = {peer: value for peer, value in ratios.items() if value is not None}
    closest = min(measured, key=lambda peer: measured[peer]) if measured else None
    lowest = measured[closest] if closest else None
    closest_key = page_key(page, closest or "")
    note = (
        f"short by {GOAL_PAGE_VS_PEERS - (lowest or 0):.2f}x; CPU per request: "
        f"{results.cpu_cell(default_key)} us against {results.cpu_cell(closest_key)} us"
    )
    if bound := server_free_bound(results, page, closest_key):
        note += f"; {bound}"
    return measured_goal(
        f"{PAGE_NAMES[page]}: the default against every peer (gunicorn sync and gthread, "
        "granian behind nginx and alone)",
        f">= {GOAL_PAGE_VS_PEERS:.1f}x",
        None if len(measured) < len(PAGE_PEERS) else lowest,
        f"{times(lowest)} against the closest ({results.label(closest_key)})",
        lowest is not None and lowest >= GOAL_PAGE_VS_PEERS,
        note,
    )


def page_vs_gunicorn_goal(results: Results, page: str) -> Goal:
    gunicorn_key = page_key(page, "gunicorn-sync")
    return ratio_goal(
        f"{PAGE_NAMES[page]}: the default against gunicorn sync ({GUNICORN_WORKERS} workers)"
        " behind the same nginx",
        GOAL_PAGE_VS_GUNICORN,
        ratio(results.rate(default_page_key(page)), results.rate(gunicorn_key)),
        server_free_bound(results, page, gunicorn_key),
    )


def server_free_bound(results: Results, page: str, peer_key: str) -> str:
    """The most the default could do against a peer on a page if uWSGI's own part cost
    nothing, the rest (nginx, the app's own work, PostgreSQL) as measured: on CPUs the
    load keeps busy, its req/s grows as its CPU time per request shrinks; "" unmeasured."""
    default_key = default_page_key(page)
    rate, cpu_us = results.rate(default_key), results.cpu_us(default_key)
    uwsgi_us = uwsgi_part_us(results, page)
    if rate is None or cpu_us is None or uwsgi_us is None or not 0 < uwsgi_us < cpu_us:
        return ""
    bound = ratio(rate * cpu_us / (cpu_us - uwsgi_us), results.rate(peer_key))
    if bound is None:
        return ""
    return (
        f"if uWSGI's part ({number(uwsgi_us)} us of {number(cpu_us)}) cost nothing: "
        f"{times(bound)} at most"
    )


def big_host_goal(results: Results) -> Goal:
    """No failed request of the default on either page at processes=16 and 256
    connections (the peers at 16 workers are reported beside it, not counted)."""
    keys = [big_host_key(page) for page in PAGES if big_host_key(page) in results.summaries]
    errors = sum(run.errors for run in results.runs if run.config in keys)
    kinds: dict[str, int] = {}
    for key in keys:
        for kind, count in results.error_kinds(key).items():
            kinds[kind] = kinds.get(kind, 0) + count
    detail = ", ".join(f"{kind} {count:,}" for kind, count in kinds.items() if count)
    return measured_goal(
        "Failed requests on the pages with processes=16 (the bigger host) at 256 connections",
        "0",
        float(errors) if len(keys) == len(PAGES) else None,
        f"{errors:,}",
        errors == 0,
        detail,
    )


def hello_gap_goal(results: Results) -> Goal:
    """A report, not a target: the hello page's gap to granian alone, and the effect of
    the change tried against each part of it (bench/gap_configs.py)."""
    default = results.rate(DEFAULT)
    gap = ratio(default, results.rate(GRANIAN_ALONE))
    effects = {part: ratio(results.rate(key), default) for part, key in GAP_PARTS.items()}
    shown = ", ".join(f"{part} {times(effect)}" for part, effect in effects.items())
    return measured_goal(
        "Hello page: the gap to granian alone, and the change tried against each part of it"
        " (its req/s against the default's)",
        "each part measured",
        None if None in effects.values() else gap,
        f"{times(gap)} against granian alone; without {shown}",
        True,
        "",
    )


def overload_goal(results: Results) -> Goal:
    """Under overload every answer a 200 or a 503: nothing else, no socket error."""
    keys = [key for key in results.in_section("overload") if key in results.summaries]
    errors = sum(overload_errors(results, key) for key in keys)
    failing = [key for key in keys if overload_errors(results, key)]
    return measured_goal(
        f"Overload (the database page at {Plan.overload_factor}x the requests the stack serves"
        " at once, at the default's processes and at processes=16): answers neither a 200"
        " nor a 503",
        "0",
        float(errors) if keys else None,
        f"{errors:,}",
        errors == 0,
        f"in {', '.join(failing)}",
    )


def pgbouncer_goal(results: Results) -> Goal:
    """A report, not a target: the database page through PgBouncer against PostgreSQL
    sized for every pooled connection, at the default's processes and at the bigger
    host's (the connection budget's choice, bench/page_configs.py)."""
    pairs = {
        "the default's processes": (pgbouncer_key(default_point()[0]), DEFAULT_NOTES),
        f"processes={BIG_HOST_PROCESSES}": (
            pgbouncer_key(BIG_HOST_PROCESSES),
            big_host_key("notes"),
        ),
    }
    effects = {
        where: ratio(results.rate(key), results.rate(baseline))
        for where, (key, baseline) in pairs.items()
    }
    shown = ", ".join(f"{times(effect)} at {where}" for where, effect in effects.items())
    return measured_goal(
        "Database page through PgBouncer (transaction pooling, 20 server connections) against"
        " PostgreSQL sized for every pooled connection (its req/s against the sized one's)",
        "each measured",
        None if None in effects.values() else 1.0,
        shown,
        True,
        "",
    )


def goals(results: Results) -> list[Goal]:
    """The issue's goals, measured against this run's figures."""
    return [
        vs_gunicorn_goal(results),
        vs_granian_goal(results, GRANIAN_NGINX, "behind the same nginx"),
        vs_granian_goal(results, GRANIAN_ALONE, "alone"),
        hello_gap_goal(results),
        sweep_goal(results, "sweep", DEFAULT, "CPU-bound"),
        sweep_goal(results, "sweep-io", IO_DEFAULT, "I/O-bound"),
        probe_cost_goal(results),
        vs_native_goal(results),
        vs_raw_wsgi_goal(results),
        image_goal(results),
        cold_start_goal(results),
        rebuild_goal(results),
        errors_goal(results),
        *(page_vs_peers_goal(results, page) for page in PAGES),
        *(page_vs_gunicorn_goal(results, page) for page in PAGES),
        big_host_goal(results),
        overload_goal(results),
        pgbouncer_goal(results),
        sweep_goal(results, "sweep-notes", DEFAULT_NOTES, "database page (GET /notes)"),
        sweep_goal(results, "sweep-page", DEFAULT_PAGE, "template page (GET /)"),
    ]


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
