"""The app's pages, through Flask's test client."""

from flask.testing import FlaskClient


def test_index_answers(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"


def test_static_files_are_found(client: FlaskClient) -> None:
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert response.mimetype == "text/css"
