"""The real pages: the default shape baked with PostgreSQL, its database page
(GET /notes, the newest 50 notes as JSON) and its template page (GET /, a Jinja page of
the same query), each against gunicorn and granian serving the same bake with the same
pool rules (its settings.py); the same pages at processes=16, the bigger host's answer,
under 256 connections, with the peers at 16 workers on the database page; the database
page under overload; through PgBouncer instead of a PostgreSQL sized for every pooled
connection; and each page's processes x threads, and pools smaller than the threads."""

from __future__ import annotations

import shlex
from typing import Any

from bench.configuration import (
    APP_ROLE,
    BENCH_ROOT,
    COMPOSE_FILE,
    DATABASE,
    DEFAULT_PLAN,
    FULL,
    FULL_QUICK,
    GRANIAN,
    GRANIAN_WORKERS,
    GUNICORN_GTHREAD,
    GUNICORN_SYNC,
    GUNICORN_WORKERS,
    Config,
)
from bench.sweeps import default_point, threads_label
from bench.variants import NO_TAKEN_AT_STAMP, UWSGI_INI

# Each page: what wrk asks for, what it is.
PAGES = {
    "notes": ("/notes", "GET /notes"),
    "page": ("/", "GET /"),
}
# More notes than a page lists (50).
SEEDED_NOTES = 60
# The quick run's proof of the pages' path (the PostgreSQL bake, its notes seeded, the
# query rendered by Jinja through the default stack): the default on this page.
QUICK_PAGE = "page"
BIG_HOST_PROCESSES = 16
BIG_HOST_CONNECTIONS = 256
# PgBouncer (bench/images/pgbouncer): the clients it accepts, beyond every pooled
# connection of the bigger host's workers.
PGBOUNCER_MAX_CLIENTS = 1024
# processes x threads on the database page with a connection per thread, around the
# default: one slot per CPU, one thread per process, the previous default (4 x 16), and
# as many threads as wrk's 64 connections.
NOTES_SWEEP = ((2, 1), (4, 1), (8, 1), (4, 4), (8, 8), (4, 16), (2, 32))
# processes x threads with a pool smaller than the threads (DATABASE_POOL_SIZE), as the
# default's: the previous default's shape, and a bigger pool.
NOTES_POOL_SWEEP = ((4, 16, 2), (2, 32, 4))
# The template page: the database page's best points with a connection per thread and
# the previous default, and its shape with the default's pool.
PAGE_SWEEP = ((2, 1), (8, 8), (4, 16), (2, 32))
PAGE_POOL_SWEEP = ((4, 16, 2),)


def page_key(page: str, server: str) -> str:
    return f"{page}-{server}"


def default_page_key(page: str) -> str:
    return page_key(page, "nginx-uwsgi")


# The default shape on the database page: the sweep's default, and where the pages'
# in-process cost is measured (its app container).
DEFAULT_NOTES = default_page_key("notes")
DEFAULT_PAGE = default_page_key("page")


def page_fields(page: str) -> dict[str, Any]:
    """Config fields that send wrk to a page of a database with notes in it."""
    return {"path": PAGES[page][0], "seed_notes": SEEDED_NOTES}


def migrated_first(command: list[str]) -> list[str]:
    """A peer's command after the database is migrated to head, as the app image's own
    start does it (ops/migrate.py)."""
    return ["sh", "-c", f"python3 ops/migrate.py && exec {shlex.join(command)}"]


def peer_page(
    page: str,
    server: str,
    label: str,
    command: list[str],
    short: str,
    section: str = "",
    baseline: str = "",
    **kw: Any,
) -> Config:
    """gunicorn or granian serving the PostgreSQL bake's app on a page (in the page's
    section, against the default there, unless told otherwise)."""
    override = {"app": {"command": migrated_first(command)}}
    return Config(
        page_key(page, server), label, section or page, "peers-postgres", override=override,
        baseline=baseline or default_page_key(page), short=f"{PAGES[page][1]}: {short}",
        **page_fields(page), **kw,
    )  # fmt: skip


def page_configs(page: str) -> list[Config]:
    """The default shape on one page, then each peer on it."""
    processes, threads = default_point()
    return [
        Config(
            default_page_key(page),
            f"nginx-uwsgi (default): {processes} processes x {threads} threads, "
            f"a pool of {DEFAULT_PLAN.pool_size} connections each",
            page,
            "postgres",
            short=f"{PAGES[page][1]}: nginx-uwsgi (default)",
            sets=FULL_QUICK if page == QUICK_PAGE else FULL,
            **page_fields(page),
        ),
        peer_page(
            page, "gunicorn-sync",
            f"gunicorn sync, {GUNICORN_WORKERS} workers, behind the same nginx",
            GUNICORN_SYNC, short=f"gunicorn sync {GUNICORN_WORKERS}",
        ),
        peer_page(
            page, "gunicorn-gthread",
            f"gunicorn gthread, {GUNICORN_WORKERS} workers x 2 threads, behind the same nginx",
            GUNICORN_GTHREAD, short=f"gunicorn gthread {GUNICORN_WORKERS}x2",
        ),
        peer_page(
            page, "granian-nginx",
            f"granian (WSGI), {GRANIAN_WORKERS} workers, behind the same nginx",
            GRANIAN, short=f"granian {GRANIAN_WORKERS}, behind nginx",
        ),
        peer_page(
            page, "granian-alone",
            f"granian (WSGI), {GRANIAN_WORKERS} workers, alone (clients straight to it)",
            GRANIAN, short=f"granian {GRANIAN_WORKERS}, alone",
            front="app", front_port=8000, services=("app", "db"),
        ),
    ]  # fmt: skip


