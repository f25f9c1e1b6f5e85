#!/usr/bin/env bash
# Print the base images a generated project is built FROM or runs, as
#   PYTHON_IMAGE=<ref>
#   NGINX_IMAGE=<ref>
#   POSTGRES_IMAGE=<ref>
#   REDIS_IMAGE=<ref>
#   PROMETHEUS_IMAGE=<ref>
# on stdout (nothing else goes there; progress and errors go to stderr).
#
# Usage: machine/base-images.sh [PYTHON_VERSION]   (default: the first choice
# of python_version in cookiecutter.json)
#
# The official references come from `python3 -m machine.images`. Each is
# used when it is present locally or `docker pull` gets it. Otherwise a local
# stand-in is used, built from Debian packages with debootstrap (no registry
# needed) by the recipes in machine/standin/ and cached as a tagged image:
#   flask-uwsgi-standin/python:<version>-slim   Debian's python3 (trixie: 3.13,
#                                               bookworm: 3.11)
#   flask-uwsgi-standin/nginx:stable            Debian trixie's nginx, set up
#                                               like the official image
#   flask-uwsgi-standin/postgres:17-alpine      Debian trixie's PostgreSQL 17,
#                                               set up like the official image
#   flask-uwsgi-standin/redis:8-alpine          Debian trixie's Redis 8, set up
#                                               like the official image
#   flask-uwsgi-standin/prometheus:v3           Debian trixie's Prometheus, set up
#                                               like the official image
# A stand-in is rebuilt only when its tag is missing or its recipe changed (the
# label flask-uwsgi.standin.recipe holds a hash of the recipe files, the
# package lists and the host's CA bundle, which is copied into every image).
#
# Environment:
#   BASE_IMAGES_PULL_TIMEOUT  seconds for each `docker pull` (default 20; 0: never pull)
#   BASE_IMAGES_REBUILD=1     rebuild the stand-ins even when their tags are current
#   BASE_IMAGES_CA_BUNDLE     the CA bundle copied into the stand-ins
#                             (default /etc/ssl/certs/ca-certificates.crt)
#   DEBOOTSTRAP_MIRROR        Debian mirror for debootstrap (default: debootstrap's own)
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
recipes="$repo_root/machine/standin"
pull_timeout=${BASE_IMAGES_PULL_TIMEOUT:-20}
host_ca_bundle=${BASE_IMAGES_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
label=flask-uwsgi.standin.recipe

# Debian releases whose python3 is a given version: the only versions a stand-in exists for.
declare -A suite_for_python=([3.13]=trixie [3.11]=bookworm)
nginx_suite=trixie
python_packages=python3,python3-venv,ca-certificates
nginx_packages=nginx,gettext-base,curl,ca-certificates
postgres_suite=trixie
postgres_packages=postgresql-17,postgresql-client-17,ca-certificates
redis_suite=trixie
redis_packages=redis-server,redis-tools,ca-certificates
prometheus_suite=trixie
prometheus_packages=prometheus,ca-certificates

log() { echo "base-images: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

work_dirs=()
cleanup() {
    local dir mountpoint
    for dir in "${work_dirs[@]}"; do
        [ -d "$dir" ] || continue
        # debootstrap mounts /proc and /sys in its target; a failed run can leave them.
        while read -r mountpoint; do
            umount -l "$mountpoint" 2>/dev/null || true
        done < <(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r)
        rm -rf --one-file-system "$dir"
    done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A temporary directory, removed on exit. Sets work_dir (no command
# substitution: the list of directories to remove lives in this shell).
new_work_dir() {
    work_dir=$(mktemp -d "${TMPDIR:-/tmp}/flask-uwsgi-standin.XXXXXX")
    work_dirs+=("$work_dir")
}

short_hash() { sha256sum | cut -c1-12; }

# Every file of a recipe directory, path and content, in a stable order.
hash_tree() {
    local dir=$1 file
    (cd "$dir" && find . -type f -print | LC_ALL=C sort) | while IFS= read -r file; do
        printf '%s %s\n' "$file" "$(test -x "$dir/$file" && echo x || echo -)"
        cat "$dir/$file"
    done
}

image_present() { docker image inspect "$1" >/dev/null 2>&1; }

# The official image when it is here or can be pulled; nothing (status 1) otherwise.
official_available() {
    local ref=$1
    if image_present "$ref"; then
        log "$ref is present locally"
        return 0
    fi
    [ "$pull_timeout" != 0 ] || return 1
    log "pulling $ref (at most ${pull_timeout}s)"
    if timeout "$pull_timeout" docker pull --quiet "$ref" >&2; then
        return 0
    fi
    log "could not pull $ref; trying a local stand-in"
    return 1
}

ensure_debootstrap() {
    command -v debootstrap >/dev/null 2>&1 && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        die "building a stand-in needs debootstrap; install it (apt-get install debootstrap) and run this as root"
    fi
    log "installing debootstrap"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq debootstrap >&2 \
        || { apt-get update -qq >&2 && apt-get install -y -qq debootstrap >&2; } \
        || die "could not install debootstrap"
}

# Lock so that parallel runs (CI jobs sharing one engine) build a stand-in once.
lock_builds() {
    [ -z "${lock_held:-}" ] || return 0
    local lock_file="${TMPDIR:-/tmp}/flask-uwsgi-standin.lock"
    if ! { exec 9>>"$lock_file"; } 2>/dev/null; then
        log "cannot open $lock_file; going on without the build lock"
        lock_held=1
        return 0
    fi
    chmod a+rw "$lock_file" 2>/dev/null || true
    if ! flock -n 9; then
        log "another run is building a stand-in; waiting for it"
        flock -w 3600 9 || die "timed out waiting for the stand-in build lock"
    fi
    lock_held=1
}

# An imported Debian minbase root: flask-uwsgi-standin/rootfs:<kind>-<suite>-<hash>.
# The hash covers what goes into the root, so an unchanged root is never rebuilt.
# Sets rootfs_tag.
rootfs_image() {
    local kind=$1 suite=$2 packages=$3 expect_python=${4:-}
    local hash root hook changes=()
    hash=$({
        printf 'rootfs v1\n%s\n%s\n%s\n' "$kind" "$suite" "$packages"
        cat "$recipes/common.sh" "$recipes/$kind/rootfs.sh"
    } | short_hash)
    rootfs_tag="flask-uwsgi-standin/rootfs:$kind-$suite-$hash"
    if image_present "$rootfs_tag" && [ -z "${BASE_IMAGES_REBUILD:-}" ]; then
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "building a stand-in needs root (debootstrap, chroot)"
    ensure_debootstrap
    new_work_dir
    root="$work_dir/root"
    log "debootstrap --variant=minbase $suite ($packages); this takes a minute or two"
    # shellcheck disable=SC2086 # DEBOOTSTRAP_MIRROR: one optional word
    debootstrap --variant=minbase --include="$packages" "$suite" "$root" ${DEBOOTSTRAP_MIRROR:-} >&2 \
        || die "debootstrap of Debian $suite failed (see above)"
    for hook in "$recipes/common.sh" "$recipes/$kind/rootfs.sh"; do
        log "running ${hook#"$repo_root/"} in the new root"
        env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
            chroot "$root" /bin/sh -eu < "$hook" >&2 || die "${hook#"$repo_root/"} failed"
    done
    if [ -n "$expect_python" ]; then
        local found
        found=$(chroot "$root" python3 -c 'import platform; print(platform.python_version())') \
            || die "python3 does not run in the Debian $suite root"
        [ "${found%.*}" = "$expect_python" ] \
            || die "Debian $suite ships Python $found, not $expect_python"
        changes=(-c "ENV PYTHON_VERSION=$found")
    fi
    log "importing the root as $rootfs_tag"
    tar -C "$root" --numeric-owner -c . \
        | docker import "${changes[@]}" -m "debootstrap --variant=minbase $suite" - "$rootfs_tag" >/dev/null \
        || die "docker import of the $suite root failed"
    rm -rf --one-file-system "$root"
    # Roots of earlier recipes are no longer needed.
    docker image ls --format '{{.Repository}}:{{.Tag}}' flask-uwsgi-standin/rootfs \
        | grep -F -- "flask-uwsgi-standin/rootfs:$kind-$suite-" | grep -vxF -- "$rootfs_tag" \
        | xargs -r docker image rm >/dev/null 2>&1 || true
}

# The CA certificates of the host bundle that no Debian package ships (for
# example an inspecting proxy's), one file each, so update-ca-certificates in
# an image built FROM a stand-in keeps them.
extra_certificates() {
    local into=$1 known
    mkdir -p "$into"
    known=$(find /usr/share/ca-certificates -type f -name '*.crt' 2>/dev/null | LC_ALL=C sort)
    # shellcheck disable=SC2086 # file names without spaces
    cat /dev/null $known | awk -v into="$into" '
        FNR == 1 { file++ }
        /-----BEGIN CERTIFICATE-----/ { pem = ""; inside = 1 }
        inside { pem = pem $0 "\n" }
        /-----END CERTIFICATE-----/ {
            inside = 0
            if (file == 1) known[pem] = 1
            else if (!(pem in known)) { n++; printf "%s", pem > (into "/host-extra-" n ".crt") }
        }' - "$host_ca_bundle"
}

# Build a stand-in unless its tag carries the current recipe hash.
# Arguments: tag, kind (a directory of machine/standin), the rootfs tag, and a
# shell command that checks a fresh build (a build that fails it is removed).
standin_image() {
    local tag=$1 kind=$2 rootfs=$3 check=$4
    local context hash current old_id
    [ -r "$host_ca_bundle" ] \
        || die "no CA bundle at $host_ca_bundle to copy into $tag; set BASE_IMAGES_CA_BUNDLE to the host's bundle"
    new_work_dir
    context=$work_dir
    cp -R "$recipes/$kind/." "$context/"
    rm -f "$context/rootfs.sh"
    cp "$host_ca_bundle" "$context/ca-certificates.crt"
    extra_certificates "$context/extra-ca"
    chmod -R u=rwX,go=rX "$context"
    hash=$({
        printf 'standin v1\n%s\n%s\n' "$rootfs" "$check"
        hash_tree "$context"
    } | short_hash)
    current=$(docker image inspect --format "{{ index .Config.Labels \"$label\" }}" "$tag" 2>/dev/null || true)
    if [ "$current" = "$hash" ] && [ -z "${BASE_IMAGES_REBUILD:-}" ]; then
        log "$tag is current (recipe $hash)"
        return 0
    fi
    log "building $tag (recipe $hash${current:+, replacing $current})"
    old_id=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
    DOCKER_BUILDKIT=0 docker build --force-rm --label "$label=$hash" --build-arg "ROOTFS=$rootfs" \
        -t "$tag" "$context" >&2 || die "docker build of $tag failed (see above)"
    if ! docker run --rm --entrypoint /bin/sh "$tag" -ec "$check" >&2; then
        docker image rm "$tag" >/dev/null 2>&1 || true
        die "the new $tag failed its check: $check"
    fi
    if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect --format '{{.Id}}' "$tag")" ]; then
        docker image rm "$old_id" >/dev/null 2>&1 || true
    fi
    log "built $tag"
}

# Sets standin_ref.
python_standin() {
    local version=$1 suite v supported=()
    suite=${suite_for_python[$version]:-}
    if [ -z "$suite" ]; then
        for v in $(printf '%s\n' "${!suite_for_python[@]}" | sort -rV); do
            supported+=("$v (Debian ${suite_for_python[$v]})")
        done
        die "cannot provide an image for Python $version: the official python:$version-slim is not available here, and a stand-in can only be built for a Python version that a Debian release ships: $(printf '%s, ' "${supported[@]}" | sed 's/, $//'). Use one of those, or make the official image available (docker pull through a mirror, or docker load)"
    fi
    standin_ref="flask-uwsgi-standin/python:$version-slim"
    lock_builds
    rootfs_image python "$suite" "$python_packages" "$version"
    # shellcheck disable=SC2016 # expanded in the container
    standin_image "$standin_ref" python "$rootfs_tag" \
        'python --version; python3 -m venv --help >/dev/null
         for c in groupadd useradd install; do command -v "$c" >/dev/null; done
         for c in gcc cc; do if command -v "$c"; then exit 1; fi; done
         if ls /usr/lib/python3*/EXTERNALLY-MANAGED 2>/dev/null; then exit 1; fi'
}

# Sets standin_ref.
nginx_standin() {
    standin_ref=flask-uwsgi-standin/nginx:stable
    lock_builds
    rootfs_image nginx "$nginx_suite" "$nginx_packages"
    # shellcheck disable=SC2016 # expanded in the container
    standin_image "$standin_ref" nginx "$rootfs_tag" \
        'nginx -t
         if nginx -V 2>&1 | grep -e --without-http_uwsgi_module -e --without-http_proxy_module; then exit 1; fi
         [ "$(id -u nginx):$(id -g nginx)" = 101:101 ]
         for c in envsubst curl; do command -v "$c" >/dev/null; done'
}

# Sets standin_ref.
postgres_standin() {
    standin_ref=flask-uwsgi-standin/postgres:17-alpine
    lock_builds
    rootfs_image postgres "$postgres_suite" "$postgres_packages"
    # shellcheck disable=SC2016 # expanded in the container
    standin_image "$standin_ref" postgres "$rootfs_tag" \
        'postgres --version | grep -q " 17\."
         pg_isready --version; psql --version >/dev/null
         for c in postgres initdb pg_ctl pg_isready psql; do
             [ "$(command -v "$c")" = "/usr/lib/postgresql/17/bin/$c" ]; done
         command -v docker-entrypoint.sh setpriv >/dev/null
         [ "$(id -u postgres):$(id -g postgres)" = 70:70 ]
         [ "$PGDATA" = /var/lib/postgresql/data ]
         [ "$(stat -c %U:%a "$PGDATA")" = postgres:700 ]
         [ -z "$(ls -A "$PGDATA")" ]
         grep -q "^listen_addresses = .[*]." /usr/share/postgresql/17/postgresql.conf.sample'
}

# Sets standin_ref.
redis_standin() {
    standin_ref=flask-uwsgi-standin/redis:8-alpine
    lock_builds
    rootfs_image redis "$redis_suite" "$redis_packages"
    # shellcheck disable=SC2016 # expanded in the container
    standin_image "$standin_ref" redis "$rootfs_tag" \
        'redis-server --version | grep -q " v=8\."
         redis-cli --version >/dev/null
         command -v docker-entrypoint.sh setpriv >/dev/null
         [ "$(id -u redis):$(id -g redis)" = 999:1000 ]
         [ "$(pwd)" = /data ] && [ "$(stat -c %U /data)" = redis ]
         [ ! -e /etc/redis ]'
}

# Sets standin_ref.
prometheus_standin() {
    standin_ref=flask-uwsgi-standin/prometheus:v3
    lock_builds
    rootfs_image prometheus "$prometheus_suite" "$prometheus_packages"
    # shellcheck disable=SC2016 # expanded in the container
    standin_image "$standin_ref" prometheus "$rootfs_tag" \
        'prometheus --version; promtool --version >/dev/null
         [ "$(command -v prometheus)" = /bin/prometheus ] || [ -x /bin/prometheus ]
         promtool check ready --help >/dev/null
         [ "$(id -u)" = 65534 ] && [ "$(pwd)" = /prometheus ] && [ -w /prometheus ]'
}

main() {
    [ $# -le 1 ] || { echo "usage: machine/base-images.sh [PYTHON_VERSION]" >&2; exit 2; }
    cd "$repo_root"
    local version plan python_ref nginx_ref postgres_ref redis_ref prometheus_ref
    local python_image nginx_image postgres_image redis_image prometheus_image
    version=${1:-$(python3 -c 'import json; print(json.load(open("cookiecutter.json"))["python_version"][0])')}
    local status=0
    plan=$(python3 -m machine.images "$version") || status=$?
    if [ "$status" != 0 ]; then
        log "ERROR: python3 -m machine.images $version failed (see above)"
        exit "$status"
    fi
    python_ref=$(sed -n 's/^PYTHON_IMAGE=//p' <<<"$plan")
    nginx_ref=$(sed -n 's/^NGINX_IMAGE=//p' <<<"$plan")
    postgres_ref=$(sed -n 's/^POSTGRES_IMAGE=//p' <<<"$plan")
    redis_ref=$(sed -n 's/^REDIS_IMAGE=//p' <<<"$plan")
    prometheus_ref=$(sed -n 's/^PROMETHEUS_IMAGE=//p' <<<"$plan")
    if [ -z "$python_ref" ] || [ -z "$nginx_ref" ] || [ -z "$postgres_ref" ] || [ -z "$redis_ref" ] \
        || [ -z "$prometheus_ref" ]; then
        die "unexpected output of machine.images: $plan"
    fi

    docker info >/dev/null 2>&1 || die "no Docker engine answers; run machine/docker-engine.sh first"

    if official_available "$python_ref"; then
        python_image=$python_ref
    else
        python_standin "$version"
        python_image=$standin_ref
    fi
    if official_available "$nginx_ref"; then
        nginx_image=$nginx_ref
    else
        nginx_standin
        nginx_image=$standin_ref
    fi
    if official_available "$postgres_ref"; then
        postgres_image=$postgres_ref
    else
        postgres_standin
        postgres_image=$standin_ref
    fi
    if official_available "$redis_ref"; then
        redis_image=$redis_ref
    else
        redis_standin
        redis_image=$standin_ref
    fi
    if official_available "$prometheus_ref"; then
        prometheus_image=$prometheus_ref
    else
        prometheus_standin
        prometheus_image=$standin_ref
    fi
    printf 'PYTHON_IMAGE=%s\nNGINX_IMAGE=%s\nPOSTGRES_IMAGE=%s\nREDIS_IMAGE=%s\nPROMETHEUS_IMAGE=%s\n' \
        "$python_image" "$nginx_image" "$postgres_image" "$redis_image" "$prometheus_image"
}

main "$@"
