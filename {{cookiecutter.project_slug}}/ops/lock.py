"""`make lock`: pin requirements.txt (with hashes) from requirements.in, then
requirements-dev.txt from requirements-dev.in (which is constrained by requirements.txt),
keeping the pins it can, and check that the image can install every pin.

- A kept pin gives way when it stands in a conflict, unless an .in file pins that
  package with ==: it is released (pip-compile --upgrade-package) and the locks are
  pinned again. A conflict between the .in files' own pins stops the lock.
- Every pin of requirements.txt needs a wheel for the image's Python on linux: the
  image has no compiler. One pip call checks them all; each package is looked at only
  when it fails. Packages published only as source (no wheel for any Python) pass:
  pip builds pure-Python ones without a compiler.
- Any failure prints one line (what conflicts or has no wheel, and what to do) and
  leaves requirements.txt and requirements-dev.txt as they were.

Run with the project's virtualenv (pip-compile, pip) as the Makefile does:

    .venv/bin/python ops/lock.py --python-version 3.13 -- .venv/bin/pip-compile [flags]
"""

from __future__ import annotations

import argparse
import platform
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Lock:
    """An .in file and the lock pip-compile writes from it."""

    source: Path
    output: Path
    hashes: bool


LOCKS = (
    Lock(Path("requirements.in"), Path("requirements.txt"), hashes=True),
    Lock(Path("requirements-dev.in"), Path("requirements-dev.txt"), hashes=False),
)
# Each round releases the kept pins of one conflict: a few are usual.
MAX_ROUNDS = 20
# The Pythons a package's wheels are looked for when it has none for the image's.
KNOWN_PYTHONS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
# The image's Debian is bookworm (glibc 2.36) or newer: manylinux wheels up to 2.36 run.
GLIBC_MINOR = 36
ARCHES = {"amd64": "x86_64", "arm64": "aarch64"}
PARALLEL_PIP_CALLS = 4

NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)
# A package a lock says depends on the pin above: "    # via pytest", "    #   pytest".
VIA = re.compile(r"^\s+#\s+(?:via\s+)?([A-Za-z0-9][A-Za-z0-9._-]*)$")


class LockError(Exception):
    """What stops the lock: its message is the one line printed."""


@dataclass(frozen=True)
class Conflict:
    """pip's explanation of a resolution that failed: one line per cause, such as
    "pytest 9.2.0 depends on packaging>=24" or "The user requested flask==3.0.0"."""

    source: Path
    causes: tuple[str, ...]

    @property
    def names(self) -> set[str]:
        """Every package a cause names: the one depending and the one depended on."""
        names = set()
        for cause in self.causes:
            requirement = cause.removeprefix("The user requested ").removeprefix("(constraint) ")
            parent, _, required = requirement.partition(" depends on ")
            names |= {package_name(part) for part in (parent, required)}
        return names - {""}

    def explain(self, user_pins: dict[str, str]) -> str:
        """One line: what conflicts, and which pins of the .in files to change."""
        causes = "; ".join(
            cause.replace("The user requested (constraint) ", "the constraint ").replace(
                "The user requested ", f"{self.source} asks for "
            )
            for cause in self.distinct_causes()
        )
        pinned = sorted(f"{name} ({user_pins[name]})" for name in self.names & user_pins.keys())
        advice = (
            f"change or drop the == pin of {', '.join(pinned)}"
            if pinned
            else "loosen one of these requirements in requirements.in or requirements-dev.in"
        )
        return f"{self.source} cannot be pinned: {causes}. To fix it, {advice}, then make lock."

    def distinct_causes(self) -> list[str]:
        """The causes, one for each package and what it depends on: pip gives a line for
        each release it tried ("build 1.6.1 depends on packaging>=24", "build 1.6.0 ...")."""
        tried: dict[tuple[str, str], list[str]] = {}
        for cause in self.causes:
            parent, _, required = cause.partition(" depends on ")
            tried.setdefault((package_name(parent), required), []).append(cause)
        return [
            causes[0] + (f" (as do {len(causes) - 1} older releases)" if len(causes) > 1 else "")
            for causes in tried.values()
        ]


def package_name(requirement: str) -> str:
    """The normalized name (PEP 503) a requirement starts with."""
    match = NAME.match(requirement)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else ""


def pins(text: str) -> dict[str, str]:
    """name -> version of a lock's pins."""
    return {package_name(name): version for name, version in PIN.findall(text)}


def dependents(text: str) -> dict[str, set[str]]:
    """name -> the packages a lock says depend on it (its "# via" lines)."""
    found: dict[str, set[str]] = {}
    name = ""
    for line in text.splitlines():
        if pin := PIN.match(line):
            name = package_name(pin.group(1))
        elif (via := VIA.match(line)) and via.group(1) != "via":
            found.setdefault(name, set()).add(package_name(via.group(1)))
    return found


