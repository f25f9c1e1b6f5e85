"""What a run ran on, recorded in its results: the machine, the versions of what it
ran (here and in the images), and the app's own cost per request (the hello page's, and
the real pages' by package)."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import sys
from pathlib import Path
from typing import Any

from bench.configuration import BENCH_ROOT, PEER_BESIDE, Config
from bench.host import BenchError, run
from bench.images import SECRET_KEY
from bench.page_configs import PAGES
from bench.stacks import Workspace


def first_line(command: list[str], pattern: str = "") -> str:
    """The first line of a command's output (stdout or stderr) matching pattern."""
    result = run(command, check=False, timeout=120)
    for line in (result.stdout + result.stderr).splitlines():
        if re.search(pattern, line):
            found = re.search(pattern, line)
            return found.group(1) if found and found.groups() else line.strip()
    return "?"


def machine() -> dict[str, Any]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        memory = f"{kb / 1024 / 1024:.0f}"
    os_name = "?"
    with contextlib.suppress(OSError):
        found = re.search(r'^PRETTY_NAME="?([^"\n]*)', Path("/etc/os-release").read_text(), re.M)
        os_name = found.group(1) if found else "?"
    info = run(
        ["docker", "info", "--format", "{{.LoggingDriver}} {{.CgroupVersion}} {{.CgroupDriver}}"],
        check=False,
    ).stdout.split()
    return {
        "cpu": cpu,
        "cpus": len(os.sched_getaffinity(0)),
        "memory_gb": memory,
        "os": os_name,
        "kernel": platform.release(),
        "log_driver": info[0] if info else "?",
        "cgroup": f"v{info[1]} ({info[2]})" if len(info) > 2 else "?",
    }


def versions(workspace: Workspace, builds: list[str]) -> dict[str, str]:
    venv_bin = Path(sys.executable).parent
    found = {
        "docker": first_line(["docker", "version", "--format", "{{.Server.Version}}"]),
        "compose": first_line(["docker", "compose", "version", "--short"]),
        "wrk": first_line(["wrk", "-v"], r"^wrk (\S+)"),
        "python_host": platform.python_version(),
        "uwsgi_host": first_line([str(venv_bin / "uwsgi"), "--version"]),
        "nginx_host": first_line(["nginx", "-v"], r"nginx/(\S+)"),
    }

    def in_image(build: str, service: str, command: list[str], pattern: str = "") -> str:
        image = workspace.images.image(build, service)
        docker = ["docker", "run", "--rm", "--network", "none", "--entrypoint", command[0], image]
        return first_line([*docker, *command[1:]], pattern)

    if "default" in builds:
        found["python_image"] = in_image(
            "default", "app", ["python3", "--version"], r"Python (\S+)"
        )
        found["uwsgi_image"] = in_image("default", "app", ["uwsgi", "--version"])
        found["nginx_image"] = in_image("default", "nginx", ["nginx", "-v"], r"nginx/(\S+)")
    peers = [build for build in builds if build in PEER_BESIDE]
    if peers:
        found["gunicorn"] = in_image(peers[0], "app", ["gunicorn", "--version"], r"version (\S+)\)")
        found["granian"] = in_image(peers[0], "app", ["granian", "--version"], r"(\d\S*)")
    if "rq" in builds:
        found["rq"] = in_image("rq", "worker", ["rq", "--version"], r"version (\S+)")
        found["redis"] = in_image("rq", "redis", ["redis-server", "--version"], r"v=(\S+)")
    if "celery" in builds:
        found["celery"] = in_image("celery", "worker", ["celery", "--version"], r"^(\S+)")
    if "postgres" in builds:
        found["postgres"] = in_image("postgres", "db", ["postgres", "--version"], r"(\d+\.\S+)")
        for module in ("psycopg", "sqlalchemy"):
            found[module] = in_image(
                "postgres",
                "app",
                ["python3", "-c", f"import {module}; print({module}.__version__)"],
            )
    if "allinone" in builds:
        found["nginx_allinone"] = in_image("allinone", "app", ["nginx", "-v"], r"nginx/(\S+)")
    return found


def app_cost(workspace: Workspace) -> dict[str, float]:
    """Flask's and the raw WSGI app's own cost per request (bench/apps/app_cost.py), in
    the default app image, on an otherwise idle moment of the run."""
    command = ["docker", "run", "--rm", "--network", "none", "--env", f"SECRET_KEY={SECRET_KEY}"]
    command += ["--volume", f"{BENCH_ROOT / 'apps'}:/bench:ro", "--entrypoint", "python3"]
    command += [workspace.images.image("default", "app"), "/bench/app_cost.py", "/app/main.py"]
    output = run([*command, "/bench/raw_wsgi.py"], timeout=300).stdout
    return {name: float(value) for name, value in json.loads(output).items()}


def page_cost(workspace: Workspace, config: Config) -> dict[str, dict[str, Any]]:
    """Each real page's CPU time per request in the app, in-process, by package
    (bench/apps/app_cost.py --pages): in the app container of `config` (the default
    shape with PostgreSQL), started and seeded as for its runs, before any load."""
    script = (BENCH_ROOT / "apps" / "app_cost.py").read_text()
    paths = [path for path, _ in PAGES.values()]
    with workspace.started(config) as (target, _):
        if target is None or not target.app_container:
            raise BenchError(f"{config.key}: no app container to measure in")
        command = ["docker", "exec", target.app_container, "python3", "-c", script]
        output = run([*command, "--pages", "/app/main.py", *paths], timeout=300).stdout
    return {path: dict(found) for path, found in json.loads(output).items()}
