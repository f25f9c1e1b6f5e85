"""The template's decisions, made once from the answers.

The rule for values: what a user or the bench may vary is a variable of
cookiecutter.json (an answer, or a private `_name` where it is not a question),
as is every plain fact (ports, paths, image names); this module only derives from
them; the templates read one vocabulary, `plan.*`. A number two files must agree
on is written once: in cookiecutter.json, or as a constant here.

Every other part asks this module: the hooks (validation, which files a shape
does without), the templates (through `PlanExtension`: `{%- set plan =
cookiecutter | plan %}`), the repository's scripts and the tests.
"""

from __future__ import annotations

import importlib
import json
import keyword
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from jinja2 import Environment
from jinja2.ext import Extension

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent

# uWSGI's buffer-size is stored in a 16-bit field: 65535 is the most it takes; its
# default, 4096 (a page), the least a client facing it may get. Behind nginx, 16384:
# the 1000 header lines nginx may pass grow by about 7 KB as uwsgi variables alone
# (nginx_header_buffers), so less would leave no room for the headers themselves.
BUFFER_SIZE_MIN = 4096
NGINX_BUFFER_SIZE_MIN = 16384
BUFFER_SIZE_MAX = 65535
# The largest upload limit: bodies are buffered to /tmp, a tmpfs counted as memory.
MAX_UPLOAD_MB_MAX = 1024
# What nginx may pass upstream, for sizing its header buffers: its first buffer
# (client_header_buffer_size, 1k by default), at most 1000 header lines
# (max_headers, nginx >= 1.29.8 and Debian's patched packages), each growing by
# up to 7 bytes as a uwsgi variable ("HTTP_" and two 2-byte lengths, for a bare
# "name:" line), the path and query passed again (PATH_INFO, QUERY_STRING), and
# nginx's own variables (uwsgi_params, under 1 KB).
NGINX_FIRST_HEADER_BUFFER = 1024
NGINX_MAX_HEADERS = 1000
UWSGI_VARIABLE_GROWTH = 7
NGINX_OWN_VARIABLES = 1024
# nginx's buffers for an answer from the app, by default: 8 of a memory page.
NGINX_RESPONSE_BUFFERS = 8
PAGE_KB = 4

# Without nginx, how long the app reads on what a client still sends after its answer.
LINGER_SECONDS = 10

# Docker's health check in the images (Dockerfile, nginx/Dockerfile), besides its
# interval (cookiecutter.json); the orchestrators' probes follow it.
HEALTHCHECK_TIMEOUT = 3
HEALTHCHECK_RETRIES = 3
APP_START_PERIOD = 60
NGINX_START_PERIOD = 30
# Scaling out (deploy/): app replicas, enough that one being replaced leaves two;
# the most Kubernetes' autoscaler adds, at this CPU use (percent of the request).
APP_REPLICAS = 3
APP_MAX_REPLICAS = 10
AUTOSCALE_CPU_PERCENT = 70
# nginx replicas on Kubernetes (the swarm stack runs one on each node).
NGINX_REPLICAS = 2
# uWSGI's worker recycling (uwsgi.ini): a worker past this much memory, this many
# requests (cookiecutter.json: _max_requests) or this age is replaced. Rarely: under
# lazy-apps each recycle imports the app again (make bench measured recycling every
# 5000 requests).
RELOAD_ON_RSS_MB = 512
MAX_WORKER_LIFETIME_S = 3600
# An app replica's memory besides its workers: the master, supervisord, request
# bodies buffered in /tmp (a tmpfs, counted as the container's memory).
APP_MEMORY_OVERHEAD_MB = 256
# nginx gives up connecting to an app address after this long and tries the next:
# a replica that vanished (killed, its node down) answers nothing, while a live one,
# however busy, accepts within one SYN retry (1 s). nginx's default is 60 s.
NGINX_CONNECT_TIMEOUT = 2
# Kubernetes' liveness probe looks this often: it only has to catch a dead app.
LIVENESS_PERIOD = 10
# Seconds a stopping pod keeps serving (preStop) while Kubernetes takes it out of
# its Service's endpoints, before its process gets SIGTERM.
DRAIN_SECONDS = 5


