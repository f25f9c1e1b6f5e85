"""The app's Flask extensions, made here and bound to the app in create_app(): its
database (Flask-SQLAlchemy) and migrations (Flask-Migrate)."""

from __future__ import annotations

from pathlib import Path

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()
# The migrations ship inside the package, with the code they belong to.
migrate = Migrate(directory=str(Path(__file__).with_name("migrations")))
