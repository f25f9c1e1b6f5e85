#!/bin/sh
# Run by /docker-entrypoint.sh: render nginx configuration templates.
#
# Every file under NGINX_ENVSUBST_TEMPLATE_DIR (default /etc/nginx/templates)
# whose name ends in NGINX_ENVSUBST_TEMPLATE_SUFFIX (default .template) is
# written, without the suffix and at the same relative path, under
# NGINX_ENVSUBST_OUTPUT_DIR (default /etc/nginx/conf.d). Only ${NAME} and
# $NAME of variables that are defined in the environment (and whose names match
# the extended regular expression NGINX_ENVSUBST_FILTER, when it is set) are
# replaced, so nginx's own variables such as $host pass through unchanged.
# It needs no root: an output directory the current user cannot write is
# reported and skipped, and the container starts with what is there.
set -eu

me=${0##*/}
say() {
    if [ -z "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ]; then
        echo "$me: $*"
    fi
}

template_dir=${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}
suffix=${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}
output_dir=${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}

[ -d "$template_dir" ] || exit 0
if [ ! -w "$output_dir" ]; then
    say "ERROR: $template_dir exists, but $output_dir is not writable"
    exit 0
fi

# "${A} ${B} ...": the defined variables, for envsubst's SHELL-FORMAT argument.
names=$(awk 'BEGIN {
    filter = ENVIRON["NGINX_ENVSUBST_FILTER"]
    for (name in ENVIRON)
        if (name ~ /^[A-Za-z_][A-Za-z0-9_]*$/ && (filter == "" || name ~ filter))
            printf "${%s} ", name
}' </dev/null)

templates=$(find "$template_dir" -follow -type f -name "*$suffix" -print | sort)
[ -n "$templates" ] || exit 0
while IFS= read -r template; do
    relative=${template#"$template_dir"/}
    output="$output_dir/${relative%"$suffix"}"
    mkdir -p "$(dirname "$output")"
    say "info: Running envsubst on $template to $output"
    envsubst "$names" < "$template" > "$output"
done <<LIST
$templates
LIST
exit 0
