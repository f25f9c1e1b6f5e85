"""What the bench measures: every configuration, and how it differs from the baked project.

Each configuration is one of a few images (a build: the three baked shapes,
gunicorn, the all-in-one container) started with compose, sometimes with a file
of the baked project replaced by a variant (a bind mount made from the baked
file, so a change in the template shows up here too) or a setting changed.
The template itself is never edited.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hooks.plan import Plan

BENCH_ROOT = Path(__file__).resolve().parent

# The three baked shapes, and the images the bench builds itself.
BUILDS = ("default", "nginx-http", "standalone", "gunicorn", "allinone")
# The answers each baked build is made with (the rest: cookiecutter.json's defaults).
BAKED_ANSWERS: dict[str, dict[str, str]] = {
    "default": {},
    "nginx-http": {"server": "nginx-http"},
    "standalone": {"server": "standalone"},
}
GUNICORN_VERSION = "27.0.1"
GUNICORN_WORKERS = 4

# Sections of the report, in order.
SECTIONS = {
    "main": "Shapes, alternatives and ceilings",
    "cost": "Where the time goes",
    "sweep": "Default shape: processes x threads",
    "variant": "Default shape and others: transport, logs, nginx, health check",
    "native": "Docker against native",
    "cold": "Cold start variants",
}


class Sources(Protocol):
    """What variants are made from: the baked projects (see stacks.Workspace)."""

    def project(self, build: str) -> Path: ...

    def bake(self, **answers: str) -> Path: ...


class TemplateChanged(RuntimeError):
    """A baked file no longer has the text a variant replaces: update the variant."""


def edit(text: str, old: str, new: str, what: str) -> str:
    """Replace `old` (which must be there) by `new` in a baked file's text."""
    if old not in text:
        raise TemplateChanged(
            f"{what}: expected {old!r} in the baked file; update bench/configs.py"
        )
    return text.replace(old, new, 1)


def edited(build: str, relative: str, old: str, new: str) -> Callable[[Sources], str]:
    """A baked file with one piece of text replaced."""

    def make(sources: Sources) -> str:
        text = (sources.project(build) / relative).read_text()
        return edit(text, old, new, f"{build}/{relative}")

    return make


def changed(build: str, relative: str, change: Callable[[str], str]) -> Callable[[Sources], str]:
    """A baked file through a change (a function of its text)."""
    return lambda sources: change((sources.project(build) / relative).read_text())


def replace(old: str, new: str, what: str) -> Callable[[str], str]:
    return lambda text: edit(text, old, new, what)


def append(lines: str) -> Callable[[str], str]:
    return lambda text: text.rstrip("\n") + "\n" + lines


SITE = "nginx/templates/default.conf.template"
ACCESS_LOG = "access_log /var/log/nginx/access.log main buffer=64k flush=1s if=$loggable;"
BODY = (
    "<!doctype html>\n<title>Flask Service</title>\n<h1>Flask Service</h1>\n"
    "<p>A Flask service served by uWSGI.</p>\n"
)


# The defaults the bench argued for, each undone by a variant to show what it buys.
# uWSGI's listen queue: its own default (100) makes a unix socket refuse connections
# (nginx: 502, "Resource temporarily unavailable") once 100 wait to be accepted.
LISTEN_100 = replace("listen = 1024", "listen = 100", "uwsgi.ini: listen")
# Worker recycling after so many requests: under load each recycled worker loads
# the app again (lazy-apps). The old default recycled every 5000.
DEFAULT_PLAN = Plan.defaults()
MAX_REQUESTS_5000 = replace(
    f"max-requests = {DEFAULT_PLAN.max_requests}\n"
    f"max-requests-delta = {DEFAULT_PLAN.max_requests_delta}\n",
    "max-requests = 5000\nmax-requests-delta = 250\n",
    "uwsgi.ini: max-requests",
)
UNBUFFERED_ACCESS_LOG = replace(
    ACCESS_LOG, ACCESS_LOG.replace(" buffer=64k flush=1s", ""), "site: access_log"
)
NO_KEEPALIVE = replace("http-keepalive = 1\n", "", "uwsgi.ini: http-keepalive")


