"""Bad answers are refused with one clear line and leave nothing behind; odd but
valid answers (quotes, backslashes, newlines, template syntax) come out as plain text."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

from conftest import Bake
from helpers import VENV_BIN, run
from hooks.answers import (
    BUFFER_SIZE_MAX,
    BUFFER_SIZE_MIN,
    NGINX_BUFFER_SIZE_MIN,
    NGINX_SERVERS,
    TEMPLATE_ROOT,
    choices,
    problems,
    template_context,
)
from hooks.plan import Plan

BAD_ANSWERS = [
    ("project_slug", "1service", "expected a lowercase Python identifier"),
    ("project_slug", "my-service", "expected a lowercase Python identifier"),
    ("project_slug", "My_Service", "expected a lowercase Python identifier"),
    ("project_slug", "class", "expected a lowercase Python identifier"),
    ("project_slug", "../escaped", "expected a lowercase Python identifier"),
    ("project_name", "two\nlines", "expected one line of printable text"),
    ("project_name", " ", "with letters or digits"),
    ("author_name", "--", "with letters or digits"),
    ("http_port", "0", "expected a port number from 1 to 65535"),
    ("http_port", "65536", "expected a port number from 1 to 65535"),
    ("http_port", "http", "expected a port number from 1 to 65535"),
    ("https_port", "0", "expected a port number from 1 to 65535"),
    ("https_port", "65536", "expected a port number from 1 to 65535"),
    ("processes", "0", "expected 'auto' or a positive integer"),
    ("processes", "-2", "expected 'auto' or a positive integer"),
    ("processes", "many", "expected 'auto' or a positive integer"),
    ("threads", "0", "expected a positive integer"),
    ("threads", "2.5", "expected a positive integer"),
    ("buffer_size", "4095", "expected bytes from 4096 to 65535"),
    ("buffer_size", "65536", "expected bytes from 4096 to 65535"),
    ("buffer_size", "8192", "expected bytes from 16384 to 65535 behind nginx (the 1000 header"),
    ("max_upload_mb", "0", "expected a whole number of MB from 1 to 1024"),
    ("max_upload_mb", "1025", "expected a whole number of MB from 1 to 1024"),
    ("max_upload_mb", "1.5", "expected a whole number of MB from 1 to 1024"),
]
# Choice variables: cookiecutter itself refuses these before any hook runs.
BAD_CHOICES = [
    ("server", "apache", "choices are ['nginx-uwsgi', 'nginx-http', 'standalone']"),
    ("database", "mysql", "choices are ['none', 'sqlite', 'postgres']"),
    ("worker", "sidekiq", "choices are ['none', 'rq', 'celery']"),
    ("python_version", "2.7", "choices are ['3.13', '3.14', '3.12', '3.11']"),
    ("stats", "maybe", "could not be converted to a boolean"),
    ("https", "maybe", "could not be converted to a boolean"),
]


def bake_cli(output: Path, **answers: str) -> tuple[int, str]:
    """`cookiecutter --no-input TEMPLATE key=value...`, as a user runs it: (exit code, stderr)."""
    command = [
        str(VENV_BIN / "cookiecutter"),
        "--no-input",
        "--output-dir",
        str(output),
        str(TEMPLATE_ROOT),
    ]
    command += [f"{key}={value}" for key, value in answers.items()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    return result.returncode, result.stderr


@pytest.mark.parametrize(("field", "value", "allowed"), BAD_ANSWERS + BAD_CHOICES)
def test_bad_answer_is_refused_and_leaves_nothing(
    tmp_path: Path, field: str, value: str, allowed: str
) -> None:
    output = tmp_path / "out"
    output.mkdir()
    code, stderr = bake_cli(output, **{field: value})
    assert code != 0
    # One line names the field, the value and what is allowed.
    assert any(
        field in line and repr(value)[1:-1].split("\\n")[0] in line and allowed in line
        for line in stderr.splitlines()
    ), stderr
    assert list(output.iterdir()) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


def test_https_without_nginx_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    """uWSGI's pyuwsgi wheel has no TLS: HTTPS is nginx's, with either nginx server."""
    output = tmp_path / "out"
    output.mkdir()
    code, stderr = bake_cli(output, server="standalone", https="yes")
    assert code != 0
    [line] = [line for line in stderr.splitlines() if line.startswith("ERROR: https:")]
    assert "'yes' is not allowed with server=standalone" in line
    assert "pyuwsgi" in line and "without TLS" in line
    assert "server=nginx-uwsgi or server=nginx-http" in line
    assert list(output.iterdir()) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("server", choices("server"))
def test_https_is_for_the_nginx_servers(server: str) -> None:
    found = problems(dict(Plan.defaults(server=server, https=True).answers))
    assert [line.split(":")[0] for line in found] == ([] if server in NGINX_SERVERS else ["https"])
    assert problems(dict(Plan.defaults(server=server, https=False).answers)) == []


def test_every_bad_answer_is_reported_at_once() -> None:
    answers = dict(Plan.defaults().answers, http_port="0", threads="0", buffer_size="1")
    assert [line.split(":")[0] for line in problems(answers)] == [
        "http_port",
        "threads",
        "buffer_size",
    ]


def test_defaults_have_no_problems() -> None:
    assert problems(Plan.defaults().answers) == []


def test_the_buffer_size_prompt_names_the_allowed_range() -> None:
    prompt = template_context()["__prompts__"]["buffer_size"]
    allowed = f"({BUFFER_SIZE_MIN}-{BUFFER_SIZE_MAX}; {NGINX_BUFFER_SIZE_MIN} or more behind nginx)"
    assert allowed in prompt


@pytest.mark.parametrize("server", choices("server"))
@pytest.mark.parametrize("size", [BUFFER_SIZE_MIN, 8192, NGINX_BUFFER_SIZE_MIN - 1])
def test_small_buffer_sizes_are_for_standalone_only(server: str, size: int) -> None:
    """uWSGI takes its own range when it faces clients; behind nginx, what nginx may
    pass (1000 header lines, about 7 KB of uwsgi variables) needs 16384 at least."""
    found = problems(dict(Plan.defaults(server=server, buffer_size=str(size)).answers))
    if server == "standalone":
        assert found == []
    else:
        assert [line.split(":")[0] for line in found] == ["buffer_size"], found
        assert "or from 4096 with server=standalone" in found[0]


ODD_TEXT = {
    "project_name": 'Quote " and \\ backslash \'single\' """triple"""',
    "description": "Two lines\nwith </p><script>alert(1)</script> and a trailing backslash \\",
    "author_name": "{% raw %}{{ cookiecutter.project_slug }} {% if x %}{% endraw %}",
}


def test_odd_text_comes_out_verbatim(bake: Bake) -> None:
    project = bake(project_slug="odd_text", **ODD_TEXT)
    constants = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse((project / "odd_text/settings.py").read_text()).body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
    }
    assert constants["PROJECT_NAME"] == ODD_TEXT["project_name"]
    assert constants["DESCRIPTION"] == ODD_TEXT["description"]
    readme = (project / "README.md").read_text()
    assert ODD_TEXT["project_name"] in readme
    # Template syntax in an answer is text: cookiecutter renders answers once
    # ({% raw %} keeps this one literal), the template never renders them again.
    assert "Maintained by {{ cookiecutter.project_slug }} {% if x %}." in readme


def test_odd_text_is_escaped_in_the_page(bake: Bake) -> None:
    project = bake(project_slug="odd_text", **ODD_TEXT)
    page = run(
        [
            str(VENV_BIN / "python"),
            "-c",
            "import main; print(main.app.test_client().get('/').text)",
        ],
        cwd=project,
        env={"SECRET_KEY": "x"},
    ).stdout
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
