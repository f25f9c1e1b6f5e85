"""The app's pages, through Flask's test client."""

import pytest
from flask.testing import FlaskClient

from {{ cookiecutter.project_slug }} import create_app


@pytest.fixture
def client() -> FlaskClient:
    return create_app({"TESTING": True}).test_client()


def test_index_answers(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"


def test_static_files_are_found(client: FlaskClient) -> None:
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert response.mimetype == "text/css"
