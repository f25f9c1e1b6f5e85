# shellcheck shell=sh
# Runs inside the debootstrapped root of the postgres stand-in (chroot, /bin/sh -eu):
# Debian's PostgreSQL 17, laid out like the official postgres image.

# The cluster Debian's package made on install goes (the entrypoint makes one in
# PGDATA on first start), and packages installed later make none.
if command -v pg_lsclusters >/dev/null && pg_lsclusters -h | grep -q '^17 main '; then
    pg_dropcluster --stop 17 main
fi
rm -rf /etc/postgresql/17 /var/lib/postgresql/17
sed -ri 's/^#?\s*create_main_cluster\s*=.*/create_main_cluster = false/' \
    /etc/postgresql-common/createcluster.conf
grep -qx 'create_main_cluster = false' /etc/postgresql-common/createcluster.conf

# The official alpine image's user and group: postgres, uid and gid 70.
if [ "$(id -u postgres):$(id -g postgres)" != 70:70 ]; then
    old_uid=$(id -u postgres)
    old_gid=$(id -g postgres)
    for id in $(getent passwd 70 | cut -d: -f1) $(getent group 70 | cut -d: -f1); do
        echo "uid or gid 70 is taken by $id" >&2
        exit 1
    done
    groupmod --gid 70 postgres
    usermod --uid 70 --gid 70 postgres
    find / -xdev -user "$old_uid" -exec chown -h 70 {} +
    find / -xdev -group "$old_gid" -exec chgrp -h 70 {} +
fi

# As officially: every server listens on all addresses (initdb copies this sample).
sample=/usr/share/postgresql/17/postgresql.conf.sample
sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" "$sample"
grep -qF "listen_addresses = '*'" "$sample"

# Scripts and SQL files run once, on the first start (none here).
mkdir -p /docker-entrypoint-initdb.d

# PGDATA (empty, for the postgres user alone: a new named volume copies that),
# the socket folder and the home.
mkdir -p /var/lib/postgresql/data /var/run/postgresql
chown postgres:postgres /var/lib/postgresql /var/lib/postgresql/data /var/run/postgresql
chmod 0700 /var/lib/postgresql/data
chmod 3777 /var/run/postgresql

# No log files: the server logs to the container's output.
rm -rf /var/log/postgresql /etc/logrotate.d/postgresql-common

/usr/lib/postgresql/17/bin/postgres --version
