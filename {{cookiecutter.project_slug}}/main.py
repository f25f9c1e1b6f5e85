{%- set plan = cookiecutter | plan -%}
"""The WSGI entry point uWSGI serves (ops/uwsgi.ini: wsgi-file = main.py, callable = app).

It loads the Flask app FLASK_APP names, found the way `flask --app NAME` finds it
(this project's package, {{ cookiecutter.project_slug }}, by default), then applies the service's
settings over the app's own defaults: the secret key (required), the request body
limit,{{ " the one proxy in front (nginx)," if plan.server == "nginx-http" }} unbuffered streamed answers, and a health check route
when the app has none.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, Response
from flask.cli import ScriptInfo
from werkzeug.exceptions import MethodNotAllowed, NotFound
{%- if plan.server == "nginx-http" %}
from werkzeug.middleware.proxy_fix import ProxyFix
{%- endif %}

DEFAULT_APP = "{{ cookiecutter.project_slug }}"
# The same limit as {{ "nginx's client_max_body_size" if plan.nginx else "uWSGI's (ops/uwsgi.ini)" }}: a bigger body gets a 413.
MAX_CONTENT_LENGTH = {{ plan.max_body_bytes }}
# The health check's path (HEALTHCHECK_PATH), answered here when the app has no such route.
HEALTHCHECK_PATH = os.environ.get("HEALTHCHECK_PATH", "{{ plan.healthcheck_path }}")


def secret_key() -> str | None:
    """SECRET_KEY from the environment, or read from the file SECRET_KEY_FILE names
    (a Docker swarm or Kubernetes secret mounted as a file)."""
    if path := os.environ.get("SECRET_KEY_FILE"):
        return Path(path).read_text().strip()
    return os.environ.get("SECRET_KEY")


def load_app(import_path: str) -> Flask:
    """The app `flask --app IMPORT_PATH` would run: a module or package with an `app`
    or a `create_app()` factory, or `module:name` / `module:factory(args)`."""
    return ScriptInfo(app_import_path=import_path, set_debug_flag=False).load_app()


def has_route(app: Flask, path: str) -> bool:
    adapter = app.url_map.bind("localhost")
    try:
        adapter.match(path, method="GET")
    except NotFound:
        return False
    except MethodNotAllowed:
        return True
    return True


def unbuffered_streams(response: Response) -> Response:
    """A streamed answer (a generator, server-sent events) goes out as it is
    produced: nginx passes it on unbuffered; other answers stay buffered."""
    if response.is_streamed:
        response.headers.setdefault("X-Accel-Buffering", "no")
    return response


def serve(app: Flask) -> Flask:
    """Apply the service's settings to an app, whatever its own defaults are."""
    key = secret_key()
    if not key:
        raise RuntimeError(
            "SECRET_KEY is not set: give it a long random value in the environment, or"
            " SECRET_KEY_FILE the path of a file holding one (docker compose reads .env;"
            " see .env.example)"
        )
    app.config.update(SECRET_KEY=key, MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH)
{%- if plan.server == "nginx-http" %}
    # nginx in front sets X-Forwarded-For, -Proto and -Host: trust exactly that one proxy.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
{%- endif %}
    app.after_request(unbuffered_streams)
    if not has_route(app, HEALTHCHECK_PATH):
        app.add_url_rule(HEALTHCHECK_PATH, "healthz", lambda: {"status": "ok"})
    return app


app = serve(load_app(os.environ.get("FLASK_APP") or DEFAULT_APP))
