#!/usr/bin/env bash
# ATTN's PostgreSQL work through PgBouncer in transaction mode, as campuses
# run it:
#
#   tests/pgbouncer/run.sh                 every e2e test, and import-roster
#   tests/pgbouncer/run.sh sweeper:: face::  only e2e tests matching these filters
#
# Starts a PgBouncer of its own (Debian's package, installed with apt-get if
# missing) on a free loopback port, in a temporary directory:
# pool_mode = transaction, every database of the tests' PostgreSQL
# (ATTN_TEST_DATABASE_URL) behind it, and a small pool (default_pool_size =
# 4 server connections per database), so that the services' client
# connections really do take turns on shared server connections. Then it
# runs, with ATTN_TEST_POOLER_URL pointing at it (every service's
# ATTN_DATABASE_URL goes through PgBouncer with ATTN_DATABASE_POOLER=
# transaction, migrations over ATTN_DATABASE_MIGRATION_URL straight to
# PostgreSQL; see tests/src/env.rs), the tests that work PostgreSQL:
#   - the end-to-end tests, all of them by default: each service migrates
#     its database and every sign-in reads the user directory, and the
#     sweeper, face, lesson, access and conflicts modules cover the archive
#     sweep, the sign-in history, face results that land in the archive,
#     archived rosters and histories, and edits of archived sessions; the
#     PostgreSQL outages run with the cut between service and PgBouncer;
#   - `attendance-service import-roster`, run as an operator runs it.
# It stops PgBouncer and removes its directory on exit; PgBouncer's log is
# kept in tests/artifacts/pgbouncer.log.
#
# Needs: cargo, python3, psql, and PostgreSQL and Redis running (tests/run.sh
# services starts them).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

say() { printf 'tests/pgbouncer: %s\n' "$*"; }
fail() {
    printf 'tests/pgbouncer: FAILED: %s\n' "$*" >&2
    exit 1
}

