# Shared by setup.sh and test.sh: system packages and the virtualenv.
# shellcheck shell=bash

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${MAILGATE_VENV:-$REPO/.venv}

SYSTEM_PACKAGES=(python3 python3-venv python3-dev gcc libmilter-dev postfix swaks miltertest
                 postgresql chromium chromium-driver sqlite3 procps openssl systemd logrotate
                 dovecot-imapd)

log() { printf '==> %s\n' "$*" >&2; }

install_system_packages() {
    local missing=()
    for p in "${SYSTEM_PACKAGES[@]}" "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        log "missing Debian packages: ${missing[*]} (run as root, or install them first)"
        return 1
    fi
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Postfix asks how to configure itself; Mailgate's set-up configures it.
    echo "postfix postfix/main_mailer_type select Internet Site" | debconf-set-selections
    echo "postfix postfix/mailname string $(hostname -f 2>/dev/null || hostname)" | debconf-set-selections
    # Wait for another apt run (a parallel setup or test run) instead of failing on its lock.
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

python_for_venv() {
    for py in python3.11 python3; do
        if command -v "$py" >/dev/null && "$py" -c 'import sys, venv; assert sys.version_info >= (3, 11)' 2>/dev/null; then
            echo "$py"; return 0
        fi
    done
    log "Python 3.11 or newer with venv is required"; return 1
}

make_venv() {
    local extras=${1:-}
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating virtualenv $VENV"
        "$(python_for_venv)" -m venv "$VENV"
    fi
    log "installing Mailgate into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
    local out
    out=$(mktemp)
    if ! "$VENV/bin/pip" install -q --disable-pip-version-check -e "$REPO$extras" > "$out" 2>&1; then
        cat "$out" >&2; rm -f "$out"; log "pip install failed"; return 1
    fi
    rm -f "$out"
    "$VENV/bin/python" -P -c "import mailgate.shared, Milter" || { log "installation failed"; return 1; }
}