def nginx_return_200(sources: Sources) -> str:
    """The default site with its location answering by itself: the same server block
    (access log, headers), the same body as the app's page, no upstream."""
    text = (sources.project("default") / SITE).read_text()
    body = BODY.replace("\n", "\\n")
    location = (
        "location / {\n"
        '        default_type "text/html; charset=utf-8";\n'
        f'        return 200 "{body}";\n'
        "    }"
    )
    new, count = re.subn(r"location / \{.*?\n    \}", lambda _: location, text, flags=re.DOTALL)
    if count != 1:
        raise TemplateChanged(f"default/{SITE}: expected one `location / {{ ... }}` block")
    return new


def raw_wsgi(_: Sources) -> str:
    return (BENCH_ROOT / "apps/raw_wsgi.py").read_text()


def swept_ini(processes: int, threads: int) -> Callable[[Sources], str]:
    """uwsgi.ini as the template generates it for these processes and threads."""

    def make(sources: Sources) -> str:
        project = sources.bake(processes=str(processes), threads=str(threads))
        return (project / "ops/uwsgi.ini").read_text()

    return make


@dataclass(frozen=True)
class Mount:
    """A file of a container replaced by a variant (a read-only bind mount)."""

    service: str
    target: str
    make: Callable[[Sources], str]


@dataclass(frozen=True)
class Config:
    """One configuration: how to start it, where wrk sends its requests."""

    key: str
    label: str
    section: str
    build: str  # one of BUILDS, or "native"
    front: str = "nginx"  # the service wrk runs beside (in its network namespace)
    front_port: int = 8080
    # Start only these services (`up --no-deps`); empty: the whole stack.
    services: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
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


# processes x threads around the default (auto: 2 x the CPUs, 4 on 2 cores; threads = 2):
# 2, 4 and 8 processes with 1 and 2 threads (4 x 2 is the default itself).
SWEEP = ((2, 1), (2, 2), (4, 1), (8, 1), (8, 2))
SWEEP_FULL = ((2, 1), (2, 2), (4, 1), (8, 1))  # 8 x 2: --set extra

