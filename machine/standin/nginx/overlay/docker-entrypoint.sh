#!/bin/sh
# Entrypoint of the flask-uwsgi nginx stand-in, with the official nginx image's
# contract: when the command is nginx or nginx-debug, the files under
# /docker-entrypoint.d/ run first, in `sort -V` order of their paths:
#   *.envsh  executable: sourced by this shell, so what it exports reaches the
#            later files and nginx itself
#   *.sh     executable: run
#   others, and files that are not executable: skipped, with a line saying so.
# A file that fails stops the container. NGINX_ENTRYPOINT_QUIET_LOGS=1
# silences these lines. Then the command replaces this shell.
set -e

entrypoint_say() {
    if [ -z "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ]; then
        echo "$0: $*"
    fi
}

entrypoint_configure() {
    _entrypoint_files=$(find /docker-entrypoint.d/ -follow -type f -print 2>/dev/null | sort -V)
    if [ -z "$_entrypoint_files" ]; then
        entrypoint_say "No files found in /docker-entrypoint.d/, skipping configuration"
        return 0
    fi
    entrypoint_say "/docker-entrypoint.d/ is not empty, will attempt to perform configuration"
    entrypoint_say "Looking for shell scripts in /docker-entrypoint.d/"
    # The list comes in on descriptor 9 (a here-document, not a pipe): the loop
    # runs in this shell, so sourced exports stay, and the files keep stdin.
    while IFS= read -r _entrypoint_file <&9; do
        case $_entrypoint_file in
            *.envsh | *.sh)
                if [ ! -x "$_entrypoint_file" ]; then
                    entrypoint_say "Ignoring $_entrypoint_file, not executable"
                elif [ "${_entrypoint_file%.envsh}" != "$_entrypoint_file" ]; then
                    entrypoint_say "Sourcing $_entrypoint_file"
                    # shellcheck source=/dev/null
                    . "$_entrypoint_file"
                else
                    entrypoint_say "Launching $_entrypoint_file"
                    "$_entrypoint_file"
                fi
                ;;
            *)
                entrypoint_say "Ignoring $_entrypoint_file"
                ;;
        esac
    done 9<<LIST
$_entrypoint_files
LIST
    unset _entrypoint_files _entrypoint_file
    entrypoint_say "Configuration complete; ready for start up"
}

case "${1:-}" in
    nginx | nginx-debug) entrypoint_configure ;;
esac

exec "$@"
