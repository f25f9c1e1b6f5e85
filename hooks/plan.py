"""The template's decisions, made once from the answers.

The rule for values: what a user or the bench may vary is a variable of
cookiecutter.json (an answer, or a private `_name` where it is not a question),
as is every plain fact (ports, paths, image names, timeouts); this module only
derives from them. Templates read answers as `cookiecutter.NAME` (as cookiecutter
writes them, file names included) and everything else as `plan.NAME`: a private
fact by its name without the underscore, or a value derived here. The server
choice is `plan.server` ("nginx-uwsgi", "nginx-http", "standalone"), with
`plan.nginx` for "nginx in front". A number two files must agree on is written
once: in cookiecutter.json, or as a constant here (the limits of uWSGI and nginx).

Every other part asks this module: the hooks (validation, which files an answer
does without), the templates (through `PlanExtension`: `{%- set plan =
cookiecutter | plan %}`), the machine scripts, the bench and the tests."""

from __future__ import annotations

import functools
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

# Why some facts of cookiecutter.json are what they are (the others say so where
# the generated files use them):
# - linger_s: without nginx, how long the app reads on what a client still sends
#   after its answer.
# - healthcheck_timeout, _retries, app_start_period, nginx_start_period: Docker's
#   health check in the images, besides its intervals; the orchestrators' probes
#   follow it.
# - app_replicas: enough that one being replaced leaves two; app_max_replicas, the
#   most Kubernetes' autoscaler adds, at autoscale_cpu_percent of the request.
# - nginx_replicas: on Kubernetes (the swarm stack runs one on each node).
# - reload_on_rss_mb, max_requests, max_worker_lifetime_s: uWSGI's worker recycling,
#   rarely: under lazy-apps each recycle imports the app again (make bench measured
#   recycling every 5000 requests).
# - app_memory_overhead_mb: an app replica's memory besides its workers: the master,
#   supervisord, request bodies buffered in /tmp (a tmpfs, counted as its memory).
# - nginx_connect_timeout: nginx gives up on an app address after this long and tries
#   the next: a replica that vanished answers nothing, while a live one, however
#   busy, accepts within one SYN retry (1 s). nginx's default is 60 s.
# - liveness_period: Kubernetes' liveness probe only has to catch a dead app.
# - drain_seconds: a stopping pod keeps serving (preStop) while Kubernetes takes it
#   out of its Service's endpoints, before its process gets SIGTERM.
# - app_cpu_limit_millis: one CPU for each app replica (processes = auto counts it:
#   two workers), app_cpu_request_millis at least a quarter of one set aside;
#   nginx_*: nginx needs a fraction of what the app does.


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
# What cookiecutter itself reads as yes (its boolean variables).
TRUE_WORDS = {"1", "true", "t", "yes", "y", "on"}


@functools.cache
def template_context() -> dict[str, Any]:
    """The defaults and facts of cookiecutter.json, as cookiecutter reads them."""
    return json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text())


def choices(field: str) -> list[str]:
    """The allowed values of a choice variable, its default first."""
    return list(template_context()[field])


