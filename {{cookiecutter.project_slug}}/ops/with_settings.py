"""Run a command with the project's settings file (.env) in its environment, the
way compose's `env_file` gives it to the app's containers.

The image build runs the app's build step and ops/collect_static.py this way, with
.env mounted as a build secret (never stored in a layer), so the app is imported
with the settings it runs with: `python3 ops/with_settings.py FILE COMMAND...`.
A missing FILE adds nothing, and a variable already set wins, as compose's
`environment` wins over its `env_file`. The lines are compose's: NAME=value,
comments and blank lines skipped, a value in quotes taken as it is, an unquoted
one up to ` #`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def parse_line(line: str) -> tuple[str, str] | None:
    """(name, value) of one line of an env file, or None for a comment or blank line."""
    line = line.strip()
    if not line or line.startswith("#") or "=" not in line:
        return None
    name, _, value = line.removeprefix("export ").partition("=")
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    else:
        value = value.split(" #", 1)[0].rstrip()
    return name.strip(), value


def read_settings(path: Path) -> dict[str, str]:
    """The settings of an env file; none when there is no such file."""
    if not path.is_file():
        return {}
    return dict(filter(None, map(parse_line, path.read_text().splitlines())))


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: python3 ops/with_settings.py SETTINGS_FILE COMMAND [ARGUMENT...]")
    settings_file, command = Path(sys.argv[1]), sys.argv[2:]
    os.execvpe(command[0], command, {**read_settings(settings_file), **os.environ})
