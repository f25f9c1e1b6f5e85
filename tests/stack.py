"""A baked project's compose stack, brought up for real and always taken down.

Built on pytest-docker's compose executor and services (published ports,
waiting) and the docker SDK (inspect, exec). Every stack gets its own compose
project name; `down --volumes --rmi local` removes its containers, network,
volumes and images, also when the test fails."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container
from pytest_docker.plugin import DockerComposeExecutor, Services

from helpers import free_port, http_get, wait_until
from hooks.plan import Plan

UP_TIMEOUT_SECONDS = 240


def docker_client() -> docker.DockerClient:
    """The engine, or a failure that says how to get one: never a skip."""
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as error:
        raise RuntimeError(
            f"no Docker engine answers ({error}); `make setup` starts one on Debian as root"
        ) from error
    return client


@dataclass
class Stack:
    """A running compose project made from a baked project."""

    project: Path
    plan: Plan
    name: str
    compose: DockerComposeExecutor
    services: Services
    client: docker.DockerClient
    port: int
    settings: dict[str, str] = field(default_factory=dict)
    # The published HTTPS port (https=yes), else 0.
    https_port: int = 0

    @property
    def front(self) -> str:
        """host:port of the published front door, on 127.0.0.1."""
        return f"127.0.0.1:{self.port}"

    @property
    def https_front(self) -> str:
        """host:port of the published HTTPS door (https=yes), on 127.0.0.1."""
        return f"127.0.0.1:{self.https_port}"

    @property
    def front_service(self) -> str:
        return "nginx" if self.plan.nginx else "app"

    def get(self, path: str = "/", **kwargs: object) -> tuple[int, bytes]:
        return http_get(self.front, path, **kwargs)  # type: ignore[arg-type]

    def container(self, service: str) -> Container:
        [container] = self.client.containers.list(
            all=True,
            filters={
                "label": [
                    f"com.docker.compose.project={self.name}",
                    f"com.docker.compose.service={service}",
                ]
            },
        )
        return container

    def containers(self) -> list[Container]:
        return self.client.containers.list(
            all=True, filters={"label": f"com.docker.compose.project={self.name}"}
        )

    def run(self, subcommand: str) -> str:
        """`docker compose -p NAME SUBCOMMAND` in the project folder; its output."""
        return self.compose.execute(subcommand).decode()

    def down_up(self) -> None:
        """`down`, keeping the volumes, then `up` again: new containers on the same data."""
        self.run("down --timeout 60")
        self.run(f"up --detach --wait --wait-timeout {UP_TIMEOUT_SECONDS}")

    def exec(self, service: str, command: list[str], user: str = "") -> tuple[int, str]:
        """Run a command in a service's container: (exit code, output)."""
        code, output = self.container(service).exec_run(command, user=user)
        return code, output.decode(errors="replace")

    def read_inside_app(self, url: str) -> str:
        """An HTTP GET from inside the app container (its loopback's servers): the body."""
        code, output = self.exec(
            "app",
            [
                "python3",
                "-c",
                f"import urllib.request as u; print(u.urlopen('{url}').read().decode())",
            ],
        )
        assert code == 0, output
        return output

    def uwsgi_stats(self) -> dict[str, Any]:
        """uWSGI's stats server, read from inside the app container (pids are the
        container's): the master's "pid" and each of "workers" with its "pid"."""
        return json.loads(self.read_inside_app(f"http://{self.plan.stats_address}"))

    def metrics(self) -> str:
        """The app container's Prometheus metrics (ops/metrics.py), read from inside it."""
        return self.read_inside_app(f"http://127.0.0.1:{self.plan.metrics_port}/metrics")

    def kill(self, service: str, pid: int) -> None:
        """kill -9 a process of a service, from inside its container."""
        code, output = self.exec(service, ["sh", "-c", f"kill -KILL {pid}"])
        assert code == 0, output

    def logs(self, service: str) -> str:
        return self.container(service).logs().decode(errors="replace")

    def wait_healthy(self, seconds: float = 60) -> None:
        """Wait until every container of the stack reports healthy."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            states = [health(container) for container in self.containers()]
            if states and all(state == "healthy" for state in states):
                return
            time.sleep(0.5)
        raise TimeoutError(f"{self.name} not healthy after {seconds} s: {states}")


def health(container: Container) -> str:
    container.reload()
    return container.attrs["State"].get("Health", {}).get("Status", "none")


def write_env(project: Path, settings: dict[str, str]) -> None:
    """Add settings to the project's .env, as a user configures the stack."""
    with (project / ".env").open("a") as env:
        env.writelines(f"{key}={value}\n" for key, value in settings.items())


