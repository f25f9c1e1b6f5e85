"""The baked project on Docker swarm, for real: `make swarm-images swarm-deploy`, three
app replicas behind nginx, requests spread over them, a rolling update to a new image
under a steady load with no failed request, a killed replica replaced by the swarm, .env
given to the app's replicas (and nothing of it to nginx) as a secret whose name follows its
content, so that a changed .env rolls the app out. The stack has RQ workers and Redis
(worker=rq): a rollout of the app and the workers to a new image, while jobs are queued
through nginx, loses none of the jobs the app acknowledged.

RQ rather than Celery: its guarantee is the weaker one. A job whose worker is gone
before it ends (killed after the stop grace period, or stopped between taking a job
and starting it) runs again only while the job has retries left, given when it was
queued (the example's Retry(max=2)), and fails otherwise; Celery's task_acks_late keeps
every unacknowledged message in Redis, which hands it out again whatever the task.

Traffic stays inside the stack. A swarm publishes a port on every address of the host
(host mode takes no address to bind), so the test deploys the stack file without
nginx's published port and runs its load from a container on the stack's attachable
overlay network (helpers.Load: 20 clients, bounded in requests and seconds) to nginx.

The test makes this engine a one-node swarm (on 127.0.0.1) only when it is in none, and
then leaves it again; it removes the stack, its secrets, its load containers and the
images it built, also when it fails."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
import yaml
from docker.models.containers import Container

from baked import STACK_FILE, compose_config, settings_file, stack_config
from conftest import Bake
from helpers import (
    SLOW_MIGRATION,
    SLOW_MIGRATION_SECONDS,
    ini_option,
    json_lines,
    lock_turns,
    run,
    seconds,
    seconds_from,
    slow_migration_runs,
    wait_until,
)
from hooks.answers import TEMPLATE_ROOT
from hooks.plan import Plan
from stack import docker_client, health, write_env

# The stack file as the test deploys it: nginx publishes no port (see above).
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
# How long each of the test's jobs works, so that a worker asked to stop is in the
# middle of one (the example job takes no time of its own).
JOB_SECONDS = 1
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

    def image(self, service: str, version: int) -> str:
        repository = {
            "app": self.plan.app_repository,
            "nginx": self.plan.nginx_repository,
            "redis": f"{self.plan.project_slug}-redis",
        }[service]
        return f"{self.image_prefix}{repository}:{version}"

    def make(self, *targets: str, **variables: str | int) -> str:
        """The project's Makefile, as a user runs it, for this stack."""
        settings = [f"{key}={value}" for key, value in variables.items()]
        return run(
            ["make", *targets, *settings], cwd=self.project, env=self.env, timeout=600
        ).stdout

    def build(self, app_version: int) -> None:
        self.make("swarm-images", APP_VERSION=app_version)
        self.images.update(
            (self.image("app", app_version), self.image("nginx", 1), *self.compose_images)
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


@pytest.fixture(scope="module")
def swarm() -> Iterator[docker.DockerClient]:
    """This engine as a swarm manager: as it is, or a one-node swarm made for the test
    and left afterwards, with the bridge network swarm made for it."""
    client = docker_client()
    info = client.info()["Swarm"]
    if info["LocalNodeState"] == "active":
        assert info["ControlAvailable"], "this engine is a swarm worker: deploying needs a manager"
        yield client
        return
    assert info["LocalNodeState"] == "inactive", f"swarm state: {info['LocalNodeState']}"
    networks_before = {network.name for network in client.networks.list()}
    client.swarm.init(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
    try:
        yield client
    finally:
        client.swarm.leave(force=True)
        if "docker_gwbridge" not in networks_before:
            with contextlib.suppress(docker.errors.NotFound):
                wait_until(lambda: remove_network(client, "docker_gwbridge"), 30, step=1)


def remove_network(client: docker.DockerClient, name: str) -> bool:
    """Remove a network; True once it is gone."""
    try:
        client.networks.get(name).remove()
    except docker.errors.NotFound:
        return True
    except docker.errors.APIError:
        return False
    return True


@pytest.fixture(scope="module")
def deployed(
    swarm: docker.DockerClient, bake_session_copy: Bake, base_images: dict[str, str]
) -> Iterator[SwarmStack]:
    """The default shape (nginx-uwsgi, on TCP in the stack) with RQ workers, with a
    GREETING in .env and jobs of JOB_SECONDS, built and deployed at version 1 and waited
    for until healthy; everything removed on the way out."""
    project = bake_session_copy(worker="rq")
    stack_without_published_port(project)
    write_env(project, {"GREETING": GREETING})
    slow_jobs(project)
    name = f"fuswarm{time.time_ns() % 10**10}"
    prefix = f"flask-uwsgi-test/{name}/"
    env = {**os.environ, **base_images, "STACK": name, "IMAGE_PREFIX": prefix}
    stack = SwarmStack(swarm, project, Plan.defaults(worker="rq"), name, env, prefix)
    try:
        stack.build(app_version=1)
        started = time.monotonic()
        stack.deploy(app_version=1)
        wait_until(lambda: stack.converged(1), 120)
        stack.measured["healthy"] = time.monotonic() - started
        yield stack
    finally:
        remove_stack(stack)


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
        # `docker stack rm` keeps the stack's volumes (the instance folder's).
        for volume in client.volumes.list(
            filters={"label": f"com.docker.stack.namespace={stack.name}"}
        ):
            with contextlib.suppress(docker.errors.APIError):
                volume.remove(force=True)
        for image in sorted(stack.images):
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.images.remove(image)


def tmpfs_targets(service: dict[str, Any]) -> set[str]:
    return {volume["target"] for volume in service["volumes"] if volume["type"] == "tmpfs"}


@pytest.mark.parametrize("server", ["nginx-uwsgi", "nginx-http"])
def test_stack_file_follows_compose_uwsgi_and_the_plan(bake: Bake, server: str) -> None:
    """The stack runs what compose runs, as locked down, with the same numbers, on TCP."""
    project = bake(server=server)
    plan = Plan.defaults(server=server)
    compose = compose_config(project)
    stack = stack_config(project)
    app, nginx = stack["services"]["app"], stack["services"]["nginx"]
    assert (app["image"], nginx["image"]) == ("flask_service-app:1", "flask_service-nginx:1")

    # Locked down as compose: init (supervisord is not PID 1), read-only, no capabilities,
    # tmpfs where compose has one (nginx's rendered site: a volume of its own, see the file).
    for service in ("app", "nginx"):
        assert stack["services"][service]["read_only"] is compose[service]["read_only"] is True
        assert stack["services"][service]["cap_drop"] == compose[service]["cap_drop"] == ["ALL"]
    assert app["init"] is compose["app"]["init"] is True
    assert tmpfs_targets(app) == set(compose["app"]["tmpfs"])
    conf = {volume["target"] for volume in nginx["volumes"] if volume["type"] == "volume"}
    assert tmpfs_targets(nginx) | conf == {
        mount.split(":")[0] for mount in compose["nginx"]["tmpfs"]
    }
    assert "source" not in next(v for v in nginx["volumes"] if v["type"] == "volume")

    # One listener setting: TCP on the app's port, for nginx on any node.
    address = f":{plan.app_port}"
    assert app["environment"]["APP_ADDRESS"] == nginx["environment"]["APP_ADDRESS"] == address
    assert app["deploy"]["endpoint_mode"] == nginx["deploy"]["endpoint_mode"] == "dnsrr"

    # Graceful stops: uWSGI's mercy < supervisor's stopwaitsecs < swarm's grace = compose's.
    mercy = int(ini_option(project / "ops/uwsgi.ini", "worker-reload-mercy"))
    stopwaitsecs = int(ini_option(project / "ops/supervisord.conf", "stopwaitsecs"))
    grace = seconds(app["stop_grace_period"])
    assert mercy < stopwaitsecs < grace == seconds(compose["app"]["stop_grace_period"])
    site = (project / "nginx/templates/default.conf.template").read_text()
    [read_timeout] = re.findall(r"_read_timeout (\d+)s;", site)
    assert seconds(nginx["stop_grace_period"]) > int(read_timeout)

    # Replicas, rolling updates that start the new replica first and roll back on failure,
    # watched as long as the health check takes to fail.
    deploy = app["deploy"]
    assert deploy["replicas"] == plan.app_replicas == 3
    assert deploy["update_config"] == {
        "parallelism": 1,
        "order": "start-first",
        "failure_action": "rollback",
        "monitor": f"{plan.swarm_update_monitor}s",
    }
    assert deploy["rollback_config"] == {"parallelism": 1, "order": "start-first"}
    healthcheck = re.search(
        r"--interval=(\d+)s --timeout=(\d+)s .*--retries=(\d+)",
        (project / "Dockerfile").read_text(),
    )
    assert healthcheck, "the Dockerfile's HEALTHCHECK"
    interval, timeout, retries = map(int, healthcheck.groups())
    assert plan.swarm_update_monitor >= interval * retries + timeout
    # Room for every worker up to reload-on-rss before the memory limit.
    reload_on_rss_mb = int(ini_option(project / "ops/uwsgi.ini", "reload-on-rss"))
    memory = int(deploy["resources"]["limits"]["memory"])
    assert memory >= plan.replica_workers * reload_on_rss_mb * 1024 * 1024
    assert deploy["resources"]["limits"]["cpus"] == "1"

    # The settings (all of .env) and the secret key as files of the app's user only, the
    # settings where the image's CMD reads them, made from .env under a name that follows
    # its content (SETTINGS_VERSION); nothing for nginx (which has no secret without https).
    uid = str(plan.app_uid)
    secrets = {secret["source"]: secret for secret in app["secrets"]}
    assert list(secrets) == ["settings", "secret_key"]
    for secret in secrets.values():
        assert (secret["uid"], secret["gid"], secret["mode"]) == (uid, uid, 0o400)
    assert f"/run/secrets/{secrets['settings']['target']}" == settings_file(project / "Dockerfile")
    assert stack["secrets"]["settings"] == {
        "name": "flask_service_settings_0123456789ab",
        "file": str(project / ".env"),
    }
    assert "secrets" not in nginx and "env_file" not in nginx
    assert app["environment"]["SECRET_KEY_FILE"] == "/run/secrets/secret_key"
    assert secrets["secret_key"]["target"] == "secret_key"
    assert stack["secrets"]["secret_key"] == {
        "name": "flask_service_secret_key",
        "external": True,
    }
    assert nginx["ports"] == [
        {
            "mode": "host",
            "target": plan.nginx_port,
            "published": plan.answers["http_port"],
        }
    ]
    assert nginx["deploy"]["mode"] == "global"
    assert nginx["deploy"]["update_config"]["order"] == "stop-first"
    assert stack["networks"]["default"]["attachable"] is True


def test_the_settings_secret_is_named_after_the_content_of_env(bake_fresh: Bake) -> None:
    """The Makefile's SETTINGS_VERSION follows .env's content, so a changed .env is a new
    secret; the stack refuses to deploy without one (no .env)."""
    project = bake_fresh()

    def settings_version() -> str:
        rule = "print-settings-version: ; @echo $(SETTINGS_VERSION)"
        command = ["make", "--no-print-directory", "--eval", rule, "print-settings-version"]
        return run(command, cwd=project).stdout.strip()

    first = settings_version()
    assert re.fullmatch(r"[0-9a-f]{12}", first) and first == env_hash(project)
    write_env(project, {"GREETING": GREETING})
    assert settings_version() == env_hash(project) != first
    (project / ".env").unlink()
    assert settings_version() == ""
    env = {**os.environ, "STACK": "s", "STACK_APP_IMAGE": "a:1", "STACK_NGINX_IMAGE": "n:1"}
    with pytest.raises(AssertionError, match=r"the hash of \.env, set by the Makefile"):
        run(["docker", "stack", "config", "--compose-file", STACK_FILE], cwd=project, env=env)


@pytest.mark.parametrize("server", ["nginx-uwsgi", "nginx-http"])
def test_the_stack_serves_https_with_the_certificate_as_secrets(bake: Bake, server: str) -> None:
    """https=yes: certs/ as two swarm secrets, versioned (a secret cannot change), mounted
    where compose mounts the files, the key for nginx's uid only; HTTPS_PORT published
    as HTTP_PORT is, and given to nginx for its redirect."""
    project = bake(server=server, https=True)
    plan = Plan.defaults(server=server, https=True)
    stack = stack_config(project)
    nginx = stack["services"]["nginx"]
    certs_dir = plan.certs_dir
    assert nginx["secrets"] == [
        {"source": "tls_cert", "target": f"{certs_dir}/cert.pem"},
        {
            "source": "tls_key",
            "target": f"{certs_dir}/key.pem",
            "uid": str(plan.nginx_uid),
            "gid": str(plan.nginx_uid),
            "mode": 0o400,
        },
    ]
    for name in ("cert", "key"):
        assert stack["secrets"][f"tls_{name}"] == {
            "name": f"flask_service_tls_{name}_1",
            "file": str(project / "certs" / f"{name}.pem"),
        }
    compose = compose_config(project)["nginx"]
    [certs] = [volume for volume in compose["volumes"] if volume["type"] == "bind"]
    assert (certs["target"], certs["read_only"]) == (certs_dir, True)
    assert nginx["ports"] == [
        {"mode": "host", "target": plan.nginx_port, "published": plan.answers["http_port"]},
        {"mode": "host", "target": plan.nginx_https_port, "published": plan.https_port},
    ]
    assert nginx["environment"]["HTTPS_PORT"] == str(plan.https_port)
    assert compose["environment"]["HTTPS_PORT"] == str(plan.https_port)


def test_three_app_replicas_become_healthy_behind_nginx(deployed: SwarmStack) -> None:
    assert deployed.converged(1)
    print(
        f"\nswarm: {deployed.plan.app_replicas} app replicas and nginx healthy"
        f" {deployed.measured['healthy']:.1f} s after `make swarm-deploy` began"
    )


def test_replicas_run_locked_down(deployed: SwarmStack) -> None:
    """What compose sets, on the swarm's containers (no-new-privileges is the engine's)."""
    uid = deployed.plan.app_uid
    for container in deployed.containers("app"):
        host = container.attrs["HostConfig"]
        assert host["Init"] is True
        assert host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"]
        assert container.attrs["Config"]["User"] == f"{uid}:{uid}"
        assert {m["Target"] for m in host["Mounts"] if m["Type"] == "tmpfs"} == {"/tmp"}
        code, output = container.exec_run(["cat", "/proc/1/cmdline"])
        assert code == 0 and output.split(b"\0")[0] == b"/sbin/docker-init", output
        code, output = container.exec_run(["stat", "-c", "%u %g %a", "/run/secrets/secret_key"])
        assert (code, output.decode().split()) == (0, [str(uid), str(uid), "400"])
    [nginx] = deployed.containers("nginx")
    assert nginx.attrs["HostConfig"]["ReadonlyRootfs"] is True
    assert nginx.attrs["HostConfig"]["CapDrop"] == ["ALL"]
    assert nginx.attrs["HostConfig"]["PortBindings"] in (None, {})


def test_the_settings_reach_the_app_replicas_only(deployed: SwarmStack) -> None:
    """.env, as the secret named after its content: a file of the app's user only in each
    replica, its GREETING in the environment of supervisord and every uWSGI process there
    (beside the stack's own APP_ADDRESS); nginx has no such file, secret or setting."""
    uid = deployed.plan.app_uid
    settings = settings_file(deployed.project / "Dockerfile")
    assert deployed.settings_secret() == f"{deployed.name}_settings_{env_hash(deployed.project)}"
    for container in deployed.containers("app"):
        # The file is GREETING's only way in: the container's own environment has none.
        assert not any(var.startswith("GREETING=") for var in container.attrs["Config"]["Env"])
        code, output = container.exec_run(["stat", "-c", "%u %g %a", settings])
        assert (code, output.decode().split()) == (0, [str(uid), str(uid), "400"])
        environs = deployed.environs(container)
        # supervisord and its children: uWSGI's master and workers, the FATAL listener.
        served = [env for env in environs if program(env[0]) in SUPERVISED]
        programs = Counter(program(command) for command, _, _ in served)
        assert programs["supervisord"] == programs["exit_on_fatal.py"] == 1, environs
        assert programs["uwsgi"] > deployed.plan.replica_workers, environs
        assert {(address, greeting) for _, address, greeting in served} == {
            (f":{deployed.plan.app_port}", GREETING)
        }
    [nginx] = deployed.containers("nginx")
    code, output = nginx.exec_run(["ls", "-A", "/run/secrets"])
    assert code != 0 or output.decode().split() == [], output
    # nginx runs with its container's environment (its process titles overwrite what /proc
    # shows of it): no GREETING there, nor in any process whose environment shows.
    assert not any(var.startswith("GREETING=") for var in nginx.attrs["Config"]["Env"])
    environs = deployed.environs(nginx)
    assert any(address for _, address, _ in environs), environs
    assert {greeting for _, _, greeting in environs} == {""}, environs
    nginx_service = deployed.client.services.get(f"{deployed.name}_nginx")
    assert "Secrets" not in nginx_service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    print(
        f"\nswarm: .env as the secret {deployed.settings_secret()}, mode 0400 for uid {uid};"
        f" GREETING in {len(deployed.containers('app'))} replicas' uWSGI, none in nginx"
    )


def test_requests_spread_over_the_replicas(deployed: SwarmStack) -> None:
    since = time.time() - 1
    with deployed.load(requests=600, seconds=60) as load:
        load.container.wait(timeout=90)
    summary = load.finish()
    assert summary.errors == []
    assert summary.requests == 600
    addresses = {deployed.address(container) for container in deployed.containers("app")}

    def served_by_replica() -> Counter[str]:
        return Counter(
            entry["upstream_addr"].rsplit(":", 1)[0]
            for entry in json_lines(deployed.nginx_log(since))
            if (entry["method"], entry["uri"], entry["status"]) == ("GET", "/", 200)
        )

    # nginx writes its access log in batches, at least every second.
    wait_until(lambda: sum(served_by_replica().values()) >= 600, 10)
    served = served_by_replica()
    assert set(served) == addresses, served
    assert sum(served.values()) == 600
    assert min(served.values()) >= 600 // 10, f"uneven spread: {served}"
    print(f"\nswarm: 600 requests through nginx, by replica: {dict(served)}")


def test_rolling_update_under_load_fails_no_request(deployed: SwarmStack) -> None:
    main = deployed.project / "flask_service/settings.py"
    main.write_text(
        main.read_text().replace("DESCRIPTION = ", f'DESCRIPTION = "{NEW_DESCRIPTION}" or ', 1)
    )
    deployed.build(app_version=2)
    with deployed.load(requests=200000, seconds=240) as load:
        load.wait_for(300)
        started = time.monotonic()
        deployed.deploy(app_version=2)
        deploy_returned = time.monotonic() - started
        wait_until(lambda: deployed.update_state() == "completed" and deployed.converged(2), 120)
        rollout = time.monotonic() - started
        load.wait_for(300)
    summary = load.finish()
    assert summary.errors == []
    old = summary.answered_with(deployed.plan.answers["description"])
    new = summary.answered_with(NEW_DESCRIPTION)
    assert old > 0 and new > 0 and old + new == summary.requests
    assert deployed.converged(2)
    print(
        f"\nswarm: rolled out version 2 in {rollout:.1f} s (make swarm-deploy returned after"
        f" {deploy_returned:.1f} s) under {CLIENTS} clients: {summary.requests} requests in"
        f" {summary.seconds:.1f} s ({old} old, {new} new), {summary.error_count} failed"
    )


def test_a_killed_replica_is_replaced(deployed: SwarmStack) -> None:
    with deployed.load(requests=30000, seconds=150) as load:
        load.wait_for(200)
        victim = deployed.containers("app")[0]
        victim.kill()
        started = time.monotonic()

        def replaced() -> bool:
            """three healthy app replicas again, none of them the killed one"""
            healthy = deployed.healthy("app")
            return len(healthy) == deployed.plan.app_replicas and victim.id not in {
                container.id for container in healthy
            }

        wait_until(replaced, 90)
        replacement = time.monotonic() - started
        load.wait_for(200)
    summary = load.finish()
    assert deployed.converged(2)
    # At most the requests the killed replica was serving, one per worker thread.
    assert summary.error_count <= deployed.plan.replica_workers * deployed.plan.threads, (
        summary.errors
    )
    print(
        f"\nswarm: a killed replica was replaced, healthy, in {replacement:.1f} s; under"
        f" {CLIENTS} clients {summary.error_count} of {summary.requests} requests failed"
    )


def test_a_changed_env_rolls_the_app_out(deployed: SwarmStack) -> None:
    """A changed .env, with the same images: `make swarm-deploy` makes a new settings
    secret and rolls the app out with it under load, one replica at a time, no request
    failing; the earlier secret stays, for a rollback."""
    version = deployed.app_version()
    old_secret = deployed.settings_secret()
    write_env(deployed.project, {"GREETING": NEW_GREETING})
    new_secret = f"{deployed.name}_settings_{env_hash(deployed.project)}"
    assert new_secret != old_secret
    with deployed.load(requests=200000, seconds=240) as load:
        load.wait_for(300)
        started = time.monotonic()
        deployed.deploy(app_version=version)

        def rolled_out() -> bool:
            """the update completed, and every replica's uWSGI has the new GREETING"""
            if not (deployed.update_state() == "completed" and deployed.converged(version)):
                return False
            try:
                greetings = deployed.greetings()
            except docker.errors.APIError:  # a replica stopped meanwhile
                return False
            return all(found == {NEW_GREETING} for found in greetings.values())

        wait_until(rolled_out, 120, step=1)
        rollout = time.monotonic() - started
        load.wait_for(300)
    summary = load.finish()
    assert summary.errors == []
    assert deployed.settings_secret() == new_secret
    assert deployed.client.secrets.list(filters={"name": old_secret})
    print(
        f"\nswarm: a changed .env rolled the app out in {rollout:.1f} s under {CLIENTS}"
        f" clients: {summary.requests} requests, {summary.error_count} failed"
    )


def test_a_rollout_loses_no_job(deployed: SwarmStack) -> None:
    """Jobs queued through nginx, a little faster than the workers run them, while
    `make swarm-deploy` rolls the app and the workers out to a new image: the workers
    asked to stop finish the job they are in (RQ's warm shutdown, within the stop grace
    period), and every job the app acknowledged (202) finishes."""
    new = deployed.app_version() + 1
    deployed.build(app_version=new)
    old_workers = deployed.containers("worker")
    read_seconds = 240
    with deployed.job_stream(
        jobs=400, seconds=300, interval=JOB_SECONDS / 2, read_seconds=read_seconds
    ) as stream:
        stream.wait_for(10)
        started = time.monotonic()
        deployed.deploy(app_version=new)

        def rolled_out() -> bool:
            """the app and the workers completed their update, all healthy on the new image"""
            updates = {deployed.update_state(service) for service in ("app", "worker")}
            return updates == {"completed"} and deployed.converged(new)

        wait_until(rolled_out, 180, step=1)
        rollout = time.monotonic() - started
        stream.wait_for(10)
    summary = stream.finish()
    assert summary["acknowledged"] >= 20
    assert summary["unfinished"] == {}, summary
    assert summary["finished"] == summary["acknowledged"]
    assert len(old_workers) == deployed.plan.worker_replicas
    for container in old_workers:
        container.reload()
        assert container.status == "exited", container.status
    finished_on_stop = [
        jobs_finished_after_stop(container.logs().decode(errors="replace"))
        for container in old_workers
    ]
    # The queue never ran dry, so a worker was asked to stop in the middle of a job.
    assert sum(finished_on_stop) >= 1, finished_on_stop
    print(
        f"\nswarm, worker=rq: rolled the app and {deployed.plan.worker_replicas} workers out in"
        f" {rollout:.1f} s; {summary['acknowledged']} jobs of {JOB_SECONDS} s queued through nginx"
        f" in {summary['queued_seconds']:.1f} s ({summary['refused'] or 'none'} refused),"
        f" {summary['finished']} finished ({summary['read_seconds']:.1f} s after the last),"
        f" {summary['acknowledged'] - summary['finished']} lost; the stopping workers finished"
        f" {finished_on_stop} jobs after SIGTERM"
    )


def test_replicas_starting_together_migrate_one_at_a_time(
    swarm: docker.DockerClient, bake_fresh: Bake, base_images: dict[str, str]
) -> None:
    """database=sqlite on a one-node swarm: the three replicas start together on the
    node's instance volume, and a slow migration runs in one of them under the lock
    while the others wait, then find the database at head."""
    project = bake_fresh(database="sqlite")
    (project / "flask_service/migrations/versions/0002_slow.py").write_text(SLOW_MIGRATION)
    stack_without_published_port(project)
    name = f"fumigrate{time.time_ns() % 10**10}"
    prefix = f"flask-uwsgi-test/{name}/"
    env = {**os.environ, **base_images, "STACK": name, "IMAGE_PREFIX": prefix}
    stack = SwarmStack(swarm, project, Plan.defaults(database="sqlite"), name, env, prefix)
    try:
        stack.build(app_version=1)
        stack.deploy(app_version=1)
        wait_until(lambda: stack.converged(1), 180)
        apps = stack.containers("app")
        assert len(apps) == stack.plan.app_replicas
        service = swarm.services.get(f"{name}_app")
        assert len(service.tasks()) == stack.plan.app_replicas, "a replica failed, replaced"
        # The database holds one run of the slow migration, in one replica; every other
        # got the lock once it had ended, and one at least had asked for it while it ran.
        [run] = slow_migration_runs(apps[0])
        assert (run.ended - run.started).total_seconds() >= SLOW_MIGRATION_SECONDS
        turns = lock_turns(apps)
        others = [turn for host, turn in turns.items() if host != run.host]
        assert len(others) == len(apps) - 1, f"{run.host} is not a replica: {turns}"
        assert all(run.ended < turn.got for turn in others), f"not one at a time: {run}, {turns}"
        assert any(turn.waiting < run.ended for turn in others), f"none waited: {run}, {turns}"
        logs = [container.logs().decode(errors="replace") for container in apps]
        assert sum("migrate: upgraded from" in log for log in logs) == 1
        assert all("migrate: at head 0002" in log for log in logs)
        turns_seen = ", ".join(
            f"waited from {seconds_from(run.started, turn.waiting)},"
            f" got it at {seconds_from(run.started, turn.got)}"
            for turn in sorted(others, key=lambda turn: turn.got)
        )
        print(
            "\nswarm, database=sqlite: the migration ran in one replica from 0 to"
            f" {seconds_from(run.started, run.ended)}; the others {turns_seen}"
        )
    finally:
        remove_stack(stack)
