"""Bake every combination of answers and read what comes out, without running it."""

from __future__ import annotations

import itertools
import json
import os
import re
import select
import sys
from pathlib import Path
from typing import Any

import pytest
from supervisor.datatypes import RestartWhenExitUnexpected
from supervisor.options import ServerOptions

from conftest import Bake
from helpers import COMBINATIONS, VENV_BIN, combination_id, run
from hooks.answers import SHAPES
from hooks.plan import Plan

LISTENER_OPTIONS = {"socket", "uwsgi-socket", "http-socket", "http", "https", "https-socket"}
JINJA_LEFTOVERS = re.compile(r"\{\{|\{%|\{#|cookiecutter\.(?!json\b)")
PROMETHEUS_TEMPLATES = re.compile(r"\{\{ \$(labels\.\w+|value) \}\}")
# Words about how a project was made, which a generated file never uses.
HOW_IT_WAS_MADE = re.compile(r"\b(bak(e|ed|es|ing)|shapes?|seeds?|templates?)\b", re.IGNORECASE)
# "template" where it names a tool's own thing: Flask's and nginx's templates/
# folders and files, render_template, nginx's rendering of them, a Kubernetes pod template.
TOOLS_TEMPLATES = re.compile(
    r"templates/|\.template\b|render_template|^\s*template:"
    r"|rendered from its template|renders the templates|pod template|includeTemplates",
    re.MULTILINE,
)
# A FROM line Dependabot can read: an image by name and tag (a digest may follow), with
# nothing to substitute; a stage name may follow.
LITERAL_FROM = re.compile(
    r"FROM(?:\s+--platform=\S+)?\s+(?P<image>[a-z0-9][a-z0-9._/-]*:\w[\w.-]{0,127})"
    r"(?:@sha256:[0-9a-f]{64})?(?:\s+AS\s+\S+)?",
    re.IGNORECASE,
)


@pytest.fixture(params=COMBINATIONS, ids=combination_id)
def answers(request: pytest.FixtureRequest) -> dict[str, Any]:
    return request.param


def generated_files(project: Path) -> list[Path]:
    return sorted(path for path in project.rglob("*") if path.is_file())


def ini_options(path: Path) -> list[tuple[str, str]]:
    """(key, value) for each option line of an ini file, in order."""
    options = []
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith((";", "#", "[")):
            key, _, value = line.partition("=")
            options.append((key.strip(), value.strip()))
    return options


def test_files_follow_the_answers(project: Path, plan: Plan) -> None:
    for always in (
        "main.py",
        "service.py",
        "ops/uwsgi.ini",
        "ops/supervisord.conf",
        "ops/exit_on_fatal.py",
        "ops/healthcheck.py",
        "Dockerfile",
        "Dockerfile.dockerignore",
        "compose.yaml",
        ".env.example",
        ".env",
        "requirements.txt",
        "Makefile",
        "README.md",
        "docs/operations.md",
        "tests/test_service.py",
        "tests/test_pages.py",
        f"{plan.answers['project_slug']}/__init__.py",
        f"{plan.answers['project_slug']}/templates/index.html",
        f"{plan.answers['project_slug']}/static/style.css",
    ):
        assert (project / always).is_file(), always
    assert (project / "nginx").is_dir() == plan.nginx
    assert (project / "ops/auto_processes.py").is_file() == (plan.processes is None)
    assert (project / "tests/test_auto_processes.py").is_file() == (plan.processes is None)


def test_no_template_syntax_left(project: Path) -> None:
    for path in generated_files(project):
        if path.parent.name == "templates" and path.suffix == ".html":
            # Flask's own Jinja templates, copied as they are.
            assert "cookiecutter" not in path.read_text(), path
            continue
        text = path.read_text()
        if path.name == "rules.yml":
            # Prometheus' own templates in its alerts' annotations.
            text = PROMETHEUS_TEMPLATES.sub("", text)
        leftovers = JINJA_LEFTOVERS.findall(text)
        assert not leftovers, f"{path.relative_to(project)}: {leftovers}"


def test_no_word_of_how_the_project_was_made(project: Path) -> None:
    for path in generated_files(project):
        text = TOOLS_TEMPLATES.sub("", path.read_text())
        words = sorted({match.group() for match in HOW_IT_WAS_MADE.finditer(text)})
        assert not words, f"{path.relative_to(project)}: {words}"


