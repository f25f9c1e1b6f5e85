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
"""

from __future__ import annotations

import os
import shlex
{%- if plan.worker == "rq" %}
from pathlib import Path
{%- endif %}


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


if __name__ == "__main__":
    environ = dict(os.environ)
{%- if plan.worker == "rq" %}
    # rq's --url, kept off the command line (and ps) where the password would show:
    # REDIS_URL, or the file REDIS_URL_FILE names (a swarm secret).
    if path := environ.get("REDIS_URL_FILE"):
        environ.setdefault("RQ_REDIS_URL", Path(path).read_text().strip())
    environ.setdefault("RQ_REDIS_URL", environ.get("REDIS_URL", ""))
{%- endif %}
    argv = command(environ)
    os.execvpe(argv[0], argv, environ)
