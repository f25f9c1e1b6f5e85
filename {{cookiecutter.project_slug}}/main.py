{%- set plan = cookiecutter | plan -%}
"""The Flask application uWSGI serves (uwsgi.ini: wsgi-file = main.py, callable = app)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from markupsafe import escape
{%- if plan.shape.nginx_pass == "proxy_pass" %}
from werkzeug.middleware.proxy_fix import ProxyFix
{%- endif %}

PROJECT_NAME = {{ cookiecutter.project_name | tojson }}
DESCRIPTION = {{ cookiecutter.description | tojson }}
# The same limit as nginx's client_max_body_size: a bigger body gets a 413.
MAX_CONTENT_LENGTH = {{ plan.max_body_bytes }}


def secret_key() -> str | None:
    """SECRET_KEY from the environment, or read from the file SECRET_KEY_FILE names
    (a Docker swarm or Kubernetes secret mounted as a file)."""
    if path := os.environ.get("SECRET_KEY_FILE"):
        return Path(path).read_text().strip()
    return os.environ.get("SECRET_KEY")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application; `config` overrides settings (the tests use it)."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key(),
        MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH,
    )
    app.config.update(config or {})
{%- if plan.shape.nginx_pass == "proxy_pass" %}
    # nginx in front sets X-Forwarded-For and -Proto: trust exactly that one proxy.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)  # type: ignore[method-assign]
{%- endif %}
    if not app.config["SECRET_KEY"]:
        raise RuntimeError(
            "SECRET_KEY is not set: give it a long random value in the environment, or"
            " SECRET_KEY_FILE the path of a file holding one (docker compose reads .env;"
            " see .env.example)"
        )

    @app.get("/")
    def index() -> str:
        return (
            "<!doctype html>\n"
            f"<title>{escape(PROJECT_NAME)}</title>\n"
            f"<h1>{escape(PROJECT_NAME)}</h1>\n"
            f"<p>{escape(DESCRIPTION)}</p>\n"
        )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


app = create_app()
