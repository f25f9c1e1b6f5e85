"""main.py: the service's settings over whatever app FLASK_APP names."""

import os
from pathlib import Path

import pytest
from flask import Flask, request

import main


@pytest.fixture
def app() -> Flask:
    return main.serve(Flask("an_app"))


def test_the_served_app_has_the_services_settings() -> None:
    assert main.app.config["SECRET_KEY"] == os.environ["SECRET_KEY"]
    assert main.app.test_client().get(main.HEALTHCHECK_PATH).status_code == 200


def test_loads_an_app_as_flask_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "other_app.py").write_text(
        "from flask import Flask\n\ndef create_app():\n    return Flask('other_app')\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main.load_app("other_app").name == "other_app"


def test_the_secret_key_overrides_the_apps_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    app = Flask("an_app")
    app.config["SECRET_KEY"] = "dev"
    assert main.serve(app).config["SECRET_KEY"] == "from-the-environment"


def test_secret_key_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("from-a-file\n")
    monkeypatch.setenv("SECRET_KEY_FILE", str(tmp_path / "secret_key"))
    assert main.serve(Flask("an_app")).config["SECRET_KEY"] == "from-a-file"


def test_missing_secret_key_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECRET_KEY")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        main.serve(Flask("an_app"))


def test_healthz_is_added_when_the_app_has_none(app: Flask) -> None:
    response = app.test_client().get(main.HEALTHCHECK_PATH)
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_the_apps_own_health_route_is_kept() -> None:
    app = Flask("an_app")
    app.add_url_rule(main.HEALTHCHECK_PATH, "own", lambda: "own check")
    assert main.serve(app).test_client().get(main.HEALTHCHECK_PATH).text == "own check"


def test_body_over_the_limit_is_refused(app: Flask) -> None:
    @app.post("/echo")
    def echo() -> bytes:
        return request.get_data()

    client = app.test_client()
    assert client.post("/echo", data=b"x" * main.MAX_CONTENT_LENGTH).status_code == 200
    assert client.post("/echo", data=b"x" * (main.MAX_CONTENT_LENGTH + 1)).status_code == 413


def test_streamed_answers_are_not_buffered_by_nginx(app: Flask) -> None:
    @app.get("/stream")
    def stream() -> object:
        return app.response_class((str(n) for n in range(3)), mimetype="text/plain")

    client = app.test_client()
    assert client.get("/stream").headers["X-Accel-Buffering"] == "no"
    assert "X-Accel-Buffering" not in client.get(main.HEALTHCHECK_PATH).headers
