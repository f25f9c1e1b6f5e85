"""A guestbook: an existing Flask app, as its authors wrote it, for the tests to bring
into a project. It has an app factory with its own development secret key, an SQLite
database in its instance folder made by `flask init-db`, Jinja templates, a static
CSS file, a session cookie (the last signer's name) and no health route."""

from __future__ import annotations

import os
import sqlite3

import click
from flask import Flask, current_app, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

SCHEMA = """
DROP TABLE IF EXISTS entry;
CREATE TABLE entry (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, message TEXT NOT NULL
);
"""


def database() -> sqlite3.Connection:
    """This request's (or command's) connection to the guestbook's database."""
    if "db" not in g:
        g.db = sqlite3.connect(current_app.config["DATABASE"])
    return g.db


def close_database(_error: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def create_app() -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        SECRET_KEY="dev",
        DATABASE=os.path.join(app.instance_path, "guestbook.sqlite"),
    )
    os.makedirs(app.instance_path, exist_ok=True)
    app.teardown_appcontext(close_database)

    @app.cli.command("init-db")
    def init_db() -> None:
        """Create the guestbook's table, empty."""
        database().executescript(SCHEMA)
        click.echo("Initialized the database.")

    @app.get("/")
    def index() -> str:
        entries = database().execute("SELECT name, message FROM entry ORDER BY id").fetchall()
        return render_template("index.html", entries=entries, last=session.get("last_signer"))

    @app.post("/sign")
    def sign() -> Response:
        name, message = request.form["name"], request.form["message"]
        with database() as db:
            db.execute("INSERT INTO entry (name, message) VALUES (?, ?)", (name, message))
        session["last_signer"] = name
        return redirect(url_for("index"))

    return app