GUNICORN_SYNC = ["gunicorn", f"--workers={GUNICORN_WORKERS}", "--bind=0.0.0.0:8000", "main:app"]
GUNICORN_GTHREAD = [*GUNICORN_SYNC[:-1], "--worker-class=gthread", "--threads=2", "main:app"]


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
        Config(
            "gunicorn-sync",
            f"gunicorn sync, {GUNICORN_WORKERS} workers, behind the same nginx",
            "main",
            "gunicorn",
            override={"app": {"command": GUNICORN_SYNC}},
            cold_start=True,
            short="gunicorn sync 4",
        ),
        Config(
            "gunicorn-gthread",
            f"gunicorn gthread, {GUNICORN_WORKERS} workers x 2 threads, behind the same nginx",
            "main",
            "gunicorn",
            override={"app": {"command": GUNICORN_GTHREAD}},
            cold_start=True,
            short="gunicorn gthread 4x2",
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
            mounts=(Mount("nginx", f"/etc/nginx/templates/{Path(SITE).name}", nginx_return_200),),
            sets=FULL_QUICK,
            short="ceiling: nginx return 200",
        ),
        Config(
            "ceiling-raw-wsgi",
            "ceiling: raw WSGI callable (no Flask), default shape",
            "main",
            "default",
            mounts=(Mount("app", "/app/main.py", raw_wsgi),),
            short="ceiling: raw WSGI",
        ),
    ]
    sweep = [
        Config(
            sweep_key(processes, threads),
            f"{processes} processes x {threads} thread{'s' if threads > 1 else ''}",
            "sweep",
            "default",
            mounts=(Mount("app", "/app/ops/uwsgi.ini", swept_ini(processes, threads)),),
            baseline="nginx-uwsgi",
            short=f"{processes} processes x {threads}",
            sets=FULL if (processes, threads) in SWEEP_FULL else EXTRA,
        )
        for processes, threads in SWEEP
    ]
    template = f"/etc/nginx/templates/{Path(SITE).name}"

    def ini(build: str, change: Callable[[str], str]) -> Mount:
        return Mount("app", "/app/ops/uwsgi.ini", changed(build, "ops/uwsgi.ini", change))

    def site(change: Callable[[str], str]) -> Mount:
        return Mount("nginx", template, changed("default", SITE, change))

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
            mounts=(
                ini(
                    "default",
                    replace(
                        "disable-logging = true",
                        "disable-logging = false",
                        "uwsgi.ini: disable-logging",
                    ),
                ),
            ),
        ),
        variant(
            "no-access-log",
            "nginx-uwsgi with no request log at all (nginx access_log off)",
            "no request log at all",
            mounts=(site(replace(ACCESS_LOG, "access_log off;", "site: access_log")),),
        ),
        # The defaults the bench argued for, one at a time undone.
        variant(
            "unbuffered-log",
            "nginx-uwsgi, nginx's access log written line by line (not buffered)",
            "unbuffered access log",
            mounts=(site(UNBUFFERED_ACCESS_LOG),),
        ),
        variant(
            "max-requests-5000",
            "nginx-uwsgi recycling workers every 5000 requests"
            f" (the default: {DEFAULT_PLAN.max_requests})",
            "max-requests 5000",
            mounts=(ini("default", MAX_REQUESTS_5000),),
            # Workers reach 5000 requests only late in a 5 s run: measure it with
            # --only nginx-uwsgi,max-requests-5000 --duration 20.
            sets=EXTRA,
        ),
        variant(
            "nginx-1-worker",
            "nginx-uwsgi with nginx worker_processes 1 (auto: one per CPU)",
            "nginx 1 worker",
            sets=EXTRA,
            mounts=(
                Mount(
                    "nginx",
                    "/etc/nginx/nginx.conf",
                    edited(
                        "default",
                        "nginx/nginx.conf",
                        "worker_processes auto;",
                        "worker_processes 1;",
                    ),
                ),
            ),
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
            mounts=(ini("default", LISTEN_100),),
            connections=256,
        ),
        variant(
            "standalone-no-keepalive",
            "standalone without http-keepalive (the router closes every client connection)",
            "standalone, no keep-alive",
            baseline="standalone",
            mounts=(ini("standalone", NO_KEEPALIVE),),
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
            mounts=(ini("default", append("thunder-lock = true\n")),),
            sets=EXTRA,
        ),
        variant(
            "no-memory-report",
            "nginx-uwsgi without memory-report (stats)",
            "no memory-report",
            mounts=(ini("default", replace("memory-report = true", "", "uwsgi.ini")),),
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
            mounts=(
                ini(
                    "standalone",
                    replace(
                        "route = ^$(HEALTHCHECK_PATH)$ donotlog:",
                        "disable-logging = true",
                        "uwsgi.ini: route",
                    ),
                ),
            ),
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
    fast_health = {"healthcheck": {"interval": "1s"}}
    started = {"depends_on": {"app": {"condition": "service_started"}}}

    def cold_variant(
        key: str, label: str, override: dict[str, dict[str, Any]], **kw: Any
    ) -> Config:
        return Config(
            key, label, "cold", "default", override=override, cold_start=True, load=False,
            baseline="nginx-uwsgi", **kw,
        )  # fmt: skip

    cold = [
        cold_variant(
            "cold-hc-1s",
            "nginx-uwsgi, health check interval 1 s",
            {"app": fast_health, "nginx": fast_health},
            sets=EXTRA,
        ),
        cold_variant(
            "cold-started",
            "nginx-uwsgi, nginx started beside the app (depends_on: service_started)",
            {"nginx": started},
        ),
        cold_variant(
            "cold-hc-1s-started",
            "nginx-uwsgi, both: interval 1 s, nginx started beside the app",
            {"app": fast_health, "nginx": {**fast_health, **started}},
        ),
    ]
    return [*main, *sweep, *variants, *native, *cold]


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
