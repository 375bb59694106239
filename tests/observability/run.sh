#!/usr/bin/env bash
# The observability files (deploy/observability) against promtool and a real
# stack:
#
#   tests/observability/run.sh
#
#   1. promtool check config (prometheus.yml, prometheus-compose.yml),
#      promtool check rules (alerts.yml), promtool test rules
#      (alerts_test.yml: every alert firing and not firing).
#   2. The whole stack from source (deploy/local/run.sh --no-build) on free
#      loopback ports, with a scratch database and Redis key prefix; a
#      little real traffic with grpcurl: three teachers sign in and open a
#      session each (security options 1, 2 and 3), a student checks in to
#      all three (a selfie for option 3), the sessions are finished; the
#      sweeper's jobs run every 2 seconds, so their series appear at once.
#   3. Prometheus (Debian's package) on a free port with its own storage in
#      a temporary directory, scraping the stack's three admin ports every
#      second and loading deploy/observability/alerts.yml; then
#      check_live.py asks its HTTP API: every target up, every metric name
#      alerts.yml and the Grafana dashboard use present in the live scrape,
#      every expression of both evaluating, the rules loaded with health ok,
#      and no alert firing or pending.
#
# Prints the promtool output and an excerpt of attendance-service's
# /metrics. Stops everything it started on exit and drops the database and
# the Redis keys. Needs: cargo, python3 (3.10+) with venv, Redis and
# PostgreSQL (ATTN_TEST_REDIS_URL, ATTN_TEST_DATABASE_URL), and promtool and
# prometheus (installed from Debian's `prometheus` package if missing, as
# root, without starting its service). Installs grpcurl (PyPI, pinned in
# requirements.txt) into tests/observability/.venv.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
observability="$root/deploy/observability"
venv="$here/.venv"
python="${PYTHON:-python3}"

say() { printf 'tests/observability: %s\n' "$*"; }
fail() {
    printf 'tests/observability: FAILED: %s\n' "$*" >&2
    exit 1
}

# === what the tests need ===

apt_install() {
    [[ $(id -u) == 0 ]] || fail "missing $*; install with: sudo apt-get install -y $*"
    apt-get update -qq || fail "apt-get update failed"
    say "installing $* (apt-get)"
    # No systemd here, and Debian's policy-rc.d (if any) keeps the package's
    # own service from starting; our Prometheus runs on a port of its own
    # either way.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
        fail "apt-get install $* failed"
}

if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then apt_install prometheus; fi
command -v cargo >/dev/null || fail "cargo is required (rustup)"
command -v curl >/dev/null || apt_install curl
command -v jq >/dev/null || apt_install jq
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || fail "python 3.10 or newer is required"

