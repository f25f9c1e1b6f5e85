"""What the bench measures: every configuration, and how it differs from the baked project.

Each configuration is one of a few images (a build: the three baked shapes,
the peers gunicorn and granian, the all-in-one container) started with compose. A variant
is baked with other answers (cookiecutter.json's variables: processes, threads, a
fact such as _listen), or is an explicit text edit of the build's own files
(bench/variants.py: settings no project is made with); either way the files it
changes are mounted over the build's, so no image is built for it. The ceilings
mount files of the bench's own (bench/apps/), written whole; a few variants change
compose settings (an override file).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.variants import (
    NGINX_CONF,
    NGINX_ONE_WORKER,
    NO_ACCESS_LOG,
    NO_HTTP_KEEPALIVE,
    NO_MEMORY_REPORT,
    NO_UWSGI_REQUEST_LOG,
    SITE,
    THUNDER_LOCK,
    UNBUFFERED_ACCESS_LOG,
    UPSTREAM_KEEPALIVE,
    UWSGI_INI,
    UWSGI_REQUEST_LOG,
    Edit,
)
from hooks.plan import Plan

BENCH_ROOT = Path(__file__).resolve().parent
# The bench's own files mounted over a project's (the ceilings).
APPS = BENCH_ROOT / "apps"

# The three baked shapes, and the images the bench builds itself.
BUILDS = ("default", "nginx-http", "standalone", "peers", "allinone")
# The answers each baked build is made with (the rest: cookiecutter.json's defaults).
BAKED_ANSWERS: dict[str, dict[str, str]] = {
    "default": {},
    "nginx-http": {"server": "nginx-http"},
    "standalone": {"server": "standalone"},
}
GUNICORN_VERSION = "27.0.1"
GUNICORN_WORKERS = 4
GRANIAN_VERSION = "2.8.7"
# As many as gunicorn's and as the default's processes on 2 cores.
GRANIAN_WORKERS = 4

# Sections of the report, in order.
SECTIONS = {
    "main": "Shapes, alternatives and ceilings",
    "cost": "Where the time goes",
    "sweep": "Default shape: processes x threads, CPU-bound (GET /)",
    "sweep-io": "Default shape: processes x threads, I/O-bound (GET /io: a 20 ms wait)",
    "variant": "Default shape and others: transport, logs, nginx, health check",
    "native": "Docker against native",
    "cold": "Cold start variants",
}


# The files of a baked project a variant may take from its own bake or edit: where
# each is mounted over the build's (compose.yaml: the stack's compose file instead).
COMPOSE_FILE = "compose.yaml"
MOUNTED_FILES: dict[str, tuple[str, str]] = {
    UWSGI_INI: ("app", "/app/ops/uwsgi.ini"),
    NGINX_CONF: ("nginx", "/etc/nginx/nginx.conf"),
    SITE: ("nginx", f"/etc/nginx/templates/{Path(SITE).name}"),
}
DEFAULT_PLAN = Plan.defaults()


@dataclass(frozen=True)
class Mount:
    """A file of a container replaced by one of the bench's own (a read-only bind mount)."""

    service: str
    target: str
    source: Path


@dataclass(frozen=True)
class Config:
    """One configuration: how to start it, where wrk sends its requests."""

    key: str
    label: str
    section: str
    build: str  # one of BUILDS, or "native"
    front: str = "nginx"  # the service wrk runs beside (in its network namespace)
    front_port: int = 8080
    path: str = "/"  # what wrk asks for (/io: the I/O-bound route, bench/apps/io_wait.py)
    # Start only these services (`up --no-deps`); empty: the whole stack.
    services: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    # Answers (cookiecutter.json's variables, private ones included) baked on top of
    # the build's, and the files of that bake they change: those are mounted over the
    # build's (MOUNTED_FILES) or, for compose.yaml, start the stack.
    answers: dict[str, str] = field(default_factory=dict)
    varies: tuple[str, ...] = ()
    # Edits of the build's own baked files (bench/variants.py), mounted over them.
    edits: tuple[Edit, ...] = ()
    mounts: tuple[Mount, ...] = ()
    # Compose settings merged into each service (override file), e.g. a command.
    override: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Measured cold start (`up --wait` each round); otherwise started without waiting
    # for health and polled until it answers.
    cold_start: bool = False
    # Put under load (False: cold start only).
    load: bool = True
    # Sets it belongs to: "full" (make bench), "quick" (the test), "extra".
    sets: frozenset[str] = frozenset({"full"})
    # Count the processes of the front container whose command line has this
    # (uWSGI's cheaper mode starts 2 and adds workers under load).
    count_processes: str = ""
    # wrk connections for this configuration (0: the run's setting).
    connections: int = 0
    baseline: str = ""  # the configuration it is a variant of (report: ratio column)
    short: str = ""  # the chart's label (default: the key)

    @property
    def chart_label(self) -> str:
        return self.short or self.key


FULL = frozenset({"full"})
FULL_QUICK = frozenset({"full", "quick"})
EXTRA = frozenset({"extra"})


def sweep_key(processes: int, threads: int) -> str:
    return f"sweep-{processes}x{threads}"