@contextlib.contextmanager
def compose_stack(
    project: Path,
    plan: Plan,
    base_images: dict[str, str],
    compose_files: tuple[str, ...] = ("compose.yaml",),
    wait: bool = True,
    services: tuple[str, ...] = (),
    up_options: tuple[str, ...] = (),
    **settings: str,
) -> Iterator[Stack]:
    """Build and start the project's stack on a free port of 127.0.0.1 and (with `wait`)
    wait until healthy; yield it; take everything down on the way out.

    `settings` go to the project's .env, as a user would set them; `compose_files`
    are the project's compose files to combine (compose.live.yaml, say); `services`
    limits `up` to those services; `up_options` go to `up` as well (--scale app=2, say)."""
    client = docker_client()
    port = free_port()
    settings = {"BIND_ADDRESS": "127.0.0.1", "HTTP_PORT": str(port), **base_images, **settings}
    https_port = 0
    if plan.https:
        https_port = next(other for other in iter(free_port, None) if other != port)
        settings = {"HTTPS_PORT": str(https_port), **settings}
    write_env(project, settings)
    name = re.sub(r"[^a-z0-9]", "", f"fu{project.parent.name}{time.time_ns()}")[-40:]
    files = [str(project / file) for file in compose_files]
    compose = DockerComposeExecutor("docker compose", files, name)
    stack = Stack(
        project, plan, name, compose, Services(compose), client, port, settings, https_port
    )
    try:
        up = "up --build --detach"
        if wait:
            up += f" --wait --wait-timeout {UP_TIMEOUT_SECONDS}"
        try:
            stack.run(" ".join((up, *up_options, *services)))
        except Exception as error:
            raise RuntimeError(f"{error}\n--- logs\n{stack.run('logs --no-color')}") from error
        if wait:
            front_port = plan.nginx_port if plan.nginx else plan.app_port
            assert stack.services.port_for(stack.front_service, front_port) == port
            if plan.https:
                https_port_inside = plan.nginx_https_port
                assert stack.services.port_for("nginx", https_port_inside) == https_port
        yield stack
    finally:
        stack.run("down --volumes --rmi local --timeout 60")


# An HTTP endpoint that takes what Sentry's SDK sends, as sentry.io does: each envelope
# (gzip taken off) is one JSON line on its stdout, base64 inside, for the test to read.
ENVELOPE_RECEIVER = """
import base64, gzip, json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Receive(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        line = {"path": self.path, "encoding": encoding, "body": base64.b64encode(body).decode()}
        print(json.dumps(line), flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

server = ThreadingHTTPServer(("", 8000), Receive)
print("ready", flush=True)
server.serve_forever()
"""


@dataclass
class EnvelopeReceiver:
    """The receiver's container, on a stack's network under its container name."""

    container: Container

    @property
    def dsn(self) -> str:
        """The DSN that sends a project's reports here (project 1, any public key)."""
        return f"http://public@{self.container.name}:8000/1"

    def envelopes(self) -> list[dict[str, Any]]:
        """Each envelope received: its header and items, each {"header", "payload"}."""
        lines = self.container.logs(stdout=True, stderr=False).decode().splitlines()
        received = [json.loads(line) for line in lines if line.startswith("{")]
        for post in received:
            assert post["path"] == "/api/1/envelope/", post
            assert post["encoding"] in ("", "gzip"), post
        return [parse_envelope(base64.b64decode(post["body"])) for post in received]

    def events(self) -> list[dict[str, Any]]:
        """The error events received (their payloads)."""
        return [
            json.loads(item["payload"])
            for envelope in self.envelopes()
            for item in envelope["items"]
            if item["header"]["type"] == "event"
        ]


def parse_envelope(body: bytes) -> dict[str, Any]:
    """Sentry's envelope format: a JSON header line, then items, each a JSON header line
    and a payload of its `length` in bytes, or up to the next newline without one.
    https://develop.sentry.dev/sdk/data-model/envelopes/"""
    header, _, rest = body.partition(b"\n")
    items = []
    while rest.strip():
        item_line, _, rest = rest.partition(b"\n")
        item_header = json.loads(item_line)
        if "length" in item_header:
            payload, rest = rest[: item_header["length"]], rest[item_header["length"] + 1 :]
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append({"header": item_header, "payload": payload})
    return {"header": json.loads(header), "items": items}


@contextlib.contextmanager
def envelope_receiver(stack: Stack, python_image: str) -> Iterator[EnvelopeReceiver]:
    """A real HTTP endpoint for the SDK's envelopes, in a container of the stack's
    network (python_image's http.server), removed on the way out."""
    container = stack.client.containers.run(
        python_image,
        ["python3", "-c", ENVELOPE_RECEIVER],
        name=f"{stack.name}-errors",
        network=f"{stack.name}_default",
        detach=True,
    )
    try:
        wait_until(lambda: b"ready" in container.logs(), 30)
        yield EnvelopeReceiver(container)
    finally:
        container.remove(force=True)
