"""Metrics: each app container's exporter (ops/metrics.py) on a port of the stack's own
network, Prometheus in compose's monitoring profile, the scrape labels of the swarm stack
(Kubernetes': test_kubernetes.py). Read from the baked files; tests/docker/test_docker.py
runs them."""

from __future__ import annotations

import configparser
import itertools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import Bake
from hooks.plan import Plan

VARIANTS: list[dict[str, Any]] = [
    {"server": server, "worker": worker}
    for server, worker in itertools.product(
        ("nginx-uwsgi", "nginx-http", "standalone"), ("none", "rq", "celery")
    )
] + [{"server": "nginx-uwsgi", "database": "postgres", "worker": "rq"}]


@pytest.fixture(params=VARIANTS, ids=lambda answers: "-".join(answers.values()))
def answers(request: pytest.FixtureRequest) -> dict[str, Any]:
    return request.param


def read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_prometheus_scrapes_every_app_replica(project: Path, plan: Plan) -> None:
    config = read_yaml(project / "prometheus/prometheus.yml")
    assert config["rule_files"] == ["rules.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"app", "prometheus"}
    assert jobs["app"]["dns_sd_configs"] == [
        {
            "names": ["app"],
            "type": "A",
            "port": plan.metrics_port,
            "refresh_interval": f"{plan.scrape_interval_s}s",
        }
    ]
    assert jobs["prometheus"]["static_configs"] == [
        {"targets": [f"localhost:{plan.prometheus_port}"]}
    ]


def test_rules_cover_errors_the_listen_queue_and_busy_workers(project: Path, plan: Plan) -> None:
    groups = read_yaml(project / "prometheus/rules.yml")["groups"]
    rules = {
        rule.get("alert") or rule["record"]: rule for group in groups for rule in group["rules"]
    }
    assert {"AppErrors", "ListenQueueNotEmpty", "AllWorkersBusy", "TargetDown"} <= set(rules)
    assert ("JobsWaiting" in rules) == plan.queue
    assert ("ServerErrors" in rules) == plan.nginx
    assert ("DatabaseDown" in rules) == (plan.database == "postgres")
    exporter = (project / "ops/metrics.py").read_text()
    for name, rule in rules.items():
        assert rule["expr"].strip(), name
        # Every series a rule reads is one the exporter writes (counters get _total).
        for series in re.findall(r"(?<![:\w])((?:uwsgi|nginx|rq|celery|pg)_[a-z_]+)", rule["expr"]):
            assert f'"{re.sub("_(total|bucket)$", "", series)}"' in exporter, (name, series)
        if "alert" in rule:
            assert rule["annotations"]["summary"], name


def test_the_monitoring_profile_is_locked_down_and_on_loopback_only(
    project: Path, plan: Plan
) -> None:
    services = read_yaml(project / "compose.yaml")["services"]
    prometheus = services["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    assert prometheus["ports"] == [
        f"127.0.0.1:${{PROMETHEUS_PORT:-{plan.prometheus_port}}}:{plan.prometheus_port}"
    ]
    assert prometheus["read_only"] is True
    assert prometheus["cap_drop"] == ["ALL"]
    assert prometheus["security_opt"] == ["no-new-privileges:true"]
    assert prometheus["volumes"] == ["prometheus-data:/prometheus"]
    assert prometheus["build"]["additional_contexts"] == {
        plan.prometheus_image: f"docker-image://${{PROMETHEUS_IMAGE:-{plan.prometheus_image}}}"
    }
    dockerfile = (project / "prometheus/Dockerfile").read_text()
    assert f"\nFROM {plan.prometheus_image}\n" in dockerfile
    assert "\nHEALTHCHECK " in dockerfile
    # No other service is in a profile, and none publishes the exporter's port.
    for name, service in services.items():
        assert name == "prometheus" or "profiles" not in service, name
        for port in service.get("ports", []):
            assert not port.endswith(f":{plan.metrics_port}"), (name, port)


def test_supervisord_runs_the_exporter_beside_uwsgi(project: Path, plan: Plan) -> None:
    config = configparser.ConfigParser(interpolation=None)
    config.read(project / "ops/supervisord.conf")
    assert config["program:metrics"]["command"] == "python3 %(here)s/metrics.py"
    exporter = (project / "ops/metrics.py").read_text()
    assert f'"METRICS_ADDRESS", ":{plan.metrics_port}"' in exporter
    assert f'STATS_URL = "http://{plan.stats_address}"' in exporter
    assert ("QueueCollector" in exporter) == plan.queue
    requirements = (project / "requirements.txt").read_text()
    assert re.search(r"^prometheus-client==", requirements, re.MULTILINE)


def test_nginx_logs_each_request_to_the_exporter_when_asked(project: Path, plan: Plan) -> None:
    if not plan.nginx:
        return
    nginx = read_yaml(project / "compose.yaml")["services"]["nginx"]
    assert nginx["environment"]["METRICS_LOG_ADDRESS"] == "${METRICS_LOG_ADDRESS:-}"
    example = (project / ".env.example").read_text()
    assert f"\n# METRICS_LOG_ADDRESS=app:{plan.metrics_port}\n" in example
    assert (
        "\n    ${METRICS_ACCESS_LOG}\n"
        in (project / "nginx/templates/default.conf.template").read_text()
    )
    assert (
        "log_format metrics '$status $request_time $upstream_response_time"
        in (project / "nginx/nginx.conf").read_text()
    )
    swarm = read_yaml(project / "deploy/swarm/stack.yaml")["services"]["nginx"]
    assert "METRICS_LOG_ADDRESS" not in swarm.get("environment", {})


def test_swarm_labels_the_app_for_prometheus(project: Path, plan: Plan) -> None:
    if not plan.nginx:
        assert not (project / "deploy").exists()
        return
    app = read_yaml(project / "deploy/swarm/stack.yaml")["services"]["app"]
    assert app["deploy"]["labels"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(plan.metrics_port),
        "prometheus.io/path": "/metrics",
    }
    assert not any(str(plan.metrics_port) in str(port) for port in app.get("ports", []))


@pytest.mark.parametrize("server", ["nginx-uwsgi", "standalone"])
def test_without_the_stats_server_there_are_no_metrics(bake: Bake, server: str) -> None:
    project = bake(server=server, worker="rq", stats="no")
    assert not (project / "prometheus").exists()
    assert not (project / "ops/metrics.py").exists()
    assert "prometheus" not in read_yaml(project / "compose.yaml")["services"]
    assert "[program:metrics]" not in (project / "ops/supervisord.conf").read_text()
    assert "prometheus" not in (project / "requirements.in").read_text()
    assert not (project / "nginx/docker-entrypoint.d/17-metrics-log.envsh").exists()
    if server == "nginx-uwsgi":
        app = read_yaml(project / "deploy/swarm/stack.yaml")["services"]["app"]
        assert "labels" not in app["deploy"]
