"""The generated README's "Bring your app" steps are the ones tests/corpus.py follows
for every real app (tests/docker/test_corpus.py)."""

from __future__ import annotations

from conftest import Bake
from corpus import README_STEPS, readme_steps


def test_the_readme_steps_are_the_ones_these_tests_follow(bake: Bake) -> None:
    for server in ("nginx-uwsgi", "nginx-http", "standalone"):
        for database in ("none", "postgres"):
            assert readme_steps(bake(server=server, database=database)) == README_STEPS