@dataclass(frozen=True)
class Resources:
    """What one replica may use (limits) and is set aside for it (requests,
    reservations), in thousandths of a CPU and MiB."""

    cpu_limit_millis: int
    memory_limit_mb: int
    cpu_request_millis: int
    memory_request_mb: int

    @property
    def cpus(self) -> str:
        """The CPU limit as Docker writes it ("1", "0.5")."""
        return f"{self.cpu_limit_millis / 1000:g}"

    @property
    def reserved_cpus(self) -> str:
        return f"{self.cpu_request_millis / 1000:g}"


# One CPU for each app replica (processes = auto counts it: two workers), at least a
# quarter of one set aside; nginx needs a fraction of what the app does.
APP_CPU_LIMIT_MILLIS = 1000
APP_CPU_REQUEST_MILLIS = 250
APP_MEMORY_REQUEST_MB = 256
NGINX_RESOURCES = Resources(
    cpu_limit_millis=500, memory_limit_mb=128, cpu_request_millis=100, memory_request_mb=64
)


@dataclass(frozen=True)
class Shape:
    """How clients reach uWSGI: the one listener option and what talks to it."""

    listener: str  # the uWSGI option that binds the app's listener
    nginx_pass: str | None  # the nginx directive that reaches it; None: no nginx
    unix_socket: bool  # default address: the shared unix socket, else TCP
    protocol: str  # what the listener speaks: "uwsgi" or "http"


SHAPES: dict[str, Shape] = {
    "nginx-uwsgi": Shape("socket", "uwsgi_pass", unix_socket=True, protocol="uwsgi"),
    "nginx-http": Shape("http-socket", "proxy_pass", unix_socket=False, protocol="http"),
    "standalone": Shape("http", None, unix_socket=False, protocol="http"),
}

NGINX_SERVERS = [name for name, shape in SHAPES.items() if shape.nginx_pass]

SLUG = re.compile(r"[a-z_][a-z0-9_]*")


def template_context() -> dict[str, Any]:
    """The defaults and facts of cookiecutter.json, as cookiecutter reads them."""
    return json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text())


def choices(field: str) -> list[str]:
    """The allowed values of a choice variable, its default first."""
    return list(template_context()[field])


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
    for field in ("server", "database", "python_version"):
        if answers.get(field) not in choices(field):
            bad(field, "expected one of " + ", ".join(choices(field)))
    port = as_int(answers.get("http_port"))
    if port is None or not 1 <= port <= 65535:
        bad("http_port", "expected a port number from 1 to 65535")
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
    if not isinstance(answers.get("stats"), bool):
        bad("stats", "expected yes or no")
    return found


