# Sourced by deploy/local/run.sh and tests/run.sh: installing what is missing.
#
#   need_packages "what for" package...   installs them with apt-get (Debian,
#                                          Ubuntu), as root or through sudo;
#                                          elsewhere stops, naming them.
# The caller defines `fail` (print a message and exit).

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        fail "need root (or sudo) to run: $*"
    fi
}

apt_install() {
    command -v apt-get >/dev/null || fail "install these packages with your package manager: $*"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

need_packages() {
    local why=$1
    shift
    command -v apt-get >/dev/null ||
        fail "$why needs these packages (Debian/Ubuntu names; install them with your package manager): $*"
    printf '%s: installing %s (%s)\n' "$(basename "$0")" "$*" "$why"
    apt_install "$@"
}
