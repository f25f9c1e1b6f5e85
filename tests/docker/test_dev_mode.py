"""Working on a baked project without the template repository: `make lock` pins a new
dependency with hashes and the image builds with it; `make dev` serves each saved edit
without a manual reload."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Bake
from helpers import (
    SERVERS,
    WORKERS_LOADED_S,
    every_worker_loaded,
    free_port,
    http_get,
    run,
    wait_until,
)
from hooks.plan import Plan

# A small pure-Python package the project does not depend on yet.
NEW_DEPENDENCY = "humanize"
DEV_FILES = ("compose.yaml", "compose.live.yaml", "compose.dev.yaml")
# Generous: a changed module reloads uWSGI, whose workers import the app again, on
# a machine other tests share.
EDIT_SERVED_WITHIN_S = 30


def pins(requirements: Path) -> dict[str, str]:
    """name -> version of a pip-compile output."""
    found = re.findall(r"^([a-z0-9._-]+)==([^\s\\]+)", requirements.read_text(), re.MULTILINE)
    return dict(found)


def test_make_lock_pins_a_new_dependency_and_the_image_builds_with_it(
    bake_fresh: Bake, base_images: dict[str, str]
) -> None:
    project = bake_fresh()
    before = pins(project / "requirements.txt")
    with (project / "requirements.in").open("a") as requirements:
        requirements.write(f"{NEW_DEPENDENCY}\n")

    run(["make", "lock"], cwd=project, timeout=600)

    after = pins(project / "requirements.txt")
    assert NEW_DEPENDENCY in after
    assert {name: after[name] for name in before} == before, "make lock moved other pins"
    entry = re.search(
        rf"^{NEW_DEPENDENCY}==\S+ \\\n((?:\s+--hash=sha256:[0-9a-f]{{64}}.*\n)+)",
        (project / "requirements.txt").read_text(),
        re.MULTILINE,
    )
    assert entry, f"{NEW_DEPENDENCY} is pinned without hashes"

    # Built as compose builds it (BuildKit: the Dockerfile caches pip's downloads).
    name = f"lock{time.time_ns()}"
    env = {**os.environ, **base_images, "COMPOSE_PROJECT_NAME": name}
    try:
        run(["docker", "compose", "build", "app"], cwd=project, env=env, timeout=600)
        script = f"import importlib.metadata as m; print(m.version({NEW_DEPENDENCY!r}))"
        version = run(["docker", "run", "--rm", f"{name}-app", "python3", "-c", script])
        assert version.stdout.strip() == after[NEW_DEPENDENCY]
    finally:
        run(["docker", "image", "rm", "--force", f"{name}-app"])


@pytest.fixture(params=SERVERS[:1] + SERVERS[-1:])
def dev_stack(
    request: pytest.FixtureRequest, bake_fresh: Bake, base_images: dict[str, str]
) -> Iterator[tuple[Path, str, list[str]]]:
    """`make dev` in a fresh project on a free port of 127.0.0.1: (project, front
    address, the compose command of the stack)."""
    project = bake_fresh(server=request.param)
    port = free_port()
    name = f"dev{time.time_ns()}"
    compose = ["docker", "compose", "--project-name", name]
    compose += [arg for file in DEV_FILES for arg in ("--file", str(project / file))]
    env = {**os.environ, **base_images, "COMPOSE_PROJECT_NAME": name}
    env.update(BIND_ADDRESS="127.0.0.1", HTTP_PORT=str(port))
    try:
        run(["make", "dev"], cwd=project, env=env, timeout=600)
        yield project, f"127.0.0.1:{port}", compose
    finally:
        run([*compose, "down", "--volumes", "--rmi", "local"], timeout=180)


def uwsgi_stats(compose: list[str]) -> dict[str, Any]:
    """uWSGI's stats server, read from inside the app container."""
    url = f"http://{Plan.defaults().stats_address}"
    script = f"import urllib.request as u; print(u.urlopen({url!r}).read().decode())"
    return json.loads(run([*compose, "exec", "app", "python3", "-c", script]).stdout)


def test_make_dev_serves_each_saved_edit_without_a_reload(
    dev_stack: tuple[Path, str, list[str]],
) -> None:
    project, front, compose = dev_stack
    package = project / "flask_service"

    def served(text: str) -> bool:
        status, body = http_get(front, "/", timeout=10)
        return status == 200 and text.encode() in body

    assert served("<h1>Flask Service</h1>")
    debug = [*compose, "exec", "app", "python3", "-c", "import main; print(main.app.debug)"]
    assert run(debug).stdout.strip() == "True"
    # Edited while a worker still imports the app, uWSGI's reload waits for that worker.
    wait_until(lambda: every_worker_loaded(uwsgi_stats(compose)), WORKERS_LOADED_S)
    # A view's Python: uWSGI reloads the changed module.
    pages = package / "pages.py"
    pages.write_text(pages.read_text().replace('current_app.config["PROJECT_NAME"]', '"Edited"'))
    wait_until(lambda: served("<h1>Edited</h1>"), EDIT_SERVED_WITHIN_S)
    # A view's template: read anew in debug mode.
    template = package / "templates" / "index.html"
    template.write_text(
        template.read_text().replace("<h1>{{ name }}</h1>", "<h1>{{ name }}, again</h1>")
    )
    wait_until(lambda: served("<h1>Edited, again</h1>"), EDIT_SERVED_WITHIN_S)
