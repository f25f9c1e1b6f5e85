#!/bin/sh
# Entrypoint of the flask-uwsgi redis stand-in, with the official redis image's
# contract: options alone (`--appendonly yes`) are given to redis-server; started
# as root, redis-server gets /data (the working folder) and runs as redis (setpriv);
# any other command runs unchanged.
set -e

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
    set -- redis-server "$@"
fi

if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

# Files it writes are its own alone, as officially.
umask 0077
exec "$@"
