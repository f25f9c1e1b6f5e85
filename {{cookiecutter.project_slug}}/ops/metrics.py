{%- set plan = cookiecutter | plan -%}
"""Prometheus metrics of this container, on METRICS_ADDRESS (:{{ plan.metrics_port }}, the stack's own
network, never published): supervisord runs it beside uWSGI (ops/supervisord.conf).

Each scrape reads uWSGI's stats server ({{ plan.stats_address }}, JSON over HTTP) afresh: workers
busy and idle, the listen queue, requests, exceptions, harakiri kills, memory and
respawns per worker{{ ", and the depth of the job queue in Redis" if plan.queue }}.
{%- if plan.database == "postgres" %} PostgreSQL's own
statistics too, read as the app's role on a connection opened for the scrape: the
connections by state against max_connections, transactions, deadlocks, the database's
size, under the names postgres_exporter gives them.
{%- endif %}
Ref: https://uwsgi-docs.readthedocs.io/en/latest/StatsServer.html
Ref: https://prometheus.github.io/client_python/collector/custom/
{%- if plan.nginx %}

nginx sends each request's line of its `metrics` log format (nginx.conf) here as syslog
over UDP, on the same port number, when its METRICS_LOG_ADDRESS names this one: requests
by status, nginx's and the app's time, and nginx's connections as of the last request.
A datagram lost under heavy load is a request not counted.
Ref: https://nginx.org/en/docs/syslog.html
{%- endif %}
"""

from __future__ import annotations

import json
import os
import signal
{%- if plan.nginx %}
import socket
{%- endif %}
import sys
{%- if plan.nginx %}
import threading
{%- endif %}
import urllib.request
from collections.abc import Iterator
{%- if plan.queue or plan.database == "postgres" %}
from pathlib import Path
{%- endif %}
from typing import Any
{% if plan.database == "postgres" %}
import psycopg
{%- endif %}
{%- if plan.nginx %}
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
{%- else %}
from prometheus_client import CollectorRegistry, start_http_server
{%- endif %}
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
{%- if plan.worker == "rq" %}
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
{%- elif plan.worker == "celery" %}
from redis import Redis
from redis.exceptions import RedisError
{%- endif %}

STATS_URL = "http://{{ plan.stats_address }}"
# Well within Prometheus' scrape timeout: a stuck source makes a gap, not a hung scrape.
TIMEOUT_SECONDS = 2
# A stats server that does not answer (uWSGI restarting), or answers no JSON.
UNREADABLE = (OSError, ValueError)
{%- if plan.queue %}
# The queues the worker takes (WORKER_QUEUES, as ops/worker.py reads it).
QUEUES = os.environ.get("WORKER_QUEUES", "{{ plan.worker_queues }}").split()
{%- endif %}


def read_stats() -> dict[str, Any]:
    with urllib.request.urlopen(STATS_URL, timeout=TIMEOUT_SECONDS) as response:
        return json.load(response)


