"""A baked project deployed on Docker swarm for the tests (tests/docker/test_swarm.py):
`make swarm-images swarm-deploy` at a version, its replicas and their state, a bounded
load or a stream of jobs from a container on the stack's network, and its removal.

Traffic stays inside the stack. A swarm publishes a port on every address of the host
(host mode takes no address to bind), so the tests deploy the stack file without
nginx's published port and run their load from a container on the stack's attachable
overlay network (helpers.Load: 20 clients, bounded in requests and seconds) to nginx."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import yaml
from docker.models.containers import Container
from docker.models.volumes import Volume

from baked import STACK_FILE
from helpers import (
    run,
    wait_until,
)
from hooks.answers import TEMPLATE_ROOT
from hooks.plan import Plan
from stack import health

# The stack file as the tests deploy it: nginx publishes no port (see above).
TEST_STACK_FILE = "deploy/swarm/stack.test.yaml"
NEW_DESCRIPTION = "Version two."
# A setting of the test's own in .env, which only the app's replicas get.
GREETING = "Hello from .env"
NEW_GREETING = "Hello again"
# What the app's container runs under supervisord, and supervisord itself.
SUPERVISED = ("supervisord", "uwsgi", "exit_on_fatal.py")
# A container's processes whose environment it may read, one a line: the command line,
# then APP_ADDRESS and GREETING from the environment (empty where unset). A shell script:
# nginx's image has no Python.
ENVIRONS_SCRIPT = r"""
for proc in /proc/[0-9]*; do
    environ=$(tr '\0' '\n' 2>/dev/null < "$proc/environ") || continue
    printf '%s\t%s\t%s\n' "$(tr '\0\n' '  ' 2>/dev/null < "$proc/cmdline")" \
        "$(echo "$environ" | sed -n 's/^APP_ADDRESS=//p')" \
        "$(echo "$environ" | sed -n 's/^GREETING=//p')"
done
"""
CLIENTS = 20
# Runs in a container on the stack's network, from the app image (Python, with the
# Jinja2 that hooks.plan imports): helpers.Load against ADDRESS until it is told to stop
# (SIGTERM) or uses up its requests or seconds; prints its progress, then a JSON summary.
LOAD_SCRIPT = """
import json, signal, sys
from helpers import Load
address, clients, requests, seconds = sys.argv[1:]
bounds = {"clients": int(clients), "max_requests": int(requests), "max_seconds": float(seconds)}
with Load(address, **bounds) as load:
    signal.signal(signal.SIGTERM, lambda *_: load.stop())
    while True:
        before = load.result.requests
        load.wait_for(200)
        print("answered", load.result.requests, flush=True)
        if load.result.requests - before < 200:
            break
result = load.result
summary = {
    "requests": result.requests,
    "statuses": {str(status): count for status, count in result.statuses.items()},
    "failures": result.failures[:20],
    "failure_count": len(result.failures),
    "bodies": {body.decode(errors="replace"): count for body, count in result.bodies.items()},
}
print(json.dumps(summary), flush=True)
"""
# How long each of the test's jobs works (the example job takes no time of its own),
# so that a worker asked to stop is almost surely in the middle of one: RQ spends about
# 0.2 s of its own between two jobs (a fork, the job's state in Redis), and a stop
# there finishes no job. With jobs of 1 s, 2 of 10 stops fell there.
JOB_SECONDS = 3
# Runs in a container on the stack's network, from the app image: POSTs a job to
# ADDRESS's /jobs every INTERVAL seconds until told to stop (SIGTERM) or it has sent
# JOBS or spent SECONDS, printing how many the app acknowledged (202 with an id); then
# reads each acknowledged job back (GET /jobs/<id>) until all are finished or
# READ_SECONDS have passed; prints a JSON summary.
JOBS_SCRIPT = """
import http.client, json, signal, sys, time
from collections import Counter
address, jobs, seconds, interval, read_seconds = sys.argv[1:]
host, port = address.rsplit(":", 1)
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(True))

