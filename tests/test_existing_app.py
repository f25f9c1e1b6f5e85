"""An existing Flask app brought into a project by following its README: a guestbook
(tests/data/guestbook: an app factory with its own "dev" secret key, SQLite in its
instance folder, a `flask init-db` command, templates, a CSS file, a session cookie,
no health route) copied in and named by FLASK_APP, then served for real; and the
project's own tests, which pass whatever app is served and whatever its index page is."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import sys
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature

from conftest import Bake
from helpers import run, template_file, wait_until
from hooks.plan import Plan
from stack import Stack, compose_stack

GUESTBOOK = template_file("tests/data/guestbook")
# The README's "Bring your app" commands, for an app called myapp at path/to/myapp.
README_STEPS = [
    "cp -r path/to/myapp .",
    "echo FLASK_APP=myapp >> .env",
    "docker compose up --build --wait --wait-timeout 120",
    "docker compose exec app flask init-db",
]
PROJECT_TESTS = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:cookies"]


def bring_your_app_steps(project: Path) -> list[str]:
    """The commands of the README's "Bring your app" section, one a line."""
    readme = (project / "README.md").read_text()
    section = readme.split("\n## Bring your app\n", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    return block.splitlines()


def for_the_guestbook(step: str) -> str:
    """A README step, for the guestbook instead of myapp."""
    return step.replace("path/to/myapp", str(GUESTBOOK)).replace("myapp", "guestbook")


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


def test_the_readme_steps_are_the_ones_these_tests_follow(bake: Bake) -> None:
    for server in ("nginx-uwsgi", "nginx-http", "standalone"):
        assert bring_your_app_steps(bake(server=server)) == README_STEPS, server


@pytest.mark.docker
@pytest.mark.parametrize("server", ["nginx-uwsgi", "standalone"])
def test_an_existing_app_served_by_following_the_readme(
    server: str, bake_fresh: Bake, base_images: dict[str, str]
) -> None:
    project = bake_fresh(server=server)
    copy, name_it, up, init_db = (for_the_guestbook(step) for step in README_STEPS)
    subprocess.run(["sh", "-c", copy], cwd=project, check=True)
    subprocess.run(["sh", "-c", name_it], cwd=project, check=True)
    # `up`: compose_stack runs it (detached, on a free port of 127.0.0.1, built, waited for).
    assert up.startswith("docker compose up --build --wait")
    with compose_stack(project, Plan.defaults(server=server), base_images) as stack:
        output = stack.run(init_db.removeprefix("docker compose "))
        assert "Initialized the database." in output
        assert stack.get("/healthz")[0] == 200, "the health route main.py adds"
        status, css = stack.get("/static/guestbook.css")
        assert (status, css) == (200, (GUESTBOOK / "static/guestbook.css").read_bytes())

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


def test_the_projects_tests_pass_with_the_guestbook_served(bake_fresh: Bake) -> None:
    project = bake_fresh()
    shutil.copytree(GUESTBOOK, project / "guestbook")
    env = {**os.environ, "FLASK_APP": "guestbook", "SECRET_KEY": "x"}
    run(PROJECT_TESTS, cwd=project, env=env)
    # The guestbook, with the service's settings over its own.
    check = "import main; print(main.app.name, main.app.config['MAX_CONTENT_LENGTH'])"
    served = run([sys.executable, "-c", check], cwd=project, env=env).stdout.split()
    assert served == ["guestbook", str(Plan.defaults().max_body_bytes)]


def test_the_projects_tests_pass_after_its_index_page_is_replaced(bake_fresh: Bake) -> None:
    project = bake_fresh()
    package = project / "flask_service"
    (package / "templates/index.html").write_text(
        '{% extends "base.html" %}\n{% block content %}\n<ul>\n'
        "{% for item in items %}<li>{{ item }}</li>{% endfor %}\n</ul>\n{% endblock %}\n"
    )
    pages = package / "pages.py"
    old_index = pages.read_text()[pages.read_text().index('@blueprint.get("/")') :]
    pages.write_text(
        pages.read_text().replace(
            old_index,
            '@blueprint.get("/")\ndef index() -> str:\n'
            '    return render_template("index.html", items=["a replaced page"])\n',
        )
    )
    run(PROJECT_TESTS, cwd=project)
    page = run(
        [sys.executable, "-c", "import main; print(main.app.test_client().get('/').text)"],
        cwd=project,
        env={**os.environ, "SECRET_KEY": "x"},
    ).stdout
    assert "<li>a replaced page</li>" in page
