"""Baking, building, starting and stopping what the bench measures; and cleaning up.

Docker stacks are the baked projects' own compose files plus an override file
per configuration (image names, bind-mounted variants, labels). wrk runs in the
front container's network namespace (nsenter with the host's wrk), against its
loopback: traffic to a published port would go through docker-proxy. The native
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
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.configs import BAKED_ANSWERS, BENCH_ROOT, GUNICORN_VERSION, Config, Sources
from hooks.plan import Plan

REPO_ROOT = BENCH_ROOT.parent
LABEL = "flask-uwsgi-bench"
SECRET_KEY = "only-for-the-bench"
UP_TIMEOUT_S = 180
READY_TIMEOUT_S = 120
# Environment a caller may have set that would change what compose runs.
COMPOSE_ENV_DROP = (
    "APP_ADDRESS",
    "HTTP_PORT",
    "BIND_ADDRESS",
    "COMPOSE_FILE",
    "COMPOSE_PROJECT_NAME",
    "COMPOSE_PROFILES",
    "SECRET_KEY",
)

Log = Callable[[str], None]


class BenchError(RuntimeError):
    """Something the bench needs failed; the message says what and shows its output."""


def run(
    command: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, its output captured; fail with that output."""
    try:
        result = subprocess.run(
            list(command),
            env=env,
            cwd=cwd,
            timeout=timeout,
            capture_output=True,
            text=True,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise BenchError(f"{' '.join(command)}: no answer after {timeout:.0f} s") from error
    if check and result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-40:])
        raise BenchError(f"{' '.join(command)} exited {result.returncode}:\n{tail}")
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_host() -> None:
    """What the bench needs on this machine, or one line saying what is missing."""
    if os.geteuid() != 0:
        raise BenchError(
            "the bench runs wrk in containers' network namespaces (nsenter): run as root"
        )
    # command -> Debian package
    tools = {
        "wrk": "wrk",
        "nginx": "nginx",
        "envsubst": "gettext-base",
        "curl": "curl",
        "nsenter": "util-linux",
        "unshare": "util-linux",
        "ip": "iproute2",
        "ss": "iproute2",
        "pgrep": "procps",
    }
    missing = sorted({package for tool, package in tools.items() if shutil.which(tool) is None})
    if missing:
        raise BenchError(f"the bench needs these Debian packages: {' '.join(missing)}")
    if run(["docker", "info"], check=False, timeout=60).returncode != 0:
        raise BenchError(
            "no Docker engine answers; `make setup` starts one (machine/docker-engine.sh)"
        )


def base_images() -> dict[str, str]:
    """PYTHON_IMAGE, NGINX_IMAGE and POSTGRES_IMAGE, as the tests get them: from the
    environment where given (`make bench` gives machine/base-images.sh's), the official
    images otherwise."""
    official = Plan.defaults().base_images
    return {name: os.environ.get(name) or ref for name, ref in official.items()}


def bake(output_dir: Path, answers: dict[str, str]) -> Path:
    """Bake the template with cookiecutter's command line, as a user does (--no-input,
    these answers, the defaults for the rest); the project folder."""
    output_dir.mkdir(parents=True, exist_ok=True)
    cookiecutter = Path(sys.executable).parent / "cookiecutter"
    run(
        [
            str(cookiecutter),
            "--no-input",
            "--output-dir",
            str(output_dir),
            str(REPO_ROOT),
            *(f"{key}={value}" for key, value in answers.items()),
        ],
        cwd=REPO_ROOT,
    )
    [project] = [path for path in output_dir.iterdir() if path.is_dir()]
    return project


def copy_app(project: Path, into: Path) -> None:
    """main.py and the Flask package it serves, from a baked project, into a folder."""
    into.mkdir(exist_ok=True)
    shutil.copy(project / "main.py", into / "main.py")
    package = project / "flask_service"
    shutil.copytree(package, into / package.name, ignore=shutil.ignore_patterns("__pycache__"))


def pinned(requirements: str, leave_out: Sequence[str]) -> list[str]:
    """name==version lines of a hash-checked requirements file, some packages left out."""
    pins = re.findall(r"^([A-Za-z0-9_.-]+==[^\s\\]+)", requirements, flags=re.MULTILINE)
    return [pin for pin in pins if pin.split("==")[0].lower() not in leave_out]


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


