"""What the bench measures: every configuration, in report order, one function per
family (the shapes, their peers and the ceilings; the hello page's gap to granian
alone, in bench/gap_configs.py; the sweeps of processes x threads,
in bench/sweeps.py; the variants, in bench/variant_configs.py; native; the cold start
variants; the background jobs; the real pages, in bench/page_configs.py), and the
choice of a run's set. What a configuration is: bench/configuration.py.
"""

from __future__ import annotations

from typing import Any

from bench.configuration import (
    APPS,
    DEFAULT_PLAN,
    FULL_JOBS,
    FULL_QUICK,
    GRANIAN,
    GRANIAN_WORKERS,
    GUNICORN_GTHREAD,
    GUNICORN_SYNC,
    GUNICORN_WORKERS,
    MOUNTED_FILES,
    Config,
    Mount,
)
from bench.gap_configs import gap_configs
from bench.page_configs import real_page_configs
from bench.sweeps import sweep_configs, sweep_io_configs
from bench.variant_configs import variant_configs
from bench.variants import SITE

# Jobs posted in each run of a worker's stack: a few seconds of them, one at a time.
JOBS = 200


def peer(key: str, label: str, command: list[str], **kw: Any) -> Config:
    """gunicorn or granian (the peers image) running `command`, its cold start timed."""
    return Config(
        key, label, "main", "peers", override={"app": {"command": command}}, cold_start=True, **kw
    )


def shape_configs() -> list[Config]:
    """The template's three shapes, as baked with the defaults."""
    return [
        Config(
            "nginx-uwsgi",
            "nginx-uwsgi (default): nginx, uwsgi_pass, unix socket",
            "main",
            "default",
            cold_start=True,
            # In the jobs' set too: the cold start the worker stacks' is set against.
            sets=FULL_QUICK | {"jobs"},
            short="nginx-uwsgi (default)",
        ),
        Config(
            "nginx-http",
            "nginx-http: nginx, proxy_pass, uWSGI http-socket over TCP",
            "main",
            "nginx-http",
            cold_start=True,
            short="nginx-http",
        ),
        Config(
            "standalone",
            "standalone: uWSGI's HTTP router",
            "main",
            "standalone",
            front="app",
            front_port=8000,
            cold_start=True,
            short="standalone",
        ),
    ]


def peer_configs() -> list[Config]:
    """What users pick instead: gunicorn and granian serving the same app."""
    return [
        peer(
            "gunicorn-sync",
            f"gunicorn sync, {GUNICORN_WORKERS} workers, behind the same nginx",
            GUNICORN_SYNC,
            short=f"gunicorn sync {GUNICORN_WORKERS}",
        ),
        peer(
            "gunicorn-gthread",
            f"gunicorn gthread, {GUNICORN_WORKERS} workers x 2 threads, behind the same nginx",
            GUNICORN_GTHREAD,
            short=f"gunicorn gthread {GUNICORN_WORKERS}x2",
        ),
        peer(
            "granian-nginx",
            f"granian (WSGI), {GRANIAN_WORKERS} workers, behind the same nginx",
            GRANIAN,
            short=f"granian {GRANIAN_WORKERS}, behind nginx",
        ),
        peer(
            "granian-alone",
            f"granian (WSGI), {GRANIAN_WORKERS} workers, alone (clients straight to it)",
            GRANIAN,
            short=f"granian {GRANIAN_WORKERS}, alone",
            front="app",
            front_port=8000,
            services=("app",),
        ),
    ]


def allinone_config() -> Config:
    """One container with nginx and uWSGI, in the style of uwsgi-nginx-flask."""
    return Config(
        "allinone",
        "all-in-one container (uwsgi-nginx-flask style): 16 processes, cheaper 2",
        "main",
        "allinone",
        front="app",
        front_port=80,
        cold_start=True,
        count_processes="uwsgi",
        short="all-in-one (uwsgi-nginx-flask)",
    )


