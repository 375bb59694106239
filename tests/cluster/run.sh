#!/usr/bin/env bash
# ATTN on a real Redis Cluster: the `cluster` test target of attn-e2e
# (tests/cluster/*.rs) against six redis-server processes on loopback.
#
#   tests/cluster/run.sh [test name filter and libtest args...]
#   tests/run.sh cluster            (the same, as a stage)
#
# Starts 3 masters + 3 replicas (`--cluster-enabled yes`, ports
# ATTN_CLUSTER_BASE_PORT+1 .. +6, default 7101-7106) in a temporary
# directory, without persistence, with a short cluster-node-timeout (so a
# failover takes seconds) and maxmemory-policy noeviction (ATTN's services
# refuse a Redis that may evict keys); creates the cluster with
# `redis-cli --cluster create --cluster-replicas 1`; waits until every node
# says cluster_state:ok and every replica is in sync; runs the tests with
# ATTN_TEST_REDIS_CLUSTER_URL (the URL the services get) and
# ATTN_TEST_REDIS_CLUSTER_DIR (where each node's config is, so the failover
# tests can start a node they stopped again); stops every node on exit.
#
# Needs redis-server and redis-cli (installed with apt-get if missing, as
# tests/run.sh does) and the PostgreSQL of the other tests
# (ATTN_TEST_DATABASE_URL).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

export SQLX_OFFLINE=true
export ATTN_TEST_DATABASE_URL="${ATTN_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
base="${ATTN_CLUSTER_BASE_PORT:-7100}"
ports=()
for n in 1 2 3 4 5 6; do ports+=("$((base + n))"); done

say() { echo "tests/cluster: $*"; }
fail() {
    echo "tests/cluster: $*" >&2
    exit 1
}

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        fail "need root to run: $*"
    fi
}

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    command -v apt-get >/dev/null || fail "install redis-server and redis-cli (Redis 7 or newer) with your package manager"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq redis-server redis-tools >/dev/null
fi

for port in "${ports[@]}"; do
    if redis-cli -p "$port" ping >/dev/null 2>&1; then
        fail "something already answers on 127.0.0.1:$port; stop it or set ATTN_CLUSTER_BASE_PORT (ports base+1 .. base+6)"
    fi
done

dir="$(mktemp -d "${TMPDIR:-/tmp}/attn-redis-cluster.XXXXXX")"

# Stops exactly the nodes started here (by the pid each one wrote; a node
# the tests restarted writes its new pid to the same file).
stop_nodes() {
    local status=$?
    for port in "${ports[@]}"; do
        local pidfile="$dir/$port/redis.pid"
        [[ -f $pidfile ]] || continue
        local pid
        pid="$(cat "$pidfile")"
        kill "$pid" 2>/dev/null || true
    done
    for port in "${ports[@]}"; do
        local pidfile="$dir/$port/redis.pid"
        [[ -f $pidfile ]] || continue
        local pid
        pid="$(cat "$pidfile")"
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    if [[ $status -ne 0 ]]; then
        for port in "${ports[@]}"; do
            [[ -f $dir/$port/redis.log ]] || continue
            echo "--- last lines of the Redis node on $port"
            tail -n 15 "$dir/$port/redis.log"
        done
    fi
    rm -rf "$dir"
    exit "$status"
}
trap stop_nodes EXIT
trap 'exit 130' INT TERM

for port in "${ports[@]}"; do
    mkdir -p "$dir/$port"
    # One file per node, so a test that stopped a node can start it again
    # exactly as it was (`redis-server $ATTN_TEST_REDIS_CLUSTER_DIR/<port>/redis.conf`).
    cat >"$dir/$port/redis.conf" <<EOF
port $port
bind 127.0.0.1
daemonize yes
pidfile $dir/$port/redis.pid
logfile $dir/$port/redis.log
dir $dir/$port
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout 2000
save ""
appendonly no
maxmemory-policy noeviction
EOF
    redis-server "$dir/$port/redis.conf"
done

node_up() { redis-cli -p "$1" ping 2>/dev/null | grep -q PONG; }
for port in "${ports[@]}"; do
    for _ in $(seq 1 100); do node_up "$port" && break; sleep 0.1; done
    node_up "$port" || fail "the Redis node on $port did not start (see $dir/$port/redis.log)"
done

nodes=()
for port in "${ports[@]}"; do nodes+=("127.0.0.1:$port"); done
say "creating the cluster: ${nodes[*]}"
redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 ||
    {
        cat "$dir/create.log"
        fail "redis-cli --cluster create failed"
    }

# Every node agrees the cluster is whole, and every replica has its copy.
cluster_ready() {
    local port info
    for port in "${ports[@]}"; do
        info="$(redis-cli -p "$port" cluster info 2>/dev/null)" || return 1
        grep -q '^cluster_state:ok' <<<"$info" || return 1
        grep -q '^cluster_known_nodes:6' <<<"$info" || return 1
        grep -q '^cluster_slots_ok:16384' <<<"$info" || return 1
        info="$(redis-cli -p "$port" info replication 2>/dev/null)" || return 1
        if grep -q '^role:slave' <<<"$info"; then
            grep -q '^master_link_status:up' <<<"$info" || return 1
        else
            grep -q '^connected_slaves:1' <<<"$info" || return 1
        fi
    done
}
for _ in $(seq 1 300); do cluster_ready && break; sleep 0.1; done
cluster_ready || {
    for port in "${ports[@]}"; do
        echo "--- $port"
        redis-cli -p "$port" cluster info | head -n 7
    done
    fail "the cluster did not reach cluster_state:ok with every replica in sync within 30 s"
}
redis-cli -p "${ports[0]}" cluster nodes | awk '{print "tests/cluster:   " $2, $3}' | sed 's/@[0-9]*//; s/myself,//'

url="redis-cluster://${nodes[0]}"
sep='?'
for node in "${nodes[@]:1}"; do
    url+="${sep}node=$node"
    sep='&'
done
export ATTN_TEST_REDIS_CLUSTER_URL="$url"
export ATTN_TEST_REDIS_CLUSTER_DIR="$dir"
say "ATTN_TEST_REDIS_CLUSTER_URL=$url"

# --show-output: the failover tests print their figures.
mkdir -p "$root/target"
set +e
cargo test --locked -p attn-e2e --test cluster -- --show-output "$@" 2>&1 | tee "$root/target/cluster-tests.log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -Eo '^test result: [A-Za-z]+\. [0-9]+ passed' "$root/target/cluster-tests.log" | awk '{s+=$4} END {print s+0}' || true)
failed=$(grep -Eo '^test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' "$root/target/cluster-tests.log" | awk '{s+=$6} END {print s+0}' || true)
say "cluster tests: $passed passed, $failed failed"
exit "$status"
