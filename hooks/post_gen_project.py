"""Remove what the chosen shape does not use, write .env (and a self-signed certificate
with https), then print the next steps."""

import json
import secrets
import shutil
import subprocess
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
    """.env from .env.example, with a fresh SECRET_KEY (and POSTGRES_APP_PASSWORD and
    REDIS_PASSWORD, where there are those): `docker compose up` just works."""
    env = (project / ".env.example").read_text()
    for name in ("SECRET_KEY", "POSTGRES_APP_PASSWORD", "REDIS_PASSWORD"):
        # URL-safe: a password goes into DATABASE_URL or REDIS_URL as it is.
        env = env.replace(f"\n{name}=\n", f"\n{name}={secrets.token_urlsafe(32)}\n")
    (project / ".env").write_text(env)
    (project / ".env").chmod(0o600)


def write_answers(project: Path) -> None:
    """.cookiecutter.json: the answers, as cookiecutter's --replay-file reads them."""
    answers = {key: value for key, value in ANSWERS.items() if not key.startswith("_")}
    text = json.dumps({"cookiecutter": answers}, indent=2)
    (project / ".cookiecutter.json").write_text(text + "\n")


def make_certificate(project: Path) -> str:
    """A self-signed certificate in certs/ with `make cert`, so `docker compose up`
    serves HTTPS at once; what to do instead where the tools it needs are missing."""
    missing = [tool for tool in ("make", "openssl", "setfacl") if not shutil.which(tool)]
    if missing:
        return f"  make cert   # needs {', '.join(missing)}: or copy your certificate into certs/\n"
    subprocess.run(["make", "--silent", "cert"], cwd=project, check=True, capture_output=True)
    return ""


def next_steps(plan: Plan, project: Path, first: str) -> str:
    """What to run now (`first`, then the stack), and where the service answers."""
    front = "nginx" if plan.nginx else "uWSGI's HTTP router"
    return (
        f"\nCreated {project.name}/ ({plan.server}: {front} faces clients).\n"
        f"  cd {project.name}\n{first}"
        "  docker compose up --build --wait --wait-timeout 120\n"
        f"  open {plan.front_url}\n"
    )


def main() -> int:
    plan = Plan.read(ANSWERS)
    project = Path.cwd()
    remove_unused(plan, project)
    write_env(project)
    write_answers(project)
    first = make_certificate(project) if plan.https else ""
    print(next_steps(plan, project, first))
    return 0


if __name__ == "__main__":
    sys.exit(main())
