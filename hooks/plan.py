"""The template's decisions, made once from the answers.

cookiecutter.json holds the questions and the facts the product uses (ports, paths,
image names, timeouts, limits: its private `_name` variables). A `Plan` holds both,
typed: the answers as hooks/answers.py declares and checks them, the facts as
hooks/facts.py declares them, each with its reason. This module derives the rest.
Templates read answers as `cookiecutter.NAME` (as cookiecutter writes them, file
names included) and everything else as `plan.NAME`: an answer typed, a fact
(`_app_port` is `plan.app_port`), or a value derived here. A name the plan does not
have fails the bake. The server choice is `plan.server` ("nginx-uwsgi",
"nginx-http", "standalone"), with `plan.nginx` for "nginx in front". A number two
files must agree on is written once: in cookiecutter.json, or as a named constant
beside its reason (the answers' limits, nginx's sizing in hooks/sizing.py, here).

Every other part asks the plan: the hooks (validation, which files an answer does
without), the templates (through `PlanExtension`: `{%- set plan = cookiecutter |
plan %}`), the machine scripts (machine/images.py), the bench and the tests."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from jinja2 import Environment
from jinja2.ext import Extension

from hooks import sizing
from hooks.answers import SHAPES, Answers, Shape, read_fields, template_context
from hooks.facts import Facts
from hooks.replicas import Replicas


@dataclass(frozen=True, kw_only=True)
class Plan(Replicas):
    """Everything the generated files need: the answers and facts, typed, and what
    follows from them."""

    answers: Mapping[str, Any]  # as cookiecutter gave them (text from the command line)

    # nginx writes its access log in batches of this many KB, at least every second:
    # one write per request through Docker's log driver costs throughput. No more than
    # a pipe takes whole (PIPE_BUF): nginx's workers share the container's stdout, and
    # a bigger write may be cut by another worker's, two JSON lines spliced into one.
    # Ref: https://man7.org/linux/man-pages/man7/pipe.7.html
    access_log_buffer_kb: ClassVar[int] = 4
    # So a line is never bigger either, the client's values are logged cut to their
    # first bytes (before any control character, which JSON escapes to 6 bytes; '"' and
    # '\\' take 2): the method, the URI, the User-Agent and Referer headers.
    log_method_bytes: ClassVar[int] = 32
    log_uri_bytes: ClassVar[int] = 1024
    log_header_bytes: ClassVar[int] = 256

    @classmethod
    def read(cls, answers: Mapping[str, Any]) -> Plan:
        """The plan of these answers (cookiecutter's context: questions and facts)."""
        return cls(
            answers=answers,
            **read_fields(Answers, answers),
            **read_fields(Facts, answers, prefix="_"),
        )

    @classmethod
    def defaults(cls, **overrides: Any) -> Plan:
        """The plan cookiecutter --no-input would make, with some answers changed."""
        answers = {
            key: value[0] if isinstance(value, list) else value
            for key, value in template_context().items()
            if key != "__prompts__"
        }
        answers["project_slug"] = "flask_service"
        return cls.read({**answers, **overrides})

    # -- The shape: how clients reach uWSGI -------------------------------------------

    @cached_property
    def shape(self) -> Shape:
        return SHAPES[self.server]

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
    def sql(self) -> bool:
        """Has a database: Flask-SQLAlchemy, Flask-Migrate, migrations before serving."""
        return self.database != "none"

    @property
    def default_address(self) -> str:
        """Where uWSGI listens unless APP_ADDRESS says otherwise."""
        return self.socket_path if self.shape.unix_socket else f":{self.app_port}"

    @property
    def socket_dir(self) -> str:
        """The folder of the unix socket: a volume nginx and the app share."""
        return str(Path(self.socket_path).parent)

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
    def request_id_environ(self) -> str:
        """The request ID header as the app's WSGI environ names it (HTTP_X_REQUEST_ID)."""
        return "HTTP_" + self.request_id_header.upper().replace("-", "_")

    # -- Limits and buffers -----------------------------------------------------------

    @property
    def max_body_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def nginx_header_buffer_kb(self) -> int:
        return sizing.header_buffer_kb(self.buffer_size)

    @property
    def nginx_header_buffers(self) -> int:
        return sizing.header_buffers(self.buffer_size, self.taken_at_bytes)

    @property
    def uwsgi_max_vars(self) -> int:
        return sizing.uwsgi_max_vars(self.buffer_size)

    @property
    def nginx_response_buffers(self) -> str:
        return sizing.response_buffers(self.response_headers_kb)

    @property
    def hsts_max_age_days(self) -> int:
        return self.hsts_max_age_s // 86400

    @property
    def recycle_interval_min(self) -> int:
        return self.recycle_interval_s // 60

    # -- The database's connections (hooks/sizing.py) ----------------------------------

    @property
    def pool_size(self) -> int:
        return sizing.pool_size(self.threads, self.database_pool_size)

    @property
    def database_workers(self) -> bool:
        """The background workers use the database too."""
        return self.sql and self.queue

    def connection_budget(
        self, app_replicas: int, processes: int, worker_replicas: int
    ) -> sizing.ConnectionBudget:
        """A deployment's budget, from its replica counts and workers per replica."""
        return sizing.ConnectionBudget(
            app_replicas=app_replicas,
            processes=processes,
            pool=self.pool_size,
            worker_replicas=worker_replicas if self.database_workers else 0,
            worker_concurrency=self.worker_concurrency,
            metrics=self.metrics,
        )

    @property
    def compose_processes(self) -> int:
        """uWSGI's processes in compose.yaml's app: fixed, or `auto` on a host of
        compose_cpus."""
        return self.processes or self.auto_processes(self.compose_cpus)

    @property
    def compose_budget(self) -> sizing.ConnectionBudget:
        """compose.yaml: one app replica (recreated, never beside another), its
        processes, one worker."""
        return self.connection_budget(1, self.compose_processes, 1)

    @property
    def swarm_budget(self) -> sizing.ConnectionBudget:
        """The swarm stack: its replicas and the one a start-first update adds; its
        workers update stop-first."""
        return self.connection_budget(
            self.app_replicas + 1, self.replica_workers, self.worker_replicas
        )

    @property
    def kubernetes_budget(self) -> sizing.ConnectionBudget:
        """Kubernetes: the autoscaler's maximum and the pod a rolling update adds
        (maxSurge 1; the workers' default maxSurge, 25%, rounds up to one as well)."""
        return self.connection_budget(
            self.app_max_replicas + 1, self.replica_workers, self.worker_replicas + 1
        )

    @property
    def postgres_max_connections(self) -> int:
        """compose's db service: what compose's budget needs."""
        return self.compose_budget.max_connections

    # -- Overload: what waited too long is shed, the rest answered in bounded time ---

    # With nginx in front, a request that waited longer than this for a uWSGI thread
    # (since nginx passed it on) is answered 503 with Retry-After at once, without
    # running the app: under overload the queue sheds instead of growing, so a 200
    # takes at most this plus its page's own time. An answer later than a second is
    # worth less to a client than a fast 503 it retries after retry_after_s.
    queue_wait_limit_s: ClassVar[int] = 1
    # The wait ends when a uWSGI thread takes the request: uWSGI stamps that moment
    # (microseconds) into the request's variables under this name, before the app runs.
    # What comes after, the request's turn at the GIL and the CPUs among those already
    # running, is the page's own time: it is not queueing, and shedding it would turn
    # away requests when nothing waits (as many clients as threads on a busy host).
    taken_at_environ: ClassVar[str] = "TAKEN_AT_US"

    @property
    def taken_at_bytes(self) -> int:
        """The stamp's room in uWSGI's buffer: its name, 16 digits (microseconds since
        1970, until the year 2286) and their two 2-byte lengths."""
        return 2 + len(self.taken_at_environ) + 2 + 16

    # The overload the stack answers with 200s and 503s only, in requests at once per
    # request it serves at once (processes x threads): nginx is sized for it.
    overload_factor: ClassVar[int] = 4

    @property
    def nginx_worker_connections(self) -> int:
        """nginx's connections per worker, for overload_factor x the requests the app
        serves at once in compose.yaml (hooks/sizing.py)."""
        return sizing.worker_connections_for(self.overload_factor * self.served_at_once)

    @property
    def served_at_once(self) -> int:
        """The requests compose.yaml's app serves at once: processes x threads."""
        return self.compose_processes * self.threads

    @property
    def listen(self) -> int:
        """uWSGI's listen queue: room for every request of the overload, and as many
        left by their clients (hooks/sizing.py)."""
        return sizing.listen_queue(self.overload_factor * self.served_at_once)

    @property
    def nginx_worker_files(self) -> int:
        """Open files per nginx worker: a descriptor per connection, and one per file it
        sends (static files) beside each."""
        return 2 * self.nginx_worker_connections

    def overload_answer_bound_s(self, page_seconds: float) -> float:
        """The longest a 200 for a page of `page_seconds` takes under any overload, with
        nginx in front: the most it waited for a thread, then its own time."""
        return self.queue_wait_limit_s + page_seconds

    # -- Stopping: each waits longer than the one it stops ----------------------------

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
    def nginx_stop_grace_period(self) -> int:
        """nginx stops on SIGQUIT once its requests in flight are answered, which
        takes at most nginx_read_timeout: the orchestrators wait longer."""
        return self.nginx_read_timeout + 5

    @property
    def app_termination_grace_period(self) -> int:
        """Kubernetes counts the grace period from preStop: the drain, then as long
        as compose's stop_grace_period."""
        return self.drain_seconds + self.stop_grace_period

    @property
    def nginx_termination_grace_period(self) -> int:
        return self.drain_seconds + self.nginx_stop_grace_period

    # -- Images and files -------------------------------------------------------------

    @property
    def python_image(self) -> str:
        return self.python_image_pattern.format(python_version=self.python_version)

    @property
    def base_images(self) -> dict[str, str]:
        """The official base images the Dockerfiles name in FROM, by the variable whose image
        replaces each (compose.yaml's named contexts)."""
        return {
            "PYTHON_IMAGE": self.python_image,
            "NGINX_IMAGE": self.nginx_image,
            "POSTGRES_IMAGE": self.postgres_image,
            "REDIS_IMAGE": self.redis_image,
            "PROMETHEUS_IMAGE": self.prometheus_image,
        }

    @property
    def queue(self) -> bool:
        """Has a worker: a worker service, Redis as its queue, an example job."""
        return self.worker != "none"

    @property
    def metrics(self) -> bool:
        """Prometheus metrics (ops/metrics.py) and the monitoring profile: read from
        uWSGI's stats server, so only with it."""
        return self.stats

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

    @property
    def dockerfile_folders(self) -> list[str]:
        """The project's folders with a Dockerfile: the app's, nginx's, the database's,
        Redis', Prometheus'."""
        folders = ["/"]
        if self.nginx:
            folders.append("/nginx")
        if self.database == "postgres":
            folders.append("/db")
        if self.queue:
            folders.append("/redis-server")
        if self.metrics:
            folders.append("/prometheus")
        return folders

    @property
    def unused_paths(self) -> list[str]:
        """Files and folders of the template this plan does not use."""
        unused = []
        if not self.nginx:
            # No nginx: nothing to spread requests over replicas (README: "Scaling out").
            unused += ["nginx", "deploy"]
        if self.processes is not None:
            unused += ["ops/auto_processes.py", "tests/test_auto_processes.py"]
        if not self.sql:
            package = self.project_slug
            unused += [
                f"{package}/extensions.py",
                f"{package}/models.py",
                f"{package}/notes.py",
                f"{package}/migrations",
                "ops/migrate.py",
                "tests/test_notes.py",
            ]
        if self.database != "postgres":
            unused += ["db", "ops/connection_budget.py"]
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
        if not self.metrics:
            unused += [
                "ops/metrics.py",
                "prometheus",
                "nginx/docker-entrypoint.d/17-metrics-log.envsh",
            ]
        return unused


class PlanExtension(Extension):
    """Gives templates the `plan` filter (`{%- set plan = cookiecutter | plan %}`)
    and the hooks `template_root`, the absolute folder of the template."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        # `cruft update` renders two commits of one checkout in one process: read the
        # hooks' modules anew, or the later commit would get the earlier one's decisions.
        for name in [name for name in sys.modules if name.startswith("hooks.")]:
            del sys.modules[name]
        plan = importlib.import_module(__name__)
        answers = importlib.import_module("hooks.answers")
        environment.filters["plan"] = plan.Plan.read
        environment.globals["template_root"] = str(answers.TEMPLATE_ROOT)
