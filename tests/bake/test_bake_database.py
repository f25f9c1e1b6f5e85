"""Bake each `database` answer (with each server) and read what comes out, without
Docker: the files it needs and no others, the pins, .env, the compose file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

# test_bake.py's checks, collected here again for these answers (they read `answers`).
from test_bake import (  # noqa: F401
    test_base_images_are_literal_and_replaced_through_named_contexts,
    test_compose_file_is_valid_and_publishes_only_the_front_door,
    test_dockerfiles_pass_hadolint,
    test_files_follow_the_answers,
    test_no_stray_blank_lines,
    test_no_template_syntax_left,
    test_python_is_ruff_clean,
    test_the_projects_own_tests_pass,
)
from test_kubernetes import container, kustomize, pod, validate

from baked import stack_config
from helpers import run
from hooks.answers import choices
from hooks.plan import Plan

DATABASE_FILES = [
    "ops/migrate.py",
    "tests/test_notes.py",
    "flask_service/models.py",
    "flask_service/notes.py",
    "flask_service/migrations/env.py",
    "flask_service/migrations/alembic.ini",
    "flask_service/migrations/script.py.mako",
    "flask_service/migrations/versions/0001_notes.py",
]
PACKAGES = {
    "none": set(),
    "sqlite": {"flask-sqlalchemy", "flask-migrate", "sqlalchemy", "alembic"},
    "postgres": {"flask-sqlalchemy", "flask-migrate", "sqlalchemy", "alembic", "psycopg"},
}


# Each database with and without nginx, each server at least once (the rest of the
# combinations are test_bake.py's, where database is none).
DATABASE_COMBINATIONS = [
    {"database": "sqlite", "server": "nginx-uwsgi"},
    {"database": "sqlite", "server": "standalone"},
    {"database": "postgres", "server": "nginx-http"},
    {"database": "postgres", "server": "standalone"},
]


@pytest.fixture(
    params=DATABASE_COMBINATIONS, ids=lambda answers: f"{answers['database']}-{answers['server']}"
)
def answers(request: pytest.FixtureRequest) -> dict[str, Any]:
    return request.param


def pins(requirements: Path) -> dict[str, str]:
    return dict(re.findall(r"^([a-z0-9_.-]+)==([^\s\\]+)", requirements.read_text(), re.M))


def test_the_database_files_are_there_when_used(bake: Any) -> None:
    for database in choices("database"):
        project = bake(database=database)
        for relative in DATABASE_FILES:
            assert (project / relative).is_file() == (database != "none"), (database, relative)
        assert (project / "db").is_dir() == (database == "postgres")


@pytest.mark.parametrize("database", choices("database"))
def test_only_a_database_project_pins_its_packages(bake: Any, database: str) -> None:
    project = bake(database=database)
    image = pins(project / "requirements.txt")
    everything = set().union(*PACKAGES.values())
    assert everything & set(image) == PACKAGES[database]
    assert "psycopg-binary" in image if database == "postgres" else "psycopg-binary" not in image
    assert all(
        line.startswith(("    --hash=sha256:", "    #")) or "==" in line or not line.strip()
        for line in (project / "requirements.txt").read_text().splitlines()
    )
    development = pins(project / "requirements-dev.txt")
    # The project's tests run on SQLite: no PostgreSQL driver outside the image.
    assert everything & set(development) == PACKAGES[database] - {"psycopg"}
    for name in set(development) & set(image):
        assert development[name] == image[name], name


def test_postgres_gets_a_fresh_password_for_the_apps_role_only(bake: Any, bake_fresh: Any) -> None:
    """.env (all of which the app reads) holds the app's role's password, fresh in each
    bake, and no superuser's."""
    first, second = bake(database="postgres"), bake_fresh(database="postgres")
    passwords = [
        re.search(r"^POSTGRES_APP_PASSWORD=(.+)$", (project / ".env").read_text(), re.M)
        for project in (first, second)
    ]
    assert all(passwords)
    assert passwords[0][1] != passwords[1][1]  # type: ignore[index]
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", passwords[0][1])  # type: ignore[index]
    assert "\nPOSTGRES_APP_PASSWORD=\n" in (first / ".env.example").read_text()
    assert not re.search(r"^#? ?POSTGRES_PASSWORD", (first / ".env").read_text(), re.M)
    assert "POSTGRES_" not in bake(database="sqlite").joinpath(".env").read_text()


def test_the_compose_file_keeps_postgres_to_itself(bake: Any) -> None:
    """The db service is locked down, never published, health-checked, its data on a
    named volume; the app waits for it and reaches it as its own role, with the password
    of .env; the superuser's password is random, read from the kernel on the first start."""
    project = bake(database="postgres")
    config = run(["docker", "compose", "config", "--format", "json"], cwd=project).stdout
    services = json.loads(config)["services"]
    db = services["db"]
    assert "ports" not in db
    assert (db["user"], db["read_only"], db["cap_drop"]) == ("postgres", True, ["ALL"])
    assert db["security_opt"] == ["no-new-privileges:true"]
    [data] = db["volumes"]
    assert (data["type"], data["target"]) == ("volume", "/var/lib/postgresql/data")
    assert services["app"]["depends_on"]["db"]["condition"] == "service_healthy"
    environment = db["environment"]
    # The image's default superuser, postgres, with a password no one is given.
    assert "POSTGRES_USER" not in environment
    assert "POSTGRES_PASSWORD" not in environment
    assert environment["POSTGRES_PASSWORD_FILE"] == "/proc/sys/kernel/random/uuid"
    password = environment["POSTGRES_APP_PASSWORD"]
    plan = Plan.defaults(database="postgres")
    assert plan.postgres_user != "postgres"
    app = services["app"]["environment"]
    assert app["DATABASE_URL"] == (
        f"postgresql://{plan.postgres_user}:{password}@db:{plan.postgres_port}/flask_service"
    )
    assert not any(name.startswith("POSTGRES_PASSWORD") for name in app)
    assert "HEALTHCHECK" in (project / "db/Dockerfile").read_text()


