"""Copy the app's static files into one folder laid out by URL path, so the web
server answers them without the app: DEST/static/style.css is /static/style.css.

The Dockerfile runs it at build time for the app FLASK_APP names, as the app runs:
its user, its settings, the code read-only. It finds the folders as Flask serves
them: every `static` route of the app and of its blueprints, with the folder behind
it. An app with none leaves DEST empty: the web server then passes every path on.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
from pathlib import Path

from flask import Flask
from flask.cli import ScriptInfo

SUFFIX = "/<path:filename>"
# What an app meets when it writes in the code folder (root's, and read-only when it runs).
READ_ONLY_ERRORS = (errno.EACCES, errno.EROFS, errno.EPERM)


def static_folders(app: Flask) -> dict[str, Path]:
    """URL prefix -> folder, for each static route that has a folder."""
    folders = {}
    for rule in app.url_map.iter_rules():
        blueprint, _, name = rule.endpoint.rpartition(".")
        if name != "static" or not rule.rule.endswith(SUFFIX):
            continue
        owner = app.blueprints[blueprint] if blueprint else app
        if owner.static_folder and Path(owner.static_folder).is_dir():
            folders[rule.rule.removesuffix(SUFFIX)] = Path(owner.static_folder)
    return folders


def collect(app: Flask, destination: Path) -> list[str]:
    """Copy each static folder under destination at its URL prefix; the prefixes."""
    destination.mkdir(parents=True, exist_ok=True)
    for prefix, folder in static_folders(app).items():
        target = destination / prefix.lstrip("/")
        shutil.copytree(folder, target, dirs_exist_ok=True)
    return sorted(static_folders(app))


def load_app(import_path: str) -> Flask:
    """The app, imported as `flask --app` does; an app that writes where it may not
    stops the build with one line naming the path and the fix."""
    try:
        return ScriptInfo(app_import_path=import_path, set_debug_flag=False).load_app()
    except OSError as error:
        if error.errno not in READ_ONLY_ERRORS or not error.filename:
            raise
        path = os.path.abspath(error.filename)
        sys.exit(
            f"collect_static: the app {import_path} wrote to {path} when imported"
            f" ({error.strerror}): its code folder is read-only when it runs. Write files in"
            " the instance folder (app.instance_path, a volume) and log to stderr; an app"
            " with a setting for that (LOG_TO_STDOUT, say) takes it in .env"
        )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 ops/collect_static.py DESTINATION")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    prefixes = collect(load_app(os.environ["FLASK_APP"]), Path(sys.argv[1]))
    print(f"collect_static: {', '.join(prefixes) or 'no static folder'} -> {sys.argv[1]}")