export ATTN_TEST_DATABASE_URL="${ATTN_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export ATTN_TEST_REDIS_URL="${ATTN_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
export SQLX_OFFLINE=true

e2e_filters=("$@")

# === PgBouncer, from Debian ===

find_pgbouncer() { command -v pgbouncer || { [[ -x /usr/sbin/pgbouncer ]] && echo /usr/sbin/pgbouncer; } || true; }
pgbouncer="$(find_pgbouncer)"
if [[ -z $pgbouncer ]]; then
    [[ $(id -u) == 0 ]] || fail "PgBouncer is missing; install it with: sudo apt-get install -y pgbouncer"
    say "installing pgbouncer (apt-get)"
    apt-get update -qq || fail "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pgbouncer >/dev/null ||
        fail "apt-get install pgbouncer failed"
    # The package starts a system PgBouncer where systemd runs; this one is ours.
    pgbouncer="$(find_pgbouncer)"
fi
[[ -n $pgbouncer ]] || fail "no pgbouncer binary after installing it"
command -v psql >/dev/null || fail "psql is required (apt-get install postgresql-client)"
psql "$ATTN_TEST_DATABASE_URL" -Atc 'select 1' >/dev/null 2>&1 ||
    fail "PostgreSQL is not answering at $ATTN_TEST_DATABASE_URL (tests/run.sh services starts it)"

# host, port, user and password of the tests' PostgreSQL, and a free port.
read -r pg_host pg_port pg_user pg_password port < <(python3 - "$ATTN_TEST_DATABASE_URL" <<'EOF'
import socket, sys, urllib.parse
url = urllib.parse.urlsplit(sys.argv[1])
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(url.hostname or "127.0.0.1", url.port or 5432, urllib.parse.unquote(url.username or "postgres"),
      urllib.parse.unquote(url.password or "") or "-", s.getsockname()[1])
EOF
)

dir="$(mktemp -d "${TMPDIR:-/tmp}/attn-pgbouncer.XXXXXX")"
mkdir -p tests/artifacts
log="$root/tests/artifacts/pgbouncer.log"
pid=""
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -INT "$pid" 2>/dev/null || true # SIGINT: PgBouncer's immediate shutdown
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    [[ -f $dir/pgbouncer.log ]] && cp "$dir/pgbouncer.log" "$log"
    rm -rf "$dir"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

server_login="user=$pg_user"
[[ $pg_password != - ]] && server_login+=" password=$pg_password"
cat >"$dir/pgbouncer.ini" <<EOF
[databases]
; every database the tests create, on the tests' PostgreSQL
* = host=$pg_host port=$pg_port $server_login

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = $pg_user
pool_mode = transaction
; few server connections per database, so clients share them
default_pool_size = 4
max_client_conn = 2000
; a stuck pool fails the test that waits on it instead of hanging the run
query_wait_timeout = 30
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
printf '"%s" ""\n' "$pg_user" >"$dir/userlist.txt"

# PgBouncer refuses to run as root; it then runs as PostgreSQL's own user.
run_as=()
if [[ $(id -u) == 0 ]]; then
    user=postgres
    id "$user" >/dev/null 2>&1 || user=nobody
    chown -R "$user" "$dir"
    run_as=(-u "$user")
fi
"$pgbouncer" "${run_as[@]}" "$dir/pgbouncer.ini" >"$dir/stdout.log" 2>&1 &
pid=$!
pooler_url="postgres://$pg_user@127.0.0.1:$port/postgres"
for _ in $(seq 1 100); do
    psql "$pooler_url" -Atc 'select 1' >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if ! psql "$pooler_url" -Atc 'select 1' >/dev/null 2>&1; then
    cat "$dir/stdout.log" "$dir/pgbouncer.log" 2>/dev/null | tail -n 20 >&2
    fail "PgBouncer did not come up on 127.0.0.1:$port"
fi
say "$("$pgbouncer" --version | head -n 1) on 127.0.0.1:$port in transaction mode, default_pool_size 4, in front of $pg_host:$pg_port"

# === the tests, through it ===

export ATTN_TEST_POOLER_URL="$pooler_url"
status=0
say "e2e tests (${e2e_filters[*]:-all}) and import-roster, every service's database through PgBouncer"
cargo test --locked -p attn-e2e --test e2e -- "${e2e_filters[@]}" 2>&1 | tee "$dir/e2e.log" || status=$?
cargo test --locked -p attendance-service --test import_roster 2>&1 | tee "$dir/import.log" || status=$?

passed=$(cat "$dir/e2e.log" "$dir/import.log" | grep -Eo '^test result: [A-Za-z]+\. [0-9]+ passed' | awk '{s+=$4} END {print s+0}')
failed=$(cat "$dir/e2e.log" "$dir/import.log" | grep -Eo '^test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' | awk '{s+=$6} END {print s+0}')
# What PgBouncer did: the tests' client connections per database, against
# the server connections it opened for them (reopened ones count again).
sharing=$(awk '
    / login attempt: db=attn_/ { split($7, a, "/"); c[a[1]]++ }
    / new connection to server/ { split($7, a, "/"); if (a[1] ~ /^attn_/) s[a[1]]++ }
    END {
        for (d in c) { n++; if (c[d] > mc) { mc = c[d]; ms = s[d] } if (s[d] > maxs) maxs = s[d] }
        printf "%d test databases; the busiest had %d client connections, for which PgBouncer opened %d server connections (at most 4 at a time); at most %d opened for any", n, mc, ms, maxs
    }' "$dir/pgbouncer.log")
transactions=$(psql "postgres://$pg_user@127.0.0.1:$port/pgbouncer" -AtF' ' -c 'SHOW STATS' 2>/dev/null |
    awk '{s+=$2} END {print s+0}')
say "PgBouncer: $transactions transactions; $sharing"
say "tests through PgBouncer: $passed passed, $failed failed"
exit "$status"
