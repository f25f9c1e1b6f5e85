"""The app's data: Flask-SQLAlchemy's `db`, Flask-Migrate's `migrate`, and the models.

A change to a model needs a migration: `flask --app {{ cookiecutter.project_slug }} db migrate -m "what changed"`
writes one into migrations/versions/ (review it), and the service applies it on
its next start (ops/migrate.py) before it serves.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

db = SQLAlchemy()
# The migrations ship inside the package, with the code they belong to.
migrate = Migrate(directory=str(Path(__file__).with_name("migrations")))

NOTE_LENGTH = 500


class Note(db.Model):  # type: ignore[name-defined]
    """A short text someone left, newest first on /notes."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(NOTE_LENGTH))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=lambda: datetime.now(UTC)
    )

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "text": self.text, "created_at": self.created_at.isoformat()}
