#!/usr/bin/env bash
# Runs the whole ATTN stack on this machine, from source, until Ctrl-C.
#
#   deploy/local/run.sh [--release] [--no-build]
#
# Builds the services (debug profile by default: quick to build, fast enough
# for a class of 500; --release for an optimised build), builds the browser
# app if services/attendance/web/dist is missing, makes sure Redis and
# PostgreSQL are up (starting them if they are installed but stopped) and the
# database exists, then starts, in order, each once the one before is healthy:
#
#   face-gateway-standin   the development stand-in for the face gateway
#   verification-service   ATTN_FACE_GATEWAY_URL → the stand-in, whose host may serve photos
#   attendance-service     the public API (gRPC + grpc-web) and the browser app, demo accounts on
#                          with reference photos on the stand-in
#   sweeper-service        scheduled jobs and the operators' SweeperService
#
# Health is asked of each service's grpc.health.v1.Health (with
# attn-health-probe, built from deploy/docker/health-probe) and of the
# stand-in's /healthz; waits are bounded (ATTN_RUN_WAIT_SECS, default 120).
#
# Every ATTN_* variable in the environment reaches every service (see the
# README for the list); the ones below have defaults here. Logs (pretty) go to
# files in the run directory; when everything is healthy the script writes
# `ready` there (the addresses, as shell assignments) and prints the URLs.
#
#   ATTN_ATTENDANCE_ADDR     0.0.0.0:50051
#   ATTN_VERIFICATION_ADDR   0.0.0.0:50052
#   ATTN_SWEEPER_ADDR        0.0.0.0:50053
#   ATTN_STANDIN_ADDR        127.0.0.1:8090
#   ATTN_DEMO_PHOTO_BASE_URL       http://<the stand-in>/photos
#   ATTN_FACE_PHOTO_ALLOWED_HOSTS  the stand-in's host
#   ATTN_REDIS_URL           redis://127.0.0.1:6379
#   ATTN_DATABASE_URL        postgres://postgres@127.0.0.1:5432/attn
#   ATTN_RUN_DIR             target/attn-run/<date-time>
#   ATTN_DEV_MODE            true (development mode; see the README)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

profile=debug
build=1
for arg in "$@"; do
    case $arg in
        --release) profile=release ;;
        --no-build) build=0 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "run.sh: unknown argument '$arg' (try --help)" >&2
            exit 2
            ;;
    esac
done

say() { printf 'run.sh: %s\n' "$*"; }
fail() {
    printf 'run.sh: %s\n' "$*" >&2
    exit 1
}
# shellcheck source=packages.sh
source "$root/deploy/local/packages.sh"

export ATTN_ATTENDANCE_ADDR="${ATTN_ATTENDANCE_ADDR:-0.0.0.0:50051}"
export ATTN_VERIFICATION_ADDR="${ATTN_VERIFICATION_ADDR:-0.0.0.0:50052}"
export ATTN_SWEEPER_ADDR="${ATTN_SWEEPER_ADDR:-0.0.0.0:50053}"
export ATTN_STANDIN_ADDR="${ATTN_STANDIN_ADDR:-127.0.0.1:8090}"
export ATTN_REDIS_URL="${ATTN_REDIS_URL:-redis://127.0.0.1:6379}"
export ATTN_DATABASE_URL="${ATTN_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/attn}"
export ATTN_DEMO_ACCOUNTS="${ATTN_DEMO_ACCOUNTS:-true}"
# A development machine: the services may run without ATTN_INTERNAL_TOKEN and
# on a Redis that could evict keys, which they refuse in production.
export ATTN_DEV_MODE="${ATTN_DEV_MODE:-true}"
export ATTN_LOG_FORMAT="${ATTN_LOG_FORMAT:-pretty}"
export NO_COLOR="${NO_COLOR:-1}" # the logs go to files
export ATTN_WEB_DIR="${ATTN_WEB_DIR-$root/services/attendance/web/dist}"
wait_secs="${ATTN_RUN_WAIT_SECS:-120}"
run_dir="${ATTN_RUN_DIR:-$root/target/attn-run/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$run_dir"
run_dir="$(cd "$run_dir" && pwd)"
rm -f "$run_dir/ready" "$run_dir/ready.tmp"

