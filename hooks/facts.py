"""The facts of cookiecutter.json: its private `_name` variables (ports, paths, image
names, timeouts, limits), each typed and with its reason, or where the generated
files give it. Their values are in cookiecutter.json, which every fact must have;
the plan reads `_app_port` as `plan.app_port`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Facts:
    """cookiecutter.json's private variables, typed (a missing one fails the bake)."""

    # Ports inside the containers: uWSGI's TCP listener, nginx's (unprivileged) ports.
    app_port: int
    nginx_port: int
    nginx_https_port: int
    postgres_port: int

    # HTTPS at nginx (the site's comments give Mozilla's intermediate profile).
    certs_dir: str
    tls_protocols: str
    tls_ciphers: str
    hsts_max_age_s: int
    self_signed_days: int  # `make cert`'s certificate

    # Paths and names the app, nginx and the health checks share.
    socket_path: str  # the unix socket, on a volume nginx and the app share
    healthcheck_path: str
    request_id_header: str
    stats_address: str  # uWSGI's stats server, on the container's loopback only
    master_fifo: str  # `make reload` writes to it

    # Users, matching the images' own (the app's is the Dockerfile's).
    app_uid: int
    nginx_uid: int
    postgres_uid: int
    # The app's role in PostgreSQL, no superuser (db/app-role.sql makes it).
    postgres_user: str
    # The database's connections (hooks/sizing.py, README: "Database connections"): with
    # PostgreSQL, processes = auto counts at most the workers of a host of compose_cpus
    # CPUs, whose connections compose's db service accepts.
    compose_cpus: int
    # The most connections a uWSGI worker pools (DATABASE_POOL_SIZE), fewer than its
    # threads: so many of its requests at the database, and in the app's own work after
    # the query, at once, the rest waiting their turn (make bench: more req/s on the
    # database and template pages than a connection per thread, on fewer connections).
    database_pool_size: int
    # A request waits this long for a pooled connection, well within harakiri, then
    # gets a 503 asking to come back after retry_after_s.
    pool_timeout_s: int
    # A new connection to PostgreSQL gives up after this (a host gone silent), within
    # harakiri. Longer than the most a live database took under a burst: 256 connections
    # opened at once under full load on 2 CPUs took up to 8.6 s, half over 4 s.
    connect_timeout_s: int
    retry_after_s: int
    # Redis, the workers' queue: the official image's user and group.
    redis_port: int
    redis_uid: int
    redis_gid: int

    # The official base images; the Python one with {python_version} in it.
    python_image_pattern: str
    nginx_image: str
    postgres_image: str
    redis_image: str
    prometheus_image: str

    # Metrics (README: "Metrics"): each app replica's exporter (ops/metrics.py) listens on
    # a port of the stack's own network, never published; Prometheus (the monitoring
    # profile) on its own, published on the loopback only, scraping at this interval.
    metrics_port: int
    prometheus_port: int
    scrape_interval_s: int

    # uWSGI (uwsgi.ini gives each its reason).
    harakiri: int
    # Worker recycling, rarely: under lazy-apps each recycle imports the app again. Every
    # recycle_interval_s a chain reload replaces the workers one by one
    # (ops/supervisord.conf); a worker over reload_on_rss_mb is replaced after its request.
    recycle_interval_s: int
    reload_on_rss_mb: int
    # Without nginx, how long the app reads on what a client still sends after its answer.
    linger_s: int

    # nginx (the site gives each its reason).
    response_headers_kb: int
    static_max_age_s: int
    # nginx gives up on an app address after this long and tries the next: a replica
    # that vanished answers nothing, while a live one, however busy, accepts within one
    # SYN retry (1 s). nginx's default is 60 s.
    nginx_connect_timeout: int

    # Docker's health check in the images; the orchestrators' probes follow it.
    healthcheck_interval: int
    healthcheck_start_interval: int
    healthcheck_timeout: int
    healthcheck_retries: int
    app_start_period: int
    nginx_start_period: int

    # Orchestrated replicas. Enough app replicas that one being replaced leaves two;
    # Kubernetes' autoscaler adds up to app_max_replicas, at autoscale_cpu_percent of
    # the request; nginx_replicas on Kubernetes (the swarm stack runs one on each node).
    app_replicas: int
    app_max_replicas: int
    autoscale_cpu_percent: int
    nginx_replicas: int

    # What a replica may use. One CPU for each app replica (processes = auto counts its
    # least: two workers), at least a quarter of one set aside; nginx needs a fraction
    # of what the app does.
    app_cpu_limit_millis: int
    app_cpu_request_millis: int
    app_memory_request_mb: int
    # An app replica's memory besides its workers: the master, supervisord, request
    # bodies buffered in /tmp (a tmpfs, counted as its memory).
    app_memory_overhead_mb: int
    nginx_cpu_limit_millis: int
    nginx_memory_limit_mb: int
    nginx_cpu_request_millis: int
    nginx_memory_request_mb: int

    # Kubernetes' liveness probe only has to catch a dead app.
    liveness_period: int
    # A stopping pod keeps serving (preStop) while Kubernetes takes it out of its
    # Service's endpoints, before its process gets SIGTERM.
    drain_seconds: int

    # Background jobs: worker replicas on swarm and Kubernetes (one may be replaced while
    # the other works), the longest a job may run (a graceful stop waits that long for
    # it), jobs at once per worker, and how often a worker says it is alive.
    worker_replicas: int
    job_timeout_s: int
    worker_concurrency: int
    worker_heartbeat_s: int
