"""Remove what the chosen shape does not use, write .env, then print the next steps."""

import json
import secrets
import shutil
import sys
from pathlib import Path

ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")

sys.path.insert(0, {{ template_root | tojson }})
from hooks.plan import Plan  # noqa: E402


def remove_unused(plan: Plan, project: Path) -> None:
    """Delete the files and folders of other shapes and options."""
    for relative in plan.unused_paths:
        path = project / relative
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def write_env(project: Path) -> None:
    """.env from .env.example, with a fresh SECRET_KEY (and POSTGRES_PASSWORD, where
    there is one): `docker compose up` just works."""
    env = (project / ".env.example").read_text()
    for name in ("SECRET_KEY", "POSTGRES_PASSWORD"):
        # URL-safe: the password goes into DATABASE_URL as it is.
        env = env.replace(f"\n{name}=\n", f"\n{name}={secrets.token_urlsafe(32)}\n")
    (project / ".env").write_text(env)
    (project / ".env").chmod(0o600)


def write_answers(project: Path) -> None:
    """.cookiecutter.json: the answers, as cookiecutter's --replay-file reads them."""
    answers = {key: value for key, value in ANSWERS.items() if not key.startswith("_")}
    text = json.dumps({"cookiecutter": answers}, indent=2)
    (project / ".cookiecutter.json").write_text(text + "\n")


def next_steps(plan: Plan, project: Path) -> str:
    """What to run now, and where the service answers."""
    front = "nginx" if plan.nginx else "uWSGI's HTTP router"
    if plan.https:
        start = "  make up   # makes a self-signed certificate first (make cert)\n"
    else:
        start = "  docker compose up --build --wait --wait-timeout 120\n"
    return (
        f"\nCreated {project.name}/ ({plan.answers['server']}: {front} faces clients).\n"
        f"  cd {project.name}\n{start}  open {plan.front_url}\n"
    )


def main() -> int:
    plan = Plan(ANSWERS)
    project = Path.cwd()
    remove_unused(plan, project)
    write_env(project)
    write_answers(project)
    print(next_steps(plan, project))
    return 0


if __name__ == "__main__":
    sys.exit(main())