def big_host_key(page: str) -> str:
    return f"{page}-{BIG_HOST_PROCESSES}"


def with_workers(command: list[str], workers: int) -> list[str]:
    """A peer's command with another number of workers."""
    return [f"--workers={workers}" if part.startswith("--workers=") else part for part in command]


def big_host_configs() -> list[Config]:
    """Both pages at processes=16 (twice the workers `auto` gives a host of 8 CPUs), at
    256 connections: the errors the connection budget is there to prevent; then gunicorn
    sync and granian at as many workers on the database page (a pool of two connections
    each)."""
    threads = default_point()[1]
    defaults = [
        Config(
            big_host_key(page),
            f"nginx-uwsgi, {PAGES[page][1]}: processes={BIG_HOST_PROCESSES} x {threads} threads, "
            f"{BIG_HOST_CONNECTIONS} connections",
            "pages-16",
            "postgres",
            answers={"processes": str(BIG_HOST_PROCESSES)},
            varies=(UWSGI_INI,),
            connections=BIG_HOST_CONNECTIONS,
            baseline=default_page_key(page),
            short=f"{PAGES[page][1]}: {BIG_HOST_PROCESSES} processes, 256 connections",
            **page_fields(page),
        )
        for page in PAGES
    ]
    peers = [
        peer_page(
            "notes", f"{server}-{BIG_HOST_PROCESSES}",
            f"{name}, GET /notes: {BIG_HOST_PROCESSES} workers, behind the same nginx,"
            f" {BIG_HOST_CONNECTIONS} connections",
            with_workers(command, BIG_HOST_PROCESSES),
            short=f"{short} {BIG_HOST_PROCESSES}, 256 connections",
            section="pages-16", connections=BIG_HOST_CONNECTIONS,
            baseline=page_key("notes", server),
        )
        for server, name, command, short in (
            ("gunicorn-sync", "gunicorn sync", GUNICORN_SYNC, "gunicorn sync"),
            ("granian-nginx", "granian (WSGI)", GRANIAN, "granian behind nginx"),
        )
    ]  # fmt: skip
    app_clock = Config(
        f"{big_host_key('notes')}-app-clock",
        f"nginx-uwsgi, GET /notes: processes={BIG_HOST_PROCESSES} x {threads} threads,"
        f" {BIG_HOST_CONNECTIONS} connections, the wait for a thread counted until the app"
        " runs (no uWSGI stamp: the turn at the GIL and the CPUs counted too)",
        "pages-16",
        "postgres",
        answers={"processes": str(BIG_HOST_PROCESSES)},
        varies=(UWSGI_INI,),
        edits=(NO_TAKEN_AT_STAMP,),
        connections=BIG_HOST_CONNECTIONS,
        baseline=big_host_key("notes"),
        short=f"GET /notes: {BIG_HOST_PROCESSES} processes, wait counted until the app runs",
        **page_fields("notes"),
    )
    return [*defaults, *peers, app_clock]


def overload_key(processes: int) -> str:
    return f"overload-notes-{processes}"


def overload_configs() -> list[Config]:
    """The database page at plan.overload_factor x the requests the stack serves at once
    (processes x threads), at the default's processes and at the bigger host's, each
    answer counted by status: every one should be a 200 or a 503 (with Retry-After)."""
    default_processes, threads = default_point()
    configs = []
    for processes in (default_processes, BIG_HOST_PROCESSES):
        connections = DEFAULT_PLAN.overload_factor * processes * threads
        configs.append(
            Config(
                overload_key(processes),
                f"nginx-uwsgi, GET /notes: {processes} processes x {threads} threads,"
                f" {connections} connections ({DEFAULT_PLAN.overload_factor}x)",
                "overload",
                "postgres",
                answers={} if processes == default_processes else {"processes": str(processes)},
                varies=() if processes == default_processes else (UWSGI_INI,),
                connections=connections,
                count_statuses=True,
                # The quick run's proof of the overload's path: the answers counted by
                # status, the 200s read from nginx's log.
                sets=FULL_QUICK if processes == default_processes else FULL,
                baseline=default_page_key("notes"),
                short=f"GET /notes: {processes} processes, {connections} connections",
                **page_fields("notes"),
            )
        )
    return configs


def pgbouncer_key(processes: int) -> str:
    return f"notes-pgbouncer-{processes}"


