{%- set plan = cookiecutter | plan -%}
"""The Flask application: `create_app()` builds it (`flask --app {{ cookiecutter.project_slug }}`)."""

from __future__ import annotations

from collections.abc import Mapping
{%- if plan.sql %}
from pathlib import Path
{%- endif %}
from typing import Any

from flask import Flask
{% if plan.sql %}
from . import {{ "jobs, " if plan.queue }}notes, pages
from .models import db, migrate
{%- else %}
from . import {{ "jobs, " if plan.queue }}pages
{%- endif %}


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; `config` overrides settings (the tests use it)."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object("{{ cookiecutter.project_slug }}.settings")
    app.config.update(config or {})
    app.register_blueprint(pages.blueprint)
{%- if plan.sql %}
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        # No DATABASE_URL: an SQLite file in the instance folder (a volume in compose.yaml).
        Path(app.instance_path).mkdir(exist_ok=True)
        database = Path(app.instance_path) / "{{ cookiecutter.project_slug }}.sqlite3"
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{database}"
    db.init_app(app)
    migrate.init_app(app, db)
    app.register_blueprint(notes.blueprint)
{%- endif %}
{%- if plan.worker == "celery" %}
    jobs.celery_init_app(app)
{%- endif %}
{%- if plan.queue %}
    app.register_blueprint(jobs.blueprint)
{%- endif %}
    return app
