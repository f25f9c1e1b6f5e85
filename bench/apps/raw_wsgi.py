"""The app server's ceiling: a bare WSGI callable, no Flask, mounted over main.py.

It answers every path (also /healthz, for the health checks) with the same page
the Flask app serves at /, so only the framework's cost differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

BODY = (
    b"<!doctype html>\n<title>Flask Service</title>\n<h1>Flask Service</h1>\n"
    b"<p>A Flask service served by uWSGI.</p>\n"
)
HEADERS = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(BODY)))]


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", HEADERS)
    return [BODY]
