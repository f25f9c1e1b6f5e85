"""The notes and their migrations, on an SQLite file of the test's own (conftest's app)."""

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from {{ cookiecutter.project_slug }} import create_app
from {{ cookiecutter.project_slug }}.extensions import db


def test_a_note_is_kept(client: FlaskClient) -> None:
    added = client.post("/notes", json={"text": "  hello  "})
    assert added.status_code == 201
    assert added.json is not None and added.json["text"] == "hello"
    listed = client.get("/notes")
    assert listed.status_code == 200
    assert [note["text"] for note in listed.json["notes"]] == ["hello"]


def test_the_newest_note_comes_first(client: FlaskClient) -> None:
    for text in ("first", "second"):
        assert client.post("/notes", json={"text": text}).status_code == 201
    assert [note["text"] for note in client.get("/notes").json["notes"]] == ["second", "first"]


def test_the_home_page_lists_the_newest_notes(client: FlaskClient) -> None:
    assert "No notes yet." in client.get("/").text
    for text in ("first", "second <b>"):
        assert client.post("/notes", json={"text": text}).status_code == 201
    page = client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    # Newest first, as on /notes, and escaped.
    assert 0 < page.text.index("second &lt;b&gt;") < page.text.index("first")


@pytest.mark.parametrize(
    "body", [{}, {"text": ""}, {"text": "   "}, {"text": 5}, {"text": "x" * 501}, ["text"]]
)
def test_a_bad_note_is_refused(client: FlaskClient, body: object) -> None:
    assert client.post("/notes", json=body).status_code == 400
    assert client.get("/notes").json["notes"] == []


def test_a_form_post_is_refused(client: FlaskClient) -> None:
    assert client.post("/notes", data={"text": "from a form"}).status_code == 400


def test_the_migrations_match_the_models(app: Flask) -> None:
    """The tables the migrations made are the models' tables, column for column, and
    they can be undone."""
    with app.app_context():
        tables = inspect(db.engine)
        for table in db.metadata.sorted_tables:
            columns = {column["name"] for column in tables.get_columns(table.name)}
            assert columns == set(table.columns.keys()), table.name
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}


def test_a_request_waiting_too_long_for_a_connection_gets_a_503(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Every pooled connection held (a pool of one, held here) past the pool timeout:
    a 503 with Retry-After, and one log line without a traceback."""
    options = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.2}
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'test.sqlite3'}",
            "SQLALCHEMY_ENGINE_OPTIONS": options,
        }
    )
    with app.app_context():
        upgrade()
        capfd.readouterr()
        with db.engine.connect():
            answer = app.test_client().get("/notes")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == str(app.config["RETRY_AFTER_S"])
    log = capfd.readouterr().err
    assert "503 for GET /notes" in log
    assert len(log.splitlines()) == 1, log
