"""Real third-party Flask apps, as a user brings them into a project: where each comes
from (an sdist on the package index, its hash pinned; or tests/data), what the README's
"Bring your app" steps are for it (what to copy, its settings, its requirements, its
build step, its own `flask` command), and the flow that proves it served."""

from __future__ import annotations

import hashlib
import re
import shlex
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from helpers import run, template_file, wait_until

# The README's "Bring your app" steps, for an app called myapp at path/to/myapp.
README_STEPS = [
    "cp -r path/to/myapp .",
    "echo FLASK_APP=myapp >> .env",
    "cat path/to/myapp-requirements.txt >> requirements.in",
    "make lock",
    "docker compose up --build --wait --wait-timeout 120",
    "docker compose exec app flask init-db",
]
TIMEOUT_S = 10


@dataclass(frozen=True)
class Sdist:
    """A source distribution on the package index, pinned by version and hash."""

    name: str
    version: str
    sha256: str

    def unpack(self, cache: Path) -> Path:
        """The sdist unpacked under cache, fetched once: its top folder."""
        top = cache / f"{self.name}-{self.version}"
        if not top.is_dir():
            self.fetch(cache, top)
        [inside] = top.iterdir()
        return inside

    def fetch(self, cache: Path, top: Path) -> None:
        """Download the sdist with pip, check its hash, unpack it into top."""
        download = cache / "downloads"
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--no-binary", ":all:", "--dest", str(download), f"{self.name}=={self.version}"],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        [archive] = [
            path
            for path in download.glob("*.tar.gz")
            if re.fullmatch(rf"{self.name}-{re.escape(self.version)}", path.name[:-7], re.I)
        ]
        assert hashlib.sha256(archive.read_bytes()).hexdigest() == self.sha256, archive
        with tarfile.open(archive) as sources:
            sources.extractall(top, filter="data")


FLASK = Sdist("flask", "3.1.3", "0ef0e52b8a9cd932855379197dd8f94047b359ca0a78695144304cb45f87c9eb")
FLASK_WTF = Sdist(
    "flask_wtf", "1.3.0", "61d5dabc50c3df885c297dcbd80810443a5d632106c8a69cab8ce740f0cdd7cc"
)
FLASGGER = Sdist(
    "flasgger", "0.9.7.1", "ca098e10bfbb12f047acc6299cc70a33851943a746e550d86e65e60d4df245fb"
)
IHATEMONEY = Sdist(
    "ihatemoney", "7.2.1", "e74fc718f68e1ec400cf9c4364025a91febb86c9b523aeb33a52e5adbeaa77e1"
)
BUKU = Sdist("buku", "5.0", "895a86b099adfe420c1925f333ce6cb00b851a6f11bcc7e42fb125fa81cae8b2")


