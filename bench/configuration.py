"""What a configuration is: how it is started, where wrk sends its requests; the builds
it starts from and the files of a baked project a variant may replace.

Each configuration is one of a few images (a build: the three baked shapes,
the peers gunicorn and granian, the all-in-one container) started with compose. A variant
is baked with other answers (cookiecutter.json's variables: processes, threads, a
fact such as _listen), or is an explicit text edit of the build's own files
(bench/variants.py: settings no project is made with); either way the files it
changes are mounted over the build's, so no image is built for it. The ceilings
mount files of the bench's own (bench/apps/), written whole; a few variants change
compose settings (an override file). The configurations themselves: bench/configs.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.variants import NGINX_CONF, SITE, UWSGI_INI, Edit
from hooks.plan import Plan

BENCH_ROOT = Path(__file__).resolve().parent
# The bench's own files mounted over a project's (the ceilings).
APPS = BENCH_ROOT / "apps"

# The three baked shapes, the default with each worker and with PostgreSQL, and the
# images the bench builds itself.
BUILDS = (
    "default", "nginx-http", "standalone", "rq", "celery", "postgres",
    "peers", "peers-postgres", "allinone",
)  # fmt: skip
# The answers each baked build is made with (the rest: cookiecutter.json's defaults).
BAKED_ANSWERS: dict[str, dict[str, str]] = {
    "default": {},
    "nginx-http": {"server": "nginx-http"},
    "standalone": {"server": "standalone"},
    "rq": {"worker": "rq"},
    "celery": {"worker": "celery"},
    "postgres": {"database": "postgres"},
}
# The peers' builds: the answers of the bake whose app they serve (nginx-http's: HTTP
# from nginx, main.py with ProxyFix), and the services they run beside, each the image
# of a baked build (nginx-http's nginx; the PostgreSQL bake's database).
PEER_ANSWERS: dict[str, dict[str, str]] = {
    "peers": BAKED_ANSWERS["nginx-http"],
    "peers-postgres": {**BAKED_ANSWERS["nginx-http"], **BAKED_ANSWERS["postgres"]},
}
PEER_BESIDE: dict[str, dict[str, str]] = {
    "peers": {"nginx": "nginx-http"},
    "peers-postgres": {"nginx": "nginx-http", "db": "postgres"},
}
DEFAULT_PLAN = Plan.defaults()
# The default's processes on this machine (processes = auto, a container of its CPUs).
DEFAULT_PROCESSES = DEFAULT_PLAN.auto_processes(os.cpu_count() or 1)
GUNICORN_VERSION = "27.0.1"
# The peers run as many workers as the default's processes.
GUNICORN_WORKERS = DEFAULT_PROCESSES
GRANIAN_VERSION = "2.8.7"
GRANIAN_WORKERS = DEFAULT_PROCESSES

GUNICORN_SYNC = ["gunicorn", f"--workers={GUNICORN_WORKERS}", "--bind=0.0.0.0:8000", "main:app"]
GUNICORN_GTHREAD = [*GUNICORN_SYNC[:-1], "--worker-class=gthread", "--threads=2", "main:app"]
# granian's defaults otherwise (no access log, HTTP/1 and 2): its WSGI interface.
GRANIAN = [
    "granian", "--interface=wsgi", "--host=0.0.0.0", "--port=8000",
    f"--workers={GRANIAN_WORKERS}", "main:app",
]  # fmt: skip

# Sections of the report, in order.
SECTIONS = {
    "main": "Shapes, alternatives and ceilings",
    "cost": "Where the time goes",
    "gap": "The hello page's gap to granian alone, part by part",
    "sweep": "Default shape: processes x threads, CPU-bound (GET /)",
    "sweep-io": "Default shape: processes x threads, I/O-bound (GET /io: a 20 ms wait)",
    "variant": "Default shape and others: transport, logs, nginx, health check",
    "native": "Docker against native",
    "cold": "Cold start variants",
    "jobs": "Background jobs: latency through the queue, cold start with a worker",
    "notes": "Database page: GET /notes, the newest 50 notes as JSON (PostgreSQL)",
    "page": "Template page: GET /, a Jinja page of the same 50 notes (PostgreSQL)",
    "pages-16": "The pages at processes=16 (the bigger host's answer), 256 connections",
    "overload": f"Overload: the database page at {Plan.overload_factor}x the requests the stack"
    " serves at once",
    "pgbouncer": "PgBouncer against a PostgreSQL sized for every pooled connection, GET /notes",
    "pages-cost": "Where the default's time goes on the pages",
    "sweep-notes": "Default shape with PostgreSQL: processes x threads (and pools), GET /notes",
    "sweep-page": "Default shape with PostgreSQL: processes x threads (and pools), GET /",
}


# The files of a baked project a variant may take from its own bake or edit: where
# each is mounted over the build's (compose.yaml: the stack's compose file instead).
COMPOSE_FILE = "compose.yaml"
MOUNTED_FILES: dict[str, tuple[str, str]] = {
    UWSGI_INI: ("app", "/app/ops/uwsgi.ini"),
    NGINX_CONF: ("nginx", "/etc/nginx/nginx.conf"),
    SITE: ("nginx", f"/etc/nginx/templates/{Path(SITE).name}"),
}
# The baked project's database (its project_slug), and the role its app connects as.
DATABASE = DEFAULT_PLAN.answers["project_slug"]
APP_ROLE = "app"


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
    # the build's, and the files of that bake they are there to change. Every file of
    # that bake the bench mounts that differs from the build's is mounted over it
    # (MOUNTED_FILES) or, for compose.yaml, starts the stack.
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
    # Put under load: wrk's, or the jobs' (False: cold start only).
    load: bool = True
    # Jobs posted through the front door one at a time, each polled until finished
    # (bench/job_client.py), instead of wrk's load; 0: wrk.
    jobs: int = 0
    # Sets it belongs to: "full" (make bench), "quick" (the test), "jobs" (--jobs), "extra".
    sets: frozenset[str] = frozenset({"full"})
    # Count the processes of the front container whose command line has this
    # (uWSGI's cheaper mode starts 2 and adds workers under load).
    count_processes: str = ""
    # wrk connections for this configuration (0: the run's setting).
    connections: int = 0
    # Count the answers by status (bench/apps/statuses.lua): which errors are 503s.
    count_statuses: bool = False
    # Notes written into its database (SQL in the db service) once it answers, before
    # the load: the pages list the newest of them.
    seed_notes: int = 0
    baseline: str = ""  # the configuration it is a variant of (report: ratio column)
    short: str = ""  # the chart's label (default: the key)

    @property
    def chart_label(self) -> str:
        return self.short or self.key


FULL = frozenset({"full"})
FULL_QUICK = frozenset({"full", "quick"})
FULL_JOBS = frozenset({"full", "jobs"})
EXTRA = frozenset({"extra"})
