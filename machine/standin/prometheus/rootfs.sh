# shellcheck shell=sh
# Runs inside the debootstrapped root of the prometheus stand-in (chroot, /bin/sh -eu):
# Debian's Prometheus, laid out like the official prom/prometheus image.

# The official image's paths: /bin/prometheus and /bin/promtool (Debian's /usr/bin,
# /bin being a link to it), its configuration in /etc/prometheus, its data in
# /prometheus (nobody's).
test -x /bin/prometheus && test -x /bin/promtool
mkdir -p /etc/prometheus /prometheus
chown nobody:nogroup /prometheus

# The server is started by the container, not by an init system: no defaults file,
# no log folder, no data Debian's package made.
rm -rf /etc/default/prometheus /var/log/prometheus /var/lib/prometheus /etc/logrotate.d/prometheus

/usr/bin/prometheus --version
