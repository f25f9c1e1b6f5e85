#!/usr/bin/env bash
# Entrypoint of the flask-uwsgi postgres stand-in, with the official postgres
# image's contract for `postgres` (or options only, `-c ...`, given to it):
#   - started as root: PGDATA and the socket folder are handed to postgres, and
#     this script runs again as postgres (setpriv);
#   - PGDATA without a database (no PG_VERSION): initdb as POSTGRES_USER
#     (default postgres) with the password POSTGRES_PASSWORD, POSTGRES_INITDB_ARGS
#     added; `host all all all <POSTGRES_HOST_AUTH_METHOD>` (default: the
#     password_encryption, scram-sha-256) appended to pg_hba.conf; a server on
#     the unix socket only creates POSTGRES_DB (default: the user) and runs
#     /docker-entrypoint-initdb.d/ (*.sh sourced or run, *.sql, *.sql.gz,
#     *.sql.xz, *.sql.zst), then stops. No password and no trust: the start fails.
#   - PGDATA with a database: used as it is.
# Each POSTGRES_* variable above (and POSTGRES_INITDB_WALDIR) can come from a
# file instead: <NAME>_FILE (a mounted secret). Other commands run unchanged.
set -Eeo pipefail

# file_env VAR [DEFAULT]: VAR from $VAR or from the file named by ${VAR}_FILE.
file_env() {
    local var=$1 file_var="${1}_FILE" default=${2:-}
    if [ "${!var:-}" ] && [ "${!file_var:-}" ]; then
        printf >&2 'error: both %s and %s are set (but are exclusive)\n' "$var" "$file_var"
        exit 1
    fi
    local value=$default
    if [ "${!var:-}" ]; then
        value=${!var}
    elif [ "${!file_var:-}" ]; then
        value=$(< "${!file_var}")
    fi
    export "$var"="$value"
    unset "$file_var"
}

want_help() {
    local arg
    for arg; do
        case $arg in
            -'?' | --help | --describe-config | -V | --version) return 0 ;;
        esac
    done
    return 1
}

setup_env() {
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "$POSTGRES_USER"
    file_env POSTGRES_INITDB_ARGS
    file_env POSTGRES_INITDB_WALDIR
    : "${POSTGRES_HOST_AUTH_METHOD:=}"
    declare -g DATABASE_ALREADY_EXISTS=
    if [ -s "$PGDATA/PG_VERSION" ]; then
        DATABASE_ALREADY_EXISTS=true
    fi
}

# As root: the folders postgres needs, owned by it.
create_db_directories() {
    local user
    user=$(id -u)
    mkdir -p "$PGDATA"
    chmod 00700 "$PGDATA" || :
    mkdir -p /var/run/postgresql || :
    chmod 03775 /var/run/postgresql || :
    if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
        mkdir -p "$POSTGRES_INITDB_WALDIR"
        if [ "$user" = 0 ]; then
            find "$POSTGRES_INITDB_WALDIR" \! -user postgres -exec chown postgres '{}' +
        fi
        chmod 700 "$POSTGRES_INITDB_WALDIR"
    fi
    if [ "$user" = 0 ]; then
        find "$PGDATA" \! -user postgres -exec chown postgres '{}' +
        find /var/run/postgresql \! -user postgres -exec chown postgres '{}' +
    fi
}

verify_minimum_env() {
    if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
        cat >&2 <<'END'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".

       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all
       connections without a password. This is *not* recommended.

       See PostgreSQL documentation about "trust":
       https://www.postgresql.org/docs/current/auth-trust.html
END
        exit 1
    fi
    if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
        cat >&2 <<'END'
WARNING: POSTGRES_HOST_AUTH_METHOD has been set to "trust". This will allow
         anyone with access to the Postgres port to access your database without
         a password, even if POSTGRES_PASSWORD is set.
END
    fi
}