class UwsgiCollector(Collector):
    """uWSGI's stats as metrics: the master's listen queue, and each worker's state and
    counters, labelled by worker id (a respawned worker's counters start again at zero,
    which Prometheus' rate() takes as a reset)."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("uwsgi_up", "1 when uWSGI's stats server answered this scrape.")
        try:
            stats = read_stats()
        except UNREADABLE:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily(
            "uwsgi_listen_queue",
            "Connections waiting for a worker in the listen queue.",
            value=stats.get("listen_queue", 0),
        )
        yield CounterMetricFamily(
            "uwsgi_listen_queue_errors",
            "Connections refused because the listen queue was full.",
            value=stats.get("listen_queue_errors", 0),
        )
        yield GaugeMetricFamily(
            "uwsgi_listen_queue_size",
            "The listen queue's length (the listen option).",
            value=max((s.get("max_queue", 0) for s in stats.get("sockets", [])), default=0),
        )
        yield from self.worker_metrics(stats.get("workers", []))

    def worker_metrics(self, workers: list[dict[str, Any]]) -> Iterator[Metric]:
        busy = GaugeMetricFamily(
            "uwsgi_workers", "Worker processes by status (busy, idle, ...).", labels=["status"]
        )
        counts: dict[str, int] = {"busy": 0, "idle": 0}
        for worker in workers:
            status = worker.get("status", "unknown")
            counts[status] = counts.get(status, 0) + 1
        for status, count in sorted(counts.items()):
            busy.add_metric([status], count)
        yield busy
        families = {
            "requests": CounterMetricFamily(
                "uwsgi_worker_requests", "Requests a worker served.", labels=["worker"]
            ),
            "exceptions": CounterMetricFamily(
                "uwsgi_worker_exceptions", "Unhandled exceptions in a worker.", labels=["worker"]
            ),
            "harakiri_count": CounterMetricFamily(
                "uwsgi_worker_harakiri",
                "Requests a worker was killed for (harakiri).",
                labels=["worker"],
            ),
            "respawn_count": CounterMetricFamily(
                "uwsgi_worker_respawns", "Times a worker was started again.", labels=["worker"]
            ),
            "rss": GaugeMetricFamily(
                "uwsgi_worker_rss_bytes", "A worker's resident memory.", labels=["worker"]
            ),
        }
        for worker in workers:
            for field, family in families.items():
                family.add_metric([str(worker.get("id", 0))], worker.get(field, 0))
        yield from families.values()
{%- if plan.queue %}


# Redis does not answer, or not in time.
QUEUE_UNREADABLE = (OSError, RedisError)


def redis_url() -> str:
    """REDIS_URL, or the file REDIS_URL_FILE names (a swarm secret)."""
    if path := os.environ.get("REDIS_URL_FILE"):
        return Path(path).read_text().strip()
    return os.environ.get("REDIS_URL", "redis://localhost:{{ plan.redis_port }}/0")


class QueueCollector(Collector):
    """Jobs waiting in each queue the worker takes, read from Redis on each scrape."""

    def __init__(self) -> None:
        self.connection = Redis.from_url(
            redis_url(), socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
        )

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "{{ plan.worker }}_queue_jobs", "Jobs waiting in a queue for a worker.", labels=["queue"]
        )
        try:
            for name in QUEUES:
{%- if plan.worker == "rq" %}
                depth.add_metric([name], Queue(name, connection=self.connection).count)
{%- else %}
                # Celery's Redis transport keeps each queue as a list of that name.
                depth.add_metric([name], self.connection.llen(name))
{%- endif %}
        except QUEUE_UNREADABLE:
            return
        yield depth
{%- endif %}

{%- if plan.database == "postgres" %}


# The database's own counters and settings (the statistics views any role may read).
DATABASE_STATS = """
SELECT xact_commit, xact_rollback, deadlocks, temp_bytes,
       pg_database_size(current_database()) AS size_bytes,
       current_setting('max_connections')::int AS max_connections
