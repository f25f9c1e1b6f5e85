{%- set plan = cookiecutter | plan -%}
"""The app's settings (`app.config`). What differs between deployments comes from the
environment: .env, or a secret's file where NAME_FILE names one (swarm, Kubernetes)."""

from __future__ import annotations

import os
from pathlib import Path


def from_environment(name: str) -> str | None:
    """NAME from the environment, or read from the file NAME_FILE names."""
    if path := os.environ.get(f"{name}_FILE"):
        return Path(path).read_text().strip()
    return os.environ.get(name) or None


PROJECT_NAME = {{ cookiecutter.project_name | tojson }}
DESCRIPTION = {{ cookiecutter.description | tojson }}
# Signs the session cookie: a long random value (.env has one).
SECRET_KEY = from_environment("SECRET_KEY")
# The largest request body, as {{ "nginx's client_max_body_size" if plan.nginx else "uWSGI's" }}: a bigger one gets a 413.
MAX_CONTENT_LENGTH = {{ plan.max_body_bytes }}
{%- if plan.sql %}
# Where the app keeps its data: Flask's instance folder (a volume in compose.yaml).
INSTANCE_PATH = Path(__file__).resolve().parent.parent / "instance"


def database_url() -> str:
    """DATABASE_URL (or the file DATABASE_URL_FILE names); unset, an SQLite file in the
    instance folder."""
    url = from_environment("DATABASE_URL")
    if not url:
        return f"sqlite:///{INSTANCE_PATH / '{{ cookiecutter.project_slug }}.sqlite3'}"
    # postgres:// and postgresql:// (as hosting providers write them) mean psycopg 3 here.
    scheme, _, rest = url.partition("://")
    if scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    return url


def uwsgi_threads() -> int | None:
    """The threads of this uWSGI worker; None outside uWSGI (ops/migrate.py, flask
    commands, jobs)."""
    try:
        import uwsgi  # only inside uWSGI's workers
    except ImportError:
        return None
    return uwsgi.cores


def worker_pool_limit() -> int:
    """DATABASE_POOL_SIZE: the most connections a uWSGI worker pools."""
    value = from_environment("DATABASE_POOL_SIZE") or "{{ plan.database_pool_size }}"
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"DATABASE_POOL_SIZE={value!r}: a number of connections, 1 or more")
    return int(value)


def pool_size() -> int:
    """The connections a process pools: under uWSGI, DATABASE_POOL_SIZE for its worker
    (the rest of the worker's requests wait for one), or one per thread when it has
    fewer; elsewhere two, as migrate.py holds its lock on one and migrates on the other."""
    limit = worker_pool_limit()  # checked in every process: a wrong value stops the start
    threads = uwsgi_threads()
    if threads is None:
        return 2
    return min(threads, limit)


SQLALCHEMY_DATABASE_URI = database_url()
# A request waits this long for a pooled connection, then gets a 503 with Retry-After
# (create_app's error handler) instead of holding its thread.
POOL_TIMEOUT_S = int(os.environ.get("POOL_TIMEOUT_S", "{{ plan.pool_timeout_s }}"))
RETRY_AFTER_S = {{ plan.retry_after_s }}
SQLALCHEMY_ENGINE_OPTIONS = {
    # Check a pooled connection before use: the database may have restarted since.
    "pool_pre_ping": True,
    # DATABASE_POOL_SIZE (or one per thread, when fewer) and none beyond, so processes x
    # the pool bound what the service opens: the database accepts that many (README:
    # "Database connections").
    "pool_size": pool_size(),
    "max_overflow": 0,
    "pool_timeout": POOL_TIMEOUT_S,
}
{%- if plan.database == "postgres" %}
# Each uWSGI worker opens its pool as it loads the app (extensions.open_pool), so the
# first requests after a start find their connections open: a burst of requests
# opening them all at once on a busy host waits seconds for each.
OPEN_POOL_AT_START = uwsgi_threads() is not None
# A new connection to a database that does not answer gives up after this, and the
# request gets its 503, rather than after psycopg's default of over two minutes: long
# enough for a burst of new connections on a busy host, and within uWSGI's harakiri.
# Ref: https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNECT-CONNECT-TIMEOUT
CONNECT_TIMEOUT_S = int(os.environ.get("CONNECT_TIMEOUT_S", "{{ plan.connect_timeout_s }}"))
if SQLALCHEMY_DATABASE_URI.startswith("postgresql"):
    SQLALCHEMY_ENGINE_OPTIONS["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
{%- endif %}
{%- endif %}
{%- if plan.queue %}
# The queue's Redis (compose sets it: the redis service, with its password), or the
# file REDIS_URL_FILE names (a swarm secret).
REDIS_URL = from_environment("REDIS_URL") or "redis://localhost:{{ plan.redis_port }}/0"
# The longest a job may run; a worker asked to stop waits for it.
JOB_TIMEOUT_S = int(os.environ.get("JOB_TIMEOUT_S", "{{ plan.job_timeout_s }}"))
{%- endif %}
