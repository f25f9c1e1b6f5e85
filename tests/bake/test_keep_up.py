"""A baked project keeps up with the template: `cruft update` after a template change
applies cleanly, keeping the project's own commits, secrets and data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import Bake
from helpers import TEMPLATE_ROOT, VENV_BIN, run

GIT_IDENTITY = ["-c", "user.name=Test", "-c", "user.email=test@example.invalid"]
# What a checkout of the template holds that is not the template.
NOT_TEMPLATE = shutil.ignore_patterns(".git", ".venv", "build", "*.pyc", "__pycache__", ".*_cache")


def git(folder: Path, *args: str) -> str:
    return run(["git", *GIT_IDENTITY, *args], cwd=folder).stdout


def commit_all(folder: Path, message: str) -> None:
    git(folder, "add", "--all")
    git(folder, "commit", "--quiet", "--message", message)


@pytest.fixture
def template_clone(tmp_path: Path) -> Path:
    """The template as it is now, in a git repository of its own (cruft follows commits)."""
    clone = tmp_path / "template"
    shutil.copytree(TEMPLATE_ROOT, clone, ignore=NOT_TEMPLATE)
    git(clone, "init", "--quiet")
    commit_all(clone, "the template")
    return clone


def cruft(*args: str, cwd: Path) -> str:
    return run([str(VENV_BIN / "cruft"), *args], cwd=cwd, timeout=120).stdout


@pytest.mark.parametrize("server", ["nginx-uwsgi", "standalone"])
def test_cruft_update_keeps_the_projects_own(
    template_clone: Path, tmp_path: Path, server: str
) -> None:
    work = tmp_path / "projects"
    work.mkdir()
    context = json.dumps({"server": server})
    cruft("create", "--no-input", "--extra-context", context, str(template_clone), cwd=work)
    project = work / "flask_service"
    git(project, "init", "--quiet")
    commit_all(project, "the new project")
    secret = (project / ".env").read_text()
    assert "SECRET_KEY=\n" not in secret

    # The project's own commit: a line of its own on the page.
    page = project / "flask_service" / "templates" / "index.html"
    page.write_text(
        page.read_text().replace("{% endblock %}", "<p>Our own words.</p>\n{% endblock %}")
    )
    commit_all(project, "our own words")

    # A later template change: a comment in the Makefile, a line in uwsgi.ini.
    generated = template_clone / "{{cookiecutter.project_slug}}"
    makefile = generated / "Makefile"
    makefile.write_text(
        makefile.read_text().replace("# Everyday commands.", "# Everyday commands, kept up.")
    )
    uwsgi_ini = generated / "ops" / "uwsgi.ini"
    uwsgi_ini.write_text(uwsgi_ini.read_text() + "# A later setting.\n")
    # And a later decision (hooks/plan.py, which both renders of cruft's one process read).
    plan_module = template_clone / "hooks" / "plan.py"
    mercy = "return self.harakiri + 5\n"
    assert mercy in plan_module.read_text()
    plan_module.write_text(plan_module.read_text().replace(mercy, mercy.replace("5", "6")))
    commit_all(template_clone, "a later change")

    cruft("update", "--skip-apply-ask", cwd=project)

    assert not list(project.rglob("*.rej")), "cruft update left rejected hunks"
    assert "# Everyday commands, kept up." in (project / "Makefile").read_text()
    assert (project / "ops" / "uwsgi.ini").read_text().endswith("# A later setting.\n")
    assert "worker-reload-mercy = 36\n" in (project / "ops" / "uwsgi.ini").read_text()
    assert "<p>Our own words.</p>" in page.read_text()
    assert (project / ".env").read_text() == secret
    assert not git(project, "diff", "--name-only", "--", ".env", "flask_service")
    state = json.loads((project / ".cruft.json").read_text())
    assert state["commit"] == git(template_clone, "rev-parse", "HEAD").strip()
    assert "up to date" in cruft("check", cwd=project)


def test_answers_replay_the_project(bake_fresh: Bake, tmp_path: Path) -> None:
    """.cookiecutter.json holds the answers: cookiecutter's --replay-file bakes the
    same project from them."""
    project = bake_fresh(server="nginx-http", threads=4)
    answers = json.loads((project / ".cookiecutter.json").read_text())["cookiecutter"]
    assert answers["server"] == "nginx-http"
    assert not [key for key in answers if key.startswith("_")]
    again = tmp_path / "again"
    replay = ["--replay-file", str(project / ".cookiecutter.json"), "--output-dir", str(again)]
    run([str(VENV_BIN / "cookiecutter"), *replay, str(TEMPLATE_ROOT)])
    replayed = again / project.name
    for name in ("compose.yaml", "ops/uwsgi.ini", "Makefile"):
        assert (replayed / name).read_text() == (project / name).read_text(), name


@pytest.mark.parametrize("server", ["nginx-uwsgi", "nginx-http"])
def test_cruft_update_turns_https_on(template_clone: Path, tmp_path: Path, server: str) -> None:
    """The README's way to turn HTTPS on later: `cruft update --variables-to-update`
    gives the files a project made with https=yes has, and keeps .env."""
    made, later = tmp_path / "made", tmp_path / "later"
    made.mkdir()
    later.mkdir()
    for folder, https in ((made, "yes"), (later, "no")):
        context = json.dumps({"server": server, "https": https})
        cruft("create", "--no-input", "--extra-context", context, str(template_clone), cwd=folder)
    project = later / "flask_service"
    git(project, "init", "--quiet")
    commit_all(project, "the new project")
    secret = (project / ".env").read_text()

    cruft("update", "--skip-apply-ask", "--variables-to-update", '{"https": "yes"}', cwd=project)

    assert not list(project.rglob("*.rej")), "cruft update left rejected hunks"
    assert (project / ".env").read_text() == secret
    for name in ("compose.yaml", "Makefile", "nginx/templates/default.conf.template", "README.md"):
        assert (project / name).read_text() == (made / "flask_service" / name).read_text(), name
