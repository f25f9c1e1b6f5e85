{%- set plan = cookiecutter | plan -%}
"""Run the background worker (supervisord's [program:worker], ops/worker.conf).

WORKER_COMMAND, from the settings (.env), runs as it is: an app with its own
{{ "RQ" if plan.worker == "rq" else "Celery" }} tasks names its worker there (with its queues), and nothing generated
changes. Unset, the project's own worker runs, on the queues WORKER_QUEUES names
(separated by spaces; default: {{ plan.worker_queues }}).
{%- if plan.worker == "celery" %} WORKER_ROLE=beat runs Celery beat instead (BEAT_COMMAND,
or the project's), the periodic tasks' one scheduler.
{%- endif %}
The command replaces this process, so supervisord's signals reach the worker itself.
With SENTRY_DSN set, this process starts Sentry's SDK (service.py) and then runs the
command's Python entry point itself ({{ "rq" if plan.worker == "rq" else "celery" }}'s), as the worker: the SDK is started
before the worker forks the processes that run jobs. A command that is not a Python
program (a script of the app's) starts the SDK itself.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

# The project folder, where service.py is (this script's folder is the one on sys.path).
PROJECT = Path(__file__).resolve().parent.parent


def command(environ: dict[str, str]) -> list[str]:
    """The worker's command line, from the settings."""
{%- if plan.worker == "celery" %}
    if environ.get("WORKER_ROLE") == "beat":
        if own := environ.get("BEAT_COMMAND"):
            return shlex.split(own)
        # The schedule's state in /tmp: the root is read-only, and beat's schedule is code.
        return ["celery", "--app", "{{ cookiecutter.project_slug }}.worker", "beat",
                "--loglevel", "INFO", "--schedule", "/tmp/celerybeat-schedule"]  # fmt: skip
{%- endif %}
    if own := environ.get("WORKER_COMMAND"):
        return shlex.split(own)
    queues = environ.get("WORKER_QUEUES", "{{ plan.worker_queues }}").split()
{%- if plan.worker == "rq" %}
    return [
        "rq", "worker",
        # Jobs queued for later (enqueue_in, enqueue_at, retries) are moved to their queue
        # by one scheduler however many workers run: each worker's takes a lock in Redis.
        "--with-scheduler",
        # A job whose worker was killed is noticed once its heartbeat (every 10 s) has
        # lapsed, 60 s later, at a worker's next maintenance: it runs again (retries
        # left) or fails with AbandonedJobError. An idle worker wakes every worker-ttl
        # - 15 s to do maintenance; RQ's defaults (420 s, every 10 minutes) would leave
        # such a job in "started" for up to ten minutes.
        "--job-monitoring-interval", "10", "--worker-ttl", "35", "--maintenance-interval", "20",
        *queues,
    ]  # fmt: skip
{%- else %}
    return [
        "celery", "--app", "{{ cookiecutter.project_slug }}.worker", "worker", "--loglevel", "INFO",
        "--concurrency", environ.get("WORKER_CONCURRENCY", "{{ plan.worker_concurrency }}"),
        "--queues", ",".join(queues),
    ]  # fmt: skip
{%- endif %}


def python_entry_point(program: str) -> Callable[[], object] | None:
    """The function an installed Python program (a console script: rq, celery) runs."""
    found = entry_points(group="console_scripts", name=Path(program).name)
    return next(iter(found)).load() if found else None


def run(argv: list[str], environ: dict[str, str]) -> None:
    """Run the worker's command: in this process, after starting Sentry's SDK, when
    SENTRY_DSN is set and the command is a Python program; else in its place."""
    main = python_entry_point(argv[0]) if environ.get("SENTRY_DSN") else None
    if main is None:
        os.execvpe(argv[0], argv, environ)
    os.environ.update(environ)
    sys.path.insert(0, str(PROJECT))
    from service import start_error_reports

    start_error_reports()
    sys.argv = argv
    sys.exit(main())


if __name__ == "__main__":
    environ = dict(os.environ)
{%- if plan.worker == "rq" %}
    # rq's --url, kept off the command line (and ps) where the password would show:
    # REDIS_URL, or the file REDIS_URL_FILE names (a swarm secret).
    if path := environ.get("REDIS_URL_FILE"):
        environ.setdefault("RQ_REDIS_URL", Path(path).read_text().strip())
    environ.setdefault("RQ_REDIS_URL", environ.get("REDIS_URL", ""))
{%- endif %}
    run(command(environ), environ)
