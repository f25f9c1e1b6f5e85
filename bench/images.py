"""The images a run builds: the baked shapes' (their own compose files), the peers'
(gunicorn and granian) and the all-in-one container's (contexts of the bench's own,
bench/images/)."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from bench.configuration import (
    BAKED_ANSWERS,
    BENCH_ROOT,
    DEFAULT_PLAN,
    GRANIAN_VERSION,
    GUNICORN_VERSION,
    PEER_ANSWERS,
    PEER_BESIDE,
)
from bench.docker import LABEL, Compose
from bench.host import BenchError, run
from bench.projects import Projects, copy_app, pinned

SECRET_KEY = "only-for-the-bench"


class Images:
    """Each build's image names, compose files and build contexts; building them."""

    def __init__(self, root: Path, run_id: str, projects: Projects, compose: Compose) -> None:
        self.root = root
        self.run_id = run_id
        self.projects = projects
        self.compose = compose
        self.base = compose.base

    def image(self, build: str, service: str) -> str:
        return f"{LABEL}/{self.run_id}-{build}-{service}"

    def services(self, build: str) -> list[str]:
        """The services of a build's stack."""
        if build in PEER_BESIDE:
            return ["app", *PEER_BESIDE[build]]
        if build in ("default", "nginx-http"):
            return ["app", "nginx"]
        if build == "postgres":
            return ["app", "nginx", "db"]
        if build == "rq":
            return ["app", "nginx", "worker", "redis"]
        if build == "celery":
            return ["app", "nginx", "worker", "beat", "redis"]
        return ["app"]

    def built_services(self, build: str) -> list[str]:
        """The services whose images a build makes (the peers' nginx and database are
        those of the build they run beside)."""
        return ["app"] if build in PEER_BESIDE else self.services(build)

    def compose_files(self, build: str) -> list[Path]:
        """The compose files a build's stacks start from (before a config's override)."""
        work = self.root / "compose"
        work.mkdir(parents=True, exist_ok=True)
        if build in BAKED_ANSWERS:
            images = {
                "services": {
                    service: {"image": self.image(build, service)}
                    for service in self.services(build)
                }
            }
            path = work / f"images-{build}.json"
            path.write_text(json.dumps(images, indent=2))
            return [self.projects.project(build) / "compose.yaml", path]
        if build in PEER_BESIDE:
            return self.peer_compose_files(build)
        if build == "allinone":
            context = self.allinone_context()
            compose = {
                "services": {
                    "app": {
                        "image": self.image("allinone", "app"),
                        "build": {
                            "context": str(context),
                            "args": {"PYTHON_IMAGE": self.base["PYTHON_IMAGE"]},
                        },
                        "environment": {"SECRET_KEY": SECRET_KEY},
                        "stop_grace_period": "10s",
                    }
                }
            }
            path = work / "allinone.json"
            path.write_text(json.dumps(compose, indent=2))
            return [path]
        raise ValueError(f"no compose files for build {build!r}")

    def peer_compose_files(self, build: str) -> list[Path]:
        """The stack of the bake the peers serve (nginx-http's, with its database where
        it has one), its app replaced by gunicorn or granian, probed as often as the
        baked app; its other services the images of the builds they run beside."""
        plan = DEFAULT_PLAN
        images = {
            service: self.image(beside, service) for service, beside in PEER_BESIDE[build].items()
        }
        app = {
            "image": self.image(build, "app"),
            "build": {"context": str(self.peers_context(build)), "args": self.base},
            "healthcheck": {
                "interval": f"{plan.healthcheck_interval}s",
                "timeout": f"{plan.healthcheck_timeout}s",
                "start_period": f"{plan.app_start_period}s",
                "start_interval": f"{plan.healthcheck_start_interval}s",
                "retries": plan.healthcheck_retries,
            },
        }
        services = {service: {"image": image} for service, image in images.items()}
        path = self.root / "compose" / f"images-{build}.json"
        path.write_text(json.dumps({"services": {**services, "app": app}}, indent=2))
        return [self.peer_project(build) / "compose.yaml", path]

    def peer_project(self, build: str) -> Path:
        """The bake whose app the peers serve: nginx-http's own, or one with more answers."""
        if PEER_ANSWERS[build] == BAKED_ANSWERS["nginx-http"]:
            return self.projects.project("nginx-http")
        return self.projects.bake(**PEER_ANSWERS[build])

    def peers_context(self, build: str) -> Path:
        """The peers' image: the app of the bake they serve, its ops/ scripts (the
        health check, the migrations), its pins less uWSGI's and supervisord's,
        gunicorn and granian."""
        context = self.root / "contexts" / build
        if not context.exists():
            project = self.peer_project(build)
            shutil.copytree(BENCH_ROOT / "images/peers", context)
            copy_app(project, context)
            shutil.copytree(
                project / "ops", context / "ops", ignore=shutil.ignore_patterns("__pycache__")
            )
            pins = pinned((project / "requirements.txt").read_text(), ("pyuwsgi", "supervisor"))
            (context / "requirements.txt").write_text(
                "\n".join([*pins, f"gunicorn=={GUNICORN_VERSION}", f"granian=={GRANIAN_VERSION}"])
                + "\n"
            )
        return context

    def allinone_context(self) -> Path:
        context = self.root / "contexts" / "allinone"
        if not context.exists():
            project = self.projects.project("default")
            shutil.copytree(BENCH_ROOT / "images/allinone", context)
            copy_app(project, context / "app")
            shutil.copy(project / "requirements.txt", context / "requirements.txt")
        return context

    def context_main(self, build: str) -> Path:
        """The main.py a build's app image is made from (touched to time a rebuild)."""
        if build in BAKED_ANSWERS:
            return self.projects.project(build) / "main.py"
        if build == "allinone":
            return self.root / "contexts" / build / "app" / "main.py"
        return self.root / "contexts" / build / "main.py"

    def build(self, build: str, services: Sequence[str] = ()) -> float:
        """Build a build's images; the seconds it took."""
        services = list(services) or self.built_services(build)
        for service in services:
            self.compose.resources.images.add(self.image(build, service))
        project = f"{LABEL}-{self.run_id}-build-{build}"
        started = time.monotonic()
        self.compose.run(project, self.compose_files(build), ["build", *services], timeout=1800)
        return time.monotonic() - started

    def rebuild_after_code_change(self, build: str) -> float:
        """Change main.py (a comment line), rebuild the app image: the seconds it took."""
        image = self.image(build, "app")
        before = self.compose.image_id(image)
        with self.context_main(build).open("a") as main:
            main.write(f"\n# A code change, to time the rebuild ({time.time_ns()}).\n")
        seconds = self.build(build, ["app"])
        after = self.compose.image_id(image)
        if before == after:
            raise BenchError(f"{build}: the rebuild after a change to main.py made the same image")
        run(["docker", "image", "rm", before], check=False)
        return seconds
