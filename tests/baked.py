"""What a baked project holds, read as its tools read it: compose's and swarm's view of
their files, and the Dockerfile's final stage."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

from helpers import run

# The swarm stack's file, in the project.
STACK_FILE = "deploy/swarm/stack.yaml"


def compose_config(project: Path) -> dict[str, Any]:
    """compose.yaml as docker compose reads it."""
    output = run(["docker", "compose", "config", "--format", "json"], cwd=project).stdout
    return json.loads(output)["services"]


def stack_config(project: Path) -> dict[str, Any]:
    """The stack file as `docker stack deploy` reads it (no swarm needed)."""
    env = {
        **os.environ,
        "STACK": "flask_service",
        "STACK_APP_IMAGE": "flask_service-app:1",
        "STACK_NGINX_IMAGE": "flask_service-nginx:1",
        "STACK_REDIS_IMAGE": "flask_service-redis:1",
        "CERT_VERSION": "1",
        "SETTINGS_VERSION": "0123456789ab",
    }
    output = run(["docker", "stack", "config", "--compose-file", STACK_FILE], cwd=project, env=env)
    return yaml.safe_load(output.stdout)


def healthcheck(dockerfile: Path) -> dict[str, Any]:
    """The HEALTHCHECK of a Dockerfile: its timings in seconds and its command."""
    text = dockerfile.read_text().replace("\\\n", " ")
    match = re.search(
        r"^HEALTHCHECK --interval=(\d+)s --timeout=(\d+)s --start-period=(\d+)s"
        r" --start-interval=(\d+)s --retries=(\d+)\s+CMD (\[.*\])$",
        text,
        re.MULTILINE,
    )
    assert match, f"{dockerfile}: no HEALTHCHECK"
    interval, timeout, start_period, start_interval, retries = map(int, match.groups()[:5])
    return {
        "interval": interval,
        "timeout": timeout,
        "start_period": start_period,
        "start_interval": start_interval,
        "retries": retries,
        "command": json.loads(match[6]),
    }


def dockerfile_user(dockerfile: Path) -> int:
    """The user the image runs as: the final stage's (the last USER)."""
    users = re.findall(r"^USER (\d+):\1$", dockerfile.read_text(), re.MULTILINE)
    return int(users[-1])


def settings_file(dockerfile: Path) -> str:
    """Where the image's CMD reads the settings file an orchestrator mounts (.env)."""
    [cmd] = re.findall(r"^CMD (\[.*\])$", dockerfile.read_text(), re.MULTILINE)
    command = json.loads(cmd)
    assert command[:2] == ["python3", "ops/with_settings.py"], command
    return command[2]