def sweep_io_key(processes: int, threads: int) -> str:
    return f"io-{processes}x{threads}"


IO_DEFAULT = "io-default"


# processes x threads around the default, for the CPU-bound page and the I/O-bound
# route: from one slot per CPU to more than wrk's 64 connections.
SWEEP = ((2, 1), (4, 1), (8, 1), (4, 2), (4, 4), (4, 8), (4, 16), (8, 8), (16, 4), (2, 16), (2, 32))
SWEEP_FULL = ((2, 1), (4, 1), (8, 1), (4, 2), (4, 8), (4, 16), (8, 8), (2, 32))
# The I/O-bound route: the app's own package and one more route (FLASK_APP=io_wait).
IO_WAIT = {"FLASK_APP": "io_wait"}

GUNICORN_SYNC = ["gunicorn", f"--workers={GUNICORN_WORKERS}", "--bind=0.0.0.0:8000", "main:app"]
GUNICORN_GTHREAD = [*GUNICORN_SYNC[:-1], "--worker-class=gthread", "--threads=2", "main:app"]
# granian's defaults otherwise (no access log, HTTP/1 and 2): its WSGI interface.
GRANIAN = [
    "granian", "--interface=wsgi", "--host=0.0.0.0", "--port=8000",
    f"--workers={GRANIAN_WORKERS}", "main:app",
]  # fmt: skip


def peer(key: str, label: str, command: list[str], **kw: Any) -> Config:
    """gunicorn or granian (the peers image) running `command`, its cold start timed."""
    return Config(
        key, label, "main", "peers", override={"app": {"command": command}}, cold_start=True, **kw
    )


