"""The native run: the default project's supervisord (uWSGI) and nginx on this
machine, in namespaces of their own."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.docker import Resources
from bench.host import BenchError, run, session_cpu_s, stop_session
from bench.images import SECRET_KEY
from bench.projects import Projects
from bench.target import Target, explaining_errors


class NativeRun:
    """Starts the default project natively (see `started`)."""

    def __init__(
        self, root: Path, projects: Projects, env: dict[str, str], resources: Resources
    ) -> None:
        self.root = root
        self.projects = projects
        self.env = env
        self.resources = resources

    def nginx_conf(self, socket_path: str) -> Path:
        """The default project's nginx configuration, rendered for a native run."""
        conf = self.root / "native" / "nginx"
        if conf.exists():
            shutil.rmtree(conf)
        render_nginx_conf(self.projects.project("default"), conf, socket_path)
        return conf

    @contextlib.contextmanager
    def started(self) -> Iterator[Target]:
        """supervisord (uWSGI) and nginx from the default project, on this machine, in
        namespaces of their own: a network namespace (its own loopback, so nginx
        listens on 8080 as in its container, uWSGI's stats server meets no other, and
        no TIME_WAIT socket of this machine's counts) and a mount namespace with
        tmpfs on /tmp and /var/log/nginx, as the containers have: supervisord's pid
        file, uWSGI's FIFO and socket, nginx's logs. What the run needs from under the
        host's /tmp (a clone there: the project, the bench's folder, the virtualenv) is
        bound back into the fresh /tmp."""
        project = self.projects.project("default")
        socket_path = "/tmp/app.sock"
        conf = self.nginx_conf(socket_path)
        logs = self.root / "native" / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        venv_bin = Path(sys.executable).parent
        env = {
            **self.env,
            "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}",
            "VIRTUAL_ENV": str(venv_bin.parent),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "SECRET_KEY": SECRET_KEY,
            "APP_ADDRESS": socket_path,
        }
        script = (
            "set -e; project=$1 conf=$2 logs=$3; shift 3; ip link set lo up; "
            # Park what is kept (the arguments left) on a tmpfs of this namespace...
            "mount -t tmpfs tmpfs /mnt; i=0; for keep; do i=$((i+1)); "
            'mkdir /mnt/$i; mount --rbind "$keep" /mnt/$i; done; '
            "mount -t tmpfs -o mode=1777 tmpfs /tmp; "
            # ...and bind it back at its own path inside the fresh /tmp.
            'i=0; for keep; do i=$((i+1)); mkdir -p "$keep"; mount --rbind /mnt/$i "$keep"; done; '
            "mkdir -p /var/log/nginx; mount -t tmpfs tmpfs /var/log/nginx; "
            'cd "$project"; supervisord --nodaemon --configuration "$project/ops/supervisord.conf" '
            '>>"$logs/supervisord.log" 2>&1 & '
            'exec nginx -p "$conf" -c "$conf/nginx.conf" -g \'daemon off; user root;\' '
            '>>"$logs/nginx.log" 2>&1'
        )
        command = ["unshare", "--mount", "--net", "--propagation", "private", "sh", "-c", script]
        process = subprocess.Popen(
            [
                *command,
                "native",
                str(project),
                str(conf),
                str(logs),
                *kept_from_tmp([project, conf, logs, Path(sys.prefix)]),
            ],
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.resources.sessions.add(process.pid)

        def native_logs() -> str:
            return "".join(
                path.read_text(errors="replace")[-6000:] for path in sorted(logs.glob("*.log"))
            )

        try:
            target = Target(
                "http://127.0.0.1:8080/",
                cpu=lambda: {"stack": session_cpu_s(process.pid)},
                netns_pid=process.pid,
                error_logs=lambda: explaining_errors(
                    subprocess.CompletedProcess([], 0, native_logs(), "")
                ),
            )
            try:
                target.wait_ready(60)
            except BenchError as error:
                raise BenchError(f"native: {error}\n--- logs\n{native_logs()}") from error
            yield target
        finally:
            # Nothing to finish gracefully: the measured run is over.
            stop_session(process.pid, grace_s=0)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
            self.resources.sessions.discard(process.pid)


def kept_from_tmp(paths: Sequence[Path]) -> list[str]:
    """Of the paths a native run needs, those under /tmp, which its mount namespace
    replaces with a tmpfs: the fewest folders that hold them all."""
    tmp = Path("/tmp")
    under = sorted({path.resolve() for path in paths if tmp in path.resolve().parents})
    kept: list[Path] = []
    for path in under:
        if not any(folder in path.parents for folder in kept):
            kept.append(path)
    return [str(path) for path in kept]


def render_nginx_conf(project: Path, conf: Path, app_address: str) -> str:
    """A baked project's nginx.conf and site in the folder conf, for Debian's nginx run
    natively (`nginx -p conf`): the site rendered as the image's entrypoint renders it
    (the project's envsh, then envsubst), with the stock mime.types and uwsgi_params
    beside it. Returns the site's text (conf.d/default.conf)."""
    (conf / "conf.d").mkdir(parents=True)
    shutil.copy(project / "nginx/nginx.conf", conf / "nginx.conf")
    for stock in ("mime.types", "uwsgi_params"):
        shutil.copy(Path("/etc/nginx") / stock, conf / stock)
    # As the image's entrypoint does: each docker-entrypoint.d/*.envsh sourced in order,
    # then envsubst of the variables defined by then, and only those.
    site = run(
        [
            "sh",
            "-c",
            'for envsh in "$1"/*.envsh; do . "$envsh"; done;'
            ' envsubst "$(env | sed -n \'s/^\\([A-Za-z_][A-Za-z0-9_]*\\)=.*/${\\1}/p\')" < "$2"',
            "render",
            str(project / "nginx/docker-entrypoint.d"),
            str(project / "nginx/templates/default.conf.template"),
        ],
        env={
            "PATH": os.environ["PATH"],
            "APP_ADDRESS": app_address,
            "NGINX_LOCAL_RESOLVERS": "127.0.0.1",
        },
    ).stdout
    (conf / "conf.d/default.conf").write_text(site)
    return site