def pgbouncer_override() -> dict[str, dict[str, Any]]:
    """PgBouncer beside the db service (bench/images/pgbouncer, built at `up`), logging
    in as the app's role, and the app's DATABASE_URL pointed at it; the password is the
    bake's own (its .env)."""
    password = "${POSTGRES_APP_PASSWORD}"
    return {
        "pgbouncer": {
            "build": {
                "context": str(BENCH_ROOT / "images/pgbouncer"),
                "args": {"PYTHON_IMAGE": "${PYTHON_IMAGE}"},
            },
            "environment": {
                "DATABASE": DATABASE,
                "DATABASE_HOST": "db",
                "DATABASE_USER": APP_ROLE,
                "DATABASE_PASSWORD": password,
                "MAX_CLIENTS": str(PGBOUNCER_MAX_CLIENTS),
            },
            "depends_on": {"db": {"condition": "service_healthy"}},
        },
        "app": {
            "environment": {
                "DATABASE_URL": f"postgresql://{APP_ROLE}:{password}@pgbouncer:6432/{DATABASE}"
            },
            "depends_on": {"pgbouncer": {"condition": "service_started"}},
        },
    }


def pgbouncer_configs() -> list[Config]:
    """The database page through PgBouncer (transaction pooling, its default pool of 20
    server connections), at the default's processes and connections and at the bigger
    host's: against the same with the app's pools connected to PostgreSQL itself, sized
    for every one of them (max_connections)."""
    default_processes, threads = default_point()
    configs = []
    for processes, baseline in (
        (default_processes, default_page_key("notes")),
        (BIG_HOST_PROCESSES, big_host_key("notes")),
    ):
        big = processes != default_processes
        connections = BIG_HOST_CONNECTIONS if big else 0
        configs.append(
            Config(
                pgbouncer_key(processes),
                f"nginx-uwsgi through PgBouncer, GET /notes: {processes} processes x"
                f" {threads} threads{f', {connections} connections' if big else ''}",
                "pgbouncer",
                "postgres",
                answers={"processes": str(processes)} if big else {},
                varies=(UWSGI_INI,) if big else (),
                override=pgbouncer_override(),
                connections=connections,
                baseline=baseline,
                short=f"GET /notes: {processes} processes, through PgBouncer",
                **page_fields("notes"),
            )
        )
    return configs


def is_default(processes: int, threads: int, pool: int) -> bool:
    """The default's own point (measured as the default, not in a sweep)."""
    return (processes, threads, pool) == (*default_point(), DEFAULT_PLAN.pool_size)


def pooled_shape(processes: int, threads: int, pool: int) -> dict[str, Any]:
    """Config fields of the PostgreSQL bake with processes x threads and each worker's
    pool (DATABASE_POOL_SIZE for the app; baked too, so the db service's max_connections
    holds the pools)."""
    answers = {"_database_pool_size": str(pool)}
    varies: tuple[str, ...] = (COMPOSE_FILE,)
    if (processes, threads) != default_point():
        answers |= {"processes": str(processes), "threads": str(threads)}
        varies = (UWSGI_INI,)
    return {
        "answers": answers,
        "varies": varies,
        "override": {"app": {"environment": {"DATABASE_POOL_SIZE": str(pool)}}},
    }


def sweep_configs(page: str, points: tuple[tuple[int, int], ...]) -> list[Config]:
    """The default shape with PostgreSQL baked with other processes x threads, a
    connection per thread (DATABASE_POOL_SIZE), on a page."""
    path = PAGES[page][0]
    return [
        Config(
            page_key(page, f"{processes}x{threads}"),
            f"{threads_label(processes, threads)}, a connection per thread, GET {path}",
            f"sweep-{page}",
            "postgres",
            **pooled_shape(processes, threads, threads),
            baseline=default_page_key(page),
            short=f"{path}: {processes} processes x {threads}",
            **page_fields(page),
        )
        for processes, threads in points
        if not is_default(processes, threads, threads)
    ]


def pool_configs(page: str, points: tuple[tuple[int, int, int], ...]) -> list[Config]:
    """A page with a pool smaller than the threads (DATABASE_POOL_SIZE): each worker's
    requests beyond its pool wait for a connection, with no more than the pool at the
    database (and in the app's own work after its query) at once."""
    path = PAGES[page][0]
    configs = []
    for processes, threads, pool in points:
        if is_default(processes, threads, pool):
            continue
        connections = f"{pool} connection{'s' if pool > 1 else ''}"
        configs.append(
            Config(
                page_key(page, f"{processes}x{threads}-pool-{pool}"),
                f"{threads_label(processes, threads)}, a pool of {connections} each, GET {path}",
                f"sweep-{page}",
                "postgres",
                **pooled_shape(processes, threads, pool),
                baseline=default_page_key(page),
                short=f"{path}: {processes} processes x {threads}, pool {pool}",
                **page_fields(page),
            )
        )
    return configs


def real_page_configs() -> list[Config]:
    """Every configuration of the real pages, in report order."""
    return [
        *page_configs("notes"),
        *page_configs("page"),
        *big_host_configs(),
        *overload_configs(),
        *pgbouncer_configs(),
        *sweep_configs("notes", NOTES_SWEEP),
        *pool_configs("notes", NOTES_POOL_SWEEP),
        *sweep_configs("page", PAGE_SWEEP),
        *pool_configs("page", PAGE_POOL_SWEEP),
    ]
