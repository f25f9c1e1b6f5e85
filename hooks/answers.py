"""The questions of cookiecutter.json: what each answer may be (every bad one found,
one line each), what the server answer means, and the answers typed.

Answers arrive as cookiecutter read them: from the command line or a replay they
are text ("8000", "yes"); `read_fields` gives each the type its field declares."""

from __future__ import annotations

import functools
import json
import keyword
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent

# uWSGI's buffer-size is stored in a 16-bit field: 65535 is the most it takes; its
# default, 4096 (a page), the least a client facing it may get. Behind nginx, 16384:
# the 1000 header lines nginx may pass grow by about 7 KB as uwsgi variables alone
# (hooks/sizing.py), so less would leave no room for the headers themselves.
BUFFER_SIZE_MIN = 4096
NGINX_BUFFER_SIZE_MIN = 16384
BUFFER_SIZE_MAX = 65535
# The largest upload limit: bodies are buffered to /tmp, a tmpfs counted as memory.
MAX_UPLOAD_MB_MAX = 1024

SLUG = re.compile(r"[a-z_][a-z0-9_]*")
# What cookiecutter itself reads as yes or no (its boolean variables).
TRUE_WORDS = {"1", "true", "t", "yes", "y", "on"}
FALSE_WORDS = {"0", "false", "f", "no", "n", "off"}


@dataclass(frozen=True)
class Shape:
    """How clients reach uWSGI: the one listener option and what talks to it."""

    listener: str  # the uWSGI option that binds the app's listener
    nginx_pass: str | None  # the nginx directive that reaches it; None: no nginx
    unix_socket: bool  # default address: the shared unix socket, else TCP
    protocol: str  # what the listener speaks: "uwsgi" or "http"


# What each answer to `server` means.
SHAPES: dict[str, Shape] = {
    "nginx-uwsgi": Shape("socket", "uwsgi_pass", unix_socket=True, protocol="uwsgi"),
    "nginx-http": Shape("http-socket", "proxy_pass", unix_socket=False, protocol="http"),
    "standalone": Shape("http", None, unix_socket=False, protocol="http"),
}

NGINX_SERVERS = [name for name, shape in SHAPES.items() if shape.nginx_pass]


@functools.cache
def template_context() -> dict[str, Any]:
    """The defaults and facts of cookiecutter.json, as cookiecutter reads them."""
    return json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text())


def choices(field: str) -> list[str]:
    """The allowed values of a choice variable, its default first."""
    return list(template_context()[field])


@dataclass(frozen=True, kw_only=True)
class Answers:
    """The answers to the questions, typed."""

    project_name: str
    project_slug: str
    description: str
    author_name: str
    server: str  # one of SHAPES
    database: str  # "none", "sqlite" or "postgres"
    worker: str  # "none", "rq" or "celery"
    python_version: str
    http_port: int
    https: bool
    https_port: int
    processes: int | None  # None: "auto", counted at start
    # What `auto` counts: a worker per CPU the container may use, each with many threads
    # (make bench's sweeps of the database and template pages put it at or near their
    # best), and at least two, so one recycling (a chain reload, reload-on-rss) leaves
    # another serving.
    auto_processes_per_cpu: ClassVar[int] = 1
    least_auto_processes: ClassVar[int] = 2
    threads: int
    buffer_size: int
    stats: bool
    max_upload_mb: int

    def auto_processes(self, cpus: int) -> int:
        """The workers `processes = auto` counts for a container of `cpus` CPUs."""
        return max(self.least_auto_processes, self.auto_processes_per_cpu * cpus)


def read_fields(cls: type, values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Each field of the dataclass `cls` from `values[prefix + name]`, as the type the
    field declares: a missing key or a value of another type fails here, by its name."""
    hints = typing.get_type_hints(cls)
    return {
        field.name: typed(
            f"{prefix}{field.name}", values[f"{prefix}{field.name}"], hints[field.name]
        )
        for field in fields(cls)
    }


def typed(key: str, value: Any, kind: Any) -> Any:
    """An answer as `kind`: bool, int, str, or int | None (where "auto" is None)."""
    if kind == int | None:
        return None if value == "auto" else typed(key, value, int)
    if kind is bool and isinstance(value, bool):
        return value
    if kind is bool and str(value).lower() in TRUE_WORDS | FALSE_WORDS:
        return str(value).lower() in TRUE_WORDS
    if kind is int and as_int(value) is not None:
        return as_int(value)
    if kind is str and isinstance(value, str):
        return value
    raise ValueError(f"{key}: {value!r} is not {getattr(kind, '__name__', kind)}")


def as_int(value: Any) -> int | None:
    """An answer as an integer, or None when it is not one (booleans are not)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,9}", value.strip()):
        return int(value)
    return None


def problems(answers: Mapping[str, Any]) -> list[str]:
    """Every bad answer, one line each: the field, the value, what is allowed."""
    found: list[str] = []

    def bad(field: str, allowed: str) -> None:
        found.append(f"{field}: {answers.get(field)!r} is not allowed; {allowed}")

    for field in ("project_name", "author_name"):
        text = answers.get(field)
        if not isinstance(text, str) or not text.isprintable() or not re.search(r"\w", text):
            bad(field, "expected one line of printable text, with letters or digits")
    if not isinstance(answers.get("description"), str):
        bad("description", "expected text")
    slug = answers.get("project_slug")
    if not isinstance(slug, str) or not SLUG.fullmatch(slug) or keyword.iskeyword(slug):
        bad("project_slug", "expected a lowercase Python identifier such as 'flask_service'")
    for field in ("server", "database", "worker", "python_version"):
        if answers.get(field) not in choices(field):
            bad(field, "expected one of " + ", ".join(choices(field)))
    for field in ("http_port", "https_port"):
        port = as_int(answers.get(field))
        if port is None or not 1 <= port <= 65535:
            bad(field, "expected a port number from 1 to 65535")
    processes = answers.get("processes")
    if processes != "auto" and (as_int(processes) or 0) < 1:
        bad("processes", "expected 'auto' or a positive integer")
    threads = as_int(answers.get("threads"))
    if threads is None or threads < 1:
        bad("threads", "expected a positive integer")
    size = as_int(answers.get("buffer_size"))
    if size is None or not BUFFER_SIZE_MIN <= size <= BUFFER_SIZE_MAX:
        bad("buffer_size", f"expected bytes from {BUFFER_SIZE_MIN} to {BUFFER_SIZE_MAX}")
    elif size < NGINX_BUFFER_SIZE_MIN and answers.get("server") in NGINX_SERVERS:
        bad(
            "buffer_size",
            f"expected bytes from {NGINX_BUFFER_SIZE_MIN} to {BUFFER_SIZE_MAX} behind nginx"
            " (the 1000 header lines nginx may pass take about 7 KB as uwsgi variables alone),"
            f" or from {BUFFER_SIZE_MIN} with server=standalone",
        )
    upload = as_int(answers.get("max_upload_mb"))
    if upload is None or not 1 <= upload <= MAX_UPLOAD_MB_MAX:
        bad("max_upload_mb", f"expected a whole number of MB from 1 to {MAX_UPLOAD_MB_MAX}")
    for field in ("stats", "https"):
        if not isinstance(answers.get(field), bool):
            bad(field, "expected yes or no")
    if answers.get("https") is True and answers.get("server") not in NGINX_SERVERS:
        found.append(
            "https: 'yes' is not allowed with server=standalone, whose uWSGI (the pyuwsgi"
            " wheel) is built without TLS; expected no, or nginx in front: server="
            + " or server=".join(NGINX_SERVERS)
        )
    return found
