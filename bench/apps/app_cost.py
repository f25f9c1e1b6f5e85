"""Each WSGI app's own cost per request, in-process: no server, no network, no log.

Run with the app image's Python (the bench mounts this file and raw_wsgi.py):
    python3 app_cost.py /app/main.py /bench/raw_wsgi.py
and prints JSON: {"flask": microseconds, "raw": microseconds}, the best of 5
repeats of 2000 GET / each, as uWSGI would call the app.

With --pages, in a running app container of a project with a database (its settings,
its database, notes in it; the bench passes this file's text to `python3 -c`):
    python3 app_cost.py --pages /app/main.py /notes /
prints, for each path, the CPU time of one request (the best of 5 repeats of 300) and
how it divides among the packages that spend it: {"/notes": {"cpu_us": microseconds,
"parts": {"Flask and Werkzeug": microseconds, "SQLAlchemy": ..., ...}}, ...}. The
division is cProfile's, on the process's CPU clock: each function's own time goes to
its package; time in Python's standard library and in builtins goes to the packages
that called them, in proportion.
"""

from __future__ import annotations

import cProfile
import importlib.util
import json
import pstats
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

from werkzeug.test import EnvironBuilder

CALLS = 2000
REPEATS = 5
PAGE_CALLS = 300
# The packages a request's CPU time is divided among, by the top folder of a module in
# site-packages; Jinja's compiled templates run as the template's own file.
GROUPS = {
    "flask": "Flask and Werkzeug",
    "werkzeug": "Flask and Werkzeug",
    "itsdangerous": "Flask and Werkzeug",
    "blinker": "Flask and Werkzeug",
    "click": "Flask and Werkzeug",
    "sqlalchemy": "SQLAlchemy",
    "flask_sqlalchemy": "SQLAlchemy",
    "psycopg": "psycopg (the driver)",
    "psycopg_binary": "psycopg (the driver)",
    "jinja2": "Jinja",
    "markupsafe": "Jinja",
}
APP = "the app's own code (its package, service.py)"
LIBRARIES = "other libraries"
PYTHON = "Python itself (no library called it)"
TEMPLATE_SUFFIXES = (".html", ".htm", ".txt", ".xml")
# How far up the callers a function of the standard library is followed.
MOST_CALLERS_UP = 12

Function = tuple[str, int, str]


def load(path: str, name: str) -> Callable[..., Any]:
    # Its folder first on the path, as uWSGI's chdir has it: main.py imports service.py.
    sys.path.insert(0, str(Path(path).parent))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app  # type: ignore[no-any-return]


def requester(app: Callable[..., Any], path: str = "/") -> Callable[[], None]:
    """One GET of path, as uWSGI would call the app, its answer read to the end."""
    environ = EnvironBuilder(path=path).get_environ()

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        assert status.startswith("200"), status

    def request() -> None:
        for _chunk in app(dict(environ), start_response):
            pass

    return request


def per_request_us(app: Callable[..., Any]) -> float:
    request = requester(app)
    request()
    best = min(timeit.repeat(request, number=CALLS, repeat=REPEATS))
    return best / CALLS * 1e6


def cpu_per_request_us(request: Callable[[], None]) -> float:
    """The process's CPU time of one request, the best of REPEATS runs of PAGE_CALLS."""
    request()
    best = min(timeit.repeat(request, number=PAGE_CALLS, repeat=REPEATS, timer=time.process_time))
    return best / PAGE_CALLS * 1e6


def group_of(filename: str, app_folder: str) -> str | None:
    """The package a function's own time goes to; None for the standard library and
    builtins (they go to their callers')."""
    if filename.endswith(TEMPLATE_SUFFIXES):
        return GROUPS["jinja2"]
    if "/site-packages/" in filename:
        top = filename.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
        return GROUPS.get(top, LIBRARIES)
    if filename.startswith(app_folder):
        return APP
    return None


def owners(
    function: Function,
    stats: dict[Function, Any],
    app_folder: str,
    memo: dict[Function, dict[str, float]],
    depth: int = 0,
) -> dict[str, float]:
    """The packages a function's own time goes to, each with its share: its own, or
    (the standard library, builtins) its callers', by the time spent for each."""
    group = group_of(function[0], app_folder)
    if group:
        return {group: 1.0}
    if function in memo:
        return memo[function]
    memo[function] = {PYTHON: 1.0}  # while its callers are followed: a cycle ends here
    callers = stats[function][4] if function in stats else {}
    weights = {caller: entry[2] or entry[1] for caller, entry in callers.items()}
    total = sum(weights.values())
    if depth >= MOST_CALLERS_UP or not total:
        return memo[function]
    shares: dict[str, float] = {}
    for caller, weight in weights.items():
        for name, share in owners(caller, stats, app_folder, memo, depth + 1).items():
            shares[name] = shares.get(name, 0.0) + share * weight / total
    memo[function] = shares
    return shares


def cpu_by_package(request: Callable[[], None], app_folder: str) -> dict[str, float]:
    """Each package's share of a request's CPU time, from a profile of PAGE_CALLS."""
    profile = cProfile.Profile(time.process_time)
    profile.runcall(lambda: [request() for _ in range(PAGE_CALLS)])
    stats: dict[Function, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    memo: dict[Function, dict[str, float]] = {}
    seconds: dict[str, float] = {}
    for function, (_cc, _nc, own, _cumulative, _callers) in stats.items():
        for name, share in owners(function, stats, app_folder, memo).items():
            seconds[name] = seconds.get(name, 0.0) + own * share
    total = sum(seconds.values())
    return {name: value / total for name, value in sorted(seconds.items()) if total}


def page_costs(main: str, paths: list[str]) -> dict[str, dict[str, Any]]:
    """Each path's CPU time per request and its division among the packages."""
    app = load(main, "main")
    app_folder = str(Path(main).parent) + "/"
    found = {}
    for path in paths:
        request = requester(app, path)
        cpu_us = cpu_per_request_us(request)
        shares = cpu_by_package(request, app_folder)
        found[path] = {
            "cpu_us": cpu_us,
            "parts": {name: share * cpu_us for name, share in shares.items()},
        }
    return found


if __name__ == "__main__":
    if sys.argv[1] == "--pages":
        print(json.dumps(page_costs(sys.argv[2], sys.argv[3:])))
    else:
        flask_app, raw_app = load(sys.argv[1], "main"), load(sys.argv[2], "raw_wsgi")
        print(json.dumps({"flask": per_request_us(flask_app), "raw": per_request_us(raw_app)}))
