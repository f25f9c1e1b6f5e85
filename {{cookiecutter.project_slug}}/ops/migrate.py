{%- set plan = cookiecutter | plan -%}
"""Bring the database to the newest migration, then exit: the image runs this before
supervisord starts uWSGI (Dockerfile CMD), so no worker serves an older schema.

Each replica runs it on start, one at a time, under
{{ "a PostgreSQL advisory lock (pg_advisory_lock)" if plan.database == "postgres" else "a lock (flock) on a file beside the SQLite database" }}:
the others wait, then find the database at head. A failure exits non-zero, and
the container with it (docker's restart policy, swarm or Kubernetes try again).
{%- if plan.database == "postgres" %}
First it checks that the connections the service may open fit what the database
accepts (ops/connection_budget.py), and stops with one line when they do not.
{%- endif %}
"""

from __future__ import annotations

import contextlib
{%- if plan.database == "sqlite" %}
import fcntl
{%- endif %}
import os
import sys
import time
from collections.abc import Iterator
{%- if plan.database == "sqlite" %}
from pathlib import Path
{%- endif %}

from alembic.migration import MigrationContext
{%- if plan.database == "postgres" %}
from connection_budget import budget_problem
{%- endif %}
from flask import Flask
from flask_migrate import upgrade
{%- if plan.database == "postgres" %}
from sqlalchemy import text

# The advisory lock's key: any number the app's other code does not lock on (from "migrate").
LOCK_KEY = 0x6D696772617465
{%- endif %}


def log(message: str) -> None:
    print(f"migrate: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def migration_lock(app: Flask) -> Iterator[None]:
    """Hold the lock while migrating: one replica at a time, the others wait here."""
    engine = app.extensions["sqlalchemy"].engine
{%- if plan.database == "postgres" %}
    # A session lock, on a connection of its own outside any transaction; unlocked
    # explicitly, since closing the connection only returns it to the pool, still locked.
    # Ref: https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
{%- else %}
    # Beside the database: every replica that shares the database shares the lock, which
    # closing the file releases.
    path = Path(engine.url.database or app.instance_path).with_name("migrate.lock")
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
{%- endif %}


def current_revision(app: Flask) -> str | None:
    with app.extensions["sqlalchemy"].engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def main() -> int:
    started = time.monotonic()
    # The app uWSGI serves, with the service's settings (main.py), so the same database.
    from main import app
{%- if plan.database == "postgres" %}

    # Before uWSGI starts: a service that may open more connections than the database
    # accepts stops here, in one line, instead of failing requests under load.
    if "sqlalchemy" in app.extensions:
        with app.app_context():
            engine = app.extensions["sqlalchemy"].engine
            problem = budget_problem(engine) if engine.dialect.name == "postgresql" else None
        if problem:
            log(problem)
            return 1
{%- endif %}

    if "migrate" not in app.extensions:
        log(f"{app.name} has no Flask-Migrate: nothing to migrate")
        return 0
    with app.app_context():
        try:
            log("waiting for the lock (replicas migrate one at a time)")
            with migration_lock(app):
                log("got the lock")
                before = current_revision(app)
                upgrade()
                after = current_revision(app)
        except Exception as error:
            log(f"failed: {error!r}")
            return 1
    if before != after:
        log(f"upgraded from {before or 'an empty database'} to {after}")
    log(f"at head {after} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    # main.py and the package are imported from the project folder, this file's parent.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