def user_pins(source: Path, seen: frozenset[Path] = frozenset()) -> dict[str, str]:
    """name -> the .in file that pins it with ==, following -r includes."""
    found: dict[str, str] = {}
    if source in seen or not source.is_file():
        return found
    for line in source.read_text().splitlines():
        line = line.split(" #", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            included = source.parent / line.split(maxsplit=1)[1]
            found.update(user_pins(included, seen | {source}))
        elif not line.startswith(("-", "#")) and "==" in line.split(";", 1)[0]:
            found[package_name(line)] = str(source)
    return found


def upgrading_all(pip_compile: Sequence[str]) -> bool:
    """Whether the flags move every pin (then none is kept, none to release)."""
    return "--upgrade" in pip_compile or "-U" in pip_compile


def compile_lock(lock: Lock, pip_compile: Sequence[str], released: set[str]) -> Conflict | None:
    """pip-compile one lock, releasing these kept pins: None when it is written, the
    conflict when the resolution is impossible; other failures raise LockError."""
    command = [*pip_compile, "--verbose"]
    if lock.hashes:
        command.append("--generate-hashes")
    command += [arg for name in sorted(released) for arg in ("--upgrade-package", name)]
    command += ["--output-file", str(lock.output), str(lock.source)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode == 0:
        return None
    output = (result.stdout + result.stderr).splitlines()
    causes = conflict_causes(output)
    if causes:
        return Conflict(lock.source, causes)
    raise LockError(f"{lock.source}: {last_error(output)}")


def conflict_causes(output: list[str]) -> tuple[str, ...]:
    """The lines of pip's "The conflict is caused by:" paragraph."""
    lines = [line.strip() for line in output]
    if "The conflict is caused by:" not in lines:
        return ()
    start = lines.index("The conflict is caused by:") + 1
    end = lines.index("", start) if "" in lines[start:] else len(lines)
    return tuple(lines[start:end])


def last_error(output: list[str]) -> str:
    """pip's last ERROR line, else the last line printed."""
    errors = [line.strip() for line in output if line.strip().startswith("ERROR: ")]
    lines = errors or [line.strip() for line in output if line.strip()] or ["pip-compile failed"]
    return lines[-1].removeprefix("ERROR: ")


def pin_all(pip_compile: Sequence[str], originals: dict[Path, bytes | None]) -> set[str]:
    """Pin every lock, round after round: a conflict releases the kept pins it names, and
    those the locks say depend on a package it names; the names released."""
    users = {name: source for lock in LOCKS for name, source in user_pins(lock.source).items()}
    texts = {path: text.decode() for path, text in originals.items() if text is not None}
    kept = {
        path: set() if upgrading_all(pip_compile) else set(pins(text))
        for path, text in texts.items()
    }
    depending: dict[str, set[str]] = {}
    for text in texts.values():
        for name, parents in dependents(text).items():
            depending.setdefault(name, set()).update(parents)
    released: set[str] = set()
    pinned_with: dict[Path, set[str]] = {}
    for _ in range(MAX_ROUNDS):
        conflict = pin_round(pip_compile, released, kept, pinned_with, originals)
        if conflict is None:
            return released
        standing = conflict.names.union(*(depending.get(name, set()) for name in conflict.names))
        releasable = (standing & set().union(*kept.values())) - users.keys() - released
        if not releasable:
            raise LockError(conflict.explain(users))
        released |= releasable
    raise LockError(f"still conflicting after releasing {', '.join(sorted(released))}")


def pin_round(
    pip_compile: Sequence[str],
    released: set[str],
    kept: dict[Path, set[str]],
    pinned_with: dict[Path, set[str]],
    originals: dict[Path, bytes | None],
) -> Conflict | None:
    """Pin the locks in order, each from its original pins less the released ones; a
    lock already pinned with the same releases (and nothing before it re-pinned) stays."""
    stale = False
    for lock in LOCKS:
        releasing = released & kept.get(lock.output, set())
        if not stale and pinned_with.get(lock.output) == releasing:
            continue
        restore({lock.output: originals[lock.output]})
        pinned_with.pop(lock.output, None)
        conflict = compile_lock(lock, pip_compile, releasing)
        if conflict:
            return conflict
        pinned_with[lock.output] = releasing
        stale = True
    return None


def restore(originals: dict[Path, bytes | None]) -> None:
    """Put the locks back as they were (or away, where there was none)."""
    for path, text in originals.items():
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(text)


def arch() -> str:
    """This machine's architecture as wheels name it (the image runs on it)."""
    machine = platform.machine().lower()
    return ARCHES.get(machine, machine)


def platforms() -> list[str]:
    """pip's --platform tags of the image: manylinux up to its glibc."""
    tags = [f"manylinux_2_{minor}_{arch()}" for minor in range(GLIBC_MINOR, 16, -1)]
    return [*tags, *(f"manylinux{year}_{arch()}" for year in ("2014", "2010", "1"))]


def installable(requirements: Sequence[str], python: str) -> subprocess.CompletedProcess[str]:
    """pip's dry run of installing these pins from wheels only, for CPython `python` on
    linux (no dependencies: the lock has them all)."""
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps"]
    command += ["--disable-pip-version-check", "--only-binary", ":all:"]
    command += ["--implementation", "cp", "--python-version", python]
    command += [arg for tag in platforms() for arg in ("--platform", tag)]
    with tempfile.TemporaryDirectory() as target:  # older pips want one, even dry
        command += ["--target", target, *requirements]
        return subprocess.run(command, capture_output=True, text=True, check=False)


def check_wheels(requirements: Path, python: str) -> None:
    """Every pin has a wheel for `python`, or is published only as source: else
    LockError naming the pins and the Pythons their wheels are for."""
    pinned = pinned_lines(requirements.read_text())
    if not pinned or installable(pinned, python).returncode == 0:
        return
    with ThreadPoolExecutor(PARALLEL_PIP_CALLS) as pool:
        results = zip(pinned, pool.map(lambda pin: installable([pin], python), pinned), strict=True)
        failing = [(pin, result) for pin, result in results if result.returncode]
        problems = [
            describe(pin, result, pythons)
            for pin, result in failing
            if (pythons := wheel_pythons(pin, python, pool))
        ]
    if problems:
        raise LockError(
            f"no wheel for Python {python} on linux {arch()} (the image has no compiler): "
            f"{'; '.join(problems)}. To fix it, pin a release that has one in "
            "requirements.in, or build the image on a Python they have (the Dockerfile's "
            "FROM lines, PYTHON_VERSION in the Makefile)."
        )


def pinned_lines(text: str) -> list[str]:
    """A lock's pins as pip reads them ("name==version", with any marker), no hashes."""
    return [line.removesuffix("\\").strip() for line in text.splitlines() if PIN.match(line)]


def wheel_pythons(pin: str, python: str, pool: ThreadPoolExecutor) -> list[str]:
    """The other Pythons of KNOWN_PYTHONS a pin has a wheel for."""
    others = [version for version in KNOWN_PYTHONS if version != python]
    found = pool.map(lambda other: installable([pin], other).returncode == 0, others)
    return [version for version, ok in zip(others, found, strict=True) if ok]


def describe(pin: str, result: subprocess.CompletedProcess[str], pythons: list[str]) -> str:
    """One pin's part of the line: "psycopg2-binary==2.9.9 has wheels for Python 3.8 to
    3.12 (2.9.13 has one)", the release in brackets the newest with a wheel for the image."""
    text = f"{pin} has wheels for Python {span(pythons)}"
    versions = re.search(r"\(from versions: ([^)]*)\)", result.stdout + result.stderr)
    newest = versions.group(1).split(", ")[-1] if versions else "none"
    return text if newest == "none" else f"{text} ({newest} has one)"


def span(versions: list[str]) -> str:
    """Pythons as a span, "3.8 to 3.12", when they follow one another, else "3.8, 3.10"."""
    indexes = [KNOWN_PYTHONS.index(version) for version in versions]
    if len(versions) > 2 and indexes == list(range(indexes[0], indexes[-1] + 1)):
        return f"{versions[0]} to {versions[-1]}"
    return ", ".join(versions)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="make lock: pin and check the requirements")
    parser.add_argument("--python-version", required=True, help="the image's Python: 3.13")
    parser.add_argument("pip_compile", nargs="+", help="after --: pip-compile and its flags")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    originals = {
        lock.output: lock.output.read_bytes() if lock.output.is_file() else None for lock in LOCKS
    }
    try:
        released = pin_all(args.pip_compile, originals)
        check_wheels(LOCKS[0].output, args.python_version)
    except LockError as error:
        restore(originals)
        print(f"make lock: {error}", file=sys.stderr)
        return 1
    except BaseException:
        restore(originals)
        raise
    for lock in LOCKS:
        print(f"{lock.output}: {len(pins(lock.output.read_text()))} pins")
    python = f"Python {args.python_version} (linux {arch()})"
    print(f"each pin of {LOCKS[0].output} installs on {python} without a compiler")
    if released:
        print(f"released these kept pins, which conflicted: {', '.join(sorted(released))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
