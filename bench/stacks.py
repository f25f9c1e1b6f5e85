"""Starting and stopping what the bench measures: a configuration's compose stack,
or the native run (bench/native.py), from one run's Workspace.

Docker stacks are the baked projects' own compose files plus an override file
per configuration (image names, labels, bind mounts: the files a variant's bake or
edits change, or the bench's own). wrk runs in the front container's network
namespace (nsenter with the host's wrk), against its loopback: traffic to a
published port would go through docker-proxy. The native
run starts the same supervisord.conf, uwsgi.ini and nginx config on this
machine, in a network namespace of its own (where wrk runs the same way) and a
mount namespace with its own /tmp (as the containers have a tmpfs there), so
nothing it binds or writes meets another process's. CPU time per request is
read from the containers' cgroups (and Docker's daemons), or from the native
run's processes.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.configuration import COMPOSE_FILE, DATABASE, MOUNTED_FILES, Config
from bench.docker import LABEL, UP_TIMEOUT_S, Compose, Resources, cgroup_cpu_s, docker_daemons_cpu_s
from bench.host import BenchError, run
from bench.images import Images
from bench.native import NativeRun
from bench.projects import Projects
from bench.target import Target, explaining_errors

SERVICE_OF_CONTAINER = '{{.Id}} {{index .Config.Labels "com.docker.compose.service"}}'
# The notes the pages list: a line of text each, the newest a minute apart.
SEED_NOTES = (
    "INSERT INTO notes (text, created_at) SELECT"
    " 'Note ' || n || ': a line of text, as someone would leave one on a page.',"
    " now() - make_interval(mins => {count} - n) FROM generate_series(1, {count}) AS n"
)


class Stacks:
    """A configuration's compose stack: its files (the build's and an override), started
    from nothing and removed again."""

    def __init__(
        self, root: Path, run_id: str, projects: Projects, images: Images, compose: Compose
    ) -> None:
        self.root = root
        self.run_id = run_id
        self.projects = projects
        self.images = images
        self.compose = compose

    def project_name(self, config: Config) -> str:
        return f"{LABEL}-{self.run_id}-{config.key}"

    def config_files(self, config: Config) -> list[Path]:
        """The build's compose files and this configuration's override: the files its
        answers vary (from their own bake) or its edits change, and the bench's own
        files, mounted over the build's; its compose settings."""
        files = self.images.compose_files(config.build)
        services: dict[str, dict[str, Any]] = {
            service: {"labels": {LABEL: self.run_id}}
            for service in self.images.services(config.build)
        }
        mounts = [(mount.service, mount.target, mount.source) for mount in config.mounts]
        for relative, source in self.projects.variant_files(config).items():
            if relative == COMPOSE_FILE:
                files = [source, *files[1:]]
            else:
                service, target = MOUNTED_FILES[relative]
                mounts.append((service, target, source))
        for service, target, source in mounts:
            services[service].setdefault("volumes", []).append(f"{source}:{target}:ro")
        for service, settings in config.override.items():
            # A service of the bench's own (PgBouncer) is labelled as the build's are.
            services.setdefault(service, {"labels": {LABEL: self.run_id}})
            for key, value in settings.items():
                if isinstance(value, dict) and isinstance(services[service].get(key), dict):
                    services[service][key] = {**services[service][key], **value}
                else:
                    services[service][key] = value
        path = self.root / "compose" / f"config-{config.key}.json"
        path.write_text(json.dumps({"services": services}, indent=2))
        return [*files, path]

    def container_services(
        self, project: str, files: list[Path], env: dict[str, str]
    ) -> dict[str, str]:
        """The stack's containers (their full ids) and the service each runs."""
        short_ids = self.compose.run(project, files, ["ps", "--quiet"], env=env).stdout.split()
        found = {}
        for short in short_ids:
            output = run(["docker", "inspect", "--format", SERVICE_OF_CONTAINER, short]).stdout
            container_id, service = output.split()
            found[container_id] = service
        return found

    def seed_notes(self, project: str, files: list[Path], env: dict[str, str], count: int) -> None:
        """`count` notes written by the database's superuser, on the db container's own
        socket, into the table the app's migrations made (it answers, so they ran)."""
        sql = SEED_NOTES.format(count=count)
        psql = ["psql", "--no-psqlrc", "--set", "ON_ERROR_STOP=1", "--dbname", DATABASE]
        result = self.compose.run(
            project, files, ["exec", "-T", "db", *psql, "--command", sql], env=env
        )
        if result.stdout.split() != ["INSERT", "0", str(count)]:
            raise BenchError(f"seeding {count} notes: {result.stdout.strip()}")

    @contextlib.contextmanager
    def started(self, config: Config) -> Iterator[tuple[Target | None, float | None]]:
        """Start a configuration from nothing; yield where to send requests (None for
        a cold-start-only one) and the cold start (`up --wait` to healthy) in seconds
        when timed. Everything is removed on the way out."""
        project = self.project_name(config)
        files = self.config_files(config)
        env = self.compose.environment(config.env)
        args = ["up", "--detach"]
        if config.cold_start:
            args += ["--wait", "--wait-timeout", str(UP_TIMEOUT_S)]
        if config.services:
            args += ["--no-deps", *config.services]
        try:
            started = time.monotonic()
            result = self.compose.run(project, files, args, env=env, check=False)
            cold_start = time.monotonic() - started if config.cold_start else None
            if result.returncode != 0:
                raise BenchError(
                    f"{config.key}: compose up failed:\n{result.stderr.strip()[-2000:]}\n"
                    f"--- logs\n{self.compose.logs(project, files, env)}"
                )
            if not config.load:
                yield None, cold_start
                return
            front = self.compose.container(project, files, env, config.front)
            app = (
                self.compose.container(project, files, env, "app")
                if config.front != "app" and not config.services
                else front
            )
            services = self.container_services(project, files, env)
            ids = list(services)

            def cpu() -> dict[str, float]:
                stack = {container_id: cgroup_cpu_s(container_id) for container_id in ids}
                found = {"docker": docker_daemons_cpu_s(ids)}
                if all(value is not None for value in stack.values()):
                    found["stack"] = sum(value or 0.0 for value in stack.values())
                    for container_id, value in stack.items():
                        found[f"service_{services[container_id]}"] = value or 0.0
                return found

            target = Target(
                f"http://127.0.0.1:{config.front_port}{config.path}",
                cpu=cpu,
                netns_pid=self.compose.pid(front),
                container=front,
                app_pid=self.compose.pid(app),
                app_container=app,
                error_logs=lambda: explaining_errors(
                    self.compose.run(project, files, ["logs", "--no-color"], env=env, check=False)
                ),
                front_log=lambda: (
                    self.compose.run(
                        project,
                        files,
                        ["logs", "--no-color", "--no-log-prefix", config.front],
                        env=env,
                        check=False,
                    ).stdout
                ),
            )
            try:
                target.wait_ready()
                if config.seed_notes:
                    self.seed_notes(project, files, env, config.seed_notes)
            except BenchError as error:
                logs = self.compose.logs(project, files, env)
                raise BenchError(f"{config.key}: {error}\n--- logs\n{logs}") from error
            yield target, cold_start
        finally:
            # Nothing to finish gracefully: the measured run is over (SIGKILL at once).
            # --rmi local: images compose built itself (a profile's, Prometheus'); the
            # bench's own have names and stay.
            self.compose.run(
                project,
                files,
                ["down", "--volumes", "--remove-orphans", "--rmi", "local", "--timeout", "0"],
                env=env,
                check=False,
                timeout=120,
            )
            self.compose.resources.projects.discard(project)


class Workspace:
    """One bench run's parts, in one folder: the baked projects, the images, the compose
    stacks and the native run."""

    def __init__(
        self, root: Path, run_id: str, base_images: dict[str, str], resources: Resources
    ) -> None:
        self.projects = Projects(root / "baked")
        self.compose = Compose(base_images, resources)
        self.images = Images(root, run_id, self.projects, self.compose)
        self.stacks = Stacks(root, run_id, self.projects, self.images, self.compose)
        self.native = NativeRun(root, self.projects, self.compose.env, resources)

    @contextlib.contextmanager
    def started(self, config: Config) -> Iterator[tuple[Target | None, float | None]]:
        """A configuration started from nothing (see Stacks.started), natively or in Docker."""
        if config.build == "native":
            with self.native.started() as target:
                yield target, None
        else:
            with self.stacks.started(config) as started:
                yield started