@dataclass(frozen=True)
class Plan:
    """Everything the generated files need that is not an answer itself."""

    answers: Mapping[str, Any]

    @classmethod
    def defaults(cls, **overrides: Any) -> Plan:
        """The plan cookiecutter --no-input would make, with some answers changed."""
        answers = {
            key: value[0] if isinstance(value, list) else value
            for key, value in template_context().items()
            if key != "__prompts__"
        }
        answers["project_slug"] = "flask_service"
        return cls({**answers, **overrides})

    def fact(self, name: str) -> Any:
        """A private fact of cookiecutter.json (`_name`), as the bake saw it."""
        return self.answers[f"_{name}"]

    @property
    def server(self) -> str:
        """The server answer: nginx-uwsgi, nginx-http or standalone."""
        return str(self.answers["server"])

    @property
    def database(self) -> str:
        """The database answer: none, sqlite or postgres."""
        return str(self.answers["database"])

    @property
    def sql(self) -> bool:
        """Has a database: Flask-SQLAlchemy, Flask-Migrate, migrations before serving."""
        return self.database != "none"

    @property
    def postgres_port(self) -> int:
        return int(self.fact("postgres_port"))

    @property
    def postgres_user(self) -> str:
        """The app's PostgreSQL role, which owns the database named after the project."""
        return str(self.fact("postgres_user"))

    @property
    def healthcheck_path(self) -> str:
        """The health check's path, HEALTHCHECK_PATH's default."""
        return str(self.fact("healthcheck_path"))

    @cached_property
    def shape(self) -> Shape:
        return SHAPES[self.answers["server"]]

    @property
    def listener(self) -> str:
        return self.shape.listener

    @property
    def nginx(self) -> bool:
        return self.shape.nginx_pass is not None

    @property
    def default_address(self) -> str:
        """Where uWSGI listens unless APP_ADDRESS says otherwise."""
        if self.shape.unix_socket:
            return self.fact("socket_path")
        return f":{self.fact('app_port')}"

    @property
    def socket_dir(self) -> str:
        """The folder of the unix socket: a volume nginx and the app share."""
        return str(Path(self.fact("socket_path")).parent)

    @property
    def processes(self) -> int | None:
        """The fixed number of workers, or None for 'auto' (counted at start)."""
        return as_int(self.answers["processes"])

    @property
    def threads(self) -> int:
        return int(self.answers["threads"])

    @property
    def buffer_size(self) -> int:
        return int(self.answers["buffer_size"])

    @property
    def nginx_header_buffer_kb(self) -> int:
        """The size of nginx's large header buffers: the longest request or header
        line it takes, an eighth of buffer_size (8k for 65535, nginx's default)."""
        return (self.buffer_size + 1) // 8 // 1024

    @property
    def nginx_header_buffers(self) -> int:
        """How many large header buffers nginx gets: as many as keep the worst
        request it may pass upstream within uWSGI's buffer_size (4 for 65535,
        nginx's default), so a bigger request gets a 4xx from nginx, never a
        5xx from uWSGI ("invalid request block size", "uwsgi request is too big")."""
        line = self.nginx_header_buffer_kb * 1024
        room = (
            self.buffer_size
            - NGINX_FIRST_HEADER_BUFFER
            - NGINX_MAX_HEADERS * UWSGI_VARIABLE_GROWTH
            - 2 * line
            - NGINX_OWN_VARIABLES
        )
        return room // line

    @property
    def uwsgi_max_vars(self) -> int:
        """uWSGI's max-vars, enough for every variable a buffer_size packet can hold
        (each takes at least 8 bytes; each max-vars unit holds two). uWSGI's default
        (64) drops requests with more than about 110 headers."""
        return self.buffer_size // 16

    @property
    def harakiri(self) -> int:
        """Seconds a request may run before uWSGI kills its worker."""
        return int(self.fact("harakiri"))

    @property
    def nginx_read_timeout(self) -> int:
        """nginx waits longer than harakiri, so uWSGI ends a stuck request first."""
        return self.harakiri + 10

    @property
    def nginx_connect_timeout(self) -> int:
        return NGINX_CONNECT_TIMEOUT

    @property
    def worker_reload_mercy(self) -> int:
        """A graceful stop waits this long for a request of up to harakiri seconds."""
        return self.harakiri + 5

    @property
    def supervisor_stopwaitsecs(self) -> int:
        """supervisor waits longer than uWSGI's mercy before it sends SIGKILL."""
        return self.worker_reload_mercy + 5

    @property
    def stop_grace_period(self) -> int:
        """Docker waits longer than supervisor before it sends SIGKILL."""
        return self.supervisor_stopwaitsecs + 5

    @property
    def healthcheck_interval(self) -> int:
        """Seconds between health checks once healthy: rare, each costs a request."""
        return int(self.fact("healthcheck_interval"))

    @property
    def healthcheck_start_interval(self) -> int:
        """Seconds between health checks while starting, until the first success: a
        cold start is healthy within about this much of being ready (Docker Engine 25+)."""
        return int(self.fact("healthcheck_start_interval"))

    @property
    def healthcheck_timeout(self) -> int:
        return HEALTHCHECK_TIMEOUT

    @property
    def healthcheck_retries(self) -> int:
        return HEALTHCHECK_RETRIES

    @property
    def app_start_period(self) -> int:
        return APP_START_PERIOD

    @property
    def nginx_start_period(self) -> int:
        return NGINX_START_PERIOD

    @property
    def app_replicas(self) -> int:
        return APP_REPLICAS

    @property
    def app_max_replicas(self) -> int:
        return APP_MAX_REPLICAS

    @property
    def autoscale_cpu_percent(self) -> int:
        return AUTOSCALE_CPU_PERCENT

    @property
    def nginx_replicas(self) -> int:
        return NGINX_REPLICAS

    @property
    def liveness_period(self) -> int:
        return LIVENESS_PERIOD

    @property
    def drain_seconds(self) -> int:
        return DRAIN_SECONDS

    @property
    def replica_workers(self) -> int:
        """uWSGI workers in one orchestrated replica: the fixed count, or what `auto`
        makes of the replica's CPU limit (twice its CPUs)."""
        return self.processes or 2 * math.ceil(APP_CPU_LIMIT_MILLIS / 1000)

    @property
    def app_resources(self) -> Resources:
        """An app replica's share. Its memory limit leaves every worker room to grow
        to reload-on-rss, so uWSGI recycles a worker before the kernel kills one."""
        return Resources(
            cpu_limit_millis=APP_CPU_LIMIT_MILLIS,
            memory_limit_mb=self.replica_workers * RELOAD_ON_RSS_MB + APP_MEMORY_OVERHEAD_MB,
            cpu_request_millis=APP_CPU_REQUEST_MILLIS,
            memory_request_mb=APP_MEMORY_REQUEST_MB,
        )

    @property
    def reload_on_rss_mb(self) -> int:
        return RELOAD_ON_RSS_MB

    @property
    def max_requests(self) -> int:
        return int(self.fact("max_requests"))

    @property
    def max_requests_delta(self) -> int:
        """Staggers the workers' recycling (uWSGI adds worker id x delta): 5%."""
        return self.max_requests // 20

    @property
    def listen(self) -> int:
        """uWSGI's listen queue, and the kernel's somaxconn that lets it be that long."""
        return int(self.fact("listen"))

    @property
    def thunder_lock(self) -> bool:
        return bool(self.fact("thunder_lock"))

    @property
    def http_keepalive(self) -> bool:
        """Whether uWSGI's HTTP router (standalone) keeps clients' connections open."""
        return not self.nginx and bool(self.fact("http_keepalive"))

    @property
    def uwsgi_request_log(self) -> bool:
        """Whether uWSGI logs every request: "auto", only where no nginx logs them."""
        answer = str(self.fact("uwsgi_request_log"))
        return not self.nginx if answer == "auto" else answer == "on"

    @property
    def access_log(self) -> bool:
        """Whether nginx logs every request (but the health checks')."""
        return bool(self.fact("access_log"))

    @property
    def access_log_buffer_kb(self) -> int:
        """nginx's access log buffer in KB; 0: each line written at once."""
        return int(self.fact("access_log_buffer_kb"))

    @property
    def nginx_worker_processes(self) -> str:
        return str(self.fact("nginx_worker_processes"))

    @property
    def memory_report(self) -> bool:
        """Whether uWSGI's stats include each worker's memory."""
        return bool(self.fact("memory_report"))

    @property
    def master_fifo(self) -> str:
        """The uWSGI master's command FIFO (make reload writes to it)."""
        return str(self.fact("master_fifo"))

    @property
    def max_worker_lifetime_s(self) -> int:
        return MAX_WORKER_LIFETIME_S

    @property
    def max_worker_lifetime_delta_s(self) -> int:
        return MAX_WORKER_LIFETIME_S // 30

    @property
    def nginx_resources(self) -> Resources:
        return NGINX_RESOURCES

    @property
    def nginx_stop_grace_period(self) -> int:
        """nginx stops on SIGQUIT once its requests in flight are answered, which
        takes at most nginx_read_timeout: the orchestrators wait longer."""
        return self.nginx_read_timeout + 5

    @property
    def swarm_update_monitor(self) -> int:
        """How long swarm watches each updated replica before the next: long enough
        for the health check to fail `retries` times in a row, which rolls back."""
        return self.healthcheck_interval * HEALTHCHECK_RETRIES + HEALTHCHECK_TIMEOUT

    @property
    def startup_failure_threshold(self) -> int:
        """Kubernetes' startup probe keeps trying as long as Docker's start period."""
        return APP_START_PERIOD // self.healthcheck_start_interval

    @property
    def nginx_startup_failure_threshold(self) -> int:
        return NGINX_START_PERIOD // self.healthcheck_start_interval

    @property
    def liveness_failure_threshold(self) -> int:
        """Failed liveness probes before Kubernetes restarts the app: for longer than
        harakiri, so uWSGI replaces a stuck worker first and busy workers never
        restart a pod."""
        return self.harakiri // LIVENESS_PERIOD + 1

    @property
    def app_termination_grace_period(self) -> int:
        """Kubernetes counts the grace period from preStop: the drain, then as long
        as compose's stop_grace_period."""
        return DRAIN_SECONDS + self.stop_grace_period

    @property
    def nginx_termination_grace_period(self) -> int:
        return DRAIN_SECONDS + self.nginx_stop_grace_period

    @property
    def k8s_name(self) -> str:
        """The project's name in Kubernetes objects: a DNS label (no underscores),
        short enough for a suffix such as -nginx."""
        return self.answers["project_slug"].replace("_", "-").strip("-")[:50].strip("-") or "app"

    @property
    def app_repository(self) -> str:
        """The app image's name for an orchestrator (tagged with a version, behind a
        registry's prefix when there is one)."""
        return f"{self.answers['project_slug']}-app"

    @property
    def nginx_repository(self) -> str:
        return f"{self.answers['project_slug']}-nginx"

    @property
    def response_headers_kb(self) -> int:
        """The most response headers an answer may carry, in KB (four cookies near the
        browsers' 4 KB limit each), in every server."""
        return int(self.fact("response_headers_kb"))

    @property
    def nginx_response_buffers(self) -> str:
        """nginx's buffers for the rest of an app's answer (its first buffer holds the
        headers: response_headers_kb): nginx's default, 8 of a 4 KB page, or more pages
        when the busy buffers (at least as big as the first) would not fit in all of
        them but one, which nginx refuses."""
        pages = max(NGINX_RESPONSE_BUFFERS, self.response_headers_kb // PAGE_KB + 1)
        return f"{pages} {PAGE_KB}k"

    @property
    def static_max_age_s(self) -> int:
        """How long browsers keep a static file without asking again; after that a
        revalidation (If-None-Match, If-Modified-Since) costs a 304. File names carry no
        content hash, so a deploy's new files reach every browser within this time."""
        return int(self.fact("static_max_age_s"))

    @property
    def max_upload_mb(self) -> int:
        """The one request body limit (nginx, uWSGI, Flask), in MB."""
        return int(self.answers["max_upload_mb"])

    @property
    def max_body_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def linger_s(self) -> int:
        """Without nginx, how long the app goes on reading (and discarding) a body it left
        unread after answering, a 413 included, so the client reads the answer instead of
        a reset connection (what nginx's lingering close does).
        Below harakiri: a worker never dies for it."""
        return LINGER_SECONDS

    @property
    def python_image(self) -> str:
        return str(self.fact("python_image")).format(python_version=self.answers["python_version"])

    @property
    def nginx_image(self) -> str:
        return str(self.fact("nginx_image"))

    @property
    def postgres_image(self) -> str:
        return str(self.fact("postgres_image"))

    @property
    def base_images(self) -> dict[str, str]:
        """The official base images, by the build argument (and variable) that takes each."""
        return {
            "PYTHON_IMAGE": self.python_image,
            "NGINX_IMAGE": self.nginx_image,
            "POSTGRES_IMAGE": self.postgres_image,
        }

    @property
    def unused_paths(self) -> list[str]:
        """Files and folders of the template this plan does not use."""
        unused = []
        if not self.nginx:
            # No nginx: nothing to spread requests over replicas (README: "Scaling out").
            unused.append("nginx")
            unused.append("deploy")
        if self.processes is not None:
            unused.append("ops/auto_processes.py")
            unused.append("tests/test_auto_processes.py")
        if not self.sql:
            package = self.answers["project_slug"]
            unused += [
                f"{package}/models.py",
                f"{package}/notes.py",
                f"{package}/migrations",
                "ops/migrate.py",
                "tests/test_notes.py",
            ]
        if self.database != "postgres":
            unused.append("db")
        return unused


class PlanExtension(Extension):
    """Gives templates the `plan` filter (`{%- set plan = cookiecutter | plan %}`)
    and the hooks `template_root`, the absolute folder this module is in."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        # `cruft update` renders two commits of one checkout in one process: read this
        # module anew, or the later commit would get the earlier one's decisions.
        module = importlib.reload(sys.modules[__name__])
        environment.filters["plan"] = module.Plan
        environment.globals["template_root"] = str(module.TEMPLATE_ROOT)


def main(argv: list[str]) -> int:
    """`python3 -m hooks.plan images [PYTHON_VERSION]`: the official base images, one
    line each: PYTHON_IMAGE=, NGINX_IMAGE=, POSTGRES_IMAGE=."""
    if len(argv) in (1, 2) and argv[0] == "images":
        version = argv[1] if len(argv) == 2 else choices("python_version")[0]
        if version not in choices("python_version"):
            print(
                f"python_version: {version!r} is not one of {choices('python_version')}",
                file=sys.stderr,
            )
            return 2
        for name, ref in Plan.defaults(python_version=version).base_images.items():
            print(f"{name}={ref}")
        return 0
    print(
        "usage: python3 -m hooks.plan images [PYTHON_VERSION]\n"
        "prints PYTHON_IMAGE=, NGINX_IMAGE= and POSTGRES_IMAGE= (the official base images)",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
