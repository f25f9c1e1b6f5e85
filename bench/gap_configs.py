"""The hello page's gap to granian alone, part by part: the default shape with one of
its parts changed at a time (nginx's hop, uWSGI's threads, the app wrapper main.py
serves the app through), each on the same page as the default and granian alone
(bench/configs.py). Not all three at once: without nginx, uWSGI keeps each client's
connection on one thread (http11-socket), and one thread per process would leave most
of wrk's connections waiting."""

from __future__ import annotations

from typing import Any

from bench.configuration import APPS, DEFAULT_PLAN, Config, Mount
from bench.sweeps import default_point
from bench.variants import HTTP11_SOCKET, UWSGI_INI

GAP_NO_NGINX = "gap-no-nginx"
GAP_ONE_THREAD = "gap-1-thread"
GAP_BARE_APP = "gap-bare-app"
# Each part of the gap, and the configuration that changes it alone.
GAP_PARTS = {
    "nginx's hop": GAP_NO_NGINX,
    "uWSGI's threads": GAP_ONE_THREAD,
    "the app wrapper in main.py": GAP_BARE_APP,
}
# The project's app without service.py's wrapper, over main.py.
BARE_APP = Mount("app", "/app/main.py", APPS / "bare_app.py")
# uWSGI's own HTTP listener (the nginx-http bake's, keeping connections open as
# granian does), with wrk straight at it: no nginx in between.
STRAIGHT_TO_UWSGI: dict[str, Any] = {
    "build": "nginx-http",
    "edits": (HTTP11_SOCKET,),
    "front": "app",
    "front_port": DEFAULT_PLAN.app_port,
    "services": ("app",),
}


def gap(key: str, label: str, short: str, build: str = "default", **kw: Any) -> Config:
    return Config(key, label, "gap", build, baseline="nginx-uwsgi", short=short, **kw)


def gap_configs() -> list[Config]:
    """Each part of the gap changed alone."""
    processes = default_point()[0]
    return [
        gap(
            GAP_NO_NGINX,
            "without nginx's hop: uWSGI's HTTP listener (http11-socket, the nginx-http bake),"
            " clients straight to it",
            "uWSGI http11-socket, no nginx",
            **STRAIGHT_TO_UWSGI,
        ),
        gap(
            GAP_ONE_THREAD,
            f"without uWSGI's threads: {processes} processes x 1 thread",
            f"{processes} processes x 1 thread",
            answers={"threads": "1"},
            varies=(UWSGI_INI,),
        ),
        gap(
            GAP_BARE_APP,
            "without the app wrapper: main.py serving create_app() as it is (no service.py)",
            "no app wrapper",
            mounts=(BARE_APP,),
        ),
    ]
