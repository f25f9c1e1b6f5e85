{%- set plan = cookiecutter | plan -%}
{%- if plan.nginx -%}
"""The service's settings over whatever Flask app it serves (main.py serves the one
FLASK_APP names): the secret key (required), the request body limit, unbuffered
streamed answers, a health check route when the app has none, its log records as
JSON lines, each once, with the request's ID ({{ plan.request_id_header }}, nginx's) when logged
within a request, and error reports to Sentry when SENTRY_DSN is set. Under overload, a
request that waited too long for a worker is answered 503 at once (ShedLateRequests).
"""
{%- else -%}
"""The service's settings over whatever Flask app it serves (main.py serves the one
FLASK_APP names): the secret key (required), the request body limit, unbuffered
streamed answers, a health check route when the app has none, its log records as
JSON lines, each once, with the request's ID when logged within a request, and error
reports to Sentry when SENTRY_DSN is set.

With no nginx in front, each request gets its ID here ({{ plan.request_id_header }}, sent back), a
client's X-Forwarded-For is dropped, a body over the limit gets a 413 before it is
read, and what the app left unread of any body is read to its end.
"""
{%- endif %}

from __future__ import annotations

import errno
import json
import logging
import logging.config
import os
import sys
import time
{%- if not plan.nginx %}
import uuid
{%- endif %}
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
{%- if not plan.nginx %}
from typing import IO
{%- endif %}

from flask import Flask, Response, has_request_context, request
from flask.cli import ScriptInfo
from flask.logging import default_handler
from werkzeug.exceptions import HTTPException, MethodNotAllowed
{%- if not plan.nginx %}
from werkzeug.wsgi import ClosingIterator
{%- endif %}
{%- if plan.server == "nginx-http" %}
from werkzeug.middleware.proxy_fix import ProxyFix
{%- endif %}

# What an app meets when it writes in the code folder (root's, and read-only when it runs).
READ_ONLY_ERRORS = (errno.EACCES, errno.EROFS, errno.EPERM)
# The same limit as {{ "nginx's client_max_body_size" if plan.nginx else "uWSGI's (ops/uwsgi.ini)" }}: a bigger body gets a 413.
MAX_CONTENT_LENGTH = {{ plan.max_body_bytes }}
# The health check's path (HEALTHCHECK_PATH), answered here when the app has no such route.
HEALTHCHECK_PATH = os.environ.get("HEALTHCHECK_PATH", "{{ plan.healthcheck_path }}")
{%- if plan.nginx %}
# The request's ID, as nginx passes it on ({{ plan.request_id_header }}; nginx sends it back too).
REQUEST_ID_ENVIRON = "{{ plan.request_id_environ }}"
# A request that waited longer than this for a worker thread, from nginx passing it on
# (X-Request-Start) to a thread taking it (uWSGI's stamp, ops/uwsgi.ini), is answered
# 503 at once: the queue sheds instead of growing.
QUEUE_WAIT_LIMIT_S = float(os.environ.get("QUEUE_WAIT_LIMIT_S") or {{ plan.queue_wait_limit_s }})
# ... and told to come back after this long (Retry-After).
RETRY_AFTER_S = {{ plan.retry_after_s }}
# uWSGI's stamp of the moment a thread took the request, in microseconds.
TAKEN_AT_ENVIRON = "{{ plan.taken_at_environ }}"
{%- else %}
# The request's ID, made for each request and sent back.
REQUEST_ID_HEADER = "{{ plan.request_id_header }}"
REQUEST_ID_ENVIRON = "{{ plan.request_id_environ }}"
{%- endif %}
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
    or a `create_app()` factory, or `module:name` / `module:factory(args)`, in this
    folder or below (`src/name`). An app that writes where it may not stops with one
    line naming the path and the fix."""
    try:
        return ScriptInfo(app_import_path=import_path, set_debug_flag=False).load_app()
    except OSError as error:
        if error.errno not in READ_ONLY_ERRORS or not error.filename:
            raise
        raise SystemExit(
            f"the app {import_path} wrote to {os.path.abspath(error.filename)} when imported"
            f" ({error.strerror}): its code folder is read-only. Write files in the instance"
            " folder (app.instance_path, a volume) and log to stderr; an app with a setting"
            " for that (LOG_TO_STDOUT, say) takes it in .env"
        ) from None


class JsonLines(logging.Formatter):
    """A log record as one JSON object on one line: time, level, logger and message,
    the request's ID when logged within a request, the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).astimezone()
        entry = {
            "time": when.isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            entry["request_id"] = request.environ.get(REQUEST_ID_ENVIRON)
{%- if plan.nginx %}
        elif hasattr(record, "request_id"):  # logged before Flask took the request
            entry["request_id"] = record.request_id
{%- endif %}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry)


