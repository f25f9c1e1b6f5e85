"""The tests' shared fixtures: the app and a client of it. The service refuses to start
without a secret key: the tests have one of their own."""

import os

import pytest
from flask import Flask
from flask.testing import FlaskClient

os.environ.setdefault("SECRET_KEY", "only-for-tests")

from {{ cookiecutter.project_slug }} import create_app


@pytest.fixture
def app() -> Flask:
    """The app with its test settings."""
    return create_app({"TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
