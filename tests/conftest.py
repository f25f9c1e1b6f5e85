"""Fixtures: baked projects (pytest-cookies) and the base images they build FROM; the
marker each folder's tests carry (what they need to run); the order modules run in, and
the Docker engine shared between them (a module that needs it alone gets it alone)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_cookies.plugin import Cookies

from hooks.plan import Plan

Bake = Callable[..., Path]

# A test's folder says what it needs: bake/ nothing but the template, native/ nginx, uWSGI
# and the package index on this machine, docker/ a Docker engine (pyproject.toml's markers).
NEEDS = {"native": pytest.mark.native, "docker": pytest.mark.docker}
# The order modules are handed to `make test`'s workers: a module that needs the engine
# alone first (the swarm's, while the other worker runs the native tests, which need no
# engine), then the long Docker modules, and the many short bake modules last, filling
# in so that the workers finish together.
FOLDER_ORDER = ("native", "docker", "bake")
# Held by every Docker module, shared, or alone by one that sets ENGINE_ALONE = True:
# swarm mode turned on and off breaks the name lookups of other stacks' running
# containers (moby/moby#45144). A file lock, so it holds across workers and sessions.
ENGINE_LOCK = Path(tempfile.gettempdir()) / "flask-uwsgi-tests-engine.lock"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """No test is skipped here: a skip (a missing engine, a missing tool) is a failure."""
    report = yield
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with what its folder needs, before `-m` selects; order the folders."""
    for item in items:
        need = NEEDS.get(item.path.parent.name)
        if need:
            item.add_marker(need)
    items.sort(key=run_order)


def run_order(item: pytest.Item) -> tuple[int, int]:
    folder = item.path.parent.name
    alone = getattr(item.module, "ENGINE_ALONE", False)  # type: ignore[attr-defined]
    return (0 if alone else 1, FOLDER_ORDER.index(folder) if folder in FOLDER_ORDER else 9)


@pytest.fixture(scope="module", autouse=True)
def engine_share(request: pytest.FixtureRequest) -> Iterator[None]:
    """A Docker module's share of the engine, for as long as its stacks run: shared with
    the other Docker modules, or the whole engine for one with ENGINE_ALONE."""
    if request.path.parent.name != "docker":
        yield
        return
    alone = getattr(request.module, "ENGINE_ALONE", False)
    with engine_lock(alone):
        yield


@contextlib.contextmanager
def engine_lock(alone: bool) -> Iterator[None]:
    with ENGINE_LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def bake(cookies_session: Cookies) -> Bake:
    """Bake the template with these answers (the defaults for the rest), once per
    session for each set of answers; the project folder is read-only by convention:
    a test that changes files bakes its own copy with `bake_fresh`."""
    baked: dict[tuple[tuple[str, Any], ...], Path] = {}

    def bake_project(**answers: Any) -> Path:
        key = tuple(sorted(answers.items()))
        if key not in baked:
            baked[key] = bake_result(cookies_session, answers)
        return baked[key]

    return bake_project


@pytest.fixture(scope="session")
def bake_session_copy(cookies_session: Cookies) -> Bake:
    """Bake a project of its own for a longer-lived fixture (a stack, say)."""

    def bake_project(**answers: Any) -> Path:
        return bake_result(cookies_session, answers)

    return bake_project


@pytest.fixture
def bake_fresh(cookies: Cookies) -> Bake:
    """Bake a project of this test's own, to change at will."""

    def bake_project(**answers: Any) -> Path:
        return bake_result(cookies, answers)

    return bake_project


def bake_result(cookies: Cookies, answers: dict[str, Any]) -> Path:
    result = cookies.bake(extra_context=answers)
    assert result.exception is None, f"bake {answers} failed: {result.exception!r}"
    assert result.exit_code == 0
    return result.project_path


@pytest.fixture
def project(bake: Bake, answers: dict[str, Any]) -> Path:
    """The project baked from the answers of the module's own `answers` fixture."""
    return bake(**answers)


@pytest.fixture
def plan(answers: dict[str, Any]) -> Plan:
    """What the hooks derive from the module's `answers`."""
    return Plan.defaults(**answers)


@pytest.fixture(scope="session")
def base_images() -> dict[str, str]:
    """The images the baked projects build FROM: PYTHON_IMAGE, NGINX_IMAGE and
    POSTGRES_IMAGE from the environment where given (`make test` gives this machine's
    stand-ins, machine/base-images.sh), the official images otherwise."""
    official = Plan.defaults().base_images
    return {name: os.environ.get(name) or ref for name, ref in official.items()}


@pytest.fixture(scope="session")
def sdist_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the real apps' sdists are fetched and unpacked, once per session."""
    return tmp_path_factory.mktemp("sdists")


@pytest.fixture(scope="session")
def lock_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One virtualenv for every baked project's `make lock VENV=...` in the session: its
    dev tools are installed once."""
    return tmp_path_factory.mktemp("lock") / "venv"