# Every logger's records through the root's one handler; INFO and up.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": JsonLines}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "json",
        }
    },
    "root": {"level": "INFO", "handlers": ["stderr"]},
}


def writes_to_the_log(handler: logging.Handler) -> bool:
    """A handler that writes to stderr or stdout: the container's log."""
    streams = (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__)
    return isinstance(handler, logging.StreamHandler) and handler.stream in streams


def log_each_record_once(json_handler: logging.Handler) -> None:
    """Each record once, as JSON, whatever handlers the app added while it loaded: the
    root keeps only its JSON handler; a handler the app gave a logger of its own for
    the container's log goes (its records reach the root), or writes JSON when the
    logger does not pass them on. Handlers writing to files stay."""
    logging.getLogger().handlers = [json_handler]
    loggers = [logging.getLogger(name) for name in list(logging.Logger.manager.loggerDict)]
    for logger in loggers:
        for handler in [handler for handler in logger.handlers if writes_to_the_log(handler)]:
            if logger.propagate:
                logger.removeHandler(handler)
            else:
                handler.setFormatter(json_handler.formatter)


def has_route(app: Flask, path: str) -> bool:
    """Whether the app has a GET route of its own at exactly this path (a route with a
    variable, `/<name>`, does not count: the health route added beside it wins)."""
    adapter = app.url_map.bind("localhost")
    try:
        _, arguments = adapter.match(path, method="GET")
    except HTTPException as error:
        # A route for other methods counts; none (404), or only `path/` (308), does not.
        return isinstance(error, MethodNotAllowed)
    return not arguments


def unbuffered_streams(response: Response) -> Response:
    """A streamed answer (a generator, server-sent events) goes out as it is
    produced: nginx passes it on unbuffered; other answers stay buffered."""
    if response.is_streamed:
        response.headers.setdefault("X-Accel-Buffering", "no")
    return response


{%- if not plan.nginx %}


class AssignRequestId:
    """WSGI middleware for uWSGI facing clients, with no front to trust: each request
    gets an ID of its own (32 hex digits) in its environ, for the log, and in the
    answer's {{ plan.request_id_header }}; a client's own {{ plan.request_id_header }} and X-Forwarded-For are dropped, so
    the app's `request.access_route` is the client's address, as `remote_addr` is."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        environ.pop("HTTP_X_FORWARDED_FOR", None)
        request_id = environ[REQUEST_ID_ENVIRON] = uuid.uuid4().hex

        def start_with_id(status: str, headers: list, exc_info: object = None) -> Callable:
            kept = [header for header in headers if header[0].lower() != REQUEST_ID_HEADER.lower()]
            return start_response(status, [*kept, (REQUEST_ID_HEADER, request_id)], exc_info)

        return self.wsgi_app(environ, start_with_id)


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


{%- if plan.nginx %}


class ShedLateRequests:
    """WSGI middleware: a request that waited longer than QUEUE_WAIT_LIMIT_S for a
    worker thread (queue_wait) is answered 503 with Retry-After without running the
    app, and logged in one line. Under overload the queue then drains fast, and the
    answered requests waited at most that long. The health check is answered all the
    same: a busy app is alive."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        waited = queue_wait(environ)
        if waited <= QUEUE_WAIT_LIMIT_S or environ.get("PATH_INFO") == HEALTHCHECK_PATH:
            return self.wsgi_app(environ, start_response)
        logging.getLogger(__name__).warning(
            "503 for %s %s: waited %.2f s for a worker, over %s s",
            environ.get("REQUEST_METHOD"),
            environ.get("PATH_INFO"),
            waited,
            QUEUE_WAIT_LIMIT_S,
            extra={"request_id": environ.get(REQUEST_ID_ENVIRON)},
        )
        body = b'{"error": "busy: try again shortly"}\n'
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Retry-After", str(RETRY_AFTER_S)),
        ]
        start_response("503 Service Unavailable", headers)
        return [body]


