"""Notes, kept in the database: GET /notes lists the newest, POST /notes adds one."""

from __future__ import annotations

from flask import Blueprint, abort, request

from .extensions import db
from .models import NOTE_LENGTH, Note, newest_notes

blueprint = Blueprint("notes", __name__)


@blueprint.get("/notes")
def list_notes() -> dict[str, object]:
    return {"notes": [note.as_json() for note in newest_notes()]}


@blueprint.post("/notes")
def add_note() -> tuple[dict[str, object], int]:
    # JSON only: a form on another site cannot send it without the browser asking first (CORS).
    body = request.get_json(silent=True)
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip() or len(text) > NOTE_LENGTH:
        abort(400, f'expected a JSON object with a "text" of 1 to {NOTE_LENGTH} characters')
    note = Note(text=text.strip())
    db.session.add(note)
    db.session.commit()
    return note.as_json(), 201