def ceiling_configs() -> list[Config]:
    """The most the stack can serve: nginx alone, and uWSGI without Flask."""
    return [
        Config(
            "ceiling-nginx",
            "ceiling: nginx answering `return 200` itself",
            "main",
            "default",
            services=("nginx",),
            mounts=(
                Mount("nginx", MOUNTED_FILES[SITE][1], APPS / "nginx_return_200.conf.template"),
            ),
            sets=FULL_QUICK,
            short="ceiling: nginx return 200",
        ),
        Config(
            "ceiling-raw-wsgi",
            "ceiling: raw WSGI callable (no Flask), default shape",
            "main",
            "default",
            mounts=(Mount("app", "/app/main.py", APPS / "raw_wsgi.py"),),
            short="ceiling: raw WSGI",
        ),
    ]


def main_configs() -> list[Config]:
    """The report's first table: the shapes, the alternatives and the ceilings."""
    return [*shape_configs(), *peer_configs(), allinone_config(), *ceiling_configs()]


def native_configs() -> list[Config]:
    """The default shape's processes on this machine, without Docker."""
    return [
        Config(
            "native",
            "nginx-uwsgi natively: the same uwsgi.ini, supervisord.conf and nginx config",
            "native",
            "native",
            sets=FULL_QUICK,
            baseline="nginx-uwsgi",
            short="nginx-uwsgi native",
        ),
    ]


def cold_variant(key: str, label: str, override: dict[str, dict[str, Any]]) -> Config:
    """The default shape with compose settings changed, timed from `up` to healthy only."""
    return Config(
        key, label, "cold", "default", override=override, cold_start=True, load=False,
        baseline="nginx-uwsgi",
    )  # fmt: skip


def cold_configs() -> list[Config]:
    """Ways to start the default shape sooner."""
    # Compose wants the start period beside a start interval.
    faster_start = {
        "healthcheck": {
            "start_interval": "0.5s",
            "start_period": f"{DEFAULT_PLAN.app_start_period}s",
        }
    }
    after_healthy = {"depends_on": {"app": {"condition": "service_healthy"}}}
    return [
        cold_variant(
            "cold-after-healthy",
            "nginx-uwsgi, nginx started once the app is healthy (depends_on: service_healthy)",
            {"nginx": after_healthy},
        ),
        cold_variant(
            "cold-start-interval-500ms",
            "nginx-uwsgi, health checks every 0.5 s while starting (start_interval)",
            {"app": faster_start, "nginx": faster_start},
        ),
    ]


def job_configs() -> list[Config]:
    """The default shape with each worker (Redis, a worker service): its cold start, then
    the example job's latency through the queue."""
    return [
        Config(
            f"jobs-{worker}",
            f"{worker}: the default shape with {what}",
            "jobs",
            worker,
            cold_start=True,
            jobs=JOBS,
            sets=FULL_JOBS,
            baseline="nginx-uwsgi",
        )
        for worker, what in (
            ("rq", "Redis and an RQ worker"),
            (
                "celery",
                f"Redis, a Celery worker ({DEFAULT_PLAN.worker_concurrency} processes) and beat",
            ),
        )
    ]


def configs() -> list[Config]:
    """Every configuration, in report order."""
    return [
        *main_configs(),
        *gap_configs(),
        *sweep_configs(),
        *sweep_io_configs(),
        *variant_configs(),
        *native_configs(),
        *cold_configs(),
        *job_configs(),
        *real_page_configs(),
    ]


def select(
    all_configs: list[Config], set_name: str, only: list[str], skip: list[str]
) -> list[Config]:
    """The configurations of a set, or exactly those named by --only; minus --skip."""
    known = {config.key for config in all_configs}
    unknown = sorted({*only, *skip} - known)
    if unknown:
        raise SystemExit(f"unknown configuration(s): {', '.join(unknown)}; known: {sorted(known)}")
    if only:
        chosen = [config for config in all_configs if config.key in only]
    else:
        chosen = [config for config in all_configs if set_name in config.sets or set_name == "all"]
    return [config for config in chosen if config.key not in skip]
