{%- set plan = cookiecutter | plan -%}
"""The WSGI entry point uWSGI serves (ops/uwsgi.ini: wsgi-file = main.py, callable = app).

It loads the Flask app FLASK_APP names, found the way `flask --app NAME` finds it
(this project's package, {{ cookiecutter.project_slug }}, by default), then applies the service's
settings over the app's own defaults: the secret key (required), the request body
limit,{{ " the one proxy in front (nginx)," if plan.server == "nginx-http" }} unbuffered streamed answers, and a health check route
when the app has none.
{%- if not plan.nginx %}

With no nginx in front, it also answers a body over the limit with a 413 before
reading it, and reads to its end what the app left unread of any body.
{%- endif %}
"""

from __future__ import annotations

import os
{%- if not plan.nginx %}
import time
from collections.abc import Callable, Iterable
{%- endif %}
from pathlib import Path
{%- if not plan.nginx %}
from typing import IO
{%- endif %}

from flask import Flask, Response
from flask.cli import ScriptInfo
from werkzeug.exceptions import MethodNotAllowed, NotFound
{%- if not plan.nginx %}
from werkzeug.wsgi import ClosingIterator
{%- endif %}
{%- if plan.server == "nginx-http" %}
from werkzeug.middleware.proxy_fix import ProxyFix
{%- endif %}

DEFAULT_APP = "{{ cookiecutter.project_slug }}"
# The same limit as {{ "nginx's client_max_body_size" if plan.nginx else "uWSGI's (ops/uwsgi.ini)" }}: a bigger body gets a 413.
MAX_CONTENT_LENGTH = {{ plan.max_body_bytes }}
# The health check's path (HEALTHCHECK_PATH), answered here when the app has no such route.
HEALTHCHECK_PATH = os.environ.get("HEALTHCHECK_PATH", "{{ plan.healthcheck_path }}")
{%- if not plan.nginx %}
# How long a body the app left unread is still read (and discarded) after the answer.
LINGER_SECONDS = {{ plan.linger_s }}
{%- endif %}


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


{%- if not plan.nginx %}


class BodyLimit:
    """WSGI middleware for uWSGI facing clients, with no nginx to buffer bodies: a body
    over MAX_CONTENT_LENGTH gets a 413 before it is read, and whatever the app left
    unread of any body is then read and discarded, for up to LINGER_SECONDS, so the
    client reads the answer instead of a connection reset under its upload."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        body = environ["wsgi.input"]
        if int(environ.get("CONTENT_LENGTH") or 0) > MAX_CONTENT_LENGTH:
            message = b"Request body over %d MB\n" % (MAX_CONTENT_LENGTH // 1024 // 1024)
            start_response(
                "413 Request Entity Too Large",
                [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(message))),
                    ("Connection", "close"),
                ],
            )
            answer: Iterable[bytes] = [message]
        else:
            answer = self.wsgi_app(environ, start_response)
        return ClosingIterator(answer, lambda: discard(body))


def discard(body: IO[bytes]) -> None:
    """Read a request body to its end (or for LINGER_SECONDS) and drop it."""
    deadline = time.monotonic() + LINGER_SECONDS
    try:
        while time.monotonic() < deadline and body.read(65536):
            pass
    except OSError:  # the client went away
        pass
{%- endif %}


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
{%- if not plan.nginx %}
    app.wsgi_app = BodyLimit(app.wsgi_app)  # type: ignore[method-assign]
{%- endif %}
    if not has_route(app, HEALTHCHECK_PATH):
        app.add_url_rule(HEALTHCHECK_PATH, "healthz", lambda: {"status": "ok"})
    return app


app = serve(load_app(os.environ.get("FLASK_APP") or DEFAULT_APP))