def typed_like_default(key: str, value: Any) -> Any:
    """A value of cookiecutter.json's `key` with the type of its default there."""
    default = template_context().get(key)
    if isinstance(default, bool):
        return value if isinstance(value, bool) else str(value).lower() in TRUE_WORDS
    if isinstance(default, int) and as_int(value) is not None:
        return as_int(value)
    return value


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
        """A private fact of cookiecutter.json (`_name`), as cookiecutter read it."""
        return self.answers[f"_{name}"]

    def __getattr__(self, name: str) -> Any:
        """`plan.NAME`: a private fact of cookiecutter.json without its underscore
        (`plan.app_port` is `_app_port`), or an answer (`plan.server`), typed like its
        default there (answers given on the command line arrive as text)."""
        answers = self.__dict__.get("answers", {})
        for key in (f"_{name}", name):
            if key in answers and not key.startswith("__"):
                return typed_like_default(key, answers[key])
        raise AttributeError(f"the plan has no {name!r}: no fact _{name} or answer {name}")

    @property
    def sql(self) -> bool:
        """Has a database: Flask-SQLAlchemy, Flask-Migrate, migrations before serving."""
        return self.database != "none"

    @property
    def worker(self) -> str:
        """The background worker: "none", "rq" or "celery"."""
        return self.answers.get("worker", "none")

    @property
    def queue(self) -> bool:
        """Has a worker: a worker service, Redis as its queue, an example job."""
        return self.worker != "none"

    @property
    def worker_queues(self) -> str:
        """The queues the project's worker takes unless WORKER_QUEUES says otherwise:
        each library's default queue."""
        return {"rq": "default", "celery": "celery"}.get(self.worker, "")

    @property
    def job_stop_wait(self) -> int:
        """supervisor waits this long for a running job to finish after SIGTERM (the
        longest a job may run, job_timeout_s, and a little) before it sends SIGKILL."""
        return self.job_timeout_s + 5

    @property
    def worker_stop_grace_period(self) -> int:
        """Docker waits longer than supervisor before it sends SIGKILL."""
        return self.job_stop_wait + 5

    @property
    def requirements_lock(self) -> str:
        """The name of the pinned requirements in templates/requirements/ (and
        dev-NAME): one per database answer, and per worker where there is one."""
        return self.database + (f"-{self.worker}" if self.queue else "")

    @cached_property
    def shape(self) -> Shape:
        return SHAPES[self.answers["server"]]

    @property
    def listener(self) -> str:
        """The uWSGI option that binds the app's listener: socket, http-socket or http."""
        return self.shape.listener

    @property
    def protocol(self) -> str:
        """What the listener speaks: "uwsgi" (nginx-uwsgi) or "http"."""
        return self.shape.protocol

    @property
    def nginx(self) -> bool:
        return self.shape.nginx_pass is not None

    @property
    def front_url(self) -> str:
        """Where clients reach the service on this machine: HTTPS on localhost (the name
        `make cert`'s certificate carries), else plain HTTP on 127.0.0.1."""
        if self.https:
            return f"https://localhost:{self.https_port}/"
        return f"http://127.0.0.1:{self.http_port}/"

    @property
    def front_url_from_env(self) -> str:
        """front_url with the port .env may set (HTTPS_PORT or HTTP_PORT), as a shell
        reads it; a Makefile doubles the $."""
        if self.https:
            return f"https://localhost:${{HTTPS_PORT:-{self.https_port}}}/"
        return f"http://127.0.0.1:${{HTTP_PORT:-{self.http_port}}}/"

    @property
    def curl_front(self) -> str:
        """curl as it trusts the front door: `make cert`'s certificate with https."""
        return "curl --cacert certs/cert.pem" if self.https else "curl"

    @property
    def default_address(self) -> str:
        """Where uWSGI listens unless APP_ADDRESS says otherwise."""
        if self.shape.unix_socket:
            return self.fact("socket_path")
        return f":{self.fact('app_port')}"

    @property
    def request_id_environ(self) -> str:
        """The request ID header as the app's WSGI environ names it (HTTP_X_REQUEST_ID)."""
        return "HTTP_" + self.request_id_header.upper().replace("-", "_")

    @property
    def socket_dir(self) -> str:
        """The folder of the unix socket: a volume nginx and the app share."""
        return str(Path(self.fact("socket_path")).parent)

    @property
    def processes(self) -> int | None:
        """The fixed number of workers, or None for 'auto' (counted at start)."""
        return as_int(self.answers["processes"])

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
    def nginx_read_timeout(self) -> int:
        """nginx waits longer than harakiri, so uWSGI ends a stuck request first."""
        return self.harakiri + 10

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
    def replica_workers(self) -> int:
        """uWSGI workers in one orchestrated replica: the fixed count, or what `auto`
        makes of the replica's CPU limit (twice its CPUs)."""
        return self.processes or 2 * math.ceil(self.app_cpu_limit_millis / 1000)

    @property
    def app_resources(self) -> Resources:
        """An app replica's share. Its memory limit leaves every worker room to grow
        to reload-on-rss, so uWSGI recycles a worker before the kernel kills one."""
        return Resources(
            cpu_limit_millis=self.app_cpu_limit_millis,
            memory_limit_mb=(
                self.replica_workers * self.reload_on_rss_mb + self.app_memory_overhead_mb
            ),
            cpu_request_millis=self.app_cpu_request_millis,
            memory_request_mb=self.app_memory_request_mb,
        )

    @property
    def max_requests_delta(self) -> int:
        """Staggers the workers' recycling (uWSGI adds worker id x delta): 5%."""
        return self.max_requests // 20

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
    def max_worker_lifetime_delta_s(self) -> int:
        return self.max_worker_lifetime_s // 30

    @property
    def nginx_resources(self) -> Resources:
        return Resources(
            cpu_limit_millis=self.nginx_cpu_limit_millis,
            memory_limit_mb=self.nginx_memory_limit_mb,
            cpu_request_millis=self.nginx_cpu_request_millis,
            memory_request_mb=self.nginx_memory_request_mb,
        )

    @property
    def nginx_stop_grace_period(self) -> int:
        """nginx stops on SIGQUIT once its requests in flight are answered, which
        takes at most nginx_read_timeout: the orchestrators wait longer."""
        return self.nginx_read_timeout + 5

    @property
    def swarm_update_monitor(self) -> int:
        """How long swarm watches each updated replica before the next: long enough
        for the health check to fail `retries` times in a row, which rolls back."""
        return self.healthcheck_interval * self.healthcheck_retries + self.healthcheck_timeout

    @property
    def startup_failure_threshold(self) -> int:
        """Kubernetes' startup probe keeps trying as long as Docker's start period."""
        return self.app_start_period // self.healthcheck_start_interval

    @property
    def nginx_startup_failure_threshold(self) -> int:
        return self.nginx_start_period // self.healthcheck_start_interval

    @property
    def liveness_failure_threshold(self) -> int:
        """Failed liveness probes before Kubernetes restarts the app: for longer than
        harakiri, so uWSGI replaces a stuck worker first and busy workers never
        restart a pod."""
        return self.harakiri // self.liveness_period + 1

    @property
    def app_termination_grace_period(self) -> int:
        """Kubernetes counts the grace period from preStop: the drain, then as long
        as compose's stop_grace_period."""
        return self.drain_seconds + self.stop_grace_period

    @property
    def nginx_termination_grace_period(self) -> int:
        return self.drain_seconds + self.nginx_stop_grace_period

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
    def nginx_response_buffers(self) -> str:
        """nginx's buffers for the rest of an app's answer (its first buffer holds the
        headers: response_headers_kb): nginx's default, 8 of a 4 KB page, or more pages
        when the busy buffers (at least as big as the first) would not fit in all of
        them but one, which nginx refuses."""
        pages = max(NGINX_RESPONSE_BUFFERS, self.response_headers_kb // PAGE_KB + 1)
        return f"{pages} {PAGE_KB}k"

    @property
    def hsts_max_age_days(self) -> int:
        return self.hsts_max_age_s // 86400

    @property
    def max_body_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def python_image(self) -> str:
        return str(self.fact("python_image")).format(python_version=self.answers["python_version"])

    @property
    def base_images(self) -> dict[str, str]:
        """The official base images, by the build argument (and variable) that takes each."""
        return {
            "PYTHON_IMAGE": self.python_image,
            "NGINX_IMAGE": self.nginx_image,
            "POSTGRES_IMAGE": self.postgres_image,
            "REDIS_IMAGE": self.redis_image,
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
        if not self.queue:
            unused += [
                f"{self.answers['project_slug']}/jobs.py",
                "ops/worker.conf",
                "ops/worker.py",
                "ops/worker_healthcheck.py",
                "tests/test_jobs.py",
                "redis-server",
                "deploy/kubernetes/worker",
            ]
        if self.worker != "celery":
            unused.append(f"{self.answers['project_slug']}/worker.py")
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
    line each: PYTHON_IMAGE=, NGINX_IMAGE=, POSTGRES_IMAGE=, REDIS_IMAGE=."""
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
        "prints PYTHON_IMAGE=, NGINX_IMAGE=, POSTGRES_IMAGE= and REDIS_IMAGE=\n"
        "(the official base images)",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
