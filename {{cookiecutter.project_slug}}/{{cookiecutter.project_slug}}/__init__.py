"""The Flask application: `create_app()` builds it (`flask --app {{ cookiecutter.project_slug }}`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from . import pages


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; `config` overrides settings (the tests use it)."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object("{{ cookiecutter.project_slug }}.settings")
    app.config.update(config or {})
    app.register_blueprint(pages.blueprint)
    return app
