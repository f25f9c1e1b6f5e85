#!/usr/bin/env bash
# Install the Debian packages the tests and the bench run on this machine
# (a real nginx, shellcheck, envsubst, debootstrap, wrk, kubectl, ip, ss, pgrep; testssl,
# setfacl, getfacl and openssl for the HTTPS tests and make cert),
# skipping those present.
# Needs root and apt; elsewhere it says what to install and fails.
set -euo pipefail

# command -> Debian package
declare -A packages=(
    [nginx]=nginx
    [shellcheck]=shellcheck
    [envsubst]=gettext-base
    [debootstrap]=debootstrap
    [wrk]=wrk
    [curl]=curl
    [kubectl]=kubernetes-client
    [ip]=iproute2
    [ss]=iproute2
    [pgrep]=procps
    [testssl]=testssl.sh
    [setfacl]=acl
    [getfacl]=acl
    [openssl]=openssl
)
missing=()
for command in "${!packages[@]}"; do
    command -v "$command" >/dev/null 2>&1 || [ -x "/usr/sbin/$command" ] || missing+=("${packages[$command]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "host-packages: install these Debian packages (or their equivalents): ${missing[*]}" >&2
    exit 1
fi
echo "host-packages: installing ${missing[*]}" >&2
# The tests start nginx themselves: keep the package from starting a system nginx on port 80.
policy=/usr/sbin/policy-rc.d
[ -e "$policy" ] || { printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; trap 'rm -f "$policy"' EXIT; }
DEBIAN_FRONTEND=noninteractive apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
