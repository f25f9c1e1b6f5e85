"""Refuse bad answers before anything is written.

Each problem is one line naming the field, the value and what is allowed;
cookiecutter then removes the project folder it created for this bake.
"""

import json
import sys

# The answers, read once as JSON: quotes, backslashes or newlines in them can
# neither break this script nor run as code.
ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")

sys.path.insert(0, {{ template_root | tojson }})
from hooks.answers import problems  # noqa: E402


def main() -> int:
    found = problems(ANSWERS)
    for problem in found:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
