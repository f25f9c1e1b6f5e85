# shellcheck shell=sh
# Runs inside the debootstrapped root of the redis stand-in (chroot, /bin/sh -eu):
# Debian's Redis, laid out like the official redis:8-alpine image.

# The official alpine image's user and group: redis, uid 999, gid 1000.
if [ "$(id -u redis):$(id -g redis)" != 999:1000 ]; then
    old_uid=$(id -u redis)
    old_gid=$(id -g redis)
    for id in $(getent passwd 999 | cut -d: -f1) $(getent group 1000 | cut -d: -f1); do
        echo "uid 999 or gid 1000 is taken by $id" >&2
        exit 1
    done
    groupmod --gid 1000 redis
    usermod --uid 999 --gid 1000 redis
    find / -xdev -user "$old_uid" -exec chown -h 999 {} +
    find / -xdev -group "$old_gid" -exec chgrp -h 1000 {} +
fi

# The server is started by the container, not by an init system; no config file
# (the official image runs redis-server with its defaults and the options given).
rm -rf /etc/redis /var/log/redis /etc/logrotate.d/redis-server

# /data: the working folder, where the RDB and append-only files go (a VOLUME).
mkdir -p /data
chown redis:redis /data

/usr/bin/redis-server --version