class Front:
    """A browser at the project's front door: one session, its cookies kept."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.session = requests.Session()

    def get(self, path: str, **options: object) -> requests.Response:
        return self.session.get(self.base + path, timeout=TIMEOUT_S, **options)  # type: ignore[arg-type]

    def post(self, path: str, **options: object) -> requests.Response:
        options.setdefault("allow_redirects", False)
        return self.session.post(self.base + path, timeout=TIMEOUT_S, **options)  # type: ignore[arg-type]

    def page(self, path: str) -> str:
        response = self.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text[:500])
        return response.text


def csrf_token(html: str) -> str:
    """The CSRF token of the first form of a page (Flask-WTF's hidden field)."""
    found = re.search(
        r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert found, "no csrf_token in the page"
    return found.group(1) or found.group(2)


@dataclass(frozen=True)
class RealApp:
    """A real app and what the README's steps are for it."""

    name: str
    # The folder the app comes in (an unpacked sdist, or tests/data), given the cache.
    origin: Callable[[Path], Path]
    # What to copy into the project, relative to origin.
    copy: tuple[str, ...]
    flask_app: str
    # Its requirements: lines for requirements.in, or its own file (relative to origin).
    requirements: tuple[str, ...] | str
    # The flow through the front door: its writes, then what reads them back.
    flow: Callable[[Front], None]
    # Static files nginx (or uWSGI) answers: URL path -> the file, relative to origin,
    # or to the site-packages of the image for a file of an installed package.
    static: dict[str, str] = field(default_factory=dict)
    # Its own settings, lines of .env.
    settings: dict[str, str] = field(default_factory=dict)
    # Files of its own the user writes beside it (a settings module, say).
    files: dict[str, str] = field(default_factory=dict)
    # Its build step (build.sh), and its own flask command once up.
    build: str = ""
    init: str = ""
    # What a page shows once the flow wrote, after `down` and `up` (None: no data kept).
    kept: tuple[str, str] | None = None
    answers: dict[str, str] = field(default_factory=dict)


def flaskr_flow(front: Front) -> None:
    """Flask's tutorial: register, log in, write a post, read it back, log out."""
    account = {"username": "ada", "password": "a long passphrase"}
    assert front.post("/auth/register", data=account).headers["Location"] == "/auth/login"
    assert front.post("/auth/login", data=account).headers["Location"] == "/"
    created = front.post("/create", data={"title": "First post", "body": "from the corpus"})
    assert created.status_code == 302, created.text[:500]
    page = front.page("/")
    assert "First post" in page and "from the corpus" in page and "ada" in page
    front.get("/auth/logout")
    assert front.post("/create", data={"title": "x", "body": "y"}).headers["Location"] == (
        "/auth/login"
    )


def js_example_flow(front: Front) -> None:
    """Flask's JavaScript example: its pages, and the JSON endpoint they call."""
    for path in ("/", "/xhr", "/jquery"):
        assert '<form id="calc">' in front.page(path)
    assert front.post("/add", data={"a": "2", "b": "3"}).json() == {"result": 5.0}
    # No static folder: the app answers /static/... itself, with a 404.
    assert front.get("/static/app.js").status_code == 404


def task_app_flow(front: Front) -> None:
    """Flask's Celery example: its page, and a task started (run at once here, the
    broker being the settings' in-memory one until a worker runs beside it)."""
    assert "Celery Example" in front.page("/")
    started = front.post("/tasks/add", data={"a": "2", "b": "3"})
    assert started.status_code == 200 and re.fullmatch(
        r"[0-9a-f-]{36}", started.json()["result_id"]
    )


def task_app_worker_flow(front: Front) -> None:
    """Flask's Celery example with a real worker: its add task queued through the front
    door, run by the project's worker service (the example's own Celery app, named by
    WORKER_COMMAND), and its result read back from Redis through the example's route."""
    assert "Celery Example" in front.page("/")
    started = front.post("/tasks/add", data={"a": "2", "b": "3"})
    assert started.status_code == 200, started.text[:500]
    result_id = started.json()["result_id"]
    answer: dict[str, object] = {}

    def ready() -> bool:
        """the worker ran the task"""
        answer.update(front.get(f"/tasks/result/{result_id}").json())
        return bool(answer["ready"])

    wait_until(ready, 60, step=0.5)
    assert answer == {"ready": True, "successful": True, "value": 5}


def exporter_flow(front: Front) -> None:
    """tests/data/exporter, an app with RQ jobs of its own: two posts kept, an export
    queued on the app's own queue through the front door, run by the project's worker
    service (WORKER_QUEUES in .env names that queue), and read back through the app."""
    for text in ("first post", "second post"):
        assert front.post("/posts", data={"text": text}).status_code == 201
    started = front.post("/exports", data={"title": "all posts"})
    assert started.status_code == 202, started.text[:500]
    job_id = started.json()["id"]
    answer: dict[str, object] = {}

    def finished() -> bool:
        """the worker ran the export"""
        answer.update(front.get(f"/exports/{job_id}").json())
        return answer["status"] == "finished"

    wait_until(finished, 60, step=0.5)
    assert answer["result"] == {
        "title": "all posts",
        "count": 2,
        "csv": "first post\nsecond post\n",
    }


def uploadr_flow(front: Front) -> None:
    """Flask-WTF's upload example: a form without its CSRF token is refused, with it
    the files are taken."""
    html = front.page("/")
    files = {"uploads-0": ("hello.txt", b"hello\n")}
    refused = front.post("/", files=files)
    assert "The CSRF token is missing." in refused.text and "<h3>hello.txt</h3>" not in refused.text
    files["uploads-1"] = ("second.bin", bytes(range(256)))
    taken = front.post("/", data={"csrf_token": csrf_token(html)}, files=files)
    assert "<h3>hello.txt</h3>" in taken.text and "<h3>second.bin</h3>" in taken.text


def flasgger_flow(front: Front) -> None:
    """flasgger's colors example: the API, its spec, and the Swagger UI page."""
    assert front.get("/colors/rgb/").json() == {"rgb": ["red", "green", "blue"]}
    spec = front.get("/apispec_1.json").json()
    assert spec["info"]["title"] == "Colors API"
    assert spec["paths"]["/colors/{palette}/"]["get"]["operationId"] == "get_colors"
    assert "/flasgger_static/swagger-ui-bundle.js" in front.page("/apidocs/")


def ihatemoney_flow(front: Front) -> None:
    """ihatemoney: a project made through its CSRF-protected forms, two members, a
    bill shared between them, the settlement, the French translation compiled by the
    build step, then logged out and in again."""
    project = {
        "name": "Trip", "id": "trip", "password": "a long passphrase",
        "contact_email": "ada@example.com", "default_currency": "XXX",
    }  # fmt: skip
    html = front.page("/create")
    assert "The CSRF token is missing." in front.post("/create", data=project).text
    created = front.post("/create", data={**project, "csrf_token": csrf_token(html)})
    assert created.headers["Location"].endswith("/trip/"), created.text[:500]
    for member in ("Ada", "Grace"):
        form = {"name": member, "weight": "1", "csrf_token": csrf_token(front.page("/trip/"))}
        assert front.post("/trip/members/add", data=form).status_code == 302
    html = front.page("/trip/add")
    members = {name: value for value, name in re.findall(r'<option value="(\d+)">([^<]+)<', html)}
    bill = {
        "csrf_token": csrf_token(html), "date": "2026-12-01", "what": "Dinner",
        "payer": members["Ada"], "amount": "30", "payed_for": [members["Ada"], members["Grace"]],
        "original_currency": "XXX", "bill_type": "Expense", "submit": "Submit",
    }  # fmt: skip
    assert front.post("/trip/add", data=bill).status_code == 302
    assert "Dinner" in front.page("/trip/")
    settle = front.page("/trip/settle_bills")
    assert "Grace" in settle and "15.00" in settle
    front.get("/lang/fr")
    assert "Nouvelle facture" in front.page("/trip/")
    front.get("/lang/en")
    front.post("/exit", data={"csrf_token": csrf_token(front.page("/trip/"))})
    assert "Dinner" not in front.get("/trip/", allow_redirects=False).text
    login = {"id": "trip", "password": project["password"]}
    login["csrf_token"] = csrf_token(front.page("/authenticate"))
    assert front.post("/authenticate", data=login).headers["Location"].endswith("/trip/")


def bukuserver_flow(front: Front) -> None:
    """bukuserver (buku's web UI, on Flask-Admin): a bookmark added through its CSRF-
    protected form, read back in the list and the JSON API."""
    assert front.get("/").status_code == 200
    bookmark = {
        "link": "https://example.com/page", "title": "Example page",
        "tags": "alpha,beta", "description": "from the corpus", "fetch": "",
    }  # fmt: skip
    html = front.page("/bookmark/new/")
    front.post("/bookmark/new/", data=bookmark)
    assert front.get("/api/bookmarks").json()["bookmarks"] == [], "saved without its token"
    saved = front.post("/bookmark/new/", data={**bookmark, "csrf_token": csrf_token(html)})
    assert saved.status_code == 302, saved.text[:500]
    assert "Example page" in front.page("/bookmark/")
    assert {"alpha", "beta"} <= set(front.get("/api/tags").json()["tags"])


IHATEMONEY_SETTINGS = """\
# ihatemoney reads its settings from this file (IHATEMONEY_SETTINGS_FILE_PATH in .env).
import os

SECRET_KEY = os.environ["SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = "sqlite:////app/instance/ihatemoney.db"
# Plain HTTP here: a secure-only cookie would never come back.
SESSION_COOKIE_SECURE = False
ACTIVATE_DEMO_PROJECT = False
MAIL_SUPPRESS_SEND = True
"""

# Apps of tests/data, for what no sdist on the package index carries.
DATA_FOLDER = template_file("tests/data")
# The project's Redis, as an app's own setting in .env names it.
WORKER_REDIS = "redis://:${REDIS_PASSWORD}@redis:6379/0"

REAL_APPS = [
    RealApp(
        name="flaskr",
        origin=lambda cache: FLASK.unpack(cache) / "examples/tutorial",
        copy=("flaskr",),
        flask_app="flaskr",
        requirements=("flask",),
        init="init-db",
        flow=flaskr_flow,
        static={"/static/style.css": "flaskr/static/style.css"},
        kept=("/", "First post"),
        # A project that migrates at start, serving an app without Flask-Migrate.
        answers={"server": "nginx-http", "database": "sqlite"},
    ),
    RealApp(
        name="js_example",
        origin=lambda cache: FLASK.unpack(cache) / "examples/javascript",
        copy=("js_example",),
        flask_app="js_example",
        requirements=("flask",),
        flow=js_example_flow,
    ),
    RealApp(
        name="task_app",
        origin=lambda cache: FLASK.unpack(cache) / "examples/celery",
        copy=("src",),
        flask_app="src/task_app",
        # Its pyproject's: its own pinned requirements.txt has markupsafe 2.1.2, with no
        # wheel for the image's Python (test_corpus: make lock says so).
        requirements=("flask", "celery[redis]"),
        settings={
            "FLASK_CELERY__broker_url": "memory://",
            "FLASK_CELERY__result_backend": "cache+memory://",
            "FLASK_CELERY__task_always_eager": "true",
        },
        flow=task_app_flow,
        # A src/ layout with no static files, behind uWSGI's own router.
        answers={"server": "standalone"},
    ),
    RealApp(
        name="task_app-worker",
        origin=lambda cache: FLASK.unpack(cache) / "examples/celery",
        copy=("src", "make_celery.py"),
        flask_app="src/task_app",
        # Celery with Redis, as the project's worker runs it (the example's own pins,
        # celery 5.2 and kombu 5.2, import nothing on Python 3.12 and later).
        requirements=("celery[redis]",),
        # The README's Background jobs: the app's broker is the project's Redis (compose
        # fills in the password from .env), its worker and beat its own Celery app.
        settings={
            "FLASK_CELERY__broker_url": WORKER_REDIS,
            "FLASK_CELERY__result_backend": WORKER_REDIS,
            "PYTHONPATH": "/app/src",
            "WORKER_COMMAND": "celery --app make_celery worker --loglevel INFO",
            "BEAT_COMMAND": "celery --app make_celery beat --schedule /tmp/celerybeat-schedule",
        },
        flow=task_app_worker_flow,
        answers={"worker": "celery"},
    ),
    RealApp(
        name="exporter-rq",
        origin=lambda cache: DATA_FOLDER,
        copy=("exporter",),
        flask_app="exporter",
        requirements=("rq",),
        # The README's Background jobs: the project's worker, on the app's own queue.
        settings={"WORKER_QUEUES": "exports"},
        flow=exporter_flow,
        answers={"worker": "rq"},
    ),
    RealApp(
        name="uploadr",
        origin=lambda cache: FLASK_WTF.unpack(cache) / "examples",
        copy=("uploadr",),
        flask_app="uploadr.app",
        requirements=("flask-wtf==1.3.0",),
        flow=uploadr_flow,
    ),
    RealApp(
        name="flasgger",
        origin=lambda cache: FLASGGER.unpack(cache) / "examples",
        copy=("colors.py",),
        flask_app="colors",
        requirements=("flasgger==0.9.7.1",),
        flow=flasgger_flow,
        static={
            "/flasgger_static/swagger-ui.css": "site-packages/flasgger/ui3/static/swagger-ui.css"
        },
    ),
    RealApp(
        name="ihatemoney",
        origin=IHATEMONEY.unpack,
        copy=("ihatemoney",),
        flask_app="ihatemoney.run",
        requirements=("ihatemoney==7.2.1",),
        settings={"IHATEMONEY_SETTINGS_FILE_PATH": "/app/ihatemoney.cfg"},
        files={"ihatemoney.cfg": IHATEMONEY_SETTINGS},
        build="pybabel compile -d ihatemoney/translations\n",
        flow=ihatemoney_flow,
        static={"/static/css/main.css": "ihatemoney/static/css/main.css"},
        kept=("/trip/", "Dinner"),
    ),
    RealApp(
        name="bukuserver",
        origin=BUKU.unpack,
        copy=("bukuserver", "buku.py"),
        flask_app="bukuserver.server",
        # buku's own and its "server" extra's, from its setup.py.
        requirements=(
            "arrow",
            "flask-admin>=1.6.1,<2",
            "flask-paginate",
            "flask-wtf",
            "flask-babel",
            "beautifulsoup4",
            "certifi",
            "cryptography",
            "html5lib",
            "urllib3<3",
        ),
        settings={
            "BUKUSERVER_DB_FILE": "/app/instance/bookmarks.db",
            "BUKUSERVER_SECRET_KEY": "a-key-every-worker-shares-0123456789",
            "BUKUSERVER_AUTOFETCH": "false",
        },
        flow=bukuserver_flow,
        static={
            "/static/bukuserver/css/list.css": "bukuserver/static/bukuserver/css/list.css",
            "/static/admin/admin/css/bootstrap3/admin.css": (
                "site-packages/flask_admin/static/admin/css/bootstrap3/admin.css"
            ),
        },
        kept=("/bookmark/", "Example page"),
    ),
]

GUESTBOOK_FOLDER = template_file("tests/data/guestbook")


def requirements_file(app: RealApp, origin: Path, scratch: Path) -> Path:
    """The file of the app's requirements: its own, or one written from its lines."""
    if isinstance(app.requirements, str):
        return origin / app.requirements
    written = scratch / f"{app.name}-requirements.txt"
    written.write_text("".join(f"{line}\n" for line in app.requirements))
    return written


def steps_for(app: RealApp, origin: Path, requirements: Path) -> list[list[str]]:
    """The README's steps up to `make lock`, for this app: shell commands for each."""
    steps = []
    for step in README_STEPS[:4]:
        if step.startswith("cp -r path/to/myapp"):
            steps.append([f"cp -r {origin / path} ." for path in app.copy])
        elif step.startswith("echo FLASK_APP=myapp"):
            settings = {"FLASK_APP": app.flask_app, **app.settings}
            lines = [f"{name}={value}" for name, value in settings.items()]
            steps.append([f"echo {shlex.quote(line)} >> .env" for line in lines])
        elif step.startswith("cat path/to/myapp-requirements.txt"):
            steps.append([step.replace("path/to/myapp-requirements.txt", str(requirements))])
        else:
            steps.append([step])
    return steps


def readme_steps(project: Path) -> list[str]:
    """The commands of the README's "Bring your app" section, one a line."""
    readme = (project / "README.md").read_text()
    section = readme.split("\n## Bring your app\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return block.splitlines()


def follow_the_readme(app: RealApp, project: Path, origin: Path, scratch: Path, venv: Path) -> None:
    """The README's steps up to `make lock`, for this app; its own files beside it."""
    for name, text in app.files.items():
        (project / name).write_text(text)
    if app.build:
        (project / "build.sh").write_text(app.build)
    for commands in steps_for(app, origin, requirements_file(app, origin, scratch)):
        for command in commands:
            if command == "make lock":
                command = f"make lock VENV={venv}"
            run(["sh", "-c", command], cwd=project, timeout=900)