want="$(sha256sum "$here/requirements.txt")"
want="${want%% *}"
if [[ ! -x "$venv/bin/grpcurl" || "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]]; then
    say "installing grpcurl and PyYAML into $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv" || fail "could not create a venv (on Debian: apt-get install python3-venv)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$here/requirements.txt" ||
        fail "pip install from requirements.txt failed"
    echo "$want" >"$venv/.requirements.sha256"
fi
grpcurl="$venv/bin/grpcurl"

# === 1. promtool ===

say "$(promtool --version 2>&1 | head -n 1)"
if ! (
    set -e
    cd "$observability"
    promtool check config prometheus.yml
    promtool check config prometheus-compose.yml
    promtool check rules alerts.yml
    promtool test rules alerts_test.yml
) 2>&1 | sed 's/^/promtool| /'; then
    fail "promtool refused deploy/observability (see above)"
fi

# === 2. a stack of its own ===

say "building the services and the health probe (a no-op after the rust stage)"
(cd "$root" && cargo build --workspace --bins --locked --quiet) || fail "cargo build failed"

read -r api_port verification_port sweeper_port standin_port attendance_metrics verification_metrics sweeper_metrics \
    prometheus_port < <("$python" - <<'PY'
import socket
socks = [socket.socket() for _ in range(8)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
PY
)
suffix="$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
database="attn_observability_$suffix"
prefix="attn-observability-$suffix"
admin_url="${ATTN_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
redis_url="${ATTN_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
work="$(mktemp -d "${TMPDIR:-/tmp}/attn-observability.XXXXXX")"
run_dir="$work/run"
mkdir -p "$run_dir"

stack_pid=""
prometheus_pid=""
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    for pid in "$prometheus_pid" "$stack_pid"; do
        if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    psql "$admin_url" -q -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null 2>&1 ||
        say "could not drop database $database"
    if command -v redis-cli >/dev/null; then
        redis-cli -u "$redis_url" --scan --pattern "$prefix:*" | xargs -r -n 500 redis-cli -u "$redis_url" del >/dev/null ||
            say "could not delete Redis keys $prefix:*"
    fi
    if ((status == 0)); then rm -rf "$work"; else say "logs kept in $work"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "starting the stack (deploy/local/run.sh --no-build); logs in $run_dir"
env ATTN_ATTENDANCE_ADDR="127.0.0.1:$api_port" \
    ATTN_VERIFICATION_ADDR="127.0.0.1:$verification_port" \
    ATTN_SWEEPER_ADDR="127.0.0.1:$sweeper_port" \
    ATTN_STANDIN_ADDR="127.0.0.1:$standin_port" \
    ATTN_ATTENDANCE_METRICS_ADDR="127.0.0.1:$attendance_metrics" \
    ATTN_VERIFICATION_METRICS_ADDR="127.0.0.1:$verification_metrics" \
    ATTN_SWEEPER_METRICS_ADDR="127.0.0.1:$sweeper_metrics" \
    ATTN_REDIS_URL="$redis_url" \
    ATTN_REDIS_KEY_PREFIX="$prefix" \
    ATTN_DATABASE_URL="${admin_url%/*}/$database" \
    ATTN_WEB_DIR="" \
    ATTN_SWEEP_ATTENDANCES_SCHEDULE="*/2 * * * * *" \
    ATTN_CHECK_FACE_RESULTS_SCHEDULE="*/2 * * * * *" \
    ATTN_RUN_DIR="$run_dir" \
    "$root/deploy/local/run.sh" --no-build >"$run_dir/run.sh.log" 2>&1 &
stack_pid=$!
deadline=$((SECONDS + ${ATTN_OBSERVABILITY_START_SECS:-180}))
until [[ -f $run_dir/ready ]]; do
    if ! kill -0 "$stack_pid" 2>/dev/null; then
        tail -n 40 "$run_dir/run.sh.log" >&2
        fail "the stack did not start; see $run_dir/run.sh.log"
    fi
    ((SECONDS < deadline)) || fail "the stack was not ready in time; see $run_dir/run.sh.log"
    sleep 0.5
done
# shellcheck disable=SC1091
source "$run_dir/ready"
say "stack ready: API $ATTENDANCE, admin ports $attendance_metrics $verification_metrics $sweeper_metrics"

# === traffic ===

call() { "$grpcurl" -plaintext "$@"; }
login() { call -d "{\"username\": \"$1\", \"password\": \"password\"}" "$ATTENDANCE" attn.v1.AuthService/Login | jq -er .accessToken; }
student="$(login demo_student_1)" || fail "the student cannot sign in"
# The stand-in's reference photo is a real JPEG: the selfie for option 3.
selfie="$(curl -fsS "http://$STANDIN/photos/1.jpg" | base64 -w0)" || fail "no photo from the stand-in"
sessions=()
teachers=()
n=0
for option in SECURITY_OPTION_MANUAL SECURITY_OPTION_NETWORK SECURITY_OPTION_NETWORK_AND_FACE; do
    n=$((n + 1))
    teacher="$(login "demo_teacher_$n")" || fail "demo_teacher_$n cannot sign in"
    # No networks: the teacher's own /24 (127.0.0.0/24), where the student is too.
    session="$(call -H "authorization: Bearer $teacher" \
        -d "{\"lesson_name\": \"Observability $n\", \"duration\": \"600s\", \"security_option\": \"$option\"}" \
        "$ATTENDANCE" attn.v1.TeacherService/StartAttendance | jq -er .attendance.attendanceId)" ||
        fail "StartAttendance ($option) failed"
    body="{\"attendance_id\": \"$session\", \"request_id\": \"observability-$n\""
    [[ $option == SECURITY_OPTION_NETWORK_AND_FACE ]] && body+=", \"selfie\": \"$selfie\""
    record="$(call -H "authorization: Bearer $student" -d "$body}" "$ATTENDANCE" attn.v1.StudentService/Attend |
        jq -c '.record | {status, failReason}')" || fail "Attend ($option) failed"
    say "check-in, $option: $record"
    sessions+=("$session")
    teachers+=("$teacher")
done
for i in "${!sessions[@]}"; do
    call -H "authorization: Bearer ${teachers[i]}" -d "{\"attendance_id\": \"${sessions[i]}\"}" \
        "$ATTENDANCE" attn.v1.TeacherService/FinishAttendance >/dev/null || fail "FinishAttendance failed"
done

say "attendance-service's /metrics (an excerpt):"
scrape="$(curl -fsS "http://127.0.0.1:$attendance_metrics/metrics")" || fail "no /metrics on $attendance_metrics"
grep -E '^attn_checkins_total' <<<"$scrape" | sed 's/^/  /'
grep -E '^grpc_server_handled_total\{.*grpc_method="(Login|StartAttendance|Attend)"' <<<"$scrape" | sed 's/^/  /'
grep -E '^attn_dependency_up' <<<"$scrape" | sed 's/^/  /'

# === 3. Prometheus against it ===

cat >"$work/prometheus.yml" <<YAML
# deploy/observability/prometheus.yml's jobs, on this run's admin ports.
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $observability/alerts.yml
scrape_configs:
  - job_name: attendance
    static_configs: [{ targets: ["127.0.0.1:$attendance_metrics"] }]
  - job_name: verification
    static_configs: [{ targets: ["127.0.0.1:$verification_metrics"] }]
  - job_name: sweeper
    static_configs: [{ targets: ["127.0.0.1:$sweeper_metrics"] }]
YAML
promtool check config "$work/prometheus.yml" >/dev/null || fail "the generated config is refused"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
    --web.listen-address="127.0.0.1:$prometheus_port" --log.level=warn >"$work/prometheus.log" 2>&1 &
prometheus_pid=$!
say "prometheus $(prometheus --version 2>&1 | head -n 1 | awk '{print $3}') on 127.0.0.1:$prometheus_port"
"$venv/bin/python" "$here/check_live.py" "http://127.0.0.1:$prometheus_port" "$observability" ||
    { tail -n 20 "$work/prometheus.log" >&2; fail "the live checks failed"; }
say "ok"
