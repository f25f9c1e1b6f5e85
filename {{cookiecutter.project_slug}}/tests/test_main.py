"""The Flask app, through Flask's test client."""

from pathlib import Path

import pytest
from flask import request
from flask.testing import FlaskClient
from markupsafe import escape

from main import MAX_CONTENT_LENGTH, PROJECT_NAME, create_app


@pytest.fixture
def client() -> FlaskClient:
    return create_app({"TESTING": True}).test_client()


def test_index_shows_the_project(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert f"<h1>{escape(PROJECT_NAME)}</h1>" in response.text


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_body_over_the_limit_is_refused() -> None:
    app = create_app({"TESTING": True})

    @app.post("/echo")
    def echo() -> bytes:
        return request.get_data()

    client = app.test_client()
    assert client.post("/echo", data=b"x" * MAX_CONTENT_LENGTH).status_code == 200
    assert client.post("/echo", data=b"x" * (MAX_CONTENT_LENGTH + 1)).status_code == 413


def test_secret_key_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("from-a-file\n")
    monkeypatch.setenv("SECRET_KEY_FILE", str(tmp_path / "secret_key"))
    assert create_app().config["SECRET_KEY"] == "from-a-file"


def test_missing_secret_key_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECRET_KEY")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app()
