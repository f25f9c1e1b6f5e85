"""ops/collect_static.py: the static files a web server answers without the app."""

from pathlib import Path

from flask import Blueprint, Flask

from {{ cookiecutter.project_slug }} import create_app

from ops.collect_static import collect


def test_this_projects_static_files_by_url_path(tmp_path: Path) -> None:
    app = create_app()
    assert collect(app, tmp_path) == ["/static"]
    with app.test_client() as client:
        served = client.get("/static/style.css").data
    assert (tmp_path / "static/style.css").read_bytes() == served


def test_blueprints_static_folders_at_their_prefix(tmp_path: Path) -> None:
    folder = tmp_path / "admin_static"
    folder.mkdir()
    (folder / "admin.css").write_text("h1 {}\n")
    app = Flask("an_app", static_folder=None)
    admin = Blueprint("admin", "an_app", static_folder=str(folder), static_url_path="/assets")
    app.register_blueprint(admin, url_prefix="/admin")
    assert collect(app, tmp_path / "out") == ["/admin/assets"]
    assert (tmp_path / "out/admin/assets/admin.css").read_text() == "h1 {}\n"