init_database_dir() {
    if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
        set -- --waldir "$POSTGRES_INITDB_WALDIR" "$@"
    fi
    # POSTGRES_INITDB_ARGS is split as a shell would (quotes kept), as officially.
    eval 'initdb --username="$POSTGRES_USER" --pwfile=<(printf "%s\n" "$POSTGRES_PASSWORD") '"$POSTGRES_INITDB_ARGS"' "$@"'
}

setup_hba_conf() {
    if [ -z "$POSTGRES_HOST_AUTH_METHOD" ]; then
        POSTGRES_HOST_AUTH_METHOD=$(postgres -C password_encryption -D "$PGDATA")
    fi
    : "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
    {
        printf '\n'
        if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
            printf '# warning trust is enabled for all connections\n'
        fi
        printf 'host all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD"
    } >> "$PGDATA/pg_hba.conf"
}

temp_server_start() {
    PGUSER=$POSTGRES_USER pg_ctl -D "$PGDATA" \
        -o "-c listen_addresses='' -p ${PGPORT:-5432}" -w start
}

temp_server_stop() {
    PGUSER=$POSTGRES_USER pg_ctl -D "$PGDATA" -m fast -w stop
}

# psql on the temporary server's unix socket, as POSTGRES_USER, stopping at the
# first error, in database $sql_db (default POSTGRES_DB).
process_sql() {
    PGHOST='' PGHOSTADDR='' psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" \
        --no-password --no-psqlrc --dbname "${sql_db:-$POSTGRES_DB}" "$@"
}

setup_db() {
    local exists sql_db=postgres
    exists=$(process_sql --set db="$POSTGRES_DB" --tuples-only <<'END'
SELECT 1 FROM pg_database WHERE datname = :'db' ;
END
    )
    if [ -z "$exists" ]; then
        process_sql --set db="$POSTGRES_DB" <<'END'
CREATE DATABASE :"db" ;
END
        printf '\n'
    fi
}

process_init_files() {
    local f
    printf '\n'
    for f; do
        case $f in
            *.sh)
                if [ -x "$f" ]; then
                    printf '%s: running %s\n' "$0" "$f"
                    "$f"
                else
                    printf '%s: sourcing %s\n' "$0" "$f"
                    # shellcheck source=/dev/null
                    . "$f"
                fi
                ;;
            *.sql) printf '%s: running %s\n' "$0" "$f"; process_sql -f "$f"; printf '\n' ;;
            *.sql.gz) printf '%s: running %s\n' "$0" "$f"; gunzip -c "$f" | process_sql; printf '\n' ;;
            *.sql.xz) printf '%s: running %s\n' "$0" "$f"; xzcat "$f" | process_sql; printf '\n' ;;
            *.sql.zst) printf '%s: running %s\n' "$0" "$f"; zstd -dc "$f" | process_sql; printf '\n' ;;
            *) printf '%s: ignoring %s\n' "$0" "$f" ;;
        esac
        printf '\n'
    done
}

main() {
    if [ "${1:0:1}" = - ]; then
        set -- postgres "$@"
    fi
    if [ "$1" = postgres ] && ! want_help "$@"; then
        setup_env
        create_db_directories
        if [ "$(id -u)" = 0 ]; then
            exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
        fi
        if [ -z "$DATABASE_ALREADY_EXISTS" ]; then
            verify_minimum_env
            init_database_dir
            setup_hba_conf
            export PGPASSWORD=${PGPASSWORD:-$POSTGRES_PASSWORD}
            temp_server_start
            setup_db
            shopt -s nullglob
            process_init_files /docker-entrypoint-initdb.d/*
            shopt -u nullglob
            temp_server_stop
            unset PGPASSWORD
            printf '\nPostgreSQL init process complete; ready for start up.\n\n'
        else
            printf '\nPostgreSQL Database directory appears to contain a database; Skipping initialization\n\n'
        fi
    fi
    exec "$@"
}

main "$@"
