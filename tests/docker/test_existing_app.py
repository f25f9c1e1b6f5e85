"""An existing Flask app brought into a project by following its README (the steps of
tests/corpus.py, which the corpus of real apps follows too): a guestbook
(tests/data/guestbook: an app factory with its own "dev" secret key, SQLite in its
instance folder, a `flask init-db` command, templates, a CSS file, a session cookie,
no health route) copied in and named by FLASK_APP, then served for real; an app that
writes beside its code or logs its own way (tests/data/logbook); a failed start fixed."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature

from conftest import Bake
from corpus import GUESTBOOK_FOLDER, RealApp, follow_the_readme
from helpers import json_lines, run, template_file, wait_until
from hooks.plan import Plan
from stack import Stack, compose_stack, health

# The guestbook as the README's steps bring it in: its flow is the test below.
GUESTBOOK = RealApp(
    name="guestbook",
    origin=lambda cache: GUESTBOOK_FOLDER.parent,
    copy=("guestbook",),
    flask_app="guestbook",
    requirements=("flask",),
    init="init-db",
    flow=lambda front: None,
    # A build step that writes a static file: it is served like the others.
    build="printf 'p { margin: 0 }\\n' > guestbook/static/built.css\n",
)
LOGBOOK = template_file("tests/data/logbook")


def sign(stack: Stack, name: str, message: str) -> str:
    """POST an entry to the guestbook through the front door; the session cookie it sets."""
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=10)
    try:
        body = urlencode({"name": name, "message": message})
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        connection.request("POST", "/sign", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    assert response.status == 302, response.status
    cookie = SimpleCookie(response.getheader("Set-Cookie"))
    return cookie["session"].value


def entries(stack: Stack) -> str:
    status, body = stack.get("/")
    assert status == 200, body[:500]
    return body.decode()


def session_data(cookie: str, secret_key: str) -> dict[str, str]:
    """The session in a Flask session cookie, if `secret_key` signed it (else BadSignature)."""
    app = Flask("verifier")
    app.secret_key = secret_key
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert serializer is not None
    return serializer.loads(cookie)


def env_value(project: Path, name: str) -> str:
    [value] = re.findall(rf"(?m)^{name}=(.*)$", (project / ".env").read_text())
    return value


@pytest.mark.parametrize("server", ["nginx-uwsgi", "standalone"])
def test_an_existing_app_served_by_following_the_readme(
    server: str,
    bake_fresh: Bake,
    base_images: dict[str, str],
    lock_venv: Path,
    tmp_path: Path,
) -> None:
    project = bake_fresh(server=server)
    follow_the_readme(GUESTBOOK, project, GUESTBOOK_FOLDER.parent, tmp_path, lock_venv)
    # `up`: compose_stack runs it (detached, on a free port of 127.0.0.1, built, waited for).
    with compose_stack(project, Plan.defaults(server=server), base_images) as stack:
        output = stack.run(f"exec app flask {GUESTBOOK.init}")
        assert "Initialized the database." in output
        assert stack.get("/healthz")[0] == 200, "the health route main.py adds"
        status, css = stack.get("/static/guestbook.css")
        assert (status, css) == (200, (GUESTBOOK_FOLDER / "static/guestbook.css").read_bytes())
        assert stack.get("/static/built.css") == (200, b"p { margin: 0 }\n"), "build.sh's file"

        cookie = sign(stack, "Ada", "first entry")
        assert "Ada: first entry" in entries(stack)
        assert session_data(cookie, env_value(project, "SECRET_KEY")) == {"last_signer": "Ada"}
        with pytest.raises(BadSignature):
            session_data(cookie, "dev")

        stack.down_up()
        assert "Ada: first entry" in entries(stack), "the instance folder outlives down/up"

        sign(stack, "Grace", "second entry")
        compose = f"docker compose -p {stack.name}"
        run(["make", "reload", f"COMPOSE={compose}"], cwd=project)
        wait_until(lambda: "chain reloading complete" in stack.logs("app"), 60)
        page = entries(stack)
        assert "Ada: first entry" in page and "Grace: second entry" in page


def build_app_image(project: Path, base_images: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`docker compose build app` as compose builds it; the image removed again."""
    name = f"build{time.time_ns()}"
    env = {**os.environ, **base_images, "COMPOSE_PROJECT_NAME": name}
    try:
        return subprocess.run(
            ["docker", "compose", "build", "--progress", "plain", "app"],
            cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
    finally:
        subprocess.run(["docker", "image", "rm", "--force", f"{name}-app"], capture_output=True)


def test_an_app_that_writes_beside_its_code_stops_the_build_with_one_line(
    bake_fresh: Bake, base_images: dict[str, str]
) -> None:
    """The logbook makes logs/ beside its code when imported: the build, which imports it
    as it runs (its user, the code root's), stops on one line naming the path and the fix,
    instead of an image that restart-loops on a PermissionError. Built first with its
    setting for stdout, then without: a changed .env runs the import again, not the
    cached one."""
    project = bake_fresh()
    shutil.copytree(LOGBOOK, project / "logbook")
    settings = (project / ".env").read_text() + "FLASK_APP=logbook\n"
    (project / ".env").write_text(settings + "LOG_TO_STDOUT=1\n")
    assert build_app_image(project, base_images).returncode == 0
    (project / ".env").write_text(settings)
    build = build_app_image(project, base_images)
    assert build.returncode != 0
    # BuildKit prints the step's output, then its last lines again: the same one line.
    found = {line.split("collect_static: ")[1] for line in build.stdout.splitlines()
             if "collect_static: the app" in line}  # fmt: skip
    [line] = found
    assert "wrote to /app/logs when imported (Permission denied)" in line
    assert "instance folder" in line and "LOG_TO_STDOUT" in line
    assert "Traceback" not in build.stdout


def test_the_app_logging_its_own_way_logs_each_record_once_as_json(
    bake_fresh: Bake, base_images: dict[str, str]
) -> None:
    """With its setting for stdout in .env (the one settings file, at build and at run
    time), the logbook builds and serves, and each of its records is one JSON line, not
    also a line in its own format."""
    project = bake_fresh()
    shutil.copytree(LOGBOOK, project / "logbook")
    with compose_stack(
        project, Plan.defaults(), base_images, FLASK_APP="logbook", LOG_TO_STDOUT="1"
    ) as stack:
        assert stack.get("/") == (200, b"logbook\n")
        wait_until(lambda: "the index was served" in stack.logs("app"), 10)
        lines = [line for line in stack.logs("app").splitlines() if "the index was served" in line]
        assert len(lines) == 1, lines
        [record] = json_lines(lines[0])
        assert record["logger"] == "logbook" and record["request_id"]


BROKEN_AT_START = '''\
"""Fails when started in a container (not while the image is built), until fixed."""
from pathlib import Path

from flask import Flask

if Path("/.dockerenv").exists():
    raise RuntimeError("broken at start")
app = Flask(__name__)
'''


def test_a_failed_start_is_retried_after_the_fix_without_down(
    bake_fresh: Bake, base_images: dict[str, str]
) -> None:
    """`up --wait` fails while the app cannot start; once it is fixed, `up --wait` again
    succeeds at once, without a `down`: nginx is restarted with the recreated app, so its
    unhealthy state from the failed start does not outlive it."""
    project = bake_fresh()
    app = project / "fragile.py"
    app.write_text(BROKEN_AT_START)
    with compose_stack(
        project, Plan.defaults(), base_images, wait=False, FLASK_APP="fragile"
    ) as stack:
        with pytest.raises(Exception, match=r"healthy|exited"):
            stack.run("up --build --detach --wait --wait-timeout 45")
        # nginx has given up on the app too: a plain `up --wait` would fail on it at once.
        wait_until(lambda: health(stack.container("nginx")) == "unhealthy", 120)
        app.write_text(BROKEN_AT_START.replace('Path("/.dockerenv").exists()', "False"))
        stack.run("up --build --detach --wait --wait-timeout 60")
        assert stack.get("/healthz")[0] == 200
