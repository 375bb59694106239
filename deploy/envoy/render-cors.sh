#!/bin/sh
# Writes Envoy's config with the browser origins from ATTN_CORS_ORIGINS.
#
#   render-cors.sh TEMPLATE OUTPUT [COMMAND ARGS...]
#
# Envoy has no environment substitution, so this fills it in: the lines
# between `# >>> cors-origins` and `# <<< cors-origins` in TEMPLATE become one
# `- exact: "<origin>"` per comma-separated origin in ATTN_CORS_ORIGINS (the
# same setting attendance-service reads for its own grpc-web CORS). Unset or
# empty keeps the template's list. With a COMMAND, this script then becomes
# it (exec), e.g. `render-cors.sh in.yaml out.yaml envoy -c out.yaml`.
#
# POSIX sh and nothing else, so it runs in the envoy image and on any Debian.
set -eu

if [ $# -lt 2 ]; then
    echo "usage: $0 TEMPLATE OUTPUT [COMMAND ARGS...]" >&2
    exit 2
fi
template=$1
output=$2
shift 2

fail() {
    echo "render-cors: $*" >&2
    exit 1
}

# An origin is scheme://host[:port]: what a browser sends in `Origin`.
check_origin() {
    case $1 in
        http://?* | https://?*) ;;
        *) fail "ATTN_CORS_ORIGINS: '$1' is not an origin (want http(s)://host[:port])" ;;
    esac
    case ${1#*://} in
        */*) fail "ATTN_CORS_ORIGINS: '$1' has a path; an origin is only scheme://host[:port] (no trailing slash)" ;;
    esac
    case $1 in
        *[!A-Za-z0-9.:/\[\]-]*) fail "ATTN_CORS_ORIGINS: '$1' has characters an origin cannot have" ;;
    esac
}

origins=${ATTN_CORS_ORIGINS:-}
entries=""
if [ -n "$(printf '%s' "$origins" | tr -d ' \t,')" ]; then
    set -f
    old_ifs=$IFS
    IFS=,
    for origin in $origins; do
        origin=$(printf '%s' "$origin" | tr -d ' \t')
        [ -n "$origin" ] || continue
        check_origin "$origin"
        entries="$entries$origin
"
    done
    IFS=$old_ifs
    set +f
fi

tmp="$output.tmp.$$"
trap 'rm -f "$tmp"' EXIT
opened=0
closed=0
inside=0
while IFS= read -r line || [ -n "$line" ]; do
    case $line in
        *"# >>> cors-origins"*)
            opened=$((opened + 1))
            printf '%s\n' "$line"
            if [ -n "$entries" ]; then
                inside=1
                indent=${line%%#*}
                printf '%s' "$entries" | while IFS= read -r origin; do
                    printf '%s- exact: "%s"\n' "$indent" "$origin"
                done
            fi
            continue
            ;;
        *"# <<< cors-origins"*)
            closed=$((closed + 1))
            inside=0
            ;;
    esac
    [ "$inside" -eq 1 ] || printf '%s\n' "$line"
done <"$template" >"$tmp"

if [ "$opened" -ne 1 ] || [ "$closed" -ne 1 ]; then
    fail "$template must have exactly one '# >>> cors-origins' and one '# <<< cors-origins' line"
fi
mv "$tmp" "$output"
trap - EXIT

if [ $# -gt 0 ]; then
    exec "$@"
fi
