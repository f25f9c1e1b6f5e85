"""Docker as the bench uses it: compose commands with the run's environment, the
containers' CPU time, and removing what the bench created (its label)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.host import BenchError, Log, free_port, process_cpu_s, run, stop_session

LABEL = "flask-uwsgi-bench"
UP_TIMEOUT_S = 180
# Environment a caller may have set that would change what compose runs.
COMPOSE_ENV_DROP = (
    "APP_ADDRESS",
    "HTTP_PORT",
    "BIND_ADDRESS",
    "COMPOSE_FILE",
    "COMPOSE_PROJECT_NAME",
    "COMPOSE_PROFILES",
    "SECRET_KEY",
    "REDIS_PASSWORD",
    "REDIS_URL",
)


@dataclass
class Resources:
    """Everything the bench created in Docker or started here, to remove at the end."""

    run_id: str = ""

    projects: set[str] = field(default_factory=set)
    images: set[str] = field(default_factory=set)
    sessions: set[int] = field(default_factory=set)  # the native runs' processes

    def cleanup(self, log: Log) -> None:
        for session in list(self.sessions):
            stop_session(session)
            self.sessions.discard(session)
        for project in sorted(self.projects):
            result = run(
                [
                    "docker",
                    "compose",
                    "-p",
                    project,
                    "down",
                    "--volumes",
                    "--remove-orphans",
                    "--timeout",
                    "2",
                ],
                check=False,
                timeout=120,
            )
            if result.returncode != 0:
                log(f"cleanup: compose down {project} failed: {result.stderr.strip()[-300:]}")
        self.projects.clear()
        # Containers of this run a failed `down` left behind, by label.
        if self.run_id:
            remove_labelled(f"{LABEL}={self.run_id}")
        if self.images:
            run(
                ["docker", "image", "rm", "--force", *sorted(self.images)], check=False, timeout=300
            )
        self.images.clear()


def cgroup_cpu_s(container_id: str) -> float | None:
    """CPU seconds a container's cgroup used (exited processes included)."""
    root = Path("/sys/fs/cgroup")
    for v1 in ("cpuacct", "cpu,cpuacct"):
        usage = root / v1 / "docker" / container_id / "cpuacct.usage"
        if usage.is_file():
            return int(usage.read_text()) / 1e9
    for v2 in (f"system.slice/docker-{container_id}.scope", f"docker/{container_id}"):
        stat = root / v2 / "cpu.stat"
        if stat.is_file():
            for line in stat.read_text().splitlines():
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) / 1e6
    return None


def docker_daemons_cpu_s(container_ids: Sequence[str]) -> float:
    """CPU seconds of dockerd and containerd (shared with every other container) and
    of these containers' shims: the log path from a container's output to its log
    file, and the health checks' execs."""
    pids = run(["pgrep", "-x", "dockerd|containerd"], check=False).stdout.split()
    for container_id in container_ids:
        pids += run(
            ["pgrep", "-f", f"containerd-shim.* -id {container_id}"], check=False
        ).stdout.split()
    return sum(process_cpu_s(pid) for pid in pids)


def remove_labelled(label: str) -> None:
    """Remove the containers with this label (key or key=value), and their volumes."""
    found = run(
        ["docker", "ps", "--all", "--quiet", "--filter", f"label={label}"], check=False
    ).stdout.split()
    if found:
        run(["docker", "rm", "--force", "--volumes", *found], check=False, timeout=120)


def remove_leftovers(log: Log) -> None:
    """What runs that could not clean up (killed with SIGKILL) left: containers,
    networks and volumes of the bench's compose projects, and its images."""
    remove_labelled(LABEL)
    projects = run(
        ["docker", "compose", "ls", "--all", "--quiet", "--filter", f"name={LABEL}-"], check=False
    ).stdout.split()
    for project in projects:
        run(["docker", "compose", "-p", project, "down", "--volumes"], check=False, timeout=120)
    for kind in ("network", "volume"):
        names = run(["docker", kind, "ls", "--format", "{{.Name}}"], check=False).stdout.split()
        ours = [name for name in names if name.startswith(f"{LABEL}-")]
        if ours:
            run(["docker", kind, "rm", *ours], check=False, timeout=120)
    images = run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", f"{LABEL}/*"],
        check=False,
    ).stdout.split()
    if images:
        run(["docker", "image", "rm", "--force", *images], check=False, timeout=300)
    log(f"removed {len(images)} image(s) and the containers of {len(projects)} project(s)")


class Compose:
    """`docker compose` and `docker` for one run: this machine's environment without
    what would change the stacks, the base images, every compose project recorded
    for the clean-up."""

    def __init__(self, base_images: dict[str, str], resources: Resources) -> None:
        self.base = base_images
        self.resources = resources
        self.env = {key: value for key, value in os.environ.items() if key not in COMPOSE_ENV_DROP}

    def environment(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {
            **self.env,
            **self.base,
            "BIND_ADDRESS": "127.0.0.1",
            "HTTP_PORT": str(free_port()),
            **(extra or {}),
        }

    def run(
        self,
        project: str,
        files: Sequence[Path],
        args: Sequence[str],
        env: dict[str, str] | None = None,
        timeout: float = UP_TIMEOUT_S + 60,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        self.resources.projects.add(project)
        command = ["docker", "compose", "--ansi", "never", "-p", project]
        for path in files:
            command += ["-f", str(path)]
        return run([*command, *args], env=env or self.environment(), timeout=timeout, check=check)

    def container(
        self, project: str, files: Sequence[Path], env: dict[str, str], service: str
    ) -> str:
        container = self.run(project, files, ["ps", "--quiet", service], env=env).stdout.strip()
        if not container:
            raise BenchError(f"{project}: no {service} container")
        return container

    def pid(self, container: str) -> int:
        return int(run(["docker", "inspect", "--format", "{{.State.Pid}}", container]).stdout)

    def logs(self, project: str, files: Sequence[Path], env: dict[str, str]) -> str:
        result = self.run(
            project, files, ["logs", "--no-color", "--tail", "60"], env=env, check=False
        )
        return (result.stdout + result.stderr)[-6000:]

    def processes(self, container: str, pattern: str) -> int:
        """Processes of a container whose command line contains pattern."""
        output = run(["docker", "top", container, "-eo", "pid,args"], check=False).stdout
        return sum(pattern in line for line in output.splitlines()[1:])

    def image_id(self, image: str) -> str:
        return run(
            ["docker", "image", "inspect", "--format", "{{.Id}}", image], check=False
        ).stdout.strip()

    def image_size(self, image: str) -> int:
        size = run(["docker", "image", "inspect", "--format", "{{.Size}}", image]).stdout
        return int(size.strip())