# `0.0.0.0:50051` is where a service listens; clients dial loopback.
dial() {
    local addr=$1
    case $addr in
        0.0.0.0:*) echo "127.0.0.1:${addr#0.0.0.0:}" ;;
        "[::]:"*) echo "[::1]:${addr#\[::\]:}" ;;
        *) echo "$addr" ;;
    esac
}
attendance="$(dial "$ATTN_ATTENDANCE_ADDR")"
verification="$(dial "$ATTN_VERIFICATION_ADDR")"
sweeper="$(dial "$ATTN_SWEEPER_ADDR")"
standin="$(dial "$ATTN_STANDIN_ADDR")"
export ATTN_VERIFICATION_URL="${ATTN_VERIFICATION_URL:-http://$verification}"
export ATTN_FACE_GATEWAY_URL="${ATTN_FACE_GATEWAY_URL:-http://$standin}"
# Demo students' reference photos are the stand-in's; loopback is refused
# for photo downloads unless allow-listed, so its host is.
export ATTN_DEMO_PHOTO_BASE_URL="${ATTN_DEMO_PHOTO_BASE_URL-http://$standin/photos}"
export ATTN_FACE_PHOTO_ALLOWED_HOSTS="${ATTN_FACE_PHOTO_ALLOWED_HOSTS-${standin%:*}}"

