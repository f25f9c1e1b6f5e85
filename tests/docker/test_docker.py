"""`docker compose up` for every shape: real images built on this machine's engine,
the stack brought up and probed through its published port on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import docker.errors
import pytest
from docker.models.images import Image

from conftest import Bake
from helpers import free_port, http_get, run, wait_until
from hooks.plan import Plan
from stack import Stack, compose_stack, docker_client, health, write_env

# Each shape with its defaults, and nginx-uwsgi switched to TCP by its one setting.
VARIANTS: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "nginx-uwsgi": ({"server": "nginx-uwsgi"}, {}),
    "nginx-uwsgi-tcp": ({"server": "nginx-uwsgi"}, {"APP_ADDRESS": ":8000"}),
    "nginx-http": ({"server": "nginx-http"}, {}),
    "standalone": ({"server": "standalone"}, {}),
}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def stack(
    request: pytest.FixtureRequest, bake_session_copy: Bake, base_images: dict[str, str]
) -> Iterator[Stack]:
    answers, settings = VARIANTS[request.param]
    project = bake_session_copy(**answers)
    with compose_stack(project, Plan.defaults(**answers), base_images, **settings) as running:
        yield running


def test_front_door_serves_the_page_and_healthz(stack: Stack) -> None:
    status, body = stack.get("/")
    assert status == 200
    assert b"<h1>Flask Service</h1>" in body
    status, body = stack.get("/healthz")
    assert (status, body) == (200, b'{"status":"ok"}\n')


def test_every_container_is_healthy(stack: Stack) -> None:
    states = {container.name: health(container) for container in stack.containers()}
    assert set(states.values()) == {"healthy"}, states
    assert len(states) == (2 if stack.plan.nginx else 1)


def test_app_runs_as_non_root(stack: Stack) -> None:
    app = stack.container("app")
    uid = str(stack.plan.app_uid)
    assert app.image.attrs["Config"]["User"] == f"{uid}:{uid}"
    assert stack.exec("app", ["id", "-u"]) == (0, f"{uid}\n")
    if stack.plan.nginx:
        nginx_uid = str(stack.plan.nginx_uid)
        assert stack.exec("nginx", ["id", "-u"]) == (0, f"{nginx_uid}\n")


def test_only_the_front_door_is_published(stack: Stack) -> None:
    for container in stack.containers():
        ports = container.attrs["NetworkSettings"]["Ports"] or {}
        published = {port: hosts for port, hosts in ports.items() if hosts}
        service = container.labels["com.docker.compose.service"]
        if service == stack.front_service:
            addresses = [host["HostIp"] for hosts in published.values() for host in hosts]
            assert addresses == ["127.0.0.1"]
        else:
            assert published == {}, f"{service} publishes {published}"


def test_plain_http_to_the_uwsgi_socket_gets_no_answer(stack: Stack) -> None:
    """From inside the stack (nginx's container): a browser's request sent straight to
    the uwsgi-protocol listener gets no HTTP answer; the same request through nginx
    succeeds. uWSGI (buffer-size 65535) reads 'GET ' as a 21,573-byte packet, waits for
    it and drops the connection at its socket timeout, without a log line."""
    if stack.plan.listener != "socket":
        assert stack.plan.listener in ("http-socket", "http")
        return
    address = stack.settings.get("APP_ADDRESS", stack.plan.default_address)
    if address.startswith("/"):
        target = ["--unix-socket", address, "http://app/"]
    else:
        target = [f"http://app{address}/"]
    code, output = stack.exec(
        "nginx",
        [
            "curl",
            "--silent",
            "--max-time",
            "20",
            "--write-out",
            "%{http_code}",
            *target,
        ],
    )
    assert code == 52, output  # curl: empty reply from server
    assert output == "000", output  # no HTTP status line at all
    assert stack.exec(
        "nginx",
        [
            "curl",
            "--silent",
            "--output",
            "/dev/null",
            "--write-out",
            "%{http_code}",
            "http://127.0.0.1:8080/",
        ],
    ) == (0, "200")
    assert "invalid request block size" not in stack.logs("app")


def prometheus_api(port: int, path: str) -> Any:
    """Prometheus' HTTP API on 127.0.0.1: the `data` of a successful answer."""
    status, body = http_get(f"127.0.0.1:{port}", path)
    answer = json.loads(body)
    assert (status, answer["status"]) == (200, "success"), body
    return answer["data"]


def nginx_answers(port: int, status: str) -> float:
    """Requests nginx answered with `status`, as Prometheus last scraped them."""
    query = f'sum(nginx_http_requests_total{{status="{status}"}})'
    result = prometheus_api(port, "/api/v1/query?query=" + urllib.parse.quote(query))
    return float(result["result"][0]["value"][1]) if result["result"] else -1


def uwsgi_requests(port: int) -> float:
    """The app's requests so far, summed over its workers, as Prometheus last scraped them."""
    result = prometheus_api(port, "/api/v1/query?query=sum(uwsgi_worker_requests_total)")
    return float(result["result"][0]["value"][1]) if result["result"] else -1


def test_monitoring_profile_scrapes_every_target(stack: Stack) -> None:
    """The default stack only (nginx-uwsgi): `--profile monitoring` adds Prometheus on
    127.0.0.1, which scrapes every target, sees the app's requests rise and loads the
    rules; the app's metrics port is published nowhere."""
    if stack.settings.get("APP_ADDRESS") or stack.plan.server != "nginx-uwsgi":
        return
    port = free_port()
    # nginx's metrics log on: nginx is started again with it.
    metrics_log = f"app:{stack.plan.metrics_port}"
    write_env(stack.project, {"PROMETHEUS_PORT": str(port), "METRICS_LOG_ADDRESS": metrics_log})
    monitoring = "--profile monitoring"
    stack.run(f"{monitoring} up --build --detach --wait --wait-timeout 120 prometheus nginx")
    try:
        prometheus = stack.container("prometheus")
        published = prometheus.attrs["NetworkSettings"]["Ports"]
        assert [host["HostIp"] for hosts in published.values() if hosts for host in hosts] == [
            "127.0.0.1"
        ]
        assert not stack.container("app").attrs["NetworkSettings"]["Ports"]
        assert (
            stack.exec("prometheus", ["promtool", "check", "rules", "/etc/prometheus/rules.yml"])[0]
            == 0
        )

        # The exporter itself, read from inside the app container, before the requests.
        exported = stack.metrics()
        assert 'uwsgi_workers{status="idle"}' in exported
        before = sum(
            float(line.split()[-1])
            for line in exported.splitlines()
            if line.startswith("uwsgi_worker_requests_total{")
        )
        requests = 20
        for _ in range(requests):
            assert stack.get("/")[0] == 200

        def scraped_after_the_requests() -> bool:
            targets = prometheus_api(port, "/api/v1/targets")["activeTargets"]
            return (
                {target["labels"]["job"] for target in targets} == {"app", "prometheus"}
                and all(target["health"] == "up" for target in targets)
                and uwsgi_requests(port) >= before + requests
                and nginx_answers(port, "200") >= requests
            )

        wait_until(scraped_after_the_requests, stack.plan.scrape_interval_s + 30, step=1)
        up = prometheus_api(port, "/api/v1/query?query=up")["result"]
        assert {sample["value"][1] for sample in up} == {"1"}, up
        upstream = "sum(nginx_upstream_response_duration_seconds_count)"
        result = prometheus_api(port, "/api/v1/query?query=" + upstream)["result"]
        assert float(result[0]["value"][1]) >= requests, result
        groups = prometheus_api(port, "/api/v1/rules")["groups"]
        rules = {rule["name"] for group in groups for rule in group["rules"]}
        assert {"AppErrors", "ListenQueueNotEmpty", "AllWorkersBusy", "ServerErrors"} <= rules
        assert {group["name"] for group in groups} == {"uwsgi", "nginx"}
    finally:
        stack.run(f"{monitoring} rm --stop --force prometheus")
        # The stack's `down` leaves a profile's image and volume: these go now.
        with contextlib.suppress(docker.errors.ImageNotFound):
            stack.client.images.remove(f"{stack.name}-prometheus", force=True)
        with contextlib.suppress(docker.errors.NotFound):
            stack.client.volumes.get(f"{stack.name}_prometheus-data").remove(force=True)


def test_compose_stop_ends_every_container_cleanly(stack: Stack) -> None:
    """Last for each stack: stop it, and every process exits 0, nothing SIGKILLed."""
    stack.run("stop")
    for container in stack.containers():
        container.reload()
        assert container.attrs["State"]["ExitCode"] == 0, container.logs().decode()[-3000:]
    assert "stopped: uwsgi (exit status 0)" in stack.logs("app")


def test_a_code_change_rebuilds_without_reinstalling_dependencies(
    bake_fresh: Bake, base_images: dict[str, str]
) -> None:
    """Only the layers made from the code change (the code, and the static files collected
    from it): the virtualenv's layers are reused as they are."""
    project = bake_fresh(server="nginx-uwsgi")
    write_env(project, base_images)
    image = f"furebuild{time.time_ns()}-app"
    build = ["docker", "compose", "--project-name", image.removesuffix("-app"), "build", "app"]
    client = docker_client()
    images: list[Image] = []
    try:
        run(build, cwd=project, timeout=600)
        images.append(client.images.get(image))
        with (project / "main.py").open("a") as main:
            main.write("# a code change\n")
        started = time.monotonic()
        run(build, cwd=project, timeout=600)
        seconds = time.monotonic() - started
        images.append(client.images.get(image))
        old, new = (image.attrs["RootFS"]["Layers"] for image in images)
        assert len(old) == len(new) and old[:-2] == new[:-2] and old[-2] != new[-2]
        print(f"rebuild after a code change: {seconds:.1f} s")
    finally:
        for built in images:
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.images.remove(built.id, force=True)
