{%- set plan = cookiecutter | plan -%}
"""The worker's health check: alive and connected to its queue.

Exits 0 when Redis (REDIS_URL) answers and {{ "an RQ worker of this container (its host
name, a live process) is registered there" if plan.worker == "rq" else "this container's Celery worker
(celery@<host name>) answers a ping through it" }}.
{%- if plan.worker == "celery" %}
Beat (WORKER_ROLE=beat) answers no ping: Redis answering is its check.
{%- endif %}
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

{% if plan.worker == "rq" -%}
from redis import Redis
from rq import Worker
{%- else -%}
from celery import Celery
from redis import Redis
{%- endif %}

TIMEOUT_SECONDS = 2


def main() -> int:
    # REDIS_URL, or the file REDIS_URL_FILE names (a swarm secret).
    if path := os.environ.get("REDIS_URL_FILE"):
        url = Path(path).read_text().strip()
    else:
        url = os.environ.get("REDIS_URL", "redis://localhost:{{ plan.redis_port }}/0")
    connection = Redis.from_url(
        url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
    )
    connection.ping()
{%- if plan.worker == "rq" %}
    host = socket.gethostname()
    for worker in Worker.all(connection=connection):
        if worker.hostname == host and worker.pid and os.path.exists(f"/proc/{worker.pid}"):
            return 0
    print(f"no live RQ worker of {host} is registered in Redis", file=sys.stderr)
    return 1
{%- else %}
    if os.environ.get("WORKER_ROLE") == "beat":
        return 0
    node = f"celery@{socket.gethostname()}"
    replies = Celery(broker=url).control.ping(destination=[node], timeout=TIMEOUT_SECONDS)
    if any(node in reply for reply in replies):
        return 0
    print(f"{node} did not answer a ping", file=sys.stderr)
    return 1
{%- endif %}


if __name__ == "__main__":
    sys.exit(main())