def configs() -> list[Config]:
    """Every configuration, in report order."""
    main = [
        Config(
            "nginx-uwsgi",
            "nginx-uwsgi (default): nginx, uwsgi_pass, unix socket",
            "main",
            "default",
            cold_start=True,
            sets=FULL_QUICK,
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
        peer(
            "gunicorn-sync",
            f"gunicorn sync, {GUNICORN_WORKERS} workers, behind the same nginx",
            GUNICORN_SYNC,
            short="gunicorn sync 4",
        ),
        peer(
            "gunicorn-gthread",
            f"gunicorn gthread, {GUNICORN_WORKERS} workers x 2 threads, behind the same nginx",
            GUNICORN_GTHREAD,
            short="gunicorn gthread 4x2",
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
        Config(
            "allinone",
            "all-in-one container (uwsgi-nginx-flask style): 16 processes, cheaper 2",
            "main",
            "allinone",
            front="app",
            front_port=80,
            cold_start=True,
            count_processes="uwsgi",
            short="all-in-one (uwsgi-nginx-flask)",
        ),
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
    default_point = (2 * (os.cpu_count() or 1), DEFAULT_PLAN.threads)  # auto, on this machine
    io_wait = {
        "path": "/io",
        "env": IO_WAIT,
        "mounts": (Mount("app", "/app/io_wait.py", APPS / "io_wait.py"),),
    }
    sweep = [
        Config(
            sweep_key(processes, threads),
            f"{processes} processes x {threads} thread{'s' if threads > 1 else ''}",
            "sweep",
            "default",
            answers={"processes": str(processes), "threads": str(threads)},
            varies=(UWSGI_INI,),
            baseline="nginx-uwsgi",
            short=f"{processes} processes x {threads}",
            sets=FULL if (processes, threads) in SWEEP_FULL else EXTRA,
        )
        for processes, threads in SWEEP
        if (processes, threads) != default_point
    ]
    sweep_io = [
        Config(
            IO_DEFAULT,
            f"{default_point[0]} processes x {default_point[1]} threads: auto (default), GET /io",
            "sweep-io",
            "default",
            short="/io: default",
            **io_wait,
        ),
        *(
            Config(
                sweep_io_key(processes, threads),
                f"{processes} processes x {threads} thread{'s' if threads > 1 else ''}, GET /io",
                "sweep-io",
                "default",
                answers={"processes": str(processes), "threads": str(threads)},
                varies=(UWSGI_INI,),
                baseline=IO_DEFAULT,
                short=f"/io: {processes} processes x {threads}",
                sets=FULL if (processes, threads) in SWEEP_FULL else EXTRA,
                **io_wait,
            )
            for processes, threads in SWEEP
            if (processes, threads) != default_point
        ),
    ]
    ini = (UWSGI_INI,)

    def variant(
        key: str, label: str, short: str, baseline: str = "nginx-uwsgi", **kw: Any
    ) -> Config:
        build = kw.pop("build", "default" if baseline.startswith("nginx-uwsgi") else baseline)
        return Config(key, label, "variant", build, baseline=baseline, short=short, **kw)

    standalone = {"front": "app", "front_port": 8000}
    variants = [
        # Transport and logs: the questions.
        variant(
            "tcp",
            "nginx-uwsgi over TCP between the containers (APP_ADDRESS=:8000)",
            "nginx-uwsgi over TCP",
            env={"APP_ADDRESS": ":8000"},
        ),
        variant(
            "uwsgi-log",
            "nginx-uwsgi with uWSGI's request log on too (through supervisord)",
            "+ uWSGI request log",
            edits=(UWSGI_REQUEST_LOG,),
        ),
        variant(
            "no-access-log",
            "nginx-uwsgi with no request log at all (nginx access_log off)",
            "no request log at all",
            edits=(NO_ACCESS_LOG,),
        ),
        # The defaults the bench argued for, one at a time undone.
        variant(
            "unbuffered-log",
            "nginx-uwsgi, nginx's access log written line by line (not buffered)",
            "unbuffered access log",
            edits=(UNBUFFERED_ACCESS_LOG,),
        ),
        variant(
            "max-requests-5000",
            "nginx-uwsgi recycling workers every 5000 requests"
            f" (the default: {DEFAULT_PLAN.max_requests})",
            "max-requests 5000",
            # Under load each recycled worker loads the app again (lazy-apps): the old
            # default recycled every 5000.
            answers={"_max_requests": "5000"},
            varies=ini,
            # Workers reach 5000 requests only late in a 5 s run: measure it with
            # --only nginx-uwsgi,max-requests-5000 --duration 20.
            sets=EXTRA,
        ),
        variant(
            "nginx-1-worker",
            "nginx-uwsgi with nginx worker_processes 1 (auto: one per CPU)",
            "nginx 1 worker",
            sets=EXTRA,
            edits=(NGINX_ONE_WORKER,),
        ),
        # A burst: more connections than uWSGI's own listen queue (100) holds.
        variant(
            "burst-256",
            "nginx-uwsgi, 256 connections (listen = 1024)",
            "256 connections",
            connections=256,
        ),
        variant(
            "burst-256-listen-100",
            "nginx-uwsgi, 256 connections, uWSGI's own listen queue (100)",
            "256 connections, listen 100",
            # uWSGI's own default: a unix socket refuses connections once 100 wait to be
            # accepted (nginx: 502, "Resource temporarily unavailable"). Its compose.yaml
            # too: the kernel's somaxconn follows the listen queue.
            answers={"_listen": "100"},
            varies=(*ini, COMPOSE_FILE),
            connections=256,
        ),
        variant(
            "nginx-http-keepalive",
            "nginx-http, connections to uWSGI kept open (upstream keepalive 32, http11-socket)",
            "nginx-http, upstream keep-alive",
            baseline="nginx-http",
            # The upstream's address is then looked up once, at nginx's start.
            edits=UPSTREAM_KEEPALIVE,
        ),
        variant(
            "standalone-no-keepalive",
            "standalone without http-keepalive (the router closes every client connection)",
            "standalone, no keep-alive",
            baseline="standalone",
            edits=(NO_HTTP_KEEPALIVE,),
            **standalone,
        ),
        # Further diagnostics (most of them only in --set extra).
        variant(
            "log-driver-local",
            "nginx-uwsgi with Docker's `local` log driver instead of json-file",
            "log driver local",
            override={
                "app": {"logging": {"driver": "local"}},
                "nginx": {"logging": {"driver": "local"}},
            },
            sets=EXTRA,
        ),
        variant(
            "thunder-lock",
            "nginx-uwsgi with uWSGI thunder-lock = true",
            "thunder-lock",
            edits=(THUNDER_LOCK,),
            sets=EXTRA,
        ),
        variant(
            "no-memory-report",
            "nginx-uwsgi without memory-report (stats)",
            "no memory-report",
            edits=(NO_MEMORY_REPORT,),
            sets=EXTRA,
        ),
        variant(
            "no-probes",
            "nginx-uwsgi with no health probe during the run (interval 60 s)",
            "no health probes",
            override={
                "app": {"healthcheck": {"interval": "60s"}},
                "nginx": {"healthcheck": {"interval": "60s"}},
            },
        ),
        variant(
            "standalone-no-log",
            "standalone with uWSGI's request log off",
            "standalone, no request log",
            baseline="standalone",
            edits=(NO_UWSGI_REQUEST_LOG,),
            sets=EXTRA,
            **standalone,
        ),
        variant(
            "nginx-http-tw-reuse",
            "nginx-http with net.ipv4.tcp_tw_reuse=1 in nginx's namespace",
            "nginx-http, tcp_tw_reuse",
            baseline="nginx-http",
            override={"nginx": {"sysctls": {"net.ipv4.tcp_tw_reuse": 1}}},
            sets=EXTRA,
        ),
    ]
    native = [
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
    # Compose wants the start period beside a start interval.
    faster_start = {
        "healthcheck": {
            "start_interval": "0.5s",
            "start_period": f"{DEFAULT_PLAN.app_start_period}s",
        }
    }
    after_healthy = {"depends_on": {"app": {"condition": "service_healthy"}}}

    def cold_variant(
        key: str, label: str, override: dict[str, dict[str, Any]], **kw: Any
    ) -> Config:
        return Config(
            key, label, "cold", "default", override=override, cold_start=True, load=False,
            baseline="nginx-uwsgi", **kw,
        )  # fmt: skip

    cold = [
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
    return [*main, *sweep, *sweep_io, *variants, *native, *cold]


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