# Access log lines with another status than 200 (and 499: wrk hanging up at the end).
NOT_OK = re.compile(r'" (?!200 |499 )[1-5][0-9][0-9] ')
EXPLAINING = re.compile(
    r"\[(error|crit|alert|emerg)\]|killed|harakiri|Seeya|Respawned|listen queue|"
    r"Traceback|Error|unavailable|refused",
)


def explaining_errors(result: subprocess.CompletedProcess[str], most: int = 200) -> str:
    """The log lines that explain a run's errors, the first `most` of them."""
    lines = (result.stdout + result.stderr).splitlines()
    found = [line for line in lines if NOT_OK.search(line) or EXPLAINING.search(line)]
    return "\n".join(found[:most]) + (
        f"\n... {len(found) - most} more" if len(found) > most else ""
    )


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_stat(pid: int | str) -> list[str]:
    """The fields of /proc/PID/stat after the command name (state first)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_cpu_s(pid: int | str, children: bool = False) -> float:
    """CPU seconds of a process (utime + stime), with its reaped children's."""
    try:
        fields = process_stat(pid)
    except (OSError, IndexError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def session_cpu_s(session: int) -> float:
    """CPU seconds of every process of a session, with the children they reaped."""
    return sum(process_cpu_s(pid, children=True) for pid in session_processes(session))


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


def session_processes(session: int) -> list[int]:
    """The processes of a session (supervisord gives each program a process group of
    its own, but they all stay in the session the bench started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int(process_stat(entry.name)[3]) == session:
                    found.append(int(entry.name))
    return found


def living(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        return process_stat(pid)[0] != "Z"
    except (OSError, IndexError):
        return False


def stop_session(session: int, grace_s: float = 10) -> None:
    """SIGTERM every process of a session (started with start_new_session, so its
    id is the session's), SIGKILL what is left after grace_s (at once with 0)."""
    deadline = time.monotonic() + grace_s
    signum = signal.SIGTERM if grace_s else signal.SIGKILL
    while True:
        # Reap the leader if it is our child and done, so it does not linger as a zombie.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(session, os.WNOHANG)
        alive = [pid for pid in session_processes(session) if living(pid)]
        if not alive:
            return
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        if time.monotonic() > deadline:
            signum = signal.SIGKILL
        time.sleep(0.1)


@dataclass(frozen=True)
class Target:
    """Where wrk sends its requests: a URL, seen from a network namespace (a
    container's, by one of its processes), or from this machine's."""

    url: str
    netns_pid: int | None = None
    container: str = ""
    app_pid: int | None = None
    # The stack's log lines that explain errors (non-200 answers, nginx errors,
    # uWSGI's worker messages), for a run that had some.
    error_logs: Callable[[], str] = lambda: ""
    # CPU seconds used so far: by the stack's own processes ("stack") and by Docker's
    # daemons and the stack's shims ("docker": the log path, health checks).
    cpu: Callable[[], dict[str, float]] = lambda: {}

    def wrap(self, command: Sequence[str]) -> list[str]:
        if self.netns_pid is None:
            return list(command)
        return ["nsenter", f"--net=/proc/{self.netns_pid}/ns/net", *command]

    def status(self) -> int:
        """The HTTP status of GET url, 0 when there is no answer."""
        result = run(
            self.wrap(
                [
                    "curl",
                    "--silent",
                    "--output",
                    "/dev/null",
                    "--max-time",
                    "2",
                    "--write-out",
                    "%{http_code}",
                    self.url,
                ]
            ),
            check=False,
            timeout=10,
        )
        return int(result.stdout or 0) if result.stdout.strip().isdigit() else 0

    def wait_ready(self, seconds: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.status() == 200:
                return
            time.sleep(0.1)
        raise BenchError(f"{self.url} did not answer 200 within {seconds:.0f} s")

    def time_wait(self, pid: int | None) -> int:
        """TIME_WAIT sockets in the network namespace of pid."""
        if pid is None:
            command = ["ss", "-Htan", "state", "time-wait"]
        else:
            command = ["nsenter", f"--net=/proc/{pid}/ns/net", "ss", "-Htan", "state", "time-wait"]
        return len(run(command, check=False).stdout.splitlines())


class Workspace(Sources):
    """The baked projects, build contexts and variant files of one bench run."""

    def __init__(
        self, root: Path, run_id: str, images: dict[str, str], resources: Resources
    ) -> None:
        self.root = root
        self.run_id = run_id
        self.base = images
        self.resources = resources
        self._projects: dict[str, Path] = {}
        self._baked: dict[tuple[tuple[str, str], ...], Path] = {}
        self.env = {key: value for key, value in os.environ.items() if key not in COMPOSE_ENV_DROP}

    # -- the baked projects ------------------------------------------------------

    def project(self, build: str) -> Path:
        if build not in self._projects:
            self._projects[build] = bake(self.root / "baked" / build, BAKED_ANSWERS[build])
        return self._projects[build]

    def bake(self, **answers: str) -> Path:
        key = tuple(sorted(answers.items()))
        if key not in self._baked:
            name = "-".join(f"{k}{v}" for k, v in key) or "defaults"
            self._baked[key] = bake(self.root / "baked" / f"variant-{name}", dict(answers))
        return self._baked[key]

    # -- images ----------------------------------------------------------------

    def image(self, build: str, service: str) -> str:
        return f"{LABEL}/{self.run_id}-{build}-{service}"

    def services(self, build: str) -> list[str]:
        """The services of a build's stack."""
        if build in ("default", "nginx-http", "gunicorn"):
            return ["app", "nginx"]
        return ["app"]

    def built_services(self, build: str) -> list[str]:
        """The services whose images a build makes (gunicorn's nginx is nginx-http's)."""
        return ["app"] if build == "gunicorn" else self.services(build)

    def compose_files(self, build: str) -> list[Path]:
        """The compose files a build's stacks start from (before a config's override)."""
        work = self.root / "compose"
        work.mkdir(parents=True, exist_ok=True)
        if build in BAKED_ANSWERS:
            images = {
                "services": {
                    service: {"image": self.image(build, service)}
                    for service in self.services(build)
                }
            }
            path = work / f"images-{build}.json"
            path.write_text(json.dumps(images, indent=2))
            return [self.project(build) / "compose.yaml", path]
        if build == "gunicorn":
            # The nginx-http stack, its app replaced by gunicorn (its nginx unchanged).
            context = self.gunicorn_context()
            gunicorn = {
                "services": {
                    "app": {
                        "image": self.image("gunicorn", "app"),
                        "build": {"context": str(context), "args": self.base},
                    }
                }
            }
            path = work / "images-gunicorn.json"
            path.write_text(json.dumps(gunicorn, indent=2))
            return [*self.compose_files("nginx-http"), path]
        if build == "allinone":
            context = self.allinone_context()
            compose = {
                "services": {
                    "app": {
                        "image": self.image("allinone", "app"),
                        "build": {
                            "context": str(context),
                            "args": {"PYTHON_IMAGE": self.base["PYTHON_IMAGE"]},
                        },
                        "environment": {"SECRET_KEY": SECRET_KEY},
                        "stop_grace_period": "10s",
                    }
                }
            }
            path = work / "allinone.json"
            path.write_text(json.dumps(compose, indent=2))
            return [path]
        raise ValueError(f"no compose files for build {build!r}")

    def gunicorn_context(self) -> Path:
        context = self.root / "contexts" / "gunicorn"
        if not context.exists():
            project = self.project("nginx-http")
            shutil.copytree(BENCH_ROOT / "images/gunicorn", context)
            copy_app(project, context)
            shutil.copy(project / "ops/healthcheck.py", context / "healthcheck.py")
            pins = pinned((project / "requirements.txt").read_text(), ("pyuwsgi", "supervisor"))
            (context / "requirements.txt").write_text(
                "\n".join([*pins, f"gunicorn=={GUNICORN_VERSION}"]) + "\n"
            )
        return context

    def allinone_context(self) -> Path:
        context = self.root / "contexts" / "allinone"
        if not context.exists():
            project = self.project("default")
            shutil.copytree(BENCH_ROOT / "images/allinone", context)
            copy_app(project, context / "app")
            shutil.copy(project / "requirements.txt", context / "requirements.txt")
        return context

    def context_main(self, build: str) -> Path:
        """The main.py a build's app image is made from (touched to time a rebuild)."""
        if build in BAKED_ANSWERS:
            return self.project(build) / "main.py"
        return self.root / "contexts" / build / "main.py"

    def compose_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {
            **self.env,
            **self.base,
            "BIND_ADDRESS": "127.0.0.1",
            "HTTP_PORT": str(free_port()),
            **(extra or {}),
        }

    def compose(
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
        return run([*command, *args], env=env or self.compose_env(), timeout=timeout, check=check)

    def build(self, build: str, services: Sequence[str] = ()) -> float:
        """Build a build's images; the seconds it took."""
        services = list(services) or self.built_services(build)
        for service in services:
            self.resources.images.add(self.image(build, service))
        project = f"{LABEL}-{self.run_id}-build-{build}"
        started = time.monotonic()
        self.compose(project, self.compose_files(build), ["build", *services], timeout=1800)
        return time.monotonic() - started

    def image_id(self, image: str) -> str:
        return run(
            ["docker", "image", "inspect", "--format", "{{.Id}}", image], check=False
        ).stdout.strip()

    def image_size(self, image: str) -> int:
        size = run(["docker", "image", "inspect", "--format", "{{.Size}}", image]).stdout
        return int(size.strip())

    def rebuild_after_code_change(self, build: str) -> float:
        """Change main.py (a comment line), rebuild the app image: the seconds it took."""
        image = self.image(build, "app")
        before = self.image_id(image)
        with self.context_main(build).open("a") as main:
            main.write(f"\n# A code change, to time the rebuild ({time.time_ns()}).\n")
        seconds = self.build(build, ["app"])
        after = self.image_id(image)
        if before == after:
            raise BenchError(f"{build}: the rebuild after a change to main.py made the same image")
        run(["docker", "image", "rm", before], check=False)
        return seconds

    # -- configurations --------------------------------------------------------

    def project_name(self, config: Config) -> str:
        return f"{LABEL}-{self.run_id}-{config.key}"

    def config_files(self, config: Config) -> list[Path]:
        """The build's compose files and this configuration's override."""
        files = self.compose_files(config.build)
        services: dict[str, dict[str, Any]] = {
            service: {"labels": {LABEL: self.run_id}} for service in self.services(config.build)
        }
        mount_dir = self.root / "mounts" / config.key
        for index, mount in enumerate(config.mounts):
            mount_dir.mkdir(parents=True, exist_ok=True)
            host = mount_dir / f"{index}-{Path(mount.target).name}"
            host.write_text(mount.make(self))
            host.chmod(0o644)
            services[mount.service].setdefault("volumes", []).append(f"{host}:{mount.target}:ro")
        for service, settings in config.override.items():
            for key, value in settings.items():
                if isinstance(value, dict) and isinstance(services[service].get(key), dict):
                    services[service][key] = {**services[service][key], **value}
                else:
                    services[service][key] = value
        if not config.cold_start and "nginx" in services and "depends_on" not in services["nginx"]:
            # Not timed: start nginx beside the app and poll the front until it answers.
            services["nginx"]["depends_on"] = {"app": {"condition": "service_started"}}
        path = self.root / "compose" / f"config-{config.key}.json"
        path.write_text(json.dumps({"services": services}, indent=2))
        return [*files, path]

    @contextlib.contextmanager
    def started(self, config: Config) -> Iterator[tuple[Target | None, float | None]]:
        """Start a configuration from nothing; yield where to send requests (None for
        a cold-start-only one) and the cold start (`up --wait` to healthy) in seconds
        when timed. Everything is removed on the way out."""
        if config.build == "native":
            with self.native() as target:
                yield target, None
            return
        project = self.project_name(config)
        files = self.config_files(config)
        env = self.compose_env(config.env)
        args = ["up", "--detach"]
        if config.cold_start:
            args += ["--wait", "--wait-timeout", str(UP_TIMEOUT_S)]
        if config.services:
            args += ["--no-deps", *config.services]
        try:
            started = time.monotonic()
            result = self.compose(project, files, args, env=env, check=False)
            cold_start = time.monotonic() - started if config.cold_start else None
            if result.returncode != 0:
                raise BenchError(
                    f"{config.key}: compose up failed:\n{result.stderr.strip()[-2000:]}\n"
                    f"--- logs\n{self.logs(project, files, env)}"
                )
            if not config.load:
                yield None, cold_start
                return
            front = self.container(project, files, env, config.front)
            app = (
                self.container(project, files, env, "app")
                if config.front != "app" and not config.services
                else front
            )
            ids = self.compose(project, files, ["ps", "--quiet"], env=env).stdout.split()
            ids = [
                run(["docker", "inspect", "--format", "{{.Id}}", short]).stdout.strip()
                for short in ids
            ]

            def cpu() -> dict[str, float]:
                stack = [cgroup_cpu_s(container_id) for container_id in ids]
                found = {"docker": docker_daemons_cpu_s(ids)}
                if all(value is not None for value in stack):
                    found["stack"] = sum(value or 0.0 for value in stack)
                return found

            target = Target(
                f"http://127.0.0.1:{config.front_port}/",
                cpu=cpu,
                netns_pid=self.pid(front),
                container=front,
                app_pid=self.pid(app),
                error_logs=lambda: explaining_errors(
                    self.compose(project, files, ["logs", "--no-color"], env=env, check=False)
                ),
            )
            try:
                target.wait_ready()
            except BenchError as error:
                logs = self.logs(project, files, env)
                raise BenchError(f"{config.key}: {error}\n--- logs\n{logs}") from error
            yield target, cold_start
        finally:
            # Nothing to finish gracefully: the measured run is over (SIGKILL at once).
            self.compose(
                project,
                files,
                ["down", "--volumes", "--remove-orphans", "--timeout", "0"],
                env=env,
                check=False,
                timeout=120,
            )
            self.resources.projects.discard(project)

    def container(
        self, project: str, files: Sequence[Path], env: dict[str, str], service: str
    ) -> str:
        container = self.compose(project, files, ["ps", "--quiet", service], env=env).stdout.strip()
        if not container:
            raise BenchError(f"{project}: no {service} container")
        return container

    def pid(self, container: str) -> int:
        return int(run(["docker", "inspect", "--format", "{{.State.Pid}}", container]).stdout)

    def logs(self, project: str, files: Sequence[Path], env: dict[str, str]) -> str:
        result = self.compose(
            project, files, ["logs", "--no-color", "--tail", "60"], env=env, check=False
        )
        return (result.stdout + result.stderr)[-6000:]

    def processes(self, container: str, pattern: str) -> int:
        """Processes of a container whose command line contains pattern."""
        output = run(["docker", "top", container, "-eo", "pid,args"], check=False).stdout
        return sum(pattern in line for line in output.splitlines()[1:])

    # -- native ------------------------------------------------------------------

    def native_nginx_conf(self, socket_path: str) -> Path:
        """The default project's nginx configuration, rendered for a native run."""
        conf = self.root / "native" / "nginx"
        if conf.exists():
            shutil.rmtree(conf)
        render_nginx_conf(self.project("default"), conf, socket_path)
        return conf

    @contextlib.contextmanager
    def native(self) -> Iterator[Target]:
        """supervisord (uWSGI) and nginx from the default project, on this machine, in
        namespaces of their own: a network namespace (its own loopback, so nginx
        listens on 8080 as in its container, uWSGI's stats server meets no other, and
        no TIME_WAIT socket of this machine's counts) and a mount namespace with
        tmpfs on /tmp and /var/log/nginx, as the containers have: supervisord's pid
        file, uWSGI's FIFO and socket, nginx's logs. What the run needs from under the
        host's /tmp (a clone there: the project, the bench's folder, the virtualenv) is
        bound back into the fresh /tmp."""
        project = self.project("default")
        socket_path = "/tmp/app.sock"
        conf = self.native_nginx_conf(socket_path)
        logs = self.root / "native" / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        venv_bin = Path(sys.executable).parent
        env = {
            **self.env,
            "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}",
            "VIRTUAL_ENV": str(venv_bin.parent),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "SECRET_KEY": SECRET_KEY,
            "APP_ADDRESS": socket_path,
        }
        script = (
            "set -e; project=$1 conf=$2 logs=$3; shift 3; ip link set lo up; "
            # Park what is kept (the arguments left) on a tmpfs of this namespace...
            "mount -t tmpfs tmpfs /mnt; i=0; for keep; do i=$((i+1)); "
            'mkdir /mnt/$i; mount --rbind "$keep" /mnt/$i; done; '
            "mount -t tmpfs -o mode=1777 tmpfs /tmp; "
            # ...and bind it back at its own path inside the fresh /tmp.
            'i=0; for keep; do i=$((i+1)); mkdir -p "$keep"; mount --rbind /mnt/$i "$keep"; done; '
            "mkdir -p /var/log/nginx; mount -t tmpfs tmpfs /var/log/nginx; "
            'cd "$project"; supervisord --nodaemon --configuration "$project/ops/supervisord.conf" '
            '>>"$logs/supervisord.log" 2>&1 & '
            'exec nginx -p "$conf" -c "$conf/nginx.conf" -g \'daemon off; user root;\' '
            '>>"$logs/nginx.log" 2>&1'
        )
        command = ["unshare", "--mount", "--net", "--propagation", "private", "sh", "-c", script]
        process = subprocess.Popen(
            [
                *command,
                "native",
                str(project),
                str(conf),
                str(logs),
                *kept_from_tmp([project, conf, logs, Path(sys.prefix)]),
            ],
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.resources.sessions.add(process.pid)

        def native_logs() -> str:
            return "".join(
                path.read_text(errors="replace")[-6000:] for path in sorted(logs.glob("*.log"))
            )

        try:
            target = Target(
                "http://127.0.0.1:8080/",
                cpu=lambda: {"stack": session_cpu_s(process.pid)},
                netns_pid=process.pid,
                error_logs=lambda: explaining_errors(
                    subprocess.CompletedProcess([], 0, native_logs(), "")
                ),
            )
            try:
                target.wait_ready(60)
            except BenchError as error:
                raise BenchError(f"native: {error}\n--- logs\n{native_logs()}") from error
            yield target
        finally:
            # Nothing to finish gracefully: the measured run is over.
            stop_session(process.pid, grace_s=0)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
            self.resources.sessions.discard(process.pid)


def kept_from_tmp(paths: Sequence[Path]) -> list[str]:
    """Of the paths a native run needs, those under /tmp, which its mount namespace
    replaces with a tmpfs: the fewest folders that hold them all."""
    tmp = Path("/tmp")
    under = sorted({path.resolve() for path in paths if tmp in path.resolve().parents})
    kept: list[Path] = []
    for path in under:
        if not any(folder in path.parents for folder in kept):
            kept.append(path)
    return [str(path) for path in kept]


def render_nginx_conf(project: Path, conf: Path, app_address: str) -> str:
    """A baked project's nginx.conf and site in the folder conf, for Debian's nginx run
    natively (`nginx -p conf`): the site rendered as the image's entrypoint renders it
    (the project's envsh, then envsubst), with the stock mime.types and uwsgi_params
    beside it. Returns the site's text (conf.d/default.conf)."""
    (conf / "conf.d").mkdir(parents=True)
    shutil.copy(project / "nginx/nginx.conf", conf / "nginx.conf")
    for stock in ("mime.types", "uwsgi_params"):
        shutil.copy(Path("/etc/nginx") / stock, conf / stock)
    site = run(
        [
            "sh",
            "-c",
            '. "$1" && envsubst \'${APP_UPSTREAM} ${NGINX_LOCAL_RESOLVERS}\' < "$2"',
            "render",
            str(project / "nginx/docker-entrypoint.d/18-app-upstream.envsh"),
            str(project / "nginx/templates/default.conf.template"),
        ],
        env={
            "PATH": os.environ["PATH"],
            "APP_ADDRESS": app_address,
            "NGINX_LOCAL_RESOLVERS": "127.0.0.1",
        },
    ).stdout
    (conf / "conf.d/default.conf").write_text(site)
    return site