def test_the_db_image_makes_the_apps_role_with_no_rights_beyond_its_database(
    bake: Any,
) -> None:
    """db/app-role.sql, run by the entrypoint on a new volume: a login role named as in
    DATABASE_URL, no superuser, no roles, no databases, the owner of the app's database."""
    project = bake(database="postgres")
    plan = Plan.defaults(database="postgres")
    dockerfile = (project / "db/Dockerfile").read_text()
    assert re.search(r"^COPY app-role\.sql /docker-entrypoint-initdb\.d/$", dockerfile, re.M)
    sql = " ".join((project / "db/app-role.sql").read_text().split())
    role = re.search(r"CREATE ROLE (\w+) ([A-Z ]+) PASSWORD :'password';", sql)
    assert role, sql
    assert role[1] == plan.postgres_user
    attributes = set(role[2].split())
    assert {"LOGIN", "NOSUPERUSER", "NOCREATEDB", "NOCREATEROLE", "NOREPLICATION"} <= attributes
    assert "\\getenv password POSTGRES_APP_PASSWORD" in sql
    assert f'ALTER DATABASE :"database" OWNER TO {plan.postgres_user};' in sql


@pytest.mark.parametrize("server", ["nginx-uwsgi", "standalone"])
def test_every_health_check_probes_fast_while_starting_and_rarely_after(
    bake: Any, server: str
) -> None:
    """Each image's HEALTHCHECK (app, nginx, db): every start interval until healthy, so
    `up --wait` returns within a second of ready, then every interval, at little cost."""
    project = bake(server=server, database="postgres")
    plan = Plan.defaults(server=server, database="postgres")
    dockerfiles = sorted(project.rglob("Dockerfile"))
    # app, db, nginx where it runs, Prometheus (the monitoring profile).
    assert len(dockerfiles) == (4 if plan.nginx else 3)
    for dockerfile in dockerfiles:
        text = dockerfile.read_text()
        match = re.search(r"^HEALTHCHECK --interval=(\d+)s .*--start-interval=(\d+)s", text, re.M)
        assert match, f"{dockerfile.relative_to(project)}: no start interval"
        interval, start_interval = map(int, match.groups())
        assert (start_interval, interval) == (plan.healthcheck_start_interval, 10)


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_the_swarm_stack_reaches_the_database(bake: Any, database: str) -> None:
    """postgres: DATABASE_URL as a secret file of the app's user; sqlite: the instance
    folder on a volume of the node."""
    app = stack_config(bake(database=database))
    service = app["services"]["app"]
    sources = {secret["source"]: secret for secret in service["secrets"]}
    volumes = {v["target"]: v for v in service["volumes"] if v["type"] == "volume"}
    if database == "postgres":
        secret = sources["database_url"]
        uid = str(Plan.defaults().app_uid)
        assert (secret["uid"], secret["gid"], secret["mode"]) == (uid, uid, 0o400)
        assert service["environment"]["DATABASE_URL_FILE"] == "/run/secrets/database_url"
        assert app["secrets"]["database_url"] == {
            "name": "flask_service_database_url",
            "external": True,
        }
        assert volumes == {}
        # The stack's database is the DATABASE_URL's: no superuser's password anywhere.
        assert not any("POSTGRES" in name for name in service["environment"])
    else:
        assert set(sources) == {"settings", "secret_key"}
        assert volumes["/app/instance"]["source"] == "instance"


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_the_kubernetes_base_reaches_the_database(bake: Any, database: str) -> None:
    """The manifests validate; postgres: DATABASE_URL_FILE names the Secret's file in
    the projected secrets volume; sqlite: the instance folder is writable (an emptyDir)."""
    project = bake(database=database)
    plan = Plan.defaults(database=database)
    objects = {(obj["kind"], obj["metadata"]["name"]): obj for obj in kustomize(project)}
    for obj in objects.values():
        validate(obj)
    spec = pod(objects, plan, "app")
    app = container(objects, plan, "app")
    env = {var["name"]: var.get("value") for var in app["env"]}
    mounts = {mount["name"]: mount["mountPath"] for mount in app["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    if database == "postgres":
        sources = volumes["secrets"]["projected"]["sources"]
        paths = {
            source["secret"]["name"]: f"{mounts['secrets']}/{source['secret']['items'][0]['path']}"
            for source in sources
        }
        assert env["DATABASE_URL_FILE"] == paths[f"{plan.k8s_name}-database-url"]
        assert env["SECRET_KEY_FILE"] == paths[f"{plan.k8s_name}-secret-key"]
        assert volumes["secrets"]["projected"]["defaultMode"] == 0o440
    else:
        assert "DATABASE_URL_FILE" not in env
        assert mounts["instance"] == "/app/instance"
        assert volumes["instance"] == {"name": "instance", "emptyDir": {}}
