"""The official base images of a generated project, for machine/base-images.sh:

    python3 -m machine.images [PYTHON_VERSION]

prints PYTHON_IMAGE=, NGINX_IMAGE= and POSTGRES_IMAGE=, one line each (PYTHON_VERSION:
one of cookiecutter.json's python_version, its first by default)."""

from __future__ import annotations

import sys

from hooks.answers import choices
from hooks.plan import Plan

USAGE = (
    "usage: python3 -m machine.images [PYTHON_VERSION]\n"
    "prints PYTHON_IMAGE=, NGINX_IMAGE= and POSTGRES_IMAGE= (the official base images)"
)


def main(argv: list[str]) -> int:
    if len(argv) > 1 or argv[:1] == ["--help"]:
        print(USAGE, file=sys.stderr)
        return 2
    versions = choices("python_version")
    version = argv[0] if argv else versions[0]
    if version not in versions:
        print(f"python_version: {version!r} is not one of {versions}", file=sys.stderr)
        return 2
    for name, ref in Plan.defaults(python_version=version).base_images.items():
        print(f"{name}={ref}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