def test_no_stray_blank_lines(project: Path) -> None:
    for path in generated_files(project):
        text = path.read_text()
        name = path.relative_to(project)
        assert text.endswith("\n") and not text.endswith("\n\n"), (
            f"{name}: must end with one newline"
        )
        assert not text.startswith("\n"), f"{name}: starts with a blank line"
        # Python keeps two blank lines between definitions (ruff format checks it), also
        # in Alembic's template for new migrations.
        most_blank_lines = 2 if path.name.endswith((".py", ".py.mako")) else 1
        assert "\n" * (most_blank_lines + 2) not in text, f"{name}: a run of blank lines"
        assert not re.search(r"[ \t]+$", text, re.MULTILINE), f"{name}: trailing whitespace"


def test_makefile_rules_stand_apart(project: Path) -> None:
    """Each rule of the Makefile starts after a blank line or its comment, never right
    under another rule's recipe (a Jinja block eating the blank line between them)."""
    lines = (project / "Makefile").read_text().splitlines()
    for before, line in itertools.pairwise(lines):
        if re.match(r"[a-z$][^=\t]*:[^=]", line):
            assert not before.startswith("\t"), f"Makefile: {line.split(':')[0]} follows a recipe"


def test_the_readme_has_no_section_the_answers_do_without(project: Path, plan: Plan) -> None:
    readme = (project / "README.md").read_text()
    assert ("\n## Database\n" in readme) == plan.sql
    assert ("\n## HTTPS\n" in readme) == plan.nginx
    assert ("\n## Metrics\n" in readme) == plan.metrics


def test_markdown_headings_stand_apart(project: Path) -> None:
    """Each heading of the project's Markdown, outside code blocks, starts its own line
    after a blank one (never a Jinja block eating the blank line, or the line break)."""
    for path in project.rglob("*.md"):
        lines = path.read_text().splitlines()
        in_code = False
        for number, (before, line) in enumerate(itertools.pairwise(["", *lines]), start=1):
            if line.startswith("```"):
                in_code = not in_code
            if in_code:
                continue
            where = f"{path.relative_to(project)}:{number}"
            assert not re.search(r"\S#{2,} ", line), f"{where}: a heading inside a line"
            if line.startswith("#"):
                assert before == "", f"{where}: a heading right under a line of text"


def test_python_is_ruff_clean(project: Path) -> None:
    ruff = str(VENV_BIN / "ruff")
    run([ruff, "check", "--quiet", "."], cwd=project)
    run([ruff, "format", "--check", "--quiet", "."], cwd=project)


def test_the_projects_own_tests_pass(project: Path) -> None:
    run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:cookies"],
        cwd=project,
    )


def test_ini_has_exactly_the_shapes_listener(project: Path, plan: Plan) -> None:
    listeners = [
        key for key, _ in ini_options(project / "ops/uwsgi.ini") if key in LISTENER_OPTIONS
    ]
    assert listeners == [plan.listener]
    assert ("http" in listeners) == (plan.answers["server"] == "standalone")


def test_ini_options_follow_the_answers(project: Path, plan: Plan) -> None:
    options = dict(ini_options(project / "ops/uwsgi.ini"))
    assert options["buffer-size"] == str(plan.buffer_size)
    assert options["max-vars"] == str(plan.uwsgi_max_vars)
    assert options["threads"] == str(plan.threads)
    if plan.processes is None:
        assert "auto_processes.py" in options["processes"]
    else:
        assert options["processes"] == str(plan.processes)
    assert ("stats" in options) == plan.answers["stats"]
    assert options.get("stats", "127.0.0.1:").startswith("127.0.0.1:")
    assert ("disable-logging" in options) == plan.nginx


def test_nginx_passes_with_the_listeners_protocol(project: Path, plan: Plan) -> None:
    if not plan.nginx:
        assert not (project / "nginx").exists()
        return
    site = (project / "nginx/templates/default.conf.template").read_text()
    assert ("uwsgi_pass" in site) == (plan.listener == "socket")
    assert ("proxy_pass" in site) == (plan.listener == "http-socket")
    buffers = f"{plan.nginx_header_buffers} {plan.nginx_header_buffer_kb}k"
    assert f"large_client_header_buffers {buffers};" in site