FROM pg_stat_database WHERE datname = current_database()
"""
# Every connection to the server, by state (another role's shows no state).
CONNECTIONS = """
SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity
WHERE backend_type = 'client backend' GROUP BY 1
"""


def database_url() -> str:
    """DATABASE_URL (or the file DATABASE_URL_FILE names), as libpq reads it."""
    if path := os.environ.get("DATABASE_URL_FILE"):
        url = Path(path).read_text().strip()
    else:
        url = os.environ.get("DATABASE_URL", "")
    return url.replace("+psycopg://", "://", 1)


class PostgresCollector(Collector):
    """PostgreSQL's statistics, on a connection opened for each scrape and closed after
    it: at most one at a time, as the connection budget counts it (ops/connection_budget.py)."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("pg_up", "1 when PostgreSQL answered this scrape.")
        try:
            with psycopg.connect(
                database_url(),
                connect_timeout=TIMEOUT_SECONDS,
                options=f"-c statement_timeout={TIMEOUT_SECONDS * 1000}",
                application_name="metrics",
            ) as connection:
                stats = connection.execute(DATABASE_STATS).fetchone()
                states = connection.execute(CONNECTIONS).fetchall()
        except psycopg.Error as error:
            # An attempt that timed out keeps its socket until its traceback is freed
            # ({{ cookiecutter.project_slug }}/extensions.py says why).
            error.with_traceback(None)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        commits, rollbacks, deadlocks, temp_bytes, size, max_connections = stats
        yield GaugeMetricFamily(
            "pg_settings_max_connections",
            "The connections PostgreSQL accepts (max_connections).",
            value=max_connections,
        )
        activity = GaugeMetricFamily(
            "pg_stat_activity_count", "Client connections by state.", labels=["state"]
        )
        for state, count in states:
            activity.add_metric([state], count)
        yield activity
        yield CounterMetricFamily(
            "pg_stat_database_xact_commit", "Transactions committed.", value=commits
        )
        yield CounterMetricFamily(
            "pg_stat_database_xact_rollback", "Transactions rolled back.", value=rollbacks
        )
        yield CounterMetricFamily(
            "pg_stat_database_deadlocks", "Deadlocks PostgreSQL broke.", value=deadlocks
        )
        yield CounterMetricFamily(
            "pg_stat_database_temp_bytes",
            "Bytes written to temporary files (queries short of work_mem).",
            value=temp_bytes,
        )
        yield GaugeMetricFamily(
            "pg_database_size_bytes", "The database's size on disk.", value=size
        )
{%- endif %}
{%- if plan.nginx %}


class NginxLog:
    """Counts nginx's requests from its `metrics` log lines: "STATUS REQUEST_TIME
    UPSTREAM_TIMES ACTIVE WAITING", after syslog's header and the tag "nginx: "."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "nginx_http_requests",
            "Requests nginx answered, by status.",
            ["status"],
            registry=registry,
        )
        self.request_time = Histogram(
            "nginx_http_request_duration_seconds",
            "From the request's first byte to the answer's last, in nginx.",
            registry=registry,
        )
        self.upstream_time = Histogram(
            "nginx_upstream_response_duration_seconds",
            "How long the app took to answer nginx (all tries of a request).",
            registry=registry,
        )
        self.connections = Gauge(
            "nginx_connections",
            "nginx's client connections as of the last request, by state.",
            ["state"],
            registry=registry,
        )

    def count(self, line: str) -> None:
        _, _, fields = line.partition("nginx: ")
        status, request_time, upstream_times, active, waiting = fields.split()
        self.requests.labels(status).inc()
        self.request_time.observe(float(request_time))
        # "-" when no upstream answered; several times, separated, when nginx tried again.
        tries = [float(t) for t in upstream_times.replace(":", ",").split(",") if t.strip(" -")]
        if tries:
            self.upstream_time.observe(sum(tries))
        self.connections.labels("active").set(int(active))
        self.connections.labels("waiting").set(int(waiting))

    def listen(self, host: str, port: int) -> None:
        """Read datagrams in a thread of its own, for as long as the process runs."""
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receiver.bind((host, port))

        def receive() -> None:
            while True:
                data = receiver.recv(4096)
                try:
                    self.count(data.decode(errors="replace"))
                except ValueError:
                    print(f"metrics: not a metrics log line: {data!r}", file=sys.stderr)

        threading.Thread(target=receive, name="nginx-log", daemon=True).start()
{%- endif %}


def main() -> int:
    host, _, port = os.environ.get("METRICS_ADDRESS", ":{{ plan.metrics_port }}").rpartition(":")
    # A registry of its own: this process's own metrics (the default registry's) are noise.
    registry = CollectorRegistry()
    registry.register(UwsgiCollector())
{%- if plan.database == "postgres" %}
    registry.register(PostgresCollector())
{%- endif %}
{%- if plan.queue %}
    registry.register(QueueCollector())
{%- endif %}
    # The server runs in a thread; this one waits for supervisord's SIGTERM, then exits.
    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
{%- if plan.nginx %}
    NginxLog(registry).listen(host or "0.0.0.0", int(port))
{%- endif %}
    start_http_server(int(port), addr=host or "0.0.0.0", registry=registry)
    signal.sigwait(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
