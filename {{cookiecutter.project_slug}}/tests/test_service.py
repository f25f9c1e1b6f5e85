"""service.py and main.py: the service's settings over whatever app FLASK_APP names."""

import io
import json
import logging
import os
import sys
{%- if cookiecutter.server != "standalone" %}
import time
{%- endif %}
from pathlib import Path

import pytest
from flask import Flask, request

import main
import service


@pytest.fixture
def app() -> Flask:
    return service.apply_service_settings(Flask("an_app"))


def test_the_served_app_has_the_services_settings() -> None:
    assert main.app.config["SECRET_KEY"] == os.environ["SECRET_KEY"]
    assert main.app.test_client().get(service.HEALTHCHECK_PATH).status_code == 200


def test_loads_an_app_as_flask_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "other_app.py").write_text(
        "from flask import Flask\n\ndef create_app():\n    return Flask('other_app')\n"
    )
    monkeypatch.chdir(tmp_path)
    assert service.load_app("other_app").name == "other_app"


def test_the_secret_key_overrides_the_apps_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    app = Flask("an_app")
    app.config["SECRET_KEY"] = "dev"
    assert service.apply_service_settings(app).config["SECRET_KEY"] == "from-the-environment"


def test_secret_key_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("from-a-file\n")
    monkeypatch.setenv("SECRET_KEY_FILE", str(tmp_path / "secret_key"))
    assert service.apply_service_settings(Flask("an_app")).config["SECRET_KEY"] == "from-a-file"


def test_missing_secret_key_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECRET_KEY")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        service.apply_service_settings(Flask("an_app"))


def test_no_error_reports_without_a_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    assert service.start_error_reports() is False
    assert "sentry_sdk" not in sys.modules


def test_healthz_is_added_when_the_app_has_none(app: Flask) -> None:
    response = app.test_client().get(service.HEALTHCHECK_PATH)
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_the_apps_own_health_route_is_kept() -> None:
    app = Flask("an_app")
    app.add_url_rule(service.HEALTHCHECK_PATH, "own", lambda: "own check")
    client = service.apply_service_settings(app).test_client()
    assert client.get(service.HEALTHCHECK_PATH).text == "own check"


def test_body_over_the_limit_is_refused(app: Flask) -> None:
    @app.post("/echo")
    def echo() -> bytes:
        return request.get_data()

    client = app.test_client()
    assert client.post("/echo", data=b"x" * service.MAX_CONTENT_LENGTH).status_code == 200
    assert client.post("/echo", data=b"x" * (service.MAX_CONTENT_LENGTH + 1)).status_code == 413


def test_streamed_answers_are_not_buffered_by_nginx(app: Flask) -> None:
    @app.get("/stream")
    def stream() -> object:
        return app.response_class((str(n) for n in range(3)), mimetype="text/plain")

    client = app.test_client()
    assert client.get("/stream").headers["X-Accel-Buffering"] == "no"
    assert "X-Accel-Buffering" not in client.get(service.HEALTHCHECK_PATH).headers


def json_lines(app: Flask) -> io.StringIO:
    """What the app's log handler would write, kept in memory."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(service.JsonLines())
    app.logger.addHandler(handler)
    return stream


def test_log_records_are_json_lines_with_the_request_id(app: Flask) -> None:
    @app.get("/logs")
    def logs() -> str:
        app.logger.warning("two\nlines")
        try:
            raise ZeroDivisionError("division by zero")
        except ZeroDivisionError:
            app.logger.exception("failed")
        return "ok"

    stream = json_lines(app)
{%- if cookiecutter.server == "standalone" %}
    response = app.test_client().get("/logs")
    request_id = response.headers[service.REQUEST_ID_HEADER]
{%- else %}
    request_id = "0123456789abcdef0123456789abcdef"
    app.test_client().get("/logs", environ_base={service.REQUEST_ID_ENVIRON: request_id})
{%- endif %}
    warning, error = (json.loads(line) for line in stream.getvalue().splitlines())
    assert warning["message"] == "two\nlines" and warning["level"] == "WARNING"
    assert warning["logger"] == app.logger.name and warning["request_id"] == request_id
    assert "ZeroDivisionError" in error["exception"] and error["request_id"] == request_id
{%- if cookiecutter.server == "standalone" %}


def test_each_answer_has_a_request_id_of_its_own(app: Flask) -> None:
    """No front to trust: a client's own ID is replaced, also on a 413."""
    client = app.test_client()
    forged = {service.REQUEST_ID_HEADER: "forged"}
    ids = [client.get("/", headers=forged).headers.getlist(service.REQUEST_ID_HEADER) for _ in "ab"]
    too_big = client.post("/", data=b"x" * (service.MAX_CONTENT_LENGTH + 1), headers=forged)
    ids.append(too_big.headers.getlist(service.REQUEST_ID_HEADER))
    assert all(len(found) == 1 and len(found[0]) == 32 for found in ids), ids
    assert len({found[0] for found in ids}) == 3
{%- endif %}
{%- if cookiecutter.server != "standalone" %}


def test_a_request_that_waited_too_long_for_a_worker_gets_a_503(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    """nginx's X-Request-Start older than QUEUE_WAIT_LIMIT_S: a 503 with Retry-After,
    without running the app, logged in one line with the request's ID; the health
    check is answered all the same."""
    client = app.test_client()
    late = {"X-Request-Start": f"t={time.time() - service.QUEUE_WAIT_LIMIT_S - 1:.3f}"}
    request_id = "0123456789abcdef0123456789abcdef"
    shed = client.get("/", headers=late, environ_base={service.REQUEST_ID_ENVIRON: request_id})
    assert shed.status_code == 503, shed.data
    assert shed.headers["Retry-After"] == str(service.RETRY_AFTER_S)
    [record] = [record for record in caplog.records if record.name == "service"]
    line = json.loads(service.JsonLines().format(record))
    assert line["message"].startswith("503 for GET /: waited ") and line["request_id"] == request_id
    assert client.get(service.HEALTHCHECK_PATH, headers=late).status_code == 200
    fresh = {"X-Request-Start": f"t={time.time():.3f}"}
    assert client.get("/", headers=fresh).status_code == 404


def test_the_wait_ends_when_a_worker_thread_takes_the_request(app: Flask) -> None:
    """uWSGI stamps the moment a thread takes the request (ops/uwsgi.ini): the wait is
    counted to it, whatever time the request has taken since."""
    client = app.test_client()
    started = time.time() - service.QUEUE_WAIT_LIMIT_S - 5
    headers = {"X-Request-Start": f"t={started:.3f}"}

    def taken_after(seconds: float) -> dict[str, str]:
        return {service.TAKEN_AT_ENVIRON: str(int((started + seconds) * 1_000_000))}

    in_time = client.get("/", headers=headers, environ_base=taken_after(0.1))
    assert in_time.status_code == 404, in_time.data
    too_late = taken_after(service.QUEUE_WAIT_LIMIT_S + 1)
    assert client.get("/", headers=headers, environ_base=too_late).status_code == 503
{%- endif %}