def test_nginx_writes_its_access_log_in_batches_a_pipe_takes_whole(
    project: Path, plan: Plan
) -> None:
    """The workers share the container's stdout, a pipe: a write bigger than PIPE_BUF
    may be cut by another worker's, and two JSON lines come out spliced."""
    if not plan.nginx:
        return
    site = (project / "nginx/templates/default.conf.template").read_text()
    [kb] = re.findall(r"access_log /var/log/nginx/access.log json buffer=(\d+)k flush=1s", site)
    assert 1024 < int(kb) * 1024 <= select.PIPE_BUF


def worst_access_log_values(nginx_conf: str, plan: Plan) -> dict[str, str]:
    """Each variable of the JSON access log at its longest, as logged: what the client
    sent at its map's cut, every byte a '"' (escaped to two); nginx's own values at
    their widest, an upstream tried at each of the most replicas scaled out."""
    cuts = dict(
        re.findall(
            r"map \$\S+ \$(log_\w+) \{\n\s+\"~\^\(\?<\w+>\[[^]]+\]\{0,(\d+)\}\)\"", nginx_conf
        )
    )
    tried = plan.app_max_replicas
    return {
        **{name: '\\"' * int(cut) for name, cut in cuts.items()},
        "time_iso8601": "2026-12-31T23:59:59+00:00",
        "remote_addr": ":".join(["ffff"] * 8),
        "status": "999",
        "body_bytes_sent": str(2**64),
        "request_time": "999999.999",
        "upstream_response_time": ", ".join(["999999.999"] * tried),
        "upstream_addr": ", ".join(["255.255.255.255:65535"] * tried),
        "req_id": "x" * 64,
    }


def test_an_access_log_line_is_never_longer_than_a_pipe_takes_whole(
    project: Path, plan: Plan
) -> None:
    """nginx writes a line longer than its access log's buffer alone: were it longer than
    PIPE_BUF, another worker's write could cut it. The client's values are cut short, so
    even the longest line fits."""
    if not plan.nginx:
        return
    nginx_conf = (project / "nginx/nginx.conf").read_text()
    [log_format] = re.findall(r"log_format json escape=json (.*?);\n", nginx_conf, re.S)
    line = "".join(re.findall(r"'([^']*)'", log_format))
    worst = worst_access_log_values(nginx_conf, plan)
    assert {"log_method", "log_uri", "log_user_agent", "log_referer"} <= worst.keys()
    assert set(re.findall(r"\$(\w+)", line)) == worst.keys()
    longest = re.sub(r"\$(\w+)", lambda variable: worst[variable[1]], line)
    assert len(longest.encode()) + 1 <= select.PIPE_BUF


