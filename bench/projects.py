"""The baked projects of a run: each build's own, those baked with a configuration's
answers (a variant: processes x threads, a fact such as _listen), and the build's
files a configuration edits (bench/variants.py)."""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.configuration import BAKED_ANSWERS, BENCH_ROOT, COMPOSE_FILE, MOUNTED_FILES, Config
from bench.host import BenchError, run
from hooks.plan import Plan

REPO_ROOT = BENCH_ROOT.parent


def base_images() -> dict[str, str]:
    """PYTHON_IMAGE, NGINX_IMAGE and POSTGRES_IMAGE, as the tests get them: from the
    environment where given (`make bench` gives machine/base-images.sh's), the official
    images otherwise."""
    official = Plan.defaults().base_images
    return {name: os.environ.get(name) or ref for name, ref in official.items()}


def bake(output_dir: Path, answers: dict[str, str]) -> Path:
    """Bake the template with cookiecutter's command line, as a user does (--no-input,
    these answers, the defaults for the rest); the project folder."""
    output_dir.mkdir(parents=True, exist_ok=True)
    cookiecutter = Path(sys.executable).parent / "cookiecutter"
    run(
        [
            str(cookiecutter),
            "--no-input",
            "--output-dir",
            str(output_dir),
            str(REPO_ROOT),
            *(f"{key}={value}" for key, value in answers.items()),
        ],
        cwd=REPO_ROOT,
    )
    [project] = [path for path in output_dir.iterdir() if path.is_dir()]
    return project


def copy_app(project: Path, into: Path) -> None:
    """main.py, service.py (which main.py imports) and the Flask package main.py
    serves, from a baked project, into a folder."""
    into.mkdir(exist_ok=True)
    for module in ("main.py", "service.py"):
        shutil.copy(project / module, into / module)
    package = project / "flask_service"
    shutil.copytree(package, into / package.name, ignore=shutil.ignore_patterns("__pycache__"))


def pinned(requirements: str, leave_out: Sequence[str]) -> list[str]:
    """name==version lines of a hash-checked requirements file, some packages left out."""
    pins = re.findall(r"^([A-Za-z0-9_.-]+==[^\s\\]+)", requirements, flags=re.MULTILINE)
    return [pin for pin in pins if pin.split("==")[0].lower() not in leave_out]


class Projects:
    """The projects one run baked, in a folder of their own, each baked once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._projects: dict[str, Path] = {}
        self._baked: dict[tuple[tuple[str, str], ...], Path] = {}

    def project(self, build: str) -> Path:
        if build not in self._projects:
            self._projects[build] = bake(self.root / build, BAKED_ANSWERS[build])
        return self._projects[build]

    def bake(self, **answers: str) -> Path:
        key = tuple(sorted(answers.items()))
        if key not in self._baked:
            name = "-".join(f"{k}{v}" for k, v in key) or "defaults"
            self._baked[key] = bake(self.root / f"variant-{name}", dict(answers))
        return self._baked[key]

    def variant_files(self, config: Config) -> dict[str, Path]:
        """A configuration's own versions of its build's files, by their path in the
        project: every file the bench mounts (or starts the stack from) that the project
        baked with its answers on top of its build's has otherwise, those it `varies`
        among them (else the answers changed nothing they are there for), and those it
        edits, written beside the bakes."""
        files: dict[str, Path] = {}
        if config.answers:
            build = self.project(config.build)
            project = self.bake(**BAKED_ANSWERS[config.build], **config.answers)
            for relative in (*MOUNTED_FILES, COMPOSE_FILE):
                if (project / relative).read_bytes() != (build / relative).read_bytes():
                    files[relative] = project / relative
            for relative in config.varies:
                if relative not in files:
                    raise BenchError(f"{config.key}: {config.answers} left {relative} as it is")
        for edit in config.edits:
            source = files.get(edit.file, self.project(config.build) / edit.file)
            edited = self.root / f"edited-{config.key}" / edit.file
            text = edit.apply(source.read_text())
            edited.parent.mkdir(parents=True, exist_ok=True)
            edited.write_text(text)
            files[edit.file] = edited
        return files
