"""A project's own tests pass whatever app it serves: with the guestbook
(tests/data/guestbook) brought in by the README's steps, and after its index page is
replaced."""

from __future__ import annotations

import os
import shutil
import sys

from conftest import Bake
from corpus import GUESTBOOK_FOLDER
from helpers import run
from hooks.plan import Plan

PROJECT_TESTS = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:cookies"]


def test_the_projects_tests_pass_with_the_guestbook_served(bake_fresh: Bake) -> None:
    project = bake_fresh()
    shutil.copytree(GUESTBOOK_FOLDER, project / "guestbook")
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
