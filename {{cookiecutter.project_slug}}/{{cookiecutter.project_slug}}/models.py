"""The app's data: its models, on Flask-SQLAlchemy's `db` (extensions.py).

A change to a model needs a migration: `flask --app {{ cookiecutter.project_slug }} db migrate -m "what changed"`
writes one into migrations/versions/ (review it), and the service applies it on
its next start (ops/migrate.py) before it serves.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db

NOTE_LENGTH = 500
# The most notes a page lists (GET /notes, the home page).
PAGE_SIZE = 50


class Note(db.Model):  # type: ignore[name-defined]
    """A short text someone left, newest first on /notes and the home page."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(NOTE_LENGTH))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=lambda: datetime.now(UTC)
    )

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "text": self.text, "created_at": self.created_at.isoformat()}


def newest_notes() -> list[Note]:
    """The newest notes, newest first: what /notes returns and the home page lists."""
    return list(db.session.scalars(db.select(Note).order_by(Note.id.desc()).limit(PAGE_SIZE)))
