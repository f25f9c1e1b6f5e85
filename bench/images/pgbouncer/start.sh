#!/bin/sh
# PgBouncer in transaction mode in front of the db service: any client may connect
# (the bench's network only), each server connection logs in as the app's role.
# Ref: https://www.pgbouncer.org/config.html
set -eu
config=/tmp/pgbouncer.ini
cat > "$config" <<INI
[databases]
${DATABASE} = host=${DATABASE_HOST} port=5432 dbname=${DATABASE} user=${DATABASE_USER} password=${DATABASE_PASSWORD}

[pgbouncer]
listen_addr = 0.0.0.0
listen_port = 6432
unix_socket_dir =
; No client authentication: the user name is ignored, every database logs in as its user.
auth_type = any
; A server connection serves one transaction at a time, then goes back to the pool.
pool_mode = transaction
; Server connections per database and user: PgBouncer's own default, stated.
default_pool_size = 20
; Every pooled connection of the app's workers, with room to spare.
max_client_conn = ${MAX_CLIENTS}
; psycopg prepares a statement run often: PgBouncer tracks them across server connections.
max_prepared_statements = 200
; The app's connections log in once and stay: no line per login.
log_connections = 0
log_disconnections = 0
INI
exec pgbouncer "$config"
