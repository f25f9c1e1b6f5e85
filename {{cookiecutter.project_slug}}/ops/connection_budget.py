{%- set plan = cookiecutter | plan -%}
"""The database connections the service may open at once, against what PostgreSQL
accepts: ops/migrate.py checks them before uWSGI starts and stops the start with one
line when they do not fit, instead of requests failing under load ("sorry, too many
clients already").

Each uWSGI worker pools DATABASE_POOL_SIZE connections ({{ plan.database_pool_size }} unless set), or one per
thread when it has fewer, none beyond (settings.py), so the service needs: APP_REPLICAS
app replicas at once (1; the swarm stack and Kubernetes set theirs), each with uWSGI's
processes x that pool, processes and threads as ops/uwsgi.ini sets them
(UWSGI_PROCESSES and UWSGI_THREADS win), and two for the migrations.
{%- if plan.metrics %}
Each replica's metrics exporter (ops/metrics.py) adds one.
{%- endif %}
{%- if plan.database_workers %}
The workers' jobs add two each: WORKER_REPLICAS workers of WORKER_CONCURRENCY jobs.
{%- endif %}
PostgreSQL gives the app's role max_connections less those it reserves for superusers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
{%- if plan.processes is none %}

from auto_processes import auto_processes
{%- endif %}
from sqlalchemy import Engine, text

MIGRATION_CONNECTIONS = 2
{%- if plan.metrics %}
# The metrics exporter beside uWSGI (ops/metrics.py) reads PostgreSQL's statistics on
# a connection of its own, opened for a scrape and closed after it.
EXPORTER_CONNECTIONS = 1
{%- endif %}
{%- if plan.database_workers %}
# Each job's process pools two connections (settings.py), as migrate.py needs.
JOB_CONNECTIONS = 2
{%- endif %}
ACCEPTED = text(
    "SELECT current_setting('max_connections')::int"
    " - current_setting('superuser_reserved_connections')::int"
    " - coalesce(current_setting('reserved_connections', true)::int, 0)"
)


def uwsgi_processes(environ: Mapping[str, str]) -> int:
    """uWSGI's workers, as ops/uwsgi.ini counts them."""
    if value := environ.get("UWSGI_PROCESSES"):
        return int(value)
{%- if plan.processes is none %}
    return auto_processes()
{%- else %}
    return {{ plan.processes }}
{%- endif %}


def uwsgi_threads(environ: Mapping[str, str]) -> int:
    return int(environ.get("UWSGI_THREADS") or {{ plan.threads }})


def worker_pool(environ: Mapping[str, str]) -> tuple[int, str]:
    """The connections a uWSGI worker pools, and what they are: DATABASE_POOL_SIZE, or
    one per thread when it has fewer (as settings.py pools them)."""
    threads = uwsgi_threads(environ)
    limit = int(environ.get("DATABASE_POOL_SIZE") or {{ plan.database_pool_size }})
    if limit < threads:
        return limit, f"{limit} pooled connections (DATABASE_POOL_SIZE)"
    return threads, f"{threads} threads"


def connections_needed(environ: Mapping[str, str]) -> tuple[int, str]:
    """The most connections the service opens at once, and how they add up."""
    replicas = int(environ.get("APP_REPLICAS") or 1)
    processes, (pool, pooled) = uwsgi_processes(environ), worker_pool(environ)
    needed = replicas * processes * pool
    parts = f"{replicas} app replica(s) x {processes} processes x {pooled}"
{%- if plan.metrics %}
    exporters = replicas * EXPORTER_CONNECTIONS
    needed += exporters
    parts += f" + {exporters} for metrics"
{%- endif %}
    needed += MIGRATION_CONNECTIONS
    parts += f" + {MIGRATION_CONNECTIONS} for migrations"
{%- if plan.database_workers %}
    workers = int(environ.get("WORKER_REPLICAS") or 1)
    concurrency = int(environ.get("WORKER_CONCURRENCY") or {{ plan.worker_concurrency }})
    jobs = workers * concurrency * JOB_CONNECTIONS
    needed += jobs
    parts += f" + {jobs} for {workers} worker(s) x {concurrency} jobs"
{%- endif %}
    return needed, parts


def connections_accepted(engine: Engine) -> int:
    """The connections PostgreSQL accepts from the app's role."""
    with engine.connect() as connection:
        return connection.scalar(ACCEPTED)


def budget_problem(engine: Engine, environ: Mapping[str, str] = os.environ) -> str | None:
    """One line saying what does not fit and what to change; None when all fits."""
    needed, parts = connections_needed(environ)
    accepted = connections_accepted(engine)
    if needed <= accepted:
        return None
    return (
        f"the database accepts {accepted} connections, the service may open {needed}"
        f" ({parts}): set UWSGI_PROCESSES, UWSGI_THREADS or DATABASE_POOL_SIZE lower, or"
        " raise the database's max_connections (README.md, Database connections)"
    )