def test_compose_file_is_valid_and_publishes_only_the_front_door(project: Path, plan: Plan) -> None:
    config = run(["docker", "compose", "config", "--format", "json"], cwd=project).stdout
    services = json.loads(config)["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"nginx" if plan.nginx else "app"}
    assert all(service["restart"] == "unless-stopped" for service in services.values())
    assert services["app"]["init"] is True
    assert all("image" not in service for service in services.values())
    if plan.nginx:
        assert services["nginx"]["depends_on"]["app"]["condition"] == "service_started"


def test_dockerfiles_pass_hadolint(project: Path) -> None:
    for dockerfile in project.rglob("Dockerfile"):
        run([str(VENV_BIN / "hadolint"), str(dockerfile)])


def base_images_named(dockerfile: Path) -> set[str]:
    """The images a Dockerfile's FROM lines build on (its own stages left out), each
    line checked to be one Dependabot reads."""
    images: set[str] = set()
    stages: set[str] = set()
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if not words or words[0].upper() != "FROM":
            continue
        image = next(word for word in words[1:] if not word.startswith("--"))
        if image not in stages:
            literal = LITERAL_FROM.fullmatch(line.strip())
            assert literal and "$" not in line, f"{dockerfile}: {line!r} is no literal FROM"
            images.add(literal["image"])
        if len(words) > 2 and words[-2].upper() == "AS":
            stages.add(words[-1])
    return images


def test_base_images_are_literal_and_replaced_through_named_contexts(
    project: Path, plan: Plan
) -> None:
    """Each Dockerfile's FROM names an official image as is (Dependabot skips a FROM
    with a variable without a word); the compose service that builds it passes a named
    context of that image's name, the image of its variable (PYTHON_IMAGE, ...)."""
    replacements = {variable: f"probe/{variable.lower()}:1" for variable in plan.base_images}
    env = {**os.environ, **replacements}
    # Every profile's services too (Prometheus, in the monitoring profile).
    command = ["docker", "compose", "--profile", "*", "config", "--format", "json"]
    config = run(command, cwd=project, env=env)
    built: set[Path] = set()
    for name, service in json.loads(config.stdout)["services"].items():
        build = service["build"]
        dockerfile = Path(build["context"]) / build.get("dockerfile", "Dockerfile")
        built.add(dockerfile)
        contexts = build.get("additional_contexts", {})
        for image in base_images_named(dockerfile):
            variables = [var for var, ref in plan.base_images.items() if ref == image]
            assert variables, f"{name}: {image} is none of the plan's base images"
            assert contexts.get(image) == f"docker-image://{replacements[variables[0]]}", name
    assert built == set(project.rglob("Dockerfile"))


def test_supervisor_reads_its_config(project: Path, plan: Plan) -> None:
    options = ServerOptions()
    options.realize(args=["-c", str(project / "ops/supervisord.conf")])
    programs = {group.name: group for group in options.process_group_configs}
    uwsgi = programs["uwsgi"].process_configs[0]
    assert (uwsgi.startsecs, uwsgi.startretries) == (3, 3)
    assert uwsgi.autorestart is RestartWhenExitUnexpected
    assert uwsgi.stopwaitsecs == plan.supervisor_stopwaitsecs > plan.worker_reload_mercy
    assert "exit-on-fatal" in programs


@pytest.mark.parametrize("shape", [name for name, shape in SHAPES.items() if shape.nginx_pass])
def test_nginx_entrypoint_script_passes_shellcheck(bake: Bake, shape: str) -> None:
    script = bake(server=shape) / "nginx/docker-entrypoint.d/18-app-upstream.envsh"
    run(["shellcheck", "--shell=sh", str(script)])


@pytest.mark.parametrize("server", SHAPES)
def test_max_upload_mb_sets_every_body_limit(bake: Bake, server: str) -> None:
    """max_upload_mb is the one limit: nginx's client_max_body_size, Flask's
    MAX_CONTENT_LENGTH and, without nginx, uWSGI's answer to Expect: 100-continue."""
    plan = Plan.defaults(server=server, max_upload_mb=3)
    project = bake(server=server, max_upload_mb=3)
    service = (project / "service.py").read_text()
    assert "MAX_CONTENT_LENGTH = 3145728\n" in service
    ini = (project / "ops/uwsgi.ini").read_text()
    if plan.nginx:
        site = (project / "nginx/templates/default.conf.template").read_text()
        assert re.findall(r"client_max_body_size (\S+);", site) == ["3m"]
        assert "3145728" not in ini
    else:
        assert "http-manage-expect = 3145728\n" in ini
        assert "ishigher" not in ini and "limit-post" not in ini


@pytest.mark.parametrize("server", [name for name, shape in SHAPES.items() if shape.nginx_pass])
def test_nginx_static_and_answer_buffers_follow_the_plan(bake: Bake, server: str) -> None:
    """The static files' Cache-Control and the buffers for the app's answers (headers
    up to response_headers_kb) come from the plan; the static tree from the app image."""
    plan = Plan.defaults(server=server)
    project = bake(server=server)
    site = (project / "nginx/templates/default.conf.template").read_text()
    proxy = "uwsgi" if plan.shape.nginx_pass == "uwsgi_pass" else "proxy"
    kb = plan.response_headers_kb
    assert f"    {proxy}_buffer_size {kb}k;\n" in site
    assert f"    {proxy}_busy_buffers_size {kb}k;\n" in site
    assert f"    {proxy}_buffers {plan.nginx_response_buffers};\n" in site
    assert f'add_header Cache-Control "public, max-age={plan.static_max_age_s}";' in site
    assert "try_files $uri @app;" in site and "root /srv/static;" in site
    assert "COPY --from=app /srv/static /srv/static\n" in (project / "nginx/Dockerfile").read_text()
