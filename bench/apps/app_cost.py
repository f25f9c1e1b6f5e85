"""Each WSGI app's own cost per request, in-process: no server, no network, no log.

Run with the app image's Python (the bench mounts this file and raw_wsgi.py):
    python3 app_cost.py /app/main.py /bench/raw_wsgi.py
and prints JSON: {"flask": microseconds, "raw": microseconds}, the best of 5
repeats of 2000 GET / each, as uWSGI would call the app.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

from werkzeug.test import EnvironBuilder

ENVIRON = EnvironBuilder(path="/").get_environ()
CALLS = 2000
REPEATS = 5


def load(path: str, name: str) -> Callable[..., Any]:
    # Its folder first on the path, as uWSGI's chdir has it: main.py imports service.py.
    sys.path.insert(0, str(Path(path).parent))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app  # type: ignore[no-any-return]


def per_request_us(app: Callable[..., Any]) -> float:
    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        assert status.startswith("200")

    def request() -> None:
        for _chunk in app(dict(ENVIRON), start_response):
            pass

    request()
    best = min(timeit.repeat(request, number=CALLS, repeat=REPEATS))
    return best / CALLS * 1e6


if __name__ == "__main__":
    flask_app, raw_app = load(sys.argv[1], "main"), load(sys.argv[2], "raw_wsgi")
    print(json.dumps({"flask": per_request_us(flask_app), "raw": per_request_us(raw_app)}))
