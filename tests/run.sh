#!/usr/bin/env bash
# Runs every ATTN test: the README's test command, and what `.ci/run` runs.
#
#   tests/run.sh            everything
#   tests/run.sh rust       one stage (see `stages` below), or several
#
# On a fresh Debian machine with the Rust toolchain it installs what is
# missing (Redis, PostgreSQL, Node and Python test tools,
# Chromium, Prometheus) and starts Redis and PostgreSQL if they are stopped. Each stage
# prints what it ran; the last lines summarise every stage.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

export ATTN_TEST_REDIS_URL="${ATTN_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
export ATTN_TEST_DATABASE_URL="${ATTN_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
# Builds use the committed query data in .sqlx/, never a live database.
export SQLX_OFFLINE=true
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

stages=(services static deps contract rust cluster pgbouncer sqlx envoy observability deploy web clients bench)
results=()

say() { printf '\n== %s\n' "$*"; }
fail() {
    echo "tests/run.sh: $*" >&2
    exit 1
}

# as_root, apt_install and need_packages, shared with deploy/local/run.sh.
# shellcheck source=../deploy/local/packages.sh
source "$root/deploy/local/packages.sh"

redis_up() { redis-cli -u "$ATTN_TEST_REDIS_URL" ping 2>/dev/null | grep -q PONG; }
postgres_up() { psql "$ATTN_TEST_DATABASE_URL" -Atc 'select 1' >/dev/null 2>&1; }

# Redis and PostgreSQL: real ones, on the machine. Installed if missing,
# started if stopped (the same commands the project's machines use).
stage_services() {
    command -v redis-server >/dev/null || apt_install redis-server redis-tools
    command -v psql >/dev/null || apt_install postgresql postgresql-client
    if ! redis_up; then
        as_root mkdir -p /var/lib/redis /var/log/redis
        as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
            --dir /var/lib/redis --logfile /var/log/redis/ci.log
    fi
    if ! postgres_up && [[ -d /etc/postgresql ]]; then
        as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    fi
    for _ in $(seq 1 50); do redis_up && postgres_up && break; sleep 0.2; done
    redis_up || fail "Redis is not answering at $ATTN_TEST_REDIS_URL; start it or set ATTN_TEST_REDIS_URL"
    postgres_up || fail "PostgreSQL is not answering at $ATTN_TEST_DATABASE_URL (the tests need a user that may create databases, e.g. trust auth for 'postgres' on 127.0.0.1); set ATTN_TEST_DATABASE_URL"
    echo "Redis and PostgreSQL are up"
}

stage_static() {
    cargo fmt --all --check
    # SQLX_OFFLINE=true: this also proves .sqlx/ covers every checked query.
    cargo clippy --workspace --all-targets --locked -- -D warnings
    # The Redis Cluster tests are no test target of --all-targets (test = false).
    cargo clippy --locked -p attn-e2e --test cluster -- -D warnings
}

# What the workspace depends on (deny.toml): no unused dependency
# (cargo-machete), permissive licenses, crates.io only, and no more crates
# in two versions than today (all of them pulled in by dependencies, e.g.
# sqlx's sha2 0.10 beside ours). RustSec advisories need the advisory
# database, which lives on GitHub: checked where GitHub is reachable, and
# the summary says when it was not.
# And verification-service, which keeps no state, links no Redis or
# PostgreSQL client (sqlx, fred).
max_duplicate_crates=23
stage_deps() {
    command -v cargo-machete >/dev/null || cargo install cargo-machete --version 0.9.2 --locked
    command -v cargo-deny >/dev/null || cargo install cargo-deny --version 0.20.2 --locked
    cargo machete
    # verification-service keeps no state: it must not link a Redis or
    # PostgreSQL client (attn-runtime reaches the stores only through the
    # SignIns trait that attn-store implements).
    local store_clients
    store_clients=$(cargo tree --locked -p verification-service -e normal | grep -E "sqlx|fred" || true)
    if [[ -n $store_clients ]]; then
        echo "$store_clients" >&2
        echo "verification-service links a Redis or PostgreSQL client (above): something it depends on (attn-runtime?) depends on attn-store, sqlx or fred again" >&2
        return 1
    fi
    echo "verification-service links no Redis or PostgreSQL client"
    cargo deny check licenses bans sources 2>&1 | tee target/deny.log
    local duplicates
    duplicates=$(grep -c '^warning\[duplicate\]' target/deny.log || true)
    echo "crates in more than one version: $duplicates (at most $max_duplicate_crates)"
    if [[ $duplicates -gt $max_duplicate_crates ]]; then
        echo "a change added a crate in a second version; see the warning[duplicate] lines above" >&2
        return 1
    fi
    if timeout 20 git ls-remote https://github.com/RustSec/advisory-db HEAD >/dev/null 2>&1; then
        cargo deny check advisories
    else
        echo "RustSec advisories NOT CHECKED: github.com (where the advisory database lives) is unreachable from here" >&2
        echo "advisories-not-checked" >target/deny-advisories
    fi
}

