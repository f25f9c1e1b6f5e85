"""Real third-party Flask apps (tests/corpus.py: Flask's own examples, Flask-WTF's,
flasgger's, ihatemoney, buku's server; tests/data/exporter, an app with RQ jobs of its
own), each brought into a fresh project by the README's "Bring your app" steps alone,
then served for real: its flow through the front door, its static files answered by
nginx (or uWSGI), its data kept across `down` and `up`, and no file of the project
edited but those the README says to add to (.env, requirements.in and the pins `make
lock` writes)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from conftest import Bake
from corpus import README_STEPS, REAL_APPS, Front, RealApp, follow_the_readme
from hooks.plan import Plan
from stack import Stack, compose_stack

# The files a user adds to by the README's steps: everything else stays as generated.
ADDED_TO = {".env", "requirements.in", "requirements.txt", "requirements-dev.txt"}


def generated_files(project: Path) -> dict[str, str]:
    """Each file of the project but those the README's steps add to: its SHA-256."""
    return {
        str(path.relative_to(project)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(project.rglob("*"))
        if path.is_file() and str(path.relative_to(project)) not in ADDED_TO
    }


def check_static_files(app: RealApp, stack: Stack, front: Front, origin: Path) -> None:
    """Each static file answered by nginx (or uWSGI), with its own cache header: the
    bytes of the app's file, or of the installed package's in the image."""
    max_age = f"public, max-age={stack.plan.static_max_age_s}"
    for url, source in app.static.items():
        answer = front.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["Cache-Control"] == max_age, f"{url} came from the app"
        if source.startswith("site-packages/"):
            path = source.removeprefix("site-packages/")
            status, body = stack.exec(
                "app", ["sh", "-c", f"cat /opt/venv/lib/python3*/site-packages/{path}"]
            )
            assert status == 0, body
            assert answer.text == body, url
        else:
            assert answer.content == (origin / source).read_bytes(), url


@pytest.mark.parametrize("app", REAL_APPS, ids=[app.name for app in REAL_APPS])
def test_a_real_app_served_by_the_readme_steps_alone(
    app: RealApp,
    bake_fresh: Bake,
    base_images: dict[str, str],
    sdist_cache: Path,
    lock_venv: Path,
    tmp_path: Path,
) -> None:
    project = bake_fresh(**app.answers)
    as_generated = generated_files(project)
    origin = app.origin(sdist_cache)
    follow_the_readme(app, project, origin, tmp_path, lock_venv)
    assert README_STEPS[4].startswith("docker compose up --build --wait")
    with compose_stack(project, Plan.defaults(**app.answers), base_images) as stack:
        if app.init:
            stack.run(f"exec app flask {app.init}")
        front = Front(stack.port)
        assert front.get("/healthz").status_code == 200
        app.flow(front)
        check_static_files(app, stack, front, origin)
        if app.kept:
            stack.down_up()
            path, text = app.kept
            assert text in front.page(path), "the instance folder outlives down/up"
        assert "Traceback" not in stack.logs("app")
    added = {
        name: digest for name, digest in generated_files(project).items() if name in as_generated
    }
    assert added == as_generated, "a generated file was edited"
