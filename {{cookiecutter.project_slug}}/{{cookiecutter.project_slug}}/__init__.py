{%- set plan = cookiecutter | plan -%}
"""The Flask application: `create_app()` builds it (`flask --app {{ cookiecutter.project_slug }}`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
{% if plan.sql %}
from flask import Flask, current_app, request
{%- if plan.database == "postgres" %}
from sqlalchemy.exc import OperationalError
{%- endif %}
from sqlalchemy.exc import TimeoutError as PoolTimeout

from . import {{ "jobs, " if plan.queue }}notes, pages
from .extensions import db, migrate{{ ", open_pool" if plan.database == "postgres" }}
{%- else %}
from flask import Flask

from . import {{ "jobs, " if plan.queue }}pages
{%- endif %}


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; `config` overrides settings (the tests use it)."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object("{{ cookiecutter.project_slug }}.settings")
    app.config.update(config or {})
    Path(app.instance_path).mkdir(exist_ok=True)
    register_extensions(app)
    register_blueprints(app)
{%- if plan.sql %}
    register_errorhandlers(app)
{%- endif %}
    return app


def register_extensions(app: Flask) -> None:
{%- if plan.sql %}
    db.init_app(app)
    migrate.init_app(app, db)
{%- endif %}
{%- if plan.database == "postgres" %}
    if app.config["OPEN_POOL_AT_START"]:
        open_pool(app)
{%- endif %}
{%- if plan.worker == "celery" %}
    jobs.celery_init_app(app)
{%- endif %}
{%- if not plan.sql and plan.worker != "celery" %}
    """None yet: Flask extensions are bound to the app here (extension.init_app(app))."""
{%- endif %}


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(pages.blueprint)
{%- if plan.sql %}
    app.register_blueprint(notes.blueprint)
{%- endif %}
{%- if plan.queue %}
    app.register_blueprint(jobs.blueprint)
{%- endif %}

{%- if plan.sql %}


def register_errorhandlers(app: Flask) -> None:
    app.register_error_handler(PoolTimeout, database_busy)
{%- if plan.database == "postgres" %}
    app.register_error_handler(OperationalError, database_unavailable)
{%- endif %}


def database_busy(error: PoolTimeout) -> tuple[dict[str, str], int, dict[str, str]]:
    """No pooled connection came free in time (every one busy with a slow request): a
    503 asking to come back shortly, logged in one line, not a traceback."""
    config = current_app.config
    current_app.logger.warning(
        "503 for %s %s: no database connection free within %s s",
        request.method,
        request.path,
        config["POOL_TIMEOUT_S"],
    )
    return busy()
{%- if plan.database == "postgres" %}


def database_unavailable(error: OperationalError) -> tuple[dict[str, str], int, dict[str, str]]:
    """PostgreSQL refused or dropped the connection (too many clients, restarting,
    down), or could not run the query for now (a deadlock, a lock or statement timeout:
    psycopg's OperationalError, errors of the database's operation rather than of the
    query): a 503 asking to come back shortly, logged in one line with the driver's
    reason, not a traceback."""
    reason = str(error.orig).strip().partition("\n")[0] or type(error.orig).__name__
    current_app.logger.warning(
        "503 for %s %s: the database is unavailable: %s", request.method, request.path, reason
    )
    return busy()
{%- endif %}


def busy() -> tuple[dict[str, str], int, dict[str, str]]:
    """A 503 that tells the client when to try again (RFC 9110, Retry-After)."""
    retry_after = str(current_app.config["RETRY_AFTER_S"])
    return {"error": "busy: try again shortly"}, 503, {"Retry-After": retry_after}
{%- endif %}
