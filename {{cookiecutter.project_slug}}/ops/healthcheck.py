{%- set plan = cookiecutter | plan -%}
"""Docker's health check: GET HEALTHCHECK_PATH from uWSGI, over the listener it serves.

Exits 0 when the answer is 200. uWSGI listens at APP_ADDRESS (a unix socket
path, or host:port) and speaks {{ "the binary uwsgi protocol there, which plain HTTP cannot probe" if plan.server == "nginx-uwsgi" else "HTTP there" }}.
"""

from __future__ import annotations

import os
import socket
{%- if plan.server == "nginx-uwsgi" %}
import struct
{%- endif %}
import sys

ADDRESS = os.environ.get("APP_ADDRESS", "{{ plan.default_address }}")
PATH = os.environ.get("HEALTHCHECK_PATH", "{{ plan.healthcheck_path }}")
TIMEOUT_SECONDS = 2


def connect(address: str) -> socket.socket:
    """A connection to a unix socket path, or to host:port (any host: loopback)."""
    if address.startswith("/"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(TIMEOUT_SECONDS)
        sock.connect(address)
        return sock
    host, _, port = address.rpartition(":")
    if host in ("", "0.0.0.0", "[::]"):
        host = "127.0.0.1"
    return socket.create_connection((host, int(port)), timeout=TIMEOUT_SECONDS)
{%- if plan.server == "nginx-uwsgi" %}


def request(path: str) -> bytes:
    """A uwsgi packet (modifier 0: a WSGI request) for GET path."""
    variables = {
        "REQUEST_METHOD": "GET",
        "REQUEST_URI": path,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "0",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "localhost",
    }
    body = b"".join(
        struct.pack("<H", len(key)) + key.encode() + struct.pack("<H", len(value)) + value.encode()
        for key, value in variables.items()
    )
    return struct.pack("<BHB", 0, len(body), 0) + body
{%- else %}


def request(path: str) -> bytes:
    """An HTTP/1.0 request for GET path: the server closes after answering."""
    return f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode()
{%- endif %}


def status(address: str, path: str = PATH) -> int:
    """The HTTP status uWSGI answers for path."""
    with connect(address) as sock:
        sock.sendall(request(path))
        status_line = sock.makefile("rb").readline()
    return int(status_line.split()[1])


if __name__ == "__main__":
    try:
        code = status(ADDRESS)
    except (OSError, ValueError, IndexError) as error:
        sys.exit(f"unhealthy: {ADDRESS}: {error!r}")
    sys.exit(0 if code == 200 else f"unhealthy: {ADDRESS}{PATH} answered {code}")
