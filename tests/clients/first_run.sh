#!/usr/bin/env bash
# The first run, as a new user has it: deploy/local/run.sh on a machine
# where no Redis or PostgreSQL answers (here: on free loopback ports), then
# the README's walkthroughs, then Ctrl-C, then a second start.
#
#   tests/clients/first_run.sh     (tests/clients/run.sh runs it; needs the
#                                   built services, grpcurl, jq and curl)
#
# Checks that run.sh starts a Redis and a PostgreSQL of its own with their
# data in ATTN_LOCAL_DATA_DIR, that every walkthrough line succeeds (the
# option-3 selfie is matched against the stand-in's photo), that Ctrl-C (a
# SIGINT to the script's whole process group, as a terminal sends it) stops
# everything in order with no "stopped unexpectedly", that the data is still
# there on the next start, and that ATTN_DEMO_ACCOUNTS=false leaves the demo
# accounts out of the banner.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

say() { printf 'tests/clients/first_run: %s\n' "$*"; }
fail() {
    printf 'tests/clients/first_run: FAILED: %s\n' "$*" >&2
    exit 1
}
for tool in grpcurl jq curl python3 redis-cli pg_isready psql; do command -v $tool >/dev/null || fail "$tool is not installed"; done

read -r api verification sweeper standin redis_port pg_port < <(python3 - <<'EOF'
import socket
socks = [socket.socket() for _ in range(6)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
EOF
)
work="$(mktemp -d)"
chmod 755 "$work" # run as root, run.sh runs PostgreSQL as `postgres`, which must reach $work/data
data="$work/data"
database_url="postgres://postgres@127.0.0.1:$pg_port/attn"
stack_pid=""
cleanup() {
    local status=$?
    trap - EXIT
    if [[ -n $stack_pid ]] && kill -0 "$stack_pid" 2>/dev/null; then
        kill -INT -- "-$stack_pid" 2>/dev/null || true
        wait "$stack_pid" 2>/dev/null || true
    fi
    # Whatever a failed run left behind.
    [[ -f $data/redis/redis.pid ]] && kill "$(cat "$data/redis/redis.pid")" 2>/dev/null || true
    if [[ -f $data/postgres/postmaster.pid ]]; then kill -INT "$(head -n 1 "$data/postgres/postmaster.pid")" 2>/dev/null || true; fi
    if ((status)); then say "logs kept in $work"; else rm -rf "$work"; fi
    exit "$status"
}
trap cleanup EXIT

# A background job of a script starts with SIGINT ignored, and bash cannot
# trap a signal ignored on entry; a terminal's foreground job has it at its
# default. So run.sh is started as the terminal would: SIGINT at its
# default, in a process group (and session) of its own.
foreground='import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.setsid(); os.execvp(sys.argv[1], sys.argv[1:])'

# Starts run.sh that way and waits for its `ready` file; $1 names the run.
start_stack() {
    local name=$1
    shift
    rm -f "$work/$name.log"
    env ATTN_ATTENDANCE_ADDR="127.0.0.1:$api" ATTN_VERIFICATION_ADDR="127.0.0.1:$verification" \
        ATTN_SWEEPER_ADDR="127.0.0.1:$sweeper" ATTN_STANDIN_ADDR="127.0.0.1:$standin" \
        ATTN_ATTENDANCE_METRICS_ADDR=127.0.0.1:0 ATTN_VERIFICATION_METRICS_ADDR=127.0.0.1:0 \
        ATTN_SWEEPER_METRICS_ADDR=127.0.0.1:0 \
        ATTN_REDIS_URL="redis://127.0.0.1:$redis_port" ATTN_DATABASE_URL="$database_url" \
        ATTN_LOCAL_DATA_DIR="$data" ATTN_RUN_DIR="$work/run-$name" ATTN_WEB_DIR="" "$@" \
        python3 -c "$foreground" "$root/deploy/local/run.sh" --no-build >"$work/$name.log" 2>&1 &
    stack_pid=$!
    local deadline=$((SECONDS + 180))
    until [[ -f $work/run-$name/ready ]]; do
        kill -0 "$stack_pid" 2>/dev/null || { cat "$work/$name.log" >&2; fail "run.sh ($name) exited before it was ready"; }
        ((SECONDS < deadline)) || { cat "$work/$name.log" >&2; fail "run.sh ($name) was not ready within 180 s"; }
        sleep 0.2
    done
}

# Ctrl-C: SIGINT to the whole foreground group, as the terminal sends it.
ctrl_c() {
    local name=$1 status=0
    kill -INT -- "-$stack_pid"
    wait "$stack_pid" || status=$?
    stack_pid=""
    ((status == 130)) || { cat "$work/$name.log" >&2; fail "run.sh ($name) exited $status after Ctrl-C, not 130"; }
    if grep -q "stopped unexpectedly" "$work/$name.log"; then
        cat "$work/$name.log" >&2
        fail "after Ctrl-C, run.sh ($name) said a service stopped unexpectedly"
    fi
    grep -q "stopping PostgreSQL (data kept in $data/postgres)" "$work/$name.log" || fail "run.sh ($name) did not stop its PostgreSQL"
    grep -q "stopping Redis (data kept in $data/redis)" "$work/$name.log" || fail "run.sh ($name) did not stop its Redis"
    ! redis-cli -p "$redis_port" ping >/dev/null 2>&1 || fail "run.sh's Redis still answers after Ctrl-C"
    ! pg_isready -q -h 127.0.0.1 -p "$pg_port" || fail "run.sh's PostgreSQL still answers after Ctrl-C"
    say "Ctrl-C ($name): exit 130, services then PostgreSQL and Redis stopped, nothing 'stopped unexpectedly'"
}

# === the first start: nothing answers on the Redis and PostgreSQL ports ===
! redis-cli -p "$redis_port" ping >/dev/null 2>&1 || fail "port $redis_port is taken"
start_stack first
grep -q "starting Redis on 127.0.0.1:$redis_port (data in $data/redis)" "$work/first.log" || fail "run.sh did not start its own Redis"
grep -q "creating a PostgreSQL cluster in $data/postgres" "$work/first.log" || fail "run.sh did not create its own PostgreSQL cluster"
grep -q 'demo accounts        demo_teacher_1..10' "$work/first.log" || fail "the banner does not list the demo accounts"
say "first start: run.sh started Redis and PostgreSQL of its own in $data, and the stack"

# === the README's walkthroughs, as one script, as a user runs it ===
mkdir -p "$work/walk"
if ! (cd "$work/walk" && API="127.0.0.1:$api" SWEEPER="127.0.0.1:$sweeper" STANDIN="127.0.0.1:$standin" \
    BIN="$root/target/debug" ATTN_DATABASE_URL="$database_url" ATTN_LOG=warn \
    bash "$root/deploy/local/grpcurl-walkthrough.sh" >"$work/walkthrough.txt" 2>&1); then
    cat "$work/walkthrough.txt" >&2
    fail "deploy/local/grpcurl-walkthrough.sh failed against the first-run stack"
fi
grep -q '"status": "RECORD_STATUS_ATTENDED"' "$work/walkthrough.txt" || fail "no attended record in the walkthrough"
! grep -q REFERENCE_IMAGE_NOT_FOUND "$work/walkthrough.txt" || fail "option 3: the demo student's reference photo was not found"
face_final=$(grep -c '"failCode": "FAIL_CODE_FACE' "$work/walkthrough.txt" || true)
((face_final == 0)) || fail "option 3: the face check failed ($face_final lines)"
archived=$(psql "${database_url%/*}/attn" -tAc "SELECT count(*) FROM attendances")
((archived == 4)) || fail "expected the walkthrough's 4 sessions archived, found $archived"
keys_before=$(redis-cli -p "$redis_port" dbsize)
say "walkthrough: every line succeeded ($(grep -c . "$work/walkthrough.txt") lines of output), 4 sessions archived, $keys_before Redis keys"

ctrl_c first

# === the second start: the data is still there; no demo accounts ===
start_stack second ATTN_DEMO_ACCOUNTS=false
grep -q "starting Redis on 127.0.0.1:$redis_port (data in $data/redis)" "$work/second.log" || fail "second start: no Redis of its own"
! grep -q "creating a PostgreSQL cluster" "$work/second.log" || fail "second start: the PostgreSQL cluster was made again"
grep -q 'demo accounts        none (ATTN_DEMO_ACCOUNTS=false)' "$work/second.log" || {
    cat "$work/second.log" >&2
    fail "with ATTN_DEMO_ACCOUNTS=false the banner still lists demo accounts"
}
! grep -q 'demo_teacher_1' "$work/second.log" || fail "with ATTN_DEMO_ACCOUNTS=false the banner names demo_teacher_1"
archived_again=$(psql "${database_url%/*}/attn" -tAc "SELECT count(*) FROM attendances")
((archived_again == 4)) || fail "after a restart, $archived_again archived sessions instead of 4"
keys_after=$(redis-cli -p "$redis_port" dbsize)
((keys_after > 0)) || fail "after a restart, Redis is empty (it had $keys_before keys)"
say "second start: 4 archived sessions and $keys_after of $keys_before Redis keys kept; banner without demo accounts"
ctrl_c second
say "passed"
