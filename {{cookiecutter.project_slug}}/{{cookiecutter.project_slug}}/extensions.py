{%- set plan = cookiecutter | plan -%}
{%- if plan.database == "postgres" -%}
"""The app's Flask extensions, made here and bound to the app in create_app(): its
database (Flask-SQLAlchemy) and migrations (Flask-Migrate); how it connects to
PostgreSQL, and its pool opened at a worker's start."""
{%- else -%}
"""The app's Flask extensions, made here and bound to the app in create_app(): its
database (Flask-SQLAlchemy) and migrations (Flask-Migrate)."""
{%- endif %}

from __future__ import annotations
{% if plan.database == "postgres" %}
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import ConnectionPoolEntry
{%- else %}
from pathlib import Path

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
{%- endif %}

db = SQLAlchemy()
# The migrations ship inside the package, with the code they belong to.
migrate = Migrate(directory=str(Path(__file__).with_name("migrations")))
{%- if plan.database == "postgres" %}


@event.listens_for(Engine, "do_connect")
def connect(
    dialect: Dialect, record: ConnectionPoolEntry, cargs: tuple[Any, ...], cparams: dict[str, Any]
) -> Any:
    """Connect as SQLAlchemy would, closing at once an attempt that ran out of
    connect_timeout. psycopg keeps such an attempt's socket open in a reference cycle
    until the garbage collector runs, and PostgreSQL holds one of its max_connections
    for it meanwhile: under a burst of slow connects, enough to refuse everyone.
    Ref: https://docs.sqlalchemy.org/en/20/core/engines.html#fully-replacing-the-dbapi-connect-function
    """
    try:
        return dialect.loaded_dbapi.connect(*cargs, **cparams)
    except psycopg.errors.ConnectionTimeout as error:
        # The traceback holds psycopg's frames, and they the attempt's socket.
        raise error.with_traceback(None) from None


def open_pool(app: Flask) -> None:
    """Open the pool's connections now, before the worker serves a request; a database
    not reachable yet is left to the first requests, with one log line."""
    size = app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_size"]
    with app.app_context(), ExitStack() as checked_out:
        try:
            for _ in range(size):
                checked_out.enter_context(db.engine.connect())
        except OperationalError as error:
            reason = str(error.orig).strip()
            app.logger.warning("the pool opens with the first requests: %s", reason)
{%- endif %}