def queue_wait(environ: dict) -> float:
    """Seconds from nginx passing the request on (X-Request-Start: t=SECONDS, its
    $msec; nginx replaces a client's own) to a worker thread taking it (uWSGI's stamp
    in microseconds, TAKEN_AT_ENVIRON), or to now where uWSGI stamped nothing (Flask's
    test client); 0 without nginx's. The time since a thread took it, its turn at the
    GIL and the CPUs among the requests already running, is the page's own."""
    started = environ.get("HTTP_X_REQUEST_START", "").removeprefix("t=")
    taken_us = environ.get(TAKEN_AT_ENVIRON)
    try:
        taken = int(taken_us) / 1_000_000 if taken_us else time.time()
        return taken - float(started)
    except ValueError:
        return 0.0
{%- endif %}


def start_error_reports() -> bool:
    """Sentry's SDK, when SENTRY_DSN is set (.env): each unhandled exception is reported,
    with SENTRY_ENVIRONMENT (production by default) and SENTRY_RELEASE; the SDK's Flask,
    RQ and Celery integrations turn themselves on. Unset, the SDK is not even imported.
    Whether it started.

    Each process that reports starts it for itself, after any fork: a thread sends the
    reports, and a thread does not survive a fork. uWSGI loads the app in each worker
    once forked (lazy-apps, ops/uwsgi.ini), so serve_app() runs there; the background
    worker starts it before it forks its jobs' processes (ops/worker.py).
    https://docs.sentry.io/platforms/python/integrations/flask/"""
    if not os.environ.get("SENTRY_DSN"):
        return False
    import sentry_sdk  # here, not at the top: with no DSN it is never loaded

    sentry_sdk.init(
        dsn=os.environ["SENTRY_DSN"],
        environment=os.environ.get("SENTRY_ENVIRONMENT") or "production",
        release=os.environ.get("SENTRY_RELEASE") or None,
    )
    return True


def tag_request_id() -> None:
    """The request's ID as a tag on what is reported within the request (the request's
    own scope), to find its log lines{{ " and nginx's access line" if plan.nginx }}."""
    import sentry_sdk  # loaded already: this runs only once the SDK has started

    sentry_sdk.set_tag("request_id", request.environ.get(REQUEST_ID_ENVIRON))


def apply_service_settings(app: Flask) -> Flask:
    """The service's settings over an app's own, whatever they are."""
    key = secret_key()
    if not key:
        raise RuntimeError(
            "SECRET_KEY is not set: give it a long random value in the environment, or"
            " SECRET_KEY_FILE the path of a file holding one (docker compose reads .env;"
            " see .env.example)"
        )
    app.config.update(SECRET_KEY=key, MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH)
    # The app's records go through the root's JSON handler only, not Flask's own as well.
    app.logger.removeHandler(default_handler)
{%- if plan.server == "nginx-http" %}
    # nginx in front sets X-Forwarded-For, -Proto and -Host: trust exactly that one proxy.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
{%- endif %}
    app.after_request(unbuffered_streams)
{%- if not plan.nginx %}
    app.wsgi_app = BodyLimit(app.wsgi_app)  # type: ignore[method-assign]
    # Outermost, so every answer of the app carries the ID, a 413 for a body too big as well.
    app.wsgi_app = AssignRequestId(app.wsgi_app)  # type: ignore[method-assign]
{%- endif %}
{%- if plan.nginx %}
    # Outermost, so a request that waited too long costs no more than its 503.
    app.wsgi_app = ShedLateRequests(app.wsgi_app)  # type: ignore[method-assign]
{%- endif %}
    if not has_route(app, HEALTHCHECK_PATH):
        app.add_url_rule(HEALTHCHECK_PATH, "healthz", lambda: {"status": "ok"})
    return app


def serve_app(import_path: str) -> Flask:
    """The app `flask --app IMPORT_PATH` would run, with the service's settings; its
    records and every other logger's as JSON lines, each once; its errors reported when
    SENTRY_DSN is set."""
    # Before the app is loaded, as Flask advises: Flask then adds no handler of its own.
    logging.config.dictConfig(LOGGING)
    [json_lines] = logging.getLogger().handlers
    # Before the app is loaded too, as Sentry advises, so its integrations see it all.
    reporting = start_error_reports()
    app = apply_service_settings(load_app(import_path))
    if reporting:
        # First of the app's before_request functions: one of its own may raise.
        app.before_request_funcs.setdefault(None, []).insert(0, tag_request_id)
    log_each_record_once(json_lines)
    return app