def call(method, path, body=None):
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(method, path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()

acknowledged, refused = [], Counter()
started = time.monotonic()
while (not stop and len(acknowledged) + sum(refused.values()) < int(jobs)
       and time.monotonic() - started < float(seconds)):
    try:
        status, body = call("POST", "/jobs", json.dumps({"text": f"job {len(acknowledged)}"}))
    except OSError as error:
        status, body = type(error).__name__, b""
    if status == 202:
        acknowledged.append(json.loads(body)["id"])
    else:
        refused[str(status)] += 1
    print("acknowledged", len(acknowledged), flush=True)
    time.sleep(float(interval))
queued = time.monotonic()
states = dict.fromkeys(acknowledged, "unread")
while time.monotonic() - queued < float(read_seconds):
    for job_id in [job_id for job_id, state in states.items() if state != "finished"]:
        try:
            status, body = call("GET", f"/jobs/{job_id}")
            states[job_id] = json.loads(body)["status"] if status == 200 else f"HTTP {status}"
        except (OSError, ValueError) as error:
            states[job_id] = type(error).__name__
    if all(state == "finished" for state in states.values()):
        break
    time.sleep(1)
summary = {
    "acknowledged": len(acknowledged),
    "refused": dict(refused),
    "finished": sum(state == "finished" for state in states.values()),
    "unfinished": {job_id: state for job_id, state in states.items() if state != "finished"},
    "queued_seconds": queued - started,
    "read_seconds": time.monotonic() - queued,
}
print(json.dumps(summary), flush=True)
"""


@dataclass
class LoadSummary:
    """What a load container saw (the first 20 failures, and how many failed in all)."""

    requests: int
    statuses: dict[str, int]
    failures: list[str]
    failure_count: int
    bodies: dict[str, int]
    seconds: float = 0.0

    @property
    def errors(self) -> list[str]:
        """Failures and non-200 answers."""
        bad = [
            f"HTTP {status} x{count}" for status, count in self.statuses.items() if status != "200"
        ]
        return bad + self.failures

    @property
    def error_count(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != "200") + self.failure_count

    def answered_with(self, text: str) -> int:
        return sum(count for body, count in self.bodies.items() if text in body)


@dataclass
class SwarmStack:
    """A deployed stack of a baked project, and what the test made for it."""

    client: docker.DockerClient
    project: Path
    plan: Plan
    name: str
    env: dict[str, str]
    image_prefix: str
    images: set[str] = field(default_factory=set)
    measured: dict[str, Any] = field(default_factory=dict)

    @property
    def network(self) -> str:
        return f"{self.name}_default"

    def image(self, service: str, version: int | str) -> str:
        repository = {
            "app": self.plan.app_repository,
            "nginx": self.plan.nginx_repository,
            "redis": f"{self.plan.project_slug}-redis",
        }[service]
        return f"{self.image_prefix}{repository}:{version}"

    def built_nginx_version(self) -> str:
        """The version the Makefile gives the nginx image it built last: its ID's first
        12 hex digits."""
        return self.client.images.get(f"{self.name}-nginx").id.removeprefix("sha256:")[:12]

    def nginx_version(self) -> str:
        """The nginx image's version the service runs now."""
        service = self.client.services.get(f"{self.name}_nginx")
        image = service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        return image.split("@")[0].rsplit(":", 1)[1]

    def static_file(self, path: str) -> tuple[bytes, bytes] | None:
        """A static file as nginx answers it (asked from inside its container) and as
        nginx's own copy holds it (/srv/static, laid out by URL path); None while there is
        not exactly one nginx, or it does not answer."""
        running = self.containers("nginx")
        if len(running) != 1:
            return None
        url = f"http://127.0.0.1:{self.plan.nginx_port}{path}"
        try:
            answered, answer = running[0].exec_run(
                ["curl", "--fail", "--silent", "--max-time", "5", url]
            )
            copied, copy = running[0].exec_run(["cat", f"/srv/static{path}"])
        except docker.errors.APIError:  # it stopped meanwhile
            return None
        return (answer, copy) if answered == copied == 0 else None

    def make(self, *targets: str, **variables: str | int) -> str:
        """The project's Makefile, as a user runs it, for this stack."""
        settings = [f"{key}={value}" for key, value in variables.items()]
        return run(
            ["make", *targets, *settings], cwd=self.project, env=self.env, timeout=600
        ).stdout

    def build(self, app_version: int) -> None:
        self.make("swarm-images", APP_VERSION=app_version)
        self.images.update(
            (
                self.image("app", app_version),
                self.image("nginx", app_version),
                self.image("nginx", self.built_nginx_version()),
                *self.compose_images,
            )
        )
        if self.plan.queue:
            self.images.add(self.image("redis", 1))

    @property
    def compose_images(self) -> tuple[str, ...]:
        """What `docker compose --project-name STACK build` tags before the versions."""
        services = ["app", "nginx"]
        if self.plan.queue:
            # The workers' services build the app's image under their own names too.
            services += ["worker", "redis"] + (["beat"] if self.plan.worker == "celery" else [])
        return tuple(f"{self.name}-{service}" for service in services)

    def deploy(self, app_version: int) -> None:
        self.make(
            "swarm-deploy",
            APP_VERSION=app_version,
            STACK_FILES=TEST_STACK_FILE,
            RESOLVE_IMAGE="never",
        )

    def containers(self, service: str) -> list[Container]:
        """The service's running containers (every task runs on this one node)."""
        return self.client.containers.list(
            filters={"label": f"com.docker.swarm.service.name={self.name}_{service}"}
        )

    def healthy(self, service: str) -> list[Container]:
        return [
            container for container in self.containers(service) if health(container) == "healthy"
        ]

    def address(self, container: Container) -> str:
        """The container's address on the stack's network."""
        return container.attrs["NetworkSettings"]["Networks"][self.network]["IPAddress"]

    def converged(self, app_version: int) -> bool:
        """Exactly the app's replicas (and the workers) run, each healthy on this version,
        and nginx is healthy."""
        return (
            self.replicas_converged("app", self.plan.app_replicas, app_version)
            and len(self.healthy("nginx")) == 1
            and (
                not self.plan.queue
                or self.replicas_converged("worker", self.plan.worker_replicas, app_version)
            )
        )

    def replicas_converged(self, service: str, replicas: int, app_version: int) -> bool:
        """Exactly `replicas` of the service run, each healthy on the app image's version."""
        running = self.containers(service)
        image = self.image("app", app_version)
        return (
            len(running) == replicas
            and all(container.attrs["Config"]["Image"] == image for container in running)
            and len(self.healthy(service)) == replicas
        )

    def update_state(self, service: str = "app") -> str:
        found = self.client.services.get(f"{self.name}_{service}")
        return found.attrs.get("UpdateStatus", {}).get("State", "")

    @contextlib.contextmanager
    def load(self, requests: int, seconds: float) -> Iterator[LoadRun]:
        """Run the load in a container on the stack's network; stop it on the way out."""
        container = self.client.containers.run(
            self.image("app", 1),
            [
                "python3",
                "-c",
                LOAD_SCRIPT,
                f"nginx:{self.plan.nginx_port}",
                str(CLIENTS),
                str(requests),
                str(seconds),
            ],
            detach=True,
            network=self.network,
            volumes={str(TEMPLATE_ROOT): {"bind": "/template", "mode": "ro"}},
            environment={"PYTHONPATH": "/template:/template/tests"},
            labels={"flask-uwsgi.test": self.name},
            read_only=True,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"],
        )
        load = LoadRun(container, time.monotonic())
        try:
            yield load
        finally:
            load.finish()

    @contextlib.contextmanager
    def job_stream(
        self, jobs: int, seconds: float, interval: float, read_seconds: float
    ) -> Iterator[JobStream]:
        """Queue jobs through nginx from a container on the stack's network (JOBS_SCRIPT);
        on the way out, stop queuing and wait for its read-back."""
        container = self.client.containers.run(
            self.image("app", 1),
            [
                "python3",
                "-c",
                JOBS_SCRIPT,
                f"nginx:{self.plan.nginx_port}",
                str(jobs),
                str(seconds),
                str(interval),
                str(read_seconds),
            ],
            detach=True,
            network=self.network,
            labels={"flask-uwsgi.test": self.name},
            read_only=True,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"],
        )
        stream = JobStream(container, read_seconds)
        try:
            yield stream
        finally:
            stream.finish()

    def environs(self, container: Container) -> list[tuple[str, str, str]]:
        """(command line, APP_ADDRESS, GREETING) of each process in the container whose
        environment it may read."""
        code, output = container.exec_run(["sh", "-c", ENVIRONS_SCRIPT])
        assert code == 0, output
        lines = output.decode().splitlines()
        return [(cmd.strip(), address, greeting) for cmd, address, greeting in map(split3, lines)]

    def greetings(self) -> dict[str, set[str]]:
        """The GREETINGs each app replica's uWSGI processes have, by container."""
        return {
            container.id: {
                greeting
                for command, _, greeting in self.environs(container)
                if program(command) == "uwsgi"
            }
            for container in self.containers("app")
        }

    def settings_secret(self) -> str:
        """The name of the settings secret the app service mounts."""
        service = self.client.services.get(f"{self.name}_app")
        secrets = service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"]
        [name] = [s["SecretName"] for s in secrets if s["File"]["Name"] == "settings"]
        return name

    def app_version(self) -> int:
        """The app image's version the service runs now."""
        service = self.client.services.get(f"{self.name}_app")
        image = service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        return int(image.split("@")[0].rsplit(":", 1)[1])

    def nginx_log(self, since: float) -> str:
        [nginx] = self.containers("nginx")
        return nginx.logs(stdout=True, stderr=False, since=int(since)).decode(errors="replace")


@dataclass
class LoadRun:
    """A load container on its way: its progress, then its summary."""

    container: Container
    started: float
    summary: LoadSummary | None = None

    def answered(self) -> int:
        counts = re.findall(r"^answered (\d+)$", self.logs(), re.MULTILINE)
        return int(counts[-1]) if counts else 0

    def logs(self) -> str:
        return self.container.logs().decode(errors="replace")

    def wait_for(self, requests: int, seconds: float = 60) -> None:
        target = self.answered() + requests

        def answered_enough() -> bool:
            """the load answered the requests it was waited for"""
            return self.answered() >= target

        wait_until(answered_enough, seconds)

    def finish(self) -> LoadSummary:
        """Stop the load (if it still runs) and read its summary."""
        if self.summary is None:
            with contextlib.suppress(docker.errors.APIError):
                self.container.kill(signal="SIGTERM")
            self.container.wait(timeout=60)
            seconds = time.monotonic() - self.started
            logs = self.logs()
            self.container.remove(force=True)
            last = logs.strip().splitlines()[-1] if logs.strip() else ""
            assert last.startswith("{"), f"the load container ended without a summary:\n{logs}"
            self.summary = LoadSummary(**json.loads(last), seconds=seconds)
        return self.summary


@dataclass
class JobStream:
    """A job-queuing container on its way: how many jobs the app acknowledged, then what
    became of them."""

    container: Container
    read_seconds: float
    summary: dict[str, Any] | None = None

    def acknowledged(self) -> int:
        counts = re.findall(r"^acknowledged (\d+)$", self.logs(), re.MULTILINE)
        return int(counts[-1]) if counts else 0

    def logs(self) -> str:
        return self.container.logs().decode(errors="replace")

    def wait_for(self, jobs: int, seconds: float = 60) -> None:
        target = self.acknowledged() + jobs

        def acknowledged_enough() -> bool:
            """the app acknowledged the jobs waited for"""
            return self.acknowledged() >= target

        wait_until(acknowledged_enough, seconds)

    def finish(self) -> dict[str, Any]:
        """Stop queuing (if it still does), wait for the read-back and take its summary."""
        if self.summary is None:
            with contextlib.suppress(docker.errors.APIError):
                self.container.kill(signal="SIGTERM")
            self.container.wait(timeout=self.read_seconds + 60)
            logs = self.logs()
            self.container.remove(force=True)
            last = logs.strip().splitlines()[-1] if logs.strip() else ""
            assert last.startswith("{"), f"the job container ended without a summary:\n{logs}"
            self.summary = json.loads(last)
        return self.summary


def jobs_finished_after_stop(log: str) -> int:
    """The jobs an RQ worker finished after it was asked to stop (its warm shutdown)."""
    _, stop, after = log.partition("warm shut down requested")
    return after.count("Job OK") if stop else 0


def remove_volume(volume: Volume, seconds: float) -> None:
    """Remove a volume, retrying while a container that is going away still uses it;
    one still in use after `seconds` is left (the test's outcome stands)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            volume.remove(force=True)
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.5)


def program(command: str) -> str:
    """What a command line runs: its program's name, a Python script's rather than python3."""
    words = [word.rsplit("/", 1)[-1] for word in command.split()[:2]]
    return words[1] if words[0].startswith("python") and len(words) > 1 else words[0]


def split3(line: str) -> tuple[str, str, str]:
    """A line of ENVIRONS_SCRIPT's output, by its tabs."""
    first, second, third = line.split("\t")
    return first, second, third


def env_hash(project: Path) -> str:
    """The first 12 hex digits of the SHA-256 of the project's .env: the settings' version."""
    return hashlib.sha256((project / ".env").read_bytes()).hexdigest()[:12]


def slow_jobs(project: Path) -> None:
    """The example job works JOB_SECONDS when it is given no time."""
    jobs = project / "flask_service/jobs.py"
    code = jobs.read_text()
    assert "seconds: float = 0)" in code
    jobs.write_text(code.replace("seconds: float = 0)", f"seconds: float = {JOB_SECONDS})"))


def stack_without_published_port(project: Path) -> None:
    """TEST_STACK_FILE: the stack file, with no port published on the host."""
    stack = yaml.safe_load((project / STACK_FILE).read_text())
    del stack["services"]["nginx"]["ports"]
    (project / TEST_STACK_FILE).write_text(yaml.safe_dump(stack, sort_keys=False, width=1000))


def remove_network(client: docker.DockerClient, name: str) -> bool:
    """Remove a network; True once it is gone."""
    try:
        client.networks.get(name).remove()
    except docker.errors.NotFound:
        return True
    except docker.errors.APIError:
        return False
    return True


def remove_stack(stack: SwarmStack) -> None:
    """The stack, its load containers, its secrets and the images built for it."""
    client = stack.client
    for container in client.containers.list(
        all=True, filters={"label": f"flask-uwsgi.test={stack.name}"}
    ):
        container.remove(force=True)

    def stack_is_gone() -> bool:
        """the stack's containers and network are gone"""
        left = client.containers.list(
            all=True, filters={"label": f"com.docker.stack.namespace={stack.name}"}
        )
        return not left and not client.networks.list(names=[stack.network])

    try:
        run(["docker", "stack", "rm", stack.name], timeout=60)
        wait_until(stack_is_gone, 90, step=0.5)
    finally:
        # The secret key's (external); the settings' go with the stack, unless it failed.
        for secret in client.secrets.list():
            if secret.name.startswith(f"{stack.name}_"):
                secret.remove()
        # `docker stack rm` keeps the stack's volumes (the instance folder's, Redis's data),
        # and a task's container may still hold one for a moment after the stack is gone.
        for volume in client.volumes.list(
            filters={"label": f"com.docker.stack.namespace={stack.name}"}
        ):
            remove_volume(volume, seconds=30)
        for image in sorted(stack.images):
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.images.remove(image)
