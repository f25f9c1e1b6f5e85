"""The images a run builds: which, and their build and rebuild times and sizes."""

from __future__ import annotations

from typing import Any

from bench.configuration import PEER_BESIDE, Config
from bench.host import Log
from bench.stacks import Workspace


def builds_for(config: Config) -> list[str]:
    """The images a configuration runs (the peers run beside a baked build's nginx, and
    its database)."""
    if config.build == "native":
        return []
    if config.build in PEER_BESIDE:
        return [*PEER_BESIDE[config.build].values(), config.build]
    return [config.build]


def all_builds(chosen: list[Config]) -> list[str]:
    return sorted({build for config in chosen for build in builds_for(config)})


def build_images(
    workspace: Workspace, builds: list[str], data: dict[str, Any], progress: Log
) -> None:
    """Build each image, time its rebuild after a code change, record their sizes."""
    data["base_images"] = {
        name: {"name": image, "size": workspace.compose.image_size(image)}
        for name, image in workspace.compose.base.items()
    }
    data["build_s"], data["rebuild_s"], data["images"] = {}, {}, {}
    for build in builds:
        progress(f"building {build}")
        data["build_s"][build] = workspace.images.build(build)
    for build in builds:
        seconds = workspace.images.rebuild_after_code_change(build)
        data["rebuild_s"][build] = seconds
        progress(f"rebuild of {build} after a change to main.py: {seconds:.1f} s")
        data["images"][build] = {
            service: workspace.compose.image_size(workspace.images.image(build, service))
            for service in workspace.images.built_services(build)
        }
