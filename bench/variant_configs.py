"""The variant configurations (the report's "variant" section): the default shape or
another with one thing changed, each against the configuration it varies, its
baseline. The edits they make: bench/variants.py."""

from __future__ import annotations

from typing import Any

from bench.configuration import DEFAULT_PLAN, EXTRA, Config
from bench.variants import (
    NGINX_ONE_WORKER,
    NO_ACCESS_LOG,
    NO_HTTP_KEEPALIVE,
    NO_MEMORY_REPORT,
    NO_UWSGI_REQUEST_LOG,
    THUNDER_LOCK,
    UNBUFFERED_ACCESS_LOG,
    UPSTREAM_KEEPALIVE,
    UWSGI_OWN_LISTEN,
    UWSGI_REQUEST_LOG,
)

# nginx's metrics log, sent to the app's exporter (off by default).
METRICS_LOG = f"app:{DEFAULT_PLAN.metrics_port}"
# Where wrk sends its requests to the standalone shape: its uWSGI router.
STANDALONE_FRONT: dict[str, Any] = {"front": "app", "front_port": 8000}


def variant(key: str, label: str, short: str, baseline: str = "nginx-uwsgi", **kw: Any) -> Config:
    """A variant of `baseline`, run from its build unless told otherwise."""
    build = kw.pop("build", "default" if baseline.startswith("nginx-uwsgi") else baseline)
    return Config(key, label, "variant", build, baseline=baseline, short=short, **kw)


def transport_and_log_variants() -> list[Config]:
    """The issue's questions: the socket between the containers, and the request logs."""
    return [
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
            edits=(UWSGI_REQUEST_LOG,),
        ),
        variant(
            "no-access-log",
            "nginx-uwsgi with no request log at all (nginx access_log off)",
            "no request log at all",
            edits=(NO_ACCESS_LOG,),
        ),
    ]


def undone_default_variants() -> list[Config]:
    """The defaults the bench argued for, one at a time undone."""
    return [
        variant(
            "unbuffered-log",
            "nginx-uwsgi, nginx's access log written line by line (not buffered)",
            "unbuffered access log",
            edits=(UNBUFFERED_ACCESS_LOG,),
        ),
        variant(
            "nginx-1-worker",
            "nginx-uwsgi with nginx worker_processes 1 (auto: one per CPU)",
            "nginx 1 worker",
            sets=EXTRA,
            edits=(NGINX_ONE_WORKER,),
        ),
    ]


def burst_variants() -> list[Config]:
    """A burst: more connections than uWSGI's own listen queue (100) holds."""
    return [
        variant(
            "burst-256",
            f"nginx-uwsgi, 256 connections (listen = {DEFAULT_PLAN.listen})",
            "256 connections",
            connections=256,
        ),
        variant(
            "burst-256-listen-100",
            "nginx-uwsgi, 256 connections, uWSGI's own listen queue (100)",
            "256 connections, listen 100",
            edits=(UWSGI_OWN_LISTEN,),
            connections=256,
        ),
    ]


def keepalive_variants() -> list[Config]:
    """Connections kept open, or not, by the other shapes."""
    return [
        variant(
            "nginx-http-keepalive",
            "nginx-http, connections to uWSGI kept open (upstream keepalive 32, http11-socket)",
            "nginx-http, upstream keep-alive",
            baseline="nginx-http",
            # The upstream's address is then looked up once, at nginx's start.
            edits=UPSTREAM_KEEPALIVE,
        ),
        variant(
            "standalone-no-keepalive",
            "standalone without http-keepalive (the router closes every client connection)",
            "standalone, no keep-alive",
            baseline="standalone",
            edits=(NO_HTTP_KEEPALIVE,),
            **STANDALONE_FRONT,
        ),
    ]


def default_diagnostic_variants() -> list[Config]:
    """Further diagnostics of the default shape (most of them only in --set extra)."""
    return [
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
            edits=(THUNDER_LOCK,),
            sets=EXTRA,
        ),
        variant(
            "no-memory-report",
            "nginx-uwsgi without memory-report (stats)",
            "no memory-report",
            edits=(NO_MEMORY_REPORT,),
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
    ]


def metrics_variants() -> list[Config]:
    """The metrics' cost: nginx's log line per request to the app's exporter (off by
    default), and Prometheus scraping every app replica (its scrape_interval) while the
    load runs."""
    return [
        variant(
            "metrics-log",
            f"nginx-uwsgi with nginx's metrics log on (METRICS_LOG_ADDRESS={METRICS_LOG})",
            "+ nginx metrics log",
            env={"METRICS_LOG_ADDRESS": METRICS_LOG},
        ),
        variant(
            "scraped",
            "nginx-uwsgi with Prometheus scraping it (the monitoring profile)",
            "+ Prometheus scraping",
            # The profile's service, published on a port of the host's choosing.
            env={"COMPOSE_PROFILES": "monitoring", "PROMETHEUS_PORT": "0"},
        ),
    ]


def other_shape_diagnostic_variants() -> list[Config]:
    """Further diagnostics of the standalone and nginx-http shapes (--set extra)."""
    return [
        variant(
            "standalone-no-log",
            "standalone with uWSGI's request log off",
            "standalone, no request log",
            baseline="standalone",
            edits=(NO_UWSGI_REQUEST_LOG,),
            sets=EXTRA,
            **STANDALONE_FRONT,
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


def variant_configs() -> list[Config]:
    """Every variant, in report order."""
    return [
        *transport_and_log_variants(),
        *undone_default_variants(),
        *burst_variants(),
        *keepalive_variants(),
        *default_diagnostic_variants(),
        *metrics_variants(),
        *other_shape_diagnostic_variants(),
    ]