# host and port of a URL like redis://user:pass@host:port/db
url_host() { local rest=${1#*://}; rest=${rest%%/*}; rest=${rest##*@}; echo "${rest%:*}"; }
url_port() { local rest=${1#*://}; rest=${rest%%/*}; rest=${rest##*@}; [[ $rest == *:* ]] && echo "${rest##*:}" || echo "$2"; }
is_local() { [[ $1 == 127.0.0.1 || $1 == localhost || $1 == "[::1]" ]]; }

# Polls `check` (a command) until it succeeds or `seconds` pass.
wait_for() {
    local what=$1 seconds=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# === stopping: the services, then the Redis and PostgreSQL this script started ===

own_redis="" own_postgres=""
pids=()
names=()
stop_all() {
    trap - INT TERM HUP EXIT
    if ((${#pids[@]})); then
        say "stopping ${names[*]}"
        # Newest first: attendance drains before verification goes away.
        for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
        for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    fi
    if [[ -n $own_postgres ]]; then
        say "stopping PostgreSQL (data kept in $own_postgres)"
        as_pg "$pg_ctl" -D "$own_postgres" -m fast -w stop >/dev/null 2>&1 || true
    fi
    if [[ -n $own_redis && -f $own_redis ]]; then
        say "stopping Redis (data kept in ${own_redis%/*})"
        redis-cli -h "${redis_host/localhost/127.0.0.1}" -p "$redis_port" shutdown >/dev/null 2>&1 || true
    fi
    rm -f "$run_dir/ready" "$run_dir/ready.tmp"
}
trap stop_all EXIT
# Ctrl-C reaches only this script (each service runs in a session of its
# own, below), which then stops the services in order: none of them "stops
# unexpectedly" because the terminal signalled it first.
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# === Redis and PostgreSQL ===
# Used where they answer (ATTN_REDIS_URL, ATTN_DATABASE_URL). Where nothing
# answers at a local address, the script runs its own, with their data in
# $data_dir (so they survive a restart of the stack), installing the packages
# first if they are missing, and stops them again with everything else.

data_dir="${ATTN_LOCAL_DATA_DIR:-$root/deploy/local/data}"

redis_host="$(url_host "$ATTN_REDIS_URL")"
redis_port="$(url_port "$ATTN_REDIS_URL" 6379)"
redis_ping() { [[ "$(redis-cli -u "$ATTN_REDIS_URL" ping 2>/dev/null)" == PONG ]]; }
redis_up() { if command -v redis-cli >/dev/null; then redis_ping; else tcp_open "$redis_host" "$redis_port"; fi; }
if ! redis_up; then
    is_local "$redis_host" ||
        fail "Redis is not reachable at $redis_host:$redis_port (ATTN_REDIS_URL); start it or point ATTN_REDIS_URL at one"
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
        need_packages "a Redis for ATTN's live state" redis-server redis-tools
    mkdir -p "$data_dir/redis"
    say "starting Redis on $redis_host:$redis_port (data in $data_dir/redis)"
    # Append-only file: live sessions and check-ins survive a restart.
    redis-server --daemonize yes --bind "${redis_host/localhost/127.0.0.1}" --port "$redis_port" \
        --dir "$data_dir/redis" --appendonly yes --save "" --maxmemory-policy noeviction \
        --pidfile "$data_dir/redis/redis.pid" --logfile "$data_dir/redis/redis.log" ||
        fail "Redis did not start; see $data_dir/redis/redis.log"
    own_redis="$data_dir/redis/redis.pid"
    wait_for Redis 30 redis_ping || fail "Redis did not come up on $redis_port; see $data_dir/redis/redis.log"
fi

pg_host="$(url_host "$ATTN_DATABASE_URL")"
pg_port="$(url_port "$ATTN_DATABASE_URL" 5432)"
pg_user="${ATTN_DATABASE_URL#*://}"
pg_user="${pg_user%%@*}"
[[ $pg_user == "${ATTN_DATABASE_URL#*://}" ]] && pg_user=postgres # no user@ in the URL
pg_user="${pg_user%%:*}"
database="${ATTN_DATABASE_URL##*/}"
database="${database%%\?*}"
admin_url="${ATTN_DATABASE_URL%/*}/postgres"
pg_up() {
    if command -v pg_isready >/dev/null; then pg_isready -q -h "$pg_host" -p "$pg_port"; else tcp_open "$pg_host" "$pg_port"; fi
}
# PostgreSQL's own programs (initdb, pg_ctl): on PATH, or where Debian keeps them.
pg_bin() {
    if command -v "$1" >/dev/null; then command -v "$1"; else
        ls /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1
    fi
}
# PostgreSQL refuses to run as root: as root, its programs run as `postgres`.
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if ! pg_up; then
    is_local "$pg_host" ||
        fail "PostgreSQL is not reachable at $pg_host:$pg_port (ATTN_DATABASE_URL); start it or point ATTN_DATABASE_URL at one"
    [[ -n "$(pg_bin initdb)" ]] && command -v psql >/dev/null ||
        need_packages "a PostgreSQL for ATTN's archive" postgresql postgresql-client
    initdb="$(pg_bin initdb)" pg_ctl="$(pg_bin pg_ctl)"
    [[ -x $initdb && -x $pg_ctl ]] || fail "initdb and pg_ctl were not found after installing PostgreSQL"
    pgdata="$data_dir/postgres"
    mkdir -p "$pgdata"
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres: "$pgdata" && chmod 700 "$pgdata"
        as_pg test -w "$pgdata" ||
            fail "the postgres user cannot reach $pgdata (a directory above it is not searchable by others): set ATTN_LOCAL_DATA_DIR elsewhere, or chmod o+x the directories above it"
    fi
    if [[ ! -f $pgdata/PG_VERSION ]]; then
        say "creating a PostgreSQL cluster in $pgdata (user $pg_user, trust on loopback only)"
        as_pg "$initdb" -D "$pgdata" -U "$pg_user" --auth=trust --encoding=UTF8 --no-instructions >"$data_dir/initdb.log" 2>&1 ||
            fail "initdb failed; see $data_dir/initdb.log"
    fi
    say "starting PostgreSQL on $pg_host:$pg_port (data in $pgdata)"
    as_pg "$pg_ctl" -D "$pgdata" -l "$pgdata/postgresql.log" -w -t 60 \
        -o "-c listen_addresses=${pg_host/localhost/127.0.0.1} -p $pg_port -k $pgdata" start >/dev/null ||
        fail "PostgreSQL did not start; see $pgdata/postgresql.log"
    own_postgres="$pgdata"
    wait_for PostgreSQL 60 pg_up || fail "PostgreSQL did not come up on $pg_port; see $pgdata/postgresql.log"
fi
[[ $database =~ ^[A-Za-z0-9_-]+$ ]] || fail "ATTN_DATABASE_URL: database name '$database' is not a plain name"
command -v psql >/dev/null || need_packages "creating ATTN's database" postgresql-client
if [[ -z "$(psql "$admin_url" -tAc "SELECT 1 FROM pg_database WHERE datname = '$database'")" ]]; then
    say "creating database $database"
    psql "$admin_url" -q -c "CREATE DATABASE \"$database\"" || fail "could not create database $database"
fi

# === build ===

cargo_flags=(--locked)
[[ $profile == release ]] && cargo_flags+=(--release)
bin="$root/target/$profile"
probe="$bin/attn-health-probe"
if ((build)); then
    say "building the services ($profile profile)"
    cargo build "${cargo_flags[@]}" --bins -p attendance-service -p verification-service -p sweeper-service \
        -p face-gateway-standin -p attn-health-probe
fi
for exe in attendance-service verification-service sweeper-service face-gateway-standin; do
    [[ -x "$bin/$exe" ]] || fail "$bin/$exe is missing; run without --no-build"
done
[[ -x $probe ]] || fail "$probe is missing; run without --no-build"

web="$root/services/attendance/web"
# The browser app: built when missing, or older than its sources or proto/.
web_stale() {
    [[ ! -f $web/dist/index.html ]] ||
        [[ -n "$(find "$web/src" "$web/index.html" "$web/package-lock.json" "$root/proto" -newer "$web/dist/index.html" \
            -not -path "$web/src/gen/*" -print -quit)" ]]
}
if [[ -n $ATTN_WEB_DIR && $ATTN_WEB_DIR == "$web/dist" ]] && ((build)) && web_stale; then
    if command -v npm >/dev/null; then
        say "building the browser app (npm ci && npm run build)"
        (cd "$web" && npm ci --no-audit --no-fund && npm run build) >"$run_dir/web-build.log" 2>&1 ||
            fail "the browser app did not build; see $run_dir/web-build.log"
    elif [[ -f $web/dist/index.html ]]; then
        say "npm is not installed: serving the browser app as last built"
    else
        say "npm is not installed: serving the API without the browser app"
        ATTN_WEB_DIR=""
    fi
fi

# === start ===


start() {
    local name=$1
    shift
    setsid "$@" >"$run_dir/$name.log" 2>&1 </dev/null &
    pids+=("$!")
    names+=("$name")
}

# Waits until `check` passes, failing early (with the log's end) if the process dies.
await() {
    local name=$1 pid=$2
    shift 2
    local deadline=$((SECONDS + wait_secs))
    until "$@" >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$run_dir/$name.log" >&2 || true
            fail "$name exited during start-up; its log: $run_dir/$name.log"
        fi
        ((SECONDS < deadline)) || fail "$name was not healthy within ${wait_secs}s; its log: $run_dir/$name.log"
        sleep 0.2
    done
    say "$name is healthy"
}

# GET over bash's /dev/tcp (no curl needed); a subshell, so a refused connection only fails the check.
http_ok() (
    host=${1%:*} port=${1##*:} reply=""
    exec 3<>"/dev/tcp/$host/$port" || exit 1
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$2" "$1" >&3
    read -r -t 2 reply <&3 || true
    [[ $reply == "HTTP/"*" 200"* ]]
)

start face-gateway-standin "$bin/face-gateway-standin"
await face-gateway-standin "${pids[-1]}" http_ok "$standin" /healthz
start verification-service "$bin/verification-service"
await verification-service "${pids[-1]}" "$probe" "$verification"
start attendance-service "$bin/attendance-service"
await attendance-service "${pids[-1]}" "$probe" "$attendance"
start sweeper-service "$bin/sweeper-service"
await sweeper-service "${pids[-1]}" "$probe" "$sweeper"

web_url="${ATTN_WEB_DIR:+http://$attendance/}"
case ${ATTN_DEMO_ACCOUNTS,,} in
    true) demo_accounts='demo_teacher_1..10, demo_student_1..500, demo_admin; password "password"' ;;
    *) demo_accounts="none (ATTN_DEMO_ACCOUNTS=$ATTN_DEMO_ACCOUNTS): sign in with the accounts you imported" ;;
esac
# Written aside and renamed into place: whoever waits for `ready` to exist
# must never read it half-written (a rename is atomic, a redirect is not).
cat >"$run_dir/ready.tmp" <<EOF
ATTENDANCE=$attendance
VERIFICATION=$verification
SWEEPER=$sweeper
STANDIN=$standin
WEB_URL=$web_url
EOF
mv -f "$run_dir/ready.tmp" "$run_dir/ready"

cat <<EOF

ATTN is running ($profile build). Logs: $run_dir
  browser app          ${web_url:-(not served: ATTN_WEB_DIR is empty)}
  API (gRPC, grpc-web) $attendance      grpcurl -plaintext $attendance list
  sweeper (operators)  $sweeper      grpcurl -plaintext $sweeper list
  verification         $verification      (internal)
  face gateway         http://$standin   (STAND-IN, development only)
  demo accounts        $demo_accounts
Ctrl-C stops everything.
EOF

# Runs until Ctrl-C, or until a service dies.
while :; do
    for i in "${!pids[@]}"; do
        if ! kill -0 "${pids[i]}" 2>/dev/null; then
            tail -n 30 "$run_dir/${names[i]}.log" >&2 || true
            fail "${names[i]} stopped unexpectedly; its log: $run_dir/${names[i]}.log"
        fi
    done
    wait -n "${pids[@]}" 2>/dev/null || true
done