# The public contract (proto/, configured by proto/buf.yaml): buf lint,
# and buf breaking against the contract as of the commit named in
# proto/BREAKING_BASELINE. A deliberate break moves that baseline in a
# commit of its own, so a reviewer sees it. buf comes from the browser
# app's npm packages (it generates the app's code).
stage_contract() {
    local buf=services/attendance/web/node_modules/.bin/buf
    if [[ ! -x $buf ]]; then
        command -v npm >/dev/null || apt_install nodejs npm
        (cd services/attendance/web && npm ci --no-audit --no-fund)
    fi
    "$buf" lint proto
    echo "buf lint: ok"
    local baseline
    baseline=$(tr -d '[:space:]' <proto/BREAKING_BASELINE)
    git cat-file -e "$baseline^{commit}" 2>/dev/null ||
        fail "proto/BREAKING_BASELINE names $baseline, which is not a commit of this clone (a shallow clone? fetch the history)"
    "$buf" breaking proto --against ".git#ref=$baseline,subdir=proto"
    echo "buf breaking against $baseline: ok"
}

stage_rust() {
    local status=0
    cargo test --workspace --locked --no-fail-fast 2>&1 | tee target/rust-tests.log || status=$?
    local passed failed
    passed=$(grep -Eo '^test result: [A-Za-z]+\. [0-9]+ passed' target/rust-tests.log | awk '{s+=$4} END {print s+0}' || true)
    failed=$(grep -Eo '^test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' target/rust-tests.log | awk '{s+=$6} END {print s+0}' || true)
    echo "rust tests: $passed passed, $failed failed"
    return "$status"
}

# ATTN on a real Redis Cluster (3 masters, 3 replicas on loopback ports
# 7101-7106, started and stopped by the script): every service twice, the
# flows of each security option, and failover under load (a master killed,
# an attendance-service replica stopped) with its figures.
stage_cluster() {
    postgres_up || stage_services
    tests/cluster/run.sh
}

# The archive and the reports through PgBouncer in transaction mode, as
# campuses run it (tests/pgbouncer/run.sh starts its own PgBouncer).
stage_pgbouncer() { tests/pgbouncer/run.sh; }

# The committed query data must describe the current migrations: described
# again by a scratch database migrated from shared/store/migrations, by
# sqlx's own macros (no sqlx-cli to build), and compared.
stage_sqlx() { shared/store/query-data.sh --check; }

stage_envoy() { tests/envoy/run.sh; }
# deploy/observability: promtool checks the Prometheus config and the alert
# rules and runs their unit tests; then a real Prometheus scrapes a real
# stack and every metric the alerts and the dashboard use must be there
# (tests/observability/run.sh; installs Debian's prometheus if missing).
stage_observability() {
    if ! redis_up || ! postgres_up; then stage_services; fi
    tests/observability/run.sh
}
stage_deploy() { tests/deploy/run.sh; }

stage_web() {
    command -v npm >/dev/null || apt_install nodejs npm
    (cd services/attendance/web && npm ci --no-audit --no-fund && npm test)
}

stage_clients() { tests/clients/run.sh; }

# The benchmark's quick mode, so the tool never rots; it fails only if the
# stack misbehaves (errors, missed events), never on speed.
stage_bench() {
    cargo build --workspace --bins --locked
    cargo run --locked -q -p attn-bench -- --quick --bin-dir target/debug
}

selected=("$@")
[[ ${#selected[@]} -gt 0 ]] || selected=("${stages[@]}")
for stage in "${selected[@]}"; do
    declare -F "stage_$stage" >/dev/null || fail "no stage '$stage'; the stages are: ${stages[*]}"
done
mkdir -p target
for stage in "${selected[@]}"; do
    say "$stage"
    started=$SECONDS
    # In a subshell with errexit on, so any failing command fails the stage
    # (errexit is ignored inside an `if` condition, even in a function).
    set +e
    (set -e; "stage_$stage")
    status=$?
    set -e
    if [[ $status -eq 0 && $stage == deps && -f target/deny-advisories ]]; then
        rm -f target/deny-advisories
        results+=("ok      $stage ($((SECONDS - started)) s; RustSec advisories not checked: GitHub unreachable)")
    elif [[ $status -eq 0 ]]; then
        results+=("ok      $stage ($((SECONDS - started)) s)")
    else
        results+=("FAILED  $stage ($((SECONDS - started)) s)")
        printf '\n== summary\n'
        printf '%s\n' "${results[@]}"
        fail "stage '$stage' failed; see above"
    fi
done
printf '\n== summary\n'
printf '%s\n' "${results[@]}"
