#!/usr/bin/env bash
# sqlx's committed query data (.sqlx/), checked or written without sqlx-cli.
#
#   shared/store/query-data.sh            check .sqlx/ against the migrations
#   shared/store/query-data.sh --write    write .sqlx/ again (after changing a query or a migration)
#
# What `cargo sqlx prepare` does, with the tools every build has: it makes a
# scratch database from ATTN_TEST_DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/postgres, a user who may create
# databases), applies every migration in shared/store/migrations in order
# with psql, one transaction each, then compiles attn-store online
# (SQLX_OFFLINE=false) with SQLX_OFFLINE_DIR pointing at a temporary
# directory, where sqlx's macros write one query-<hash>.json per checked
# query, described by that database. --check compares that directory with
# .sqlx/ (a missing, extra or different file fails, with the diff); --write
# replaces .sqlx/ with it. The scratch database is dropped on exit.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

mode=check
case ${1:-} in
    "" | --check) ;;
    --write) mode=write ;;
    *)
        echo "query-data.sh: unknown argument '$1' (--check or --write)" >&2
        exit 2
        ;;
esac

command -v psql >/dev/null || {
    echo "query-data.sh: psql is needed (apt-get install postgresql-client)" >&2
    exit 1
}
admin_url="${ATTN_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
db="attn_query_data_$$"
url="${admin_url%/*}/$db"
out="$(mktemp -d)"
cleanup() {
    psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$out"
}
trap cleanup EXIT

psql "$admin_url" -qc "CREATE DATABASE $db" >/dev/null
for migration in shared/store/migrations/*.sql; do
    psql "$url" -q -v ON_ERROR_STOP=1 --single-transaction -f "$migration" >/dev/null ||
        { echo "query-data.sh: migration $migration failed (above)" >&2; exit 1; }
done

# Touched so cargo checks attn-store again, which expands its macros again;
# its old time is put back afterwards, so builds made before stay fresh.
lib=shared/store/src/lib.rs
touch -r "$lib" "$out.stamp"
touch "$lib"
DATABASE_URL="$url" SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$out" \
    cargo check --locked --quiet -p attn-store --all-targets || status=$?
touch -r "$out.stamp" "$lib"
rm -f "$out.stamp"
((${status:-0} == 0)) || { echo "query-data.sh: attn-store did not compile against the migrated database (above)" >&2; exit 1; }

written=$(find "$out" -name 'query-*.json' | wc -l)
((written > 0)) || { echo "query-data.sh: compiling attn-store wrote no query data" >&2; exit 1; }

if [[ $mode == write ]]; then
    rm -f .sqlx/query-*.json
    mkdir -p .sqlx
    cp "$out"/query-*.json .sqlx/
    echo "query-data.sh: wrote $written files to .sqlx/"
elif diff -r "$out" .sqlx >"$out.diff" 2>&1; then
    echo "query-data.sh: .sqlx/ is current ($written queries, described by a database migrated from shared/store/migrations)"
    rm -f "$out.diff"
else
    sed "s|$out|<described now>|g" "$out.diff" >&2
    rm -f "$out.diff"
    echo "query-data.sh: .sqlx/ does not match the queries and migrations (diff above); run shared/store/query-data.sh --write and commit .sqlx/" >&2
    exit 1
fi
